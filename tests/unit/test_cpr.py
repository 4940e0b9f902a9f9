"""CPR rules of raw-extracts.md: validity, replacement numbers, century, sex, masking, keying."""

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from pipeline import cpr
from pipeline.errors import ConfigError
from pipeline.ingest.marker import write_marker
from pipeline.ingest.pseudonym import resolve_key
from pipeline.settings import SYNTHETIC_MARKER

KEY = b"test-key"


@pytest.mark.parametrize(
    ("raw", "birth", "sex"),
    [
        ("0101901234", date(1990, 1, 1), "F"),  # digit 7 = 1 -> 1900s; last digit even -> female
        ("010190-1233", date(1990, 1, 1), "M"),  # hyphen allowed; odd -> male
        (" 311299-3001 ", date(1999, 12, 31), "M"),  # surrounding spaces
        ("290200-4002", date(2000, 2, 29), "F"),  # digit 7 = 4, YY 00 <= 36 -> 2000s (leap year)
        ("010137-4002", date(1937, 1, 1), "F"),  # digit 7 = 4, YY 37 > 36 -> 1900s
        ("010136-9002", date(2036, 1, 1), "F"),  # digit 7 = 9, YY 36 <= 36 -> 2000s
        ("010157-5002", date(2057, 1, 1), "F"),  # digit 7 = 5, YY 57 <= 57 -> 2000s
        ("010158-8002", date(1858, 1, 1), "F"),  # digit 7 = 8, YY 58 > 57 -> 1800s
        ("010185-3999", date(1985, 1, 1), "M"),  # digit 7 = 3 -> 1900s
        ("610190-1234", date(1990, 1, 1), "F"),  # day 61 = replacement number for day 1
        ("910190-1234", date(1990, 1, 31), "F"),  # day 91 = replacement for day 31
        ("0101901235", date(1990, 1, 1), "M"),  # fails modulus 11 but is valid since 2007
    ],
)
def test_valid_cpr_gives_birth_date_and_sex(raw: str, birth: date, sex: str) -> None:
    info = cpr.parse(raw)
    assert info is not None
    assert info.birth_date == birth
    assert info.sex == sex


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "abc",
        "010190123",  # nine digits
        "01019012345",  # eleven digits
        "010190 1234",  # space is not a hyphen
        "320190-1234",  # day 32
        "000190-1234",  # day 0
        "310490-1234",  # 31 April
        "290201-4002",  # 29 Feb 2001 does not exist
        "290200-3002",  # 29 Feb 1900 does not exist (digit 7 = 3)
        "011390-1234",  # month 13
        "921290-1234",  # 92 is beyond the replacement range
        "010190-12a4",
    ],
)
def test_invalid_cpr_is_rejected(raw: str) -> None:
    assert cpr.parse(raw) is None


def test_mask_shows_only_the_date_part() -> None:
    assert cpr.mask("0101901234") == "010190-****"
    assert cpr.mask("010190-1234") == "010190-****"


def test_scrub_masks_cpr_in_free_text() -> None:
    text = "row 3: cpr 0101901234 and 020290-4321 are bad; order 12345 stays"
    out = cpr.scrub(text)
    assert "0101901234" not in out and "4321" not in out
    assert "010190-****" in out and "020290-****" in out and "12345" in out


def test_person_key_is_stable_and_hyphen_insensitive() -> None:
    a = cpr.person_key("010190-1234", KEY)
    assert a == cpr.person_key("0101901234", KEY)
    assert a != cpr.person_key("0101901234", b"other")
    assert len(a) == 64 and "0101901234" not in a


GOOD_KEY = "k" * 32


@pytest.fixture
def real_folder(tmp_path: Path) -> Path:
    """A raw folder of one delivery that the generator did not write."""
    delivery = tmp_path / "real" / "paid_hours" / "paid_hours_20240131.csv"
    delivery.parent.mkdir(parents=True)
    delivery.write_text("cpr,month,hours\n0101901234,2024-01,3\n")
    return tmp_path / "real"


@pytest.fixture
def generated_folder(real_folder: Path, tmp_path: Path) -> Path:
    """The same delivery, marked as the generator marks its output."""
    folder = shutil.copytree(real_folder, tmp_path / "generated")
    write_marker(folder)
    return folder


def _key(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(cpr.KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(cpr.KEY_ENV, value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, cpr.DEMO_KEY), (cpr.DEMO_KEY, cpr.DEMO_KEY), ("short", "short"), (GOOD_KEY, GOOD_KEY)],
)
def test_any_key_goes_for_a_folder_the_generator_wrote(
    monkeypatch: pytest.MonkeyPatch, generated_folder: Path, key: str | None, expected: str
) -> None:
    _key(monkeypatch, key)
    assert resolve_key(generated_folder) == expected.encode()


