"""The DuckDB warehouse file (docs/warehouse.md): connections, the landing/quarantine/meta
tables that ingestion owns, and the run log every verb writes.

DuckDB allows one writer per file and a read-only open fails while a writer holds the lock,
so every verb opens the file, does its work and closes it again; nothing keeps it open."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.contract import Extract, load_contract
from pipeline.cpr import scrub
from pipeline.errors import ProvmonError
from pipeline.sql import ident

# DuckDB type of each contract column type in landing (docs/warehouse.md). `cpr` is not here:
# it is replaced by CPR_COLUMNS.
LANDING_TYPES = {
    "text": "VARCHAR",
    "int": "INTEGER",
    "decimal": "DOUBLE",
    "date": "DATE",
    "month": "DATE",
    "week": "DATE",
    "code": "VARCHAR",
}
# What a CPR column becomes in landing: the pseudonym and what may be derived from the number.
CPR_COLUMNS = (("person_key", "VARCHAR"), ("birth_date", "DATE"), ("sex", "VARCHAR"))
LANDING_METADATA = (
    ("_load_id", "BIGINT"),
    ("_file", "VARCHAR"),
    ("_delivery_date", "DATE"),
    ("_row_number", "BIGINT"),
    ("_extra", "VARCHAR"),
)

QUARANTINE_ROWS = """(
    load_id BIGINT NOT NULL,
    extract VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    row_number BIGINT,
    line_number BIGINT,
    column_name VARCHAR,
    reason VARCHAR NOT NULL,
    record VARCHAR,
    quarantined_at TIMESTAMP NOT NULL
)"""
META_LOADS = """(
    load_id BIGINT PRIMARY KEY,
    extract VARCHAR,
    file VARCHAR NOT NULL,
    file_path VARCHAR NOT NULL,
    file_hash VARCHAR,
    delivery_date DATE,
    status VARCHAR NOT NULL CHECK (status IN ('loaded', 'refused')),
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_quarantined BIGINT,
    message VARCHAR,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    mapping_version VARCHAR,
    CHECK (status <> 'loaded' OR rows_read = rows_loaded + rows_quarantined)
)"""
# The fingerprint of the pseudonymisation key the warehouse was filled with (one row, written
# at the first load; pipeline.ingest.pseudonym.require_same_key). Never the key itself.
KEY_FINGERPRINT = "key_fingerprint"
META_KEY_FINGERPRINT = """(
    fingerprint VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
)"""
META_RUNS = """(
    run_id BIGINT PRIMARY KEY,
    verb VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
    summary VARCHAR,
    pid INTEGER,
    host VARCHAR
)"""
# The columns of meta.runs before a run recorded its process (and could be 'interrupted').
_RUNS_V1_COLUMNS = ("run_id", "verb", "started_at", "finished_at", "status", "summary")


class WarehouseError(ProvmonError):
    """The warehouse file cannot be opened (missing, locked by another process, not DuckDB)."""


def meta_table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether meta.<name> exists in the open warehouse (a table a verb creates on first use)."""
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'meta' "
        "and table_name = ? and table_catalog = current_database()",
        [name],
    ).fetchone()
    return bool(found and found[0])


def keep_one_row(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Mapping[str, str],
    values: Sequence[object],
    stamp: str,
) -> None:
    """Make `values` the one row of meta.<name> (created on first use with `columns`, name ->
    type, and the timestamp column `stamp`, set to now). In the caller's transaction, so a record
    of what a build did is published with the build or not at all."""
    table = f"meta.{ident(name)}"
    declared = ", ".join(f"{ident(column)} {kind}" for column, kind in columns.items())
    con.execute(f"create table if not exists {table} ({declared}, {ident(stamp)} timestamp not null)")
    con.execute(f"delete from {table}")
    named = ", ".join(ident(column) for column in [*columns, stamp])
    marks = ", ".join("?" for _ in columns)
    con.execute(f"insert into {table} ({named}) values ({marks}, current_localtimestamp())", list(values))


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; the caller closes it (use it as a context manager). The one way
    every verb opens the file, so a locked file reads the same whoever meets it.

    A lock held by another process (a running `dbt build`, an open notebook kernel writing)
    becomes a message saying so, instead of DuckDB's IO error."""
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `provmon ingest` first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        raise open_error(path, exc) from exc


def open_error(path: Path, exc: Exception) -> WarehouseError:
    """The error for a warehouse file DuckDB could not open or attach."""
    text = str(exc)
    if "lock" in text.lower():
        return WarehouseError(
            f"the warehouse {path} is in use by another process (a build or an ingest still running, "
            "or a notebook writing to it); try again when it has finished"
        )
    return WarehouseError(f"cannot open the warehouse {path}: {scrub(text.splitlines()[0])}")


def qualified(catalog: str | None, schema: str, table: str) -> str:
    """`"catalog"."schema"."table"`, or without the catalog: names are always quoted, so that
    an attached warehouse (ingestion attaches it to an in-memory connection) works the same."""
    parts = [catalog] if catalog else []
    return ".".join(ident(p) for p in [*parts, schema, table])


