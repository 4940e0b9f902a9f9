"""No clear CPR number of the input survives ingestion: not in any text column of any table
(landing, quarantine, meta), not in the bytes of the warehouse file, not in a log line or
an error message. The input mixes good and bad rows, CPRs in free text and extra columns in
every usual form (`200997 1003`, `05 10 61 1016`, `05.10.61-1016` …), CPRs as ids and as a
column header, files without a header and a file named after a CPR.

And the key rules: real data needs a secret key of 32 characters or more (the published demo
key only for what `provmon generate` wrote), and the key the warehouse was filled with."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from pipeline import cli
from pipeline.cpr import DEMO_KEY, KEY_ENV
from pipeline.ingest.load import IngestSession
from pipeline.ingest.marker import write_marker
from pipeline.settings import SYNTHETIC_MARKER
from tests.fixtures.raw_fixtures import (
    BAD,
    KEY,
    PLAIN,
    copy_tree,
    cpr_numbers,
    cprs_in,
    delivery_path,
    plain_table,
    query,
    write_csv,
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], str]:
    """The warehouse, every CPR of the input (ten digits), and all the run printed or logged."""
    root = tmp_path_factory.mktemp("privacy")
    raw_dir = copy_tree(PLAIN, root / "raw")
    for path in BAD.rglob("*_20240131.csv"):
        target = raw_dir / path.parent.name / path.name.replace("20240131", "20240215")
        target.write_bytes(path.read_bytes())
    header, rows = plain_table("referrals")
    noted = [
        [*row, f"ringede fra {written(row[1], i)}", written(row[1], i + 1), "x"] for i, row in enumerate(rows)
    ]
    unit = header.index("jobcenter_unit")
    noted[0][unit], noted[1][unit] = "Jobcenter Amager, sag 200997 1003", "05 10 61 1016"
    ids = [list(rows[0]) for _ in range(3)]
    ids[0][0], ids[1][2] = "200997 1003", "0510611016"  # a CPR as referral_id, as agreement_id
    ids[2][0], ids[2][header.index("purpose")] = "R900", "05.10.61-1016"  # in an unknown code
    write_csv(
        delivery_path(raw_dir, "referrals", day="20240301"),
        [*header, "note", "cpr_mor", "05 10 61 1016"],  # a CPR as a column header
        [*noted, *[[*row, "", "", ""] for row in ids]],
    )
    headerless = "\n".join(",".join(row) for row in rows[3:])  # a first row without repeated values
    delivery_path(raw_dir, "referrals", day="20240302").write_text(headerless)
    delivery_path(raw_dir, "paid_hours", day="20240303").write_text("05 10 61 1016,2023-10,1\n")
    (raw_dir / "paid_hours" / "0101505001.csv").write_text("cpr,month,hours\n0101505001,2023-10,1\n")
    write_csv(
        delivery_path(raw_dir, "sickness_cases", day="20240301"),
        ["case_id", "cpr", "first_sick_day"],
        [["200997-1003", "6102525002", "2023-08-15"], ["S0510611016", "6102525002", "2023-08-16"]],
    )
    write_csv(
        delivery_path(raw_dir, "providers", day="20240301"),
        ["provider_id", "provider_name"],
        [["05 10 61 1016", "X"]],
    )
    agreement = plain_table("agreements")
    write_csv(
        delivery_path(raw_dir, "agreements", day="20240301"),
        agreement[0],
        [["A09", "2009971003", *agreement[1][0][2:]]],
    )

    warehouse = root / "warehouse.duckdb"
    inputs = [p for p in raw_dir.rglob("*") if p.is_file()]
    status, output = run_ingest(warehouse, raw_dir, KEY.decode())
    assert status == 2  # the headerless and the misnamed file are refused
    return warehouse, cprs_in(inputs), output


def run_ingest(warehouse: Path, raw_dir: Path, key: str | None) -> tuple[int, str]:
    """`provmon ingest --debug` with the key in the environment (None: unset): the exit
    status and all the run printed or logged."""
    records = Recorder()
    logging.getLogger().addHandler(records)
    out, err = StringIO(), StringIO()
    try:
        with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
            if key is None:
                mp.delenv(KEY_ENV, raising=False)
            else:
                mp.setenv(KEY_ENV, key)
            status = cli.main(["ingest", "--debug", "--warehouse", str(warehouse), "--raw-dir", str(raw_dir)])
    finally:
        logging.getLogger().removeHandler(records)
    return status, "\n".join([out.getvalue(), err.getvalue(), *records.lines])


class Recorder(logging.Handler):
    """Every log message of the run, as the library wrote it (before any CLI filter)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def written(cpr: str, form: int) -> str:
    """A CPR number written in one of the forms people use in free text."""
    d = cpr.replace("-", "")
    forms = [
        f"{d[:6]} {d[6:]}",
        f"{d[:2]} {d[2:4]} {d[4:6]} {d[6:]}",
        f"{d[:2]}.{d[2:4]}.{d[4:6]}-{d[6:]}",
        f"{d[:2]}/{d[2:4]}/{d[4:6]} {d[6:]}",
        f"{d[:6]}  {d[6:]}",
        f"{d[:2]}-{d[2:4]}-{d[4:6]}-{d[6:]}",
        f"{d[:6]}\u00a0{d[6:]}",
        f"{d[:6]}.{d[6:]}",
        d,
    ]
    return forms[form % len(forms)]