def test_real_data_needs_a_long_secret_key(monkeypatch: pytest.MonkeyPatch, real_folder: Path) -> None:
    _key(monkeypatch, GOOD_KEY)
    assert resolve_key(real_folder) == GOOD_KEY.encode()
    _key(monkeypatch, None)
    with pytest.raises(ConfigError, match=f"{cpr.KEY_ENV} is not set: export {cpr.KEY_ENV}=") as unset:
        resolve_key(real_folder)
    assert "--synthetic" not in str(unset.value)
    _key(monkeypatch, cpr.DEMO_KEY)
    with pytest.raises(ConfigError, match="is the published demo key, with which anyone"):
        resolve_key(real_folder)
    _key(monkeypatch, GOOD_KEY[:-1])
    with pytest.raises(ConfigError, match="has 31 characters, too few"):
        resolve_key(real_folder)


def test_an_empty_or_copied_marker_is_not_enough(
    monkeypatch: pytest.MonkeyPatch, real_folder: Path, generated_folder: Path
) -> None:
    _key(monkeypatch, cpr.DEMO_KEY)
    (real_folder / SYNTHETIC_MARKER).write_text("")
    with pytest.raises(ConfigError, match="does not list the generator's files"):
        resolve_key(real_folder)
    delivery = real_folder / "paid_hours" / "paid_hours_20240131.csv"
    delivery.write_text("cpr,month,hours\n0101901234,2024-01,4\n")
    shutil.copy(generated_folder / SYNTHETIC_MARKER, real_folder / SYNTHETIC_MARKER)
    with pytest.raises(
        ConfigError, match=re.escape("paid_hours/paid_hours_20240131.csv has changed since the generator")
    ):
        resolve_key(real_folder)
    (generated_folder / "paid_hours" / "paid_hours_20240229.csv").write_text(delivery.read_text())
    with pytest.raises(
        ConfigError, match=re.escape("paid_hours_20240229.csv is not among the files the generator wrote")
    ):
        resolve_key(generated_folder)


def test_the_fingerprint_identifies_the_key_without_holding_it() -> None:
    fingerprint = cpr.key_fingerprint(GOOD_KEY.encode())
    assert fingerprint == cpr.key_fingerprint(GOOD_KEY.encode()) != cpr.key_fingerprint(b"other" * 8)
    assert GOOD_KEY not in fingerprint and len(fingerprint) == 64


# Every usual way of writing 200997-1003 and 051061-1016 (fictitious), and what may be shown.
WRITTEN = [
    ("200997 1003", "200997-****"),
    ("05 10 61 1016", "05 10 61-****"),
    ("05.10.61-1016", "05.10.61-****"),
    ("05/10/61 1016", "05/10/61-****"),
    ("200997  1003", "200997-****"),
    ("20-09-97-1003", "20-09-97-****"),
    ("200997\u00a01003", "200997-****"),
    ("200997\u20131003", "200997-****"),
    ("200997.1003", "200997-****"),
    ("200997_1003", "200997-****"),
    ("200997\t1003", "200997-****"),
    ("2009971003", "200997-****"),
    ("200997-1003", "200997-****"),
    ("650161 1016", "650161-****"),  # replacement number: day 65 = 5
]
# Numbers that are not a CPR number in any of those forms: nothing to mask or quarantine.
NOT_CPR = [
    "2024-01-05",
    "05-01-2024 10:30",
    "37,5",
    "1.234.567,89",
    "+45 20 99 71 00",
    "R0001234",
    "320150 5001",  # day 32
    "310490 1234",  # 31 April
    "300290 1234",  # 30 February
    "011390 1234",  # month 13
    "200997 10031",  # eleven digits
    "1200997 1003",
    "20 09 97 100",
]


@pytest.mark.parametrize(("text", "masked"), WRITTEN)
def test_scrub_masks_every_usual_form(text: str, masked: str) -> None:
    line = f"sag {text}, ringede"
    assert cpr.scrub(line) == f"sag {masked}, ringede"
    assert cpr.holds_cpr(line)


@pytest.mark.parametrize("text", NOT_CPR)
def test_scrub_leaves_other_numbers_alone(text: str) -> None:
    assert cpr.scrub(f"x {text} y") == f"x {text} y"
    assert not cpr.holds_cpr(text)


def test_scrub_masks_numbers_side_by_side() -> None:
    assert cpr.scrub("0101901234,200997 1003;05 10 61 1016") == "010190-****,200997-****;05 10 61-****"


def test_the_sql_macros_do_what_the_python_functions_do() -> None:
    """mask_cpr and holds_cpr in DuckDB (RE2) against scrub and holds_cpr (Python re)."""
    import duckdb

    from pipeline.ingest.sql import MACROS

    texts = [f"sag {t}, ringede" for t, _ in WRITTEN] + NOT_CPR + ["0101901234,200997 1003;05 10 61 1016"]
    with duckdb.connect() as con:
        for macro in MACROS:
            con.execute(macro)
        rows = con.execute("SELECT t, mask_cpr(t), holds_cpr(t) FROM unnest(?) AS u(t)", [texts]).fetchall()
    assert [(t, masked, bool(found)) for t, masked, found in rows] == [
        (t, cpr.scrub(t), cpr.holds_cpr(t)) for t in texts
    ]