def landing_columns(extract: Extract) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a landing table, in contract order, then the metadata columns."""
    cols: list[tuple[str, str]] = []
    for col in extract.columns.values():
        if col.type == "cpr":
            cols.extend(CPR_COLUMNS)
        else:
            cols.append((col.name, LANDING_TYPES[col.type]))
    return [*cols, *LANDING_METADATA]


def ensure_schemas(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> None:
    """Create the landing, quarantine and meta tables that do not exist yet.

    A landing table that lacks a column the contract has since gained gets it added (NULL for
    the rows already loaded), so that a contract change does not need a fresh warehouse."""
    prefix = f"{ident(catalog)}." if catalog else ""
    for schema in ("landing", "quarantine", "meta"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {prefix}{ident(schema)}")
    for extract in load_contract().extracts.values():
        _ensure_landing_table(con, catalog, extract)
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(catalog, 'quarantine', 'rows')} {QUARANTINE_ROWS}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(catalog, 'meta', 'loads')} {META_LOADS}")
    # meta.loads of a warehouse made before site mappings existed
    con.execute(
        f"ALTER TABLE {qualified(catalog, 'meta', 'loads')} ADD COLUMN IF NOT EXISTS mapping_version VARCHAR"
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(catalog, 'meta', 'runs')} {META_RUNS}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {qualified(catalog, 'meta', KEY_FINGERPRINT)} {META_KEY_FINGERPRINT}"
    )
    _upgrade_runs(con, catalog)


def _upgrade_runs(con: duckdb.DuckDBPyConnection, catalog: str | None) -> None:
    """A meta.runs of an older warehouse lacks pid and host, and its CHECK does not allow
    'interrupted'; DuckDB cannot alter a CHECK, so the table is rebuilt with its rows."""
    runs = qualified(catalog, "meta", "runs")
    present = {row[0] for row in con.execute(f"SELECT name FROM pragma_table_info('{runs}')").fetchall()}
    if "pid" in present:
        return
    old = qualified(catalog, "meta", "runs_v1")
    columns = ", ".join(_RUNS_V1_COLUMNS)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f'ALTER TABLE {runs} RENAME TO "runs_v1"')
        con.execute(f"CREATE TABLE {runs} {META_RUNS}")
        con.execute(f"INSERT INTO {runs} ({columns}) SELECT {columns} FROM {old}")
        con.execute(f"DROP TABLE {old}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _ensure_landing_table(con: duckdb.DuckDBPyConnection, catalog: str | None, extract: Extract) -> None:
    table = qualified(catalog, "landing", extract.name)
    wanted = landing_columns(extract)
    column_list = ", ".join(f"{ident(name)} {sql_type}" for name, sql_type in wanted)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({column_list})")
    present = {row[0] for row in con.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()}
    for name, sql_type in wanted:
        if name not in present:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {ident(name)} {sql_type}")


def next_id(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    """max + 1 of an id column: safe because DuckDB lets only one process write the file."""
    return int(con.execute(f"SELECT coalesce(max({ident(column)}), 0) + 1 FROM {table}").fetchone()[0])


@dataclass
class RunRecord:
    """The row of meta.runs of a running verb; the verb sets `summary` before it returns."""

    run_id: int
    verb: str
    summary: str | None = None


@contextmanager
def record_run(warehouse: Path, verb: str, create: bool = True) -> Iterator[RunRecord]:
    """Log a verb in meta.runs: a `running` row at the start (with this process's id and
    host), `ok` with the summary or `failed` with the (CPR-scrubbed) error at the end.

    A process killed outright (kill -9, a power cut) never writes its end; the next verb to
    start marks such rows `interrupted`. The file is opened only to write the rows, so the verb
    itself can open it as it needs (or let dbt open it) in between. With create=False a missing
    warehouse is an error instead of a new empty file (verbs that only read or add to one)."""
    if not create and not Path(warehouse).exists():
        raise WarehouseError(f"no warehouse at {warehouse}: run `provmon ingest` first")
    host = socket.gethostname()
    with connect(warehouse) as con:
        ensure_schemas(con)
        runs = qualified(None, "meta", "runs")
        mark_interrupted(con, host)
        run_id = next_id(con, runs, "run_id")
        con.execute(
            f"INSERT INTO {runs} (run_id, verb, started_at, status, pid, host) "
            "VALUES (?, ?, current_localtimestamp(), 'running', ?, ?)",
            [run_id, verb, os.getpid(), host],
        )
    record = RunRecord(run_id=run_id, verb=verb)
    try:
        yield record
    except BaseException as exc:
        _finish_run(warehouse, record, "failed", scrub(str(exc)) or type(exc).__name__)
        raise
    _finish_run(warehouse, record, "ok", record.summary)


def mark_interrupted(con: duckdb.DuckDBPyConnection, host: str) -> list[int]:
    """Mark `running` rows of this host whose process is gone as `interrupted`; returns their
    run ids. Rows of another host are left alone (its processes cannot be seen from here);
    rows from before runs recorded a pid cannot be running any more."""
    runs = qualified(None, "meta", "runs")
    rows = con.execute(f"SELECT run_id, pid, host FROM {runs} WHERE status = 'running'").fetchall()
    gone = [
        run_id
        for run_id, pid, row_host in rows
        if pid is None or (row_host == host and not process_alive(int(pid)))
    ]
    if gone:
        con.execute(
            f"UPDATE {runs} SET status = 'interrupted', summary = 'the process ended without "
            f"finishing (killed or crashed)' WHERE run_id IN ({', '.join(map(str, gone))})"
        )
    return gone


def process_alive(pid: int) -> bool:
    """Whether a process of this machine with this id still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _finish_run(warehouse: Path, record: RunRecord, status: str, summary: str | None) -> None:
    with connect(warehouse) as con:
        con.execute(
            f"UPDATE {qualified(None, 'meta', 'runs')} SET finished_at = current_localtimestamp(), "
            "status = ?, summary = ? WHERE run_id = ?",
            [status, summary, record.run_id],
        )
