"""Delivery names and order, dialect detection, header normalisation, Excel cell text, and
the CPR problems a quarantine reason names."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import hmac
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipeline import cpr
from pipeline.errors import ConfigError, UnreadableFileError
from pipeline.ingest.config import load_config
from pipeline.ingest.deliveries import Delivery, Misnamed, classify, find_deliveries
from pipeline.ingest.dialects import (
    TextScan,
    cell_text,
    detect_delimiter,
    detect_encoding,
    normalise_header,
    scan_text,
)
from pipeline.ingest.pseudonym import CPR_TABLE, PERSONS_TABLE, PseudonymCache, cpr_problem


def touch(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    return path


@pytest.mark.parametrize(
    ("relative", "extract", "day", "fmt"),
    [
        ("referrals/referrals_20240131.csv", "referrals", date(2024, 1, 31), "csv"),
        ("paid_hours/paid_hours_20240229.parquet", "paid_hours", date(2024, 2, 29), "parquet"),
        ("benefit_weeks/benefit_weeks_20231231.xlsx", "benefit_weeks", date(2023, 12, 31), "xlsx"),
        ("providers/providers_20240131.CSV", "providers", date(2024, 1, 31), "csv"),
    ],
)
def test_a_well_named_file_is_a_delivery(
    tmp_path: Path, relative: str, extract: str, day: date, fmt: str
) -> None:
    found = classify(touch(tmp_path, relative), tmp_path)
    assert isinstance(found, Delivery)
    assert (found.extract, found.delivery_date, found.format) == (extract, day, fmt)


@pytest.mark.parametrize(
    ("relative", "words"),
    [
        ("referrals/referrals_2024-01-31.csv", "does not fit the pattern"),
        ("referrals/paid_hours_20240131.csv", "sits in referrals/; move it to paid_hours/"),
        ("referrals/old/referrals_20240131.csv", "sits in referrals/old/; move it to referrals/"),
        ("referrals/referrals_20241341.csv", "20241341 in the name is not a date"),
        ("referrals/referrals_20240131.xls", "format .xls is not accepted"),
        ("citizens/citizens_20240131.csv", "'citizens' is not an extract"),
        ("referrals_20240131.csv", "sits in the top of the raw folder; move it to referrals/"),
    ],
)
def test_a_misnamed_file_is_refused_with_what_to_do(tmp_path: Path, relative: str, words: str) -> None:
    found = classify(touch(tmp_path, relative), tmp_path)
    assert isinstance(found, Misnamed)
    assert words in found.problem


def test_deliveries_come_in_date_order_with_parents_first_on_a_date(tmp_path: Path) -> None:
    for relative in [
        "attendance/attendance_20240131.csv",
        "referrals/referrals_20240229.csv",
        "referrals/referrals_20240131.csv",
        "providers/providers_20240229.csv",
        "agreements/agreements_20240131.parquet",
        "referral_results/referral_results_20240131.csv",
        ".hidden/referrals_20240131.csv",
        "README.md",
        "SYNTHETIC_DATA.txt",
        "referrals/notes.txt",
    ]:
        touch(tmp_path, relative)
    deliveries, misnamed = find_deliveries(tmp_path)
    assert [d.file for d in deliveries] == [
        "agreements_20240131.parquet",
        "referrals_20240131.csv",
        "referral_results_20240131.csv",
        "attendance_20240131.csv",
        "providers_20240229.csv",
        "referrals_20240229.csv",
    ]
    assert [m.path.name for m in misnamed] == ["notes.txt"]


def test_a_delivery_dated_more_than_31_days_ahead_is_refused(tmp_path: Path) -> None:
    today = date.today()
    edge, beyond = today + dt.timedelta(days=31), today + dt.timedelta(days=32)
    for day in (today, edge):
        found = classify(touch(tmp_path, f"referrals/referrals_{day:%Y%m%d}.csv"), tmp_path)
        assert isinstance(found, Delivery) and found.delivery_date == day
    for name in (f"referrals_{beyond:%Y%m%d}.csv", "referrals_20511231.csv"):
        found = classify(touch(tmp_path, f"referrals/{name}"), tmp_path)
        assert isinstance(found, Misnamed), name
        assert (
            f"lies after {edge.isoformat()}" in found.problem
            and "the date in the name right?" in found.problem
        )
    deliveries, misnamed = find_deliveries(tmp_path)
    assert sorted(m.path.name for m in misnamed) == sorted(
        [f"referrals_{beyond:%Y%m%d}.csv", "referrals_20511231.csv"]
    )
    assert len(deliveries) == 2


def test_two_deliveries_of_one_extract_on_one_date_are_both_refused(tmp_path: Path) -> None:
    for relative in [
        "referrals/referrals_20240131.csv",
        "referrals/referrals_20240131.xlsx",
        "referrals/referrals_20240229.csv",
        "providers/providers_20240131.csv",
    ]:
        touch(tmp_path, relative)
    deliveries, misnamed = find_deliveries(tmp_path)
    assert [d.file for d in deliveries] == ["providers_20240131.csv", "referrals_20240229.csv"]
    assert sorted(m.path.name for m in misnamed) == ["referrals_20240131.csv", "referrals_20240131.xlsx"]
    assert all(
        "2 referrals deliveries are dated 2024-01-31 (referrals_20240131.csv, referrals_20240131.xlsx)"
        in m.problem
        and "keep only one" in m.problem
        for m in misnamed
    )


def test_encoding_is_utf8_with_or_without_bom_else_cp1252(tmp_path: Path) -> None:
    text = "navn;by\nBæk & Søn;Århus – Ø €\n"
    plain, bom, windows = tmp_path / "u.csv", tmp_path / "b.csv", tmp_path / "w.csv"
    plain.write_bytes(text.encode("utf-8"))
    bom.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    windows.write_bytes(text.encode("cp1252"))
    assert [detect_encoding(p) for p in (plain, bom, windows)] == ["utf-8", "utf-8", "cp1252"]


def test_a_file_with_lines_in_both_encodings_is_mixed_whichever_block_they_are_in(tmp_path: Path) -> None:
    utf8, windows = "1;Bæk – Søn\n".encode(), "2;Bæk – Søn\n".encode("cp1252")
    filler = b"3;plain ascii text\n" * 100_000  # the lines fall in different blocks of the scan
    mostly_utf8, mostly_windows = tmp_path / "u.csv", tmp_path / "w.csv"
    mostly_utf8.write_bytes(b"a;b\n" + utf8 * 3 + filler + windows + filler + b"4;\x00\n")
    mostly_windows.write_bytes(b"a;b\n" + windows * 3 + filler + utf8 + euro_only(filler))
    assert scan_text(mostly_utf8) == TextScan("utf-8", nul=True, foreign=1)
    with pytest.raises(UnreadableFileError, match="Windows-1252 but line 100005 is in UTF-8"):
        scan_text(mostly_windows)


def euro_only(filler: bytes) -> bytes:
    return filler.replace(b"plain", "€".encode("cp1252"))


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("referral_id;cpr;agreement_id", ";"),
        ("referral_id,cpr,agreement_id", ","),
        ('"name, with comma";cpr;x', ";"),
        ('"a;b",c,d', ","),
    ],
)
def test_the_separator_is_the_one_that_splits_the_header(header: str, delimiter: str) -> None:
    assert detect_delimiter(header) == delimiter


def test_header_names_ignore_case_spaces_and_bom_and_must_be_unique() -> None:
    assert normalise_header(["\ufeff Referral_ID ", "CPR", None, "  "]) == [
        "referral_id",
        "cpr",
        "column_3",
        "column_4",
    ]
    with pytest.raises(UnreadableFileError, match="'cpr' appears twice"):
        normalise_header(["cpr", " CPR "])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (12.0, "12"),
        (12.5, "12.5"),
        (3, "3"),
        (dt.datetime(2024, 1, 31), "2024-01-31"),
        (dt.datetime(2024, 1, 31, 12, 30), "2024-01-31 12:30:00"),
        (dt.date(2024, 1, 31), "2024-01-31"),
        (True, "true"),
        (" Nørrebro ", " Nørrebro "),
    ],
)
def test_excel_cells_become_the_text_a_csv_export_holds(value: object, text: str | None) -> None:
    assert cell_text(value) == text


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("010150-5001", None),
        ("610150-5001", None),  # replacement number: day 61 is day 1
        ("320150-5001", "day 32 is not a date"),
        ("000150-5001", "day 00 is not a date"),
        ("920150-5001", "day 92 is not a date"),  # 92 - 60 = 32
        ("300250-5002", "day 30 does not exist in February 2050"),
        ("290290-1234", "day 29 does not exist in February 1990"),
        ("011350-5001", "month 13 is not a month"),
        ("0101505", "it has 7 digits, a CPR number has 10 (DDMMYY-SSSS)"),
        (
            "101505001",  # 010150-5001 kept as a number
            "it has 9 digits: a CPR number stored as a number has lost its leading zero; "
            "store the column as text (DDMMYY-SSSS)",
        ),
        ("10150-5001", "it has 9 digits, a CPR number has 10 (DDMMYY-SSSS)"),
        ("0101-505001", "only digits and one hyphen after the 6th digit are allowed (DDMMYY-SSSS)"),
    ],
)
def test_cpr_problems_say_what_is_wrong(raw: str, problem: str | None) -> None:
    assert cpr_problem(raw) == problem


def test_the_pseudonym_cache_keys_each_person_once_whichever_way_the_cpr_is_written() -> None:
    key = b"unit-test-key"
    with duckdb.connect() as con:
        cache = PseudonymCache(con, key)
        values = "SELECT * FROM (VALUES ('010150-5001'), ('0101505001'), ('320150-5001')) t(v)"
        assert cache.add(values) == 3
        assert cache.add(values) == 0  # already keyed: no second HMAC
        rows = con.execute(
            f"SELECT v.raw, v.pid, v.problem, v.masked, p.person_key, p.birth_date, p.sex "
            f"FROM {CPR_TABLE} v JOIN {PERSONS_TABLE} p USING (pid) ORDER BY v.raw"
        ).fetchall()
    expected_key = hmac.new(key, b"0101505001", hashlib.sha256).hexdigest()
    (plain, hyphen, invalid) = rows
    assert plain[1] == hyphen[1] != invalid[1]
    assert plain[4] == hyphen[4] == expected_key
    assert (plain[5], plain[6], plain[3], hyphen[3]) == (date(2050, 1, 1), "M", "010150-****", "010150-****")
    assert invalid[2:4] == ("day 32 is not a date", "320150-****")
    assert invalid[4] == hmac.new(key, b"3201505001", hashlib.sha256).hexdigest()  # ten digits, no hyphen
    assert (invalid[5], invalid[6]) == (None, None)


def _cpr_like_values() -> list[str]:
    """CPR texts of every kind the cache meets: each birth-date form and century digit, both
    sexes, replacement numbers, dates that do not exist, one person written two ways, and
    values that only look like a CPR (spaces, other digits, wrong lengths)."""
    values = []
    for day in ("01", "29", "30", "31", "32", "61", "89", "91", "92", "00"):
        for month in ("01", "02", "04", "12", "13"):
            for year in ("00", "36", "37", "57", "58", "99"):
                for seventh in "0123456789":
                    serial = f"{seventh}12{(int(day) + int(month)) % 10}"
                    values.append(f"{day}{month}{year}{serial}")
    values += [f"{v[:6]}-{v[6:]}" for v in values[::7]]  # the same persons with a hyphen
    values += [
        " 0101505001",
        "010150 5001",
        "010150--5001",
        "0101505001x",
        "١٠١٥٠٥٠٠١٠",  # ten Arabic-Indic digits: \d in pipeline.cpr, not the short path
        "010150-500",
        "101505001",
        "",
        "abcdefghij",
    ]
    return list(dict.fromkeys(values))


@pytest.mark.parametrize("key", [b"unit-test-key", b"a key longer than SHA-256's block of 64 bytes " * 2])
def test_the_pseudonym_cache_gives_what_pipeline_cpr_gives_for_every_kind_of_value(key: bytes) -> None:
    """The cache's short path for plain CPRs against pipeline.cpr, value by value."""
    values = _cpr_like_values()
    with duckdb.connect() as con:
        con.execute("CREATE TABLE given (v VARCHAR)")
        con.executemany("INSERT INTO given VALUES (?)", [[v] for v in values])
        cache = PseudonymCache(con, key)
        assert cache.add("SELECT v FROM given") == len(values)
        rows = con.execute(
            f"SELECT v.raw, v.pid, v.problem, v.masked, p.person_key, p.birth_date, p.sex "
            f"FROM {CPR_TABLE} v JOIN {PERSONS_TABLE} p USING (pid)"
        ).fetchall()
        (persons,) = con.execute(f"SELECT count(*) FROM {PERSONS_TABLE}").fetchone()
    assert len(rows) == len(values)
    pid_of: dict[str, int] = {}
    for raw, pid, problem, masked, person_key, birth_date, sex in rows:
        info = cpr.parse(raw)
        expected_person = cpr.person_key(info.digits if info else raw, key)
        assert (problem, masked, person_key) == (cpr_problem(raw), cpr.mask(raw), expected_person), raw
        assert (birth_date, sex) == ((info.birth_date, info.sex) if info else (None, None)), raw
        if info:  # one pid per person, whichever way the number is written
            assert pid_of.setdefault(info.digits, pid) == pid, raw
    invalid = [v for v in values if cpr.parse(v) is None]
    assert persons == len(pid_of) + len(invalid)  # a person keyed once, a malformed value alone


def test_the_ingest_configuration_is_validated_on_load(tmp_path: Path) -> None:
    shipped = load_config()
    assert shipped.commit.files >= 1 and shipped.duckdb.memory_limit.endswith("GB")
    broken = tmp_path / "ingest.yaml"
    broken.write_text("duckdb:\n  memory_limit: lots\ncommit:\n  files: 0\n")
    with pytest.raises(ConfigError, match=r"ingest\.yaml"):
        load_config(broken)
