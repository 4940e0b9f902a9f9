"""Ingestion through a site mapping (docs/site-mapping.md): the generator's site dialect loads
to exactly the landing rows of the contract's dialect; an unmapped code is quarantined with
the value and the key to add; formats, file names, clashing and missing columns; the mapping's
version in meta.loads; `ingest --check-mapping`; and no clear CPR in anything said about it.

Expectations are worked out from the example mapping's YAML and the spec, not from the code."""

from __future__ import annotations

import hashlib
import json
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from pipeline import cli
from pipeline.generate import generate
from pipeline.ingest import ingest_paths
from pipeline.ingest.mapping import EXAMPLE_FILE
from pipeline.settings import SYNTHETIC_MARKER
from tests.fixtures.raw_fixtures import KEY, delivery_path, person_key, query, write_csv

pytestmark = pytest.mark.integration
SEED = 5
EXAMPLE_VERSION = hashlib.sha256(EXAMPLE_FILE.read_bytes()).hexdigest()
CLEAR_CPR = "0101505001"  # fictitious; valid by the spec's rules


def landing(warehouse: Path, extract: str) -> list[tuple]:
    """A landing table's rows, every column but the file name (the site names some files its
    own way), in a stable order."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute(f"DESCRIBE landing.{extract}").fetchall() if r[0] != "_file"]
        columns = ", ".join(f'"{n}"' for n in names)
        return con.execute(f"SELECT {columns} FROM landing.{extract} ORDER BY ALL").fetchall()


@pytest.mark.parametrize("dirt_rate", [None])
def test_the_site_dialect_loads_to_the_same_landing_rows_as_the_contract_dialect(
    tmp_path: Path, dirt_rate: float | None
) -> None:
    contract_raw, site_raw = tmp_path / "contract", tmp_path / "site"
    generate("small", seed=SEED, out=contract_raw, dirt_rate=dirt_rate)
    generate("small", seed=SEED, out=site_raw, dirt_rate=dirt_rate, dialect="site")
    header = (site_raw / "referrals").iterdir().__next__().read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("Henvisnings-ID;CPR-nr.;")  # Danish as the example says
    assert any(p.name.startswith("DREAM_ydelser_") for p in (site_raw / "benefit_weeks").iterdir())
    summaries = {}
    for raw in (contract_raw, site_raw):
        summaries[raw] = ingest_paths(tmp_path / f"{raw.name}.duckdb", raw, KEY)
        assert summaries[raw].refused == []
    assert summaries[contract_raw].rows_quarantined == summaries[site_raw].rows_quarantined > 0
    from pipeline.contract import extract_names

    for extract in extract_names():
        contract_rows = landing(tmp_path / "contract.duckdb", extract)
        assert contract_rows, extract
        assert landing(tmp_path / "site.duckdb", extract) == contract_rows, extract
    versions = query(tmp_path / "site.duckdb", "SELECT DISTINCT mapping_version FROM meta.loads")
    assert versions == [(EXAMPLE_VERSION,)]


# --- hand-made deliveries through the example mapping --------------------------------------------


def site_raw(root: Path, mapping: Path = EXAMPLE_FILE) -> Path:
    raw = root / "raw"
    raw.mkdir(parents=True)
    (raw / SYNTHETIC_MARKER).write_text("synthetic\n")
    (raw / "provmon.yaml").write_bytes(mapping.read_bytes())
    return raw


BENEFIT_ROWS = [
    ["0101505001", "2024-01-01", "Sygedagpenge"],
    ["010150-5001", "2024-01-08", "  SYGEDAGPENGE "],  # case and spaces do not matter
    ["6102525002", "2024-01-01", "A-dagpenge"],  # a second source value of one code
    ["6102525002", "2024-01-08", "Ukendt ydelse"],  # not in the mapping
    ["6102525002", "2024-01-15", CLEAR_CPR],  # a CPR typed into the code column
    ["6102525002", "2024-01-22", "student_grant"],  # a contract code is itself
]


def test_an_unmapped_code_is_quarantined_naming_the_value_and_the_key_to_add(tmp_path: Path) -> None:
    raw = site_raw(tmp_path)
    path = raw / "DREAM_ydelser_2024-01-31.csv"  # named by its source system, at the top
    write_csv(path, ["CPR-nr.", "Uge", "Ydelse"], BENEFIT_ROWS, delimiter=";")
    warehouse = tmp_path / "wh.duckdb"
    summary = ingest_paths(warehouse, raw, KEY)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (6, 4, 2)
    loaded = query(warehouse, "SELECT person_key, week_start::VARCHAR, benefit FROM landing.benefit_weeks")
    assert sorted(loaded) == sorted(
        [
            (person_key("0101505001"), "2024-01-01", "sickness_benefit"),
            (person_key("0101505001"), "2024-01-08", "sickness_benefit"),
            (person_key("6102525002"), "2024-01-01", "unemployment_benefit"),
            (person_key("6102525002"), "2024-01-22", "student_grant"),
        ]
    )
    reasons = dict(query(warehouse, "SELECT row_number, reason FROM quarantine.rows"))
    key = "extracts.benefit_weeks.codes.benefit"
    assert (
        reasons[4].startswith("unknown benefit 'Ukendt ydelse' (allowed: cash_assistance")
        and key in reasons[4]
    )
    assert reasons[5].startswith("unknown benefit '010150-****'") and key in reasons[5]
    (load,) = query(
        warehouse, "SELECT extract, file, delivery_date::VARCHAR, mapping_version, message FROM meta.loads"
    )
    assert load[:4] == ("benefit_weeks", path.name, "2024-01-31", EXAMPLE_VERSION)
    assert f"site mapping {EXAMPLE_VERSION[:12]}" in load[4]
    everything = json.dumps(query(warehouse, "SELECT * FROM quarantine.rows"), default=str)
    everything += json.dumps(query(warehouse, "SELECT * FROM meta.loads"), default=str)
    assert CLEAR_CPR not in everything and "6102525002" not in everything


def test_dates_and_numbers_in_the_formats_the_mapping_gives(tmp_path: Path) -> None:
    mapping = tmp_path / "site.yaml"
    mapping.write_text(
        "extracts:\n  paid_hours:\n    columns: {cpr: CPR, month: Måned, hours: Timer}\n"
        "    formats:\n      month: '%m/%Y'\n      hours: {decimal: ',', thousands: '.'}\n",
        encoding="utf-8",
    )
    raw = site_raw(tmp_path, mapping)
    rows = [
        ["0101505001", "01/2024", "1.234,5"],
        ["0101505001", "02/2024", "37,25"],
        ["0101505001", "2024-03", "12"],  # the contract's own form still reads
        ["0101505001", "13/2024", "1"],  # no month 13: left as delivered and quarantined
        ["0101505001", "05/2024", "1.23,4"],  # not a number of that format
    ]
    write_csv(
        delivery_path(raw, "paid_hours", day="20240605"), ["CPR", "Måned", "Timer"], rows, delimiter=";"
    )
    warehouse = tmp_path / "wh.duckdb"
    ingest_paths(warehouse, raw, KEY)
    loaded = query(warehouse, "SELECT month::VARCHAR, hours FROM landing.paid_hours ORDER BY month")
    assert loaded == [("2024-01-01", 1234.5), ("2024-02-01", 37.25), ("2024-03-01", 12.0)]
    reasons = [r for (r,) in query(warehouse, "SELECT reason FROM quarantine.rows ORDER BY row_number")]
    assert reasons == [
        "month '13/2024' is not a month (YYYY-MM)",
        "hours '1.23,4' is not a number (digits with ',' or '.' as decimal mark, no thousands separator)",
    ]


def test_two_columns_giving_one_contract_column_or_a_missing_one_refuse_the_file(tmp_path: Path) -> None:
    raw = site_raw(tmp_path)
    write_csv(
        delivery_path(raw, "benefit_weeks", day="20240131"),
        ["CPR-nr.", "CPR-nummer", "Uge", "Ydelse"],
        [["0101505001", "0101505001", "2024-01-01", "SU"]],
    )
    write_csv(
        delivery_path(raw, "referral_results", day="20240131"),
        ["Henvisnings-ID", "Resultattype", "Dato"],
        [["R1", "Løntilskud", "2024-01-03"]],
    )
    summary = ingest_paths(tmp_path / "wh.duckdb", raw, KEY)
    messages = {f.extract: f.message for f in summary.refused}
    assert "the columns 'cpr-nr.' and 'cpr-nummer' both give cpr" in messages["benefit_weeks"]
    assert "extracts.benefit_weeks.columns.cpr" in messages["benefit_weeks"]
    assert messages["referral_results"].startswith("required column result_date ('Resultatdato') missing")


def test_a_changed_mapping_is_recorded_with_the_files_it_read(tmp_path: Path) -> None:
    raw = site_raw(tmp_path)
    header = ["CPR-nr.", "Uge", "Ydelse"]
    write_csv(delivery_path(raw, "benefit_weeks", day="20240131"), header, [BENEFIT_ROWS[0]])
    warehouse = tmp_path / "wh.duckdb"
    ingest_paths(warehouse, raw, KEY)
    changed = EXAMPLE_FILE.read_text(encoding="utf-8").replace(
        "  SU: student_grant", "  SU: student_grant\n    Ukendt ydelse: cash_assistance"
    )
    (raw / "provmon.yaml").write_text(changed, encoding="utf-8")
    write_csv(delivery_path(raw, "benefit_weeks", day="20240229"), header, [BENEFIT_ROWS[3]])
    write_csv(
        delivery_path(raw, "benefit_weeks", day="20240315"),
        ["cpr", "week_start", "benefit"],
        [BENEFIT_ROWS[5]],
    )
    ingest_paths(warehouse, raw, KEY)
    versions = query(warehouse, "SELECT file, mapping_version FROM meta.loads ORDER BY load_id")
    new = hashlib.sha256(changed.encode("utf-8")).hexdigest()
    assert versions == [
        ("benefit_weeks_20240131.csv", EXAMPLE_VERSION),
        ("benefit_weeks_20240229.csv", new),
        ("benefit_weeks_20240315.csv", None),  # the contract's own names: the mapping did nothing
    ]
    assert query(
        warehouse, "SELECT benefit FROM landing.benefit_weeks WHERE _file = 'benefit_weeks_20240229.csv'"
    ) == [("cash_assistance",)]


def test_check_mapping_reports_columns_and_codes_and_loads_nothing(tmp_path: Path) -> None:
    raw = site_raw(tmp_path)
    write_csv(
        delivery_path(raw, "benefit_weeks", day="20231231"), ["CPR-nr.", "Uge", "Ydelse"], [BENEFIT_ROWS[5]]
    )
    write_csv(
        raw / "DREAM_ydelser_2024-01-31.csv",
        ["CPR-nr.", "Uge", "Ydelse", CLEAR_CPR],
        [[*r, ""] for r in BENEFIT_ROWS],
    )
    warehouse = tmp_path / "wh.duckdb"
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["ingest", "--check-mapping", "--raw-dir", str(raw), "--warehouse", str(warehouse)])
    report = out.getvalue()
    assert code == 0, err.getvalue()
    assert not warehouse.exists()
    lines = [line.strip() for line in report.splitlines()]
    assert "benefit_weeks: DREAM_ydelser_2024-01-31.csv" in lines  # the newest delivery
    assert "cpr <- 'cpr-nr.'" in lines and "benefit <- 'ydelse'" in lines
    assert "'010150-****': not a contract column (kept in _extra); map it if it is one" in lines
    assert "'Sygedagpenge' (1 rows) -> sickness_benefit" in lines
    assert "'student_grant' (1 rows) is a contract code" in lines
    unmapped = [line for line in lines if "UNMAPPED" in line]
    assert len(unmapped) == 2 and all("extracts.benefit_weeks.codes.benefit" in u for u in unmapped)
    assert lines[-1].startswith("check-mapping: 1 newest deliveries read, 2 unmapped values")
    assert "providers: no delivery" in lines
    assert CLEAR_CPR not in report + err.getvalue() and "6102525002" not in report