def leaks(text: str, cprs: set[str]) -> set[str]:
    """The CPR numbers of the input that a text holds in clear, in any form."""
    return cpr_numbers(text) & cprs


def test_the_input_holds_the_numbers_the_scan_looks_for(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, cprs, _ = ingested
    assert {"0101505001", "6102525002", "3201505001", "3002505002", "2902567004"} <= cprs
    assert {"2009971003", "0510611016"} <= cprs
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM landing.referrals").fetchone()[0] >= 10
        assert con.execute("SELECT count(*) FROM quarantine.rows").fetchone()[0] >= 30


def test_no_text_column_of_any_table_holds_a_clear_cpr(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, cprs, _ = ingested
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_catalog = current_database()"
        ).fetchall()
        schemas = {schema for schema, _, _ in columns}
        assert {"landing", "quarantine", "meta"} <= schemas
        for schema, table, column in columns:
            values = con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"').fetchall()
            found = [v for (v,) in values if v is not None and leaks(v, cprs)]
            assert found == [], f"{schema}.{table}.{column}"


def test_the_warehouse_file_bytes_hold_no_clear_cpr(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, cprs, _ = ingested
    data = b"".join(p.read_bytes() for p in warehouse.parent.glob(warehouse.name + "*"))
    assert leaks(data.decode("latin-1"), cprs) == set()


def test_no_log_line_or_message_holds_a_clear_cpr(ingested: tuple[Path, set[str], str]) -> None:
    _, cprs, output = ingested
    assert "refused" in output and "-****" in output
    assert leaks(output, cprs) == set()


_KILLED_INGEST = """
import sys
from pathlib import Path
from pipeline.ingest import ingest_paths
ingest_paths(Path(sys.argv[1]), Path(sys.argv[2]), b"k" * 40)
"""


def test_a_killed_ingest_leaves_no_clear_cpr_in_the_temp_folder_after_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 while a Windows-1252 delivery is read: its UTF-8 copy, with clear CPRs, stays
    behind; the next ingest removes it (and leaves a running session's folder alone)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    header, rows = plain_table("referrals")
    raw_dir = tmp_path / "raw"
    write_csv(delivery_path(raw_dir, "referrals"), header, rows * 80_000, delimiter=";", encoding="cp1252")
    env = {**os.environ, "TMPDIR": str(temp)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_INGEST, str(tmp_path / "killed.duckdb"), str(raw_dir)], env=env
    )
    copy = None
    while copy is None and child.poll() is None:
        copy = next((p for p in temp.glob("provmon-ingest-*/*.utf8.csv") if p.stat().st_size), None)
    child.kill()
    child.wait()
    assert copy is not None, "the ingest ended before its UTF-8 copy was seen"
    assert cprs_in([copy]) & {r[1].replace("-", "") for r in rows}  # the leftover holds clear CPRs
    running = tempfile.mkdtemp(prefix="provmon-ingest-", dir=temp)
    Path(running, "owner").write_text(f"{os.getpid()}")  # this process: still running
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with IngestSession(tmp_path / "next.duckdb", KEY):
        pass
    assert not copy.parent.exists()
    assert Path(running).exists()
    assert not cprs_in(list(temp.rglob("*.csv")))


def test_a_row_whose_id_is_a_cpr_is_quarantined(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, _, _ = ingested
    flagged = query(
        warehouse,
        "SELECT extract, column_name, reason FROM quarantine.rows WHERE file LIKE '%20240301%' "
        "AND reason LIKE '%holds a CPR number%' ORDER BY ALL",
    )
    assert [(e, c) for e, c, _ in flagged] == [
        ("agreements", "provider_id"),
        ("providers", "provider_id"),
        ("referrals", "agreement_id"),
        ("referrals", "referral_id"),
        ("sickness_cases", "case_id"),
        ("sickness_cases", "case_id"),
    ]
    assert all("-****" in reason for _, _, reason in flagged)
    ids = [
        value
        for extract, column in ID_COLUMNS
        for (value,) in query(warehouse, f"SELECT DISTINCT {column} FROM landing.{extract}")
    ]
    assert ids and all(re.fullmatch(r"[A-Z][0-9]{2,3}", v) for v in ids), ids


ID_COLUMNS = [
    ("referrals", "referral_id"),
    ("referrals", "agreement_id"),
    ("sickness_cases", "case_id"),
    ("providers", "provider_id"),
    ("agreements", "provider_id"),
]


# --- the key ------------------------------------------------------------------------------------


@pytest.fixture
def real_raw(tmp_path: Path) -> Path:
    """Deliveries the generator did not write (with a marker file of the old, plain kind)."""
    raw_dir = copy_tree(PLAIN, tmp_path / "raw")
    assert (raw_dir / SYNTHETIC_MARKER).exists()
    return raw_dir


def loaded_rows(warehouse: Path) -> int:
    if not warehouse.exists():
        return 0
    return query(warehouse, "SELECT coalesce(sum(rows_loaded), 0) FROM meta.loads")[0][0]


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (DEMO_KEY, f"{KEY_ENV} is the published demo key"),
        (None, f"{KEY_ENV} is not set: export {KEY_ENV}="),
        ("a-short-secret", f"{KEY_ENV} has 14 characters, too few to be safe from guessing: export"),
    ],
)
def test_real_data_is_refused_without_a_long_secret_key(
    real_raw: Path, tmp_path: Path, key: str | None, says: str
) -> None:
    (real_raw / SYNTHETIC_MARKER).write_text("")  # an empty marker does not make data synthetic
    warehouse = tmp_path / "warehouse.duckdb"
    status, output = run_ingest(warehouse, real_raw, key)
    assert status != 0
    assert says in output and "--synthetic" not in output
    assert loaded_rows(warehouse) == 0


def test_a_copied_marker_does_not_make_real_data_synthetic(real_raw: Path, tmp_path: Path) -> None:
    generated = copy_tree(PLAIN, tmp_path / "generated")
    write_marker(generated)
    (real_raw / "paid_hours" / "paid_hours_20240131.csv").write_text(
        "cpr,month,hours\n010150-5001,2023-10,1\n"
    )
    shutil.copy(generated / SYNTHETIC_MARKER, real_raw / SYNTHETIC_MARKER)
    status, output = run_ingest(tmp_path / "warehouse.duckdb", real_raw, DEMO_KEY)
    assert (
        status != 0
        and "paid_hours/paid_hours_20240131.csv has changed since the generator wrote it" in output
    )


def test_the_demo_key_goes_for_what_the_generator_wrote_with_a_warning(tmp_path: Path) -> None:
    raw_dir = copy_tree(PLAIN, tmp_path / "raw")
    write_marker(raw_dir)  # what `provmon generate` does last
    warehouse = tmp_path / "warehouse.duckdb"
    status, output = run_ingest(warehouse, raw_dir, None)
    assert status == 0 and "using the published demo pseudonymisation key" in output
    assert loaded_rows(warehouse) > 0


def test_another_key_is_refused_and_the_message_says_how_to_rotate(real_raw: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    assert run_ingest(warehouse, real_raw, KEY.decode())[0] == 0
    before = loaded_rows(warehouse)
    header, rows = plain_table("paid_hours")
    write_csv(delivery_path(real_raw, "paid_hours", day="20240229"), header, rows)
    status, output = run_ingest(warehouse, real_raw, "another-secret-key-of-32-characters-or-more")
    assert status != 0
    assert (
        "is not the key the warehouse" in output
        and "to rotate the key, ingest every delivery again" in output
    )
    assert loaded_rows(warehouse) == before
    assert run_ingest(warehouse, real_raw, KEY.decode())[0] == 0  # the right key still works
    assert loaded_rows(warehouse) > before
    fingerprints = query(warehouse, "SELECT fingerprint FROM meta.key_fingerprint")
    assert len(fingerprints) == 1 and KEY.decode() not in fingerprints[0][0]
    assert KEY not in b"".join(p.read_bytes() for p in tmp_path.glob("warehouse.duckdb*"))
