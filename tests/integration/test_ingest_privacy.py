"""No clear CPR number of the input survives ingestion: not in any text column of any table
(landing, quarantine, meta), not in the bytes of the warehouse file, not in a log line or
an error message. The input mixes good and bad rows, CPRs in free text and extra columns,
a file without a header and a file named after a CPR."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from pipeline import cli
from pipeline.cpr import KEY_ENV
from pipeline.ingest.load import IngestSession
from tests.fixtures.raw_fixtures import (
    BAD,
    KEY,
    PLAIN,
    copy_tree,
    cprs_in,
    delivery_path,
    plain_table,
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
    noted = [[*row, f"ringede fra {row[1]}", row[1].replace("-", "")] for row in rows]
    write_csv(delivery_path(raw_dir, "referrals", day="20240301"), [*header, "note", "cpr_mor"], noted)
    headerless = "\n".join(",".join(row) for row in rows[3:])  # a first row without repeated values
    delivery_path(raw_dir, "referrals", day="20240302").write_text(headerless)
    (raw_dir / "paid_hours" / "0101505001.csv").write_text("cpr,month,hours\n0101505001,2023-10,1\n")

    warehouse = root / "warehouse.duckdb"
    inputs = [p for p in raw_dir.rglob("*") if p.is_file()]
    records = Recorder()
    logging.getLogger().addHandler(records)
    out, err = StringIO(), StringIO()
    try:
        with pytest.MonkeyPatch.context() as mp, redirect_stdout(out), redirect_stderr(err):
            mp.setenv(KEY_ENV, KEY.decode())
            status = cli.main(["ingest", "--debug", "--warehouse", str(warehouse), "--raw-dir", str(raw_dir)])
    finally:
        logging.getLogger().removeHandler(records)
    assert status == 2  # the headerless and the misnamed file are refused
    return warehouse, cprs_in(inputs), "\n".join([out.getvalue(), err.getvalue(), *records.lines])


class Recorder(logging.Handler):
    """Every log message of the run, as the library wrote it (before any CLI filter)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def forms(digits: str) -> tuple[str, str]:
    return digits, f"{digits[:6]}-{digits[6:]}"


def test_the_input_holds_the_numbers_the_scan_looks_for(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, cprs, _ = ingested
    assert {"0101505001", "6102525002", "3201505001", "3002505002", "2902567004"} <= cprs
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM landing.referrals").fetchone()[0] >= 10
        assert con.execute("SELECT count(*) FROM quarantine.rows").fetchone()[0] >= 30


def test_no_text_column_of_any_table_holds_a_clear_cpr(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, cprs, _ = ingested
    pattern = re.compile("|".join(re.escape(f) for digits in cprs for f in forms(digits)))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_catalog = current_database()"
        ).fetchall()
        schemas = {schema for schema, _, _ in columns}
        assert {"landing", "quarantine", "meta"} <= schemas
        for schema, table, column in columns:
            values = con.execute(f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}"').fetchall()
            leaks = [v for (v,) in values if v is not None and pattern.search(v)]
            assert leaks == [], f"{schema}.{table}.{column}"


def test_the_warehouse_file_bytes_hold_no_clear_cpr(ingested: tuple[Path, set[str], str]) -> None:
    warehouse, cprs, _ = ingested
    data = b"".join(p.read_bytes() for p in warehouse.parent.glob(warehouse.name + "*"))
    assert [d for d in cprs for f in forms(d) if f.encode() in data] == []


def test_no_log_line_or_message_holds_a_clear_cpr(ingested: tuple[Path, set[str], str]) -> None:
    _, cprs, output = ingested
    assert "refused" in output and "-****" in output
    assert [d for d in cprs for f in forms(d) if f in output] == []


_KILLED_INGEST = """
import sys
from pathlib import Path
from pipeline.ingest import ingest_paths
ingest_paths(Path(sys.argv[1]), Path(sys.argv[2]), b"k")
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
