"""Loading deliveries into the warehouse: one transaction per file, recorded in meta.loads.

Parsing, checking and pseudonymising happen in an in-memory DuckDB connection; the warehouse
file is attached to it and receives only pseudonymised rows, so a clear CPR is never written
to it, not even into a page that a rolled-back transaction leaves behind."""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

import duckdb

from pipeline.contract import Extract, load_contract
from pipeline.cpr import scrub
from pipeline.errors import UnreadableFileError
from pipeline.ingest.config import IngestConfig, load_config
from pipeline.ingest.deliveries import Delivery, Misnamed, file_hash
from pipeline.ingest.dialects import ROW_NUMBER, RawTable, read_table, reject_reason_sql
from pipeline.ingest.pseudonym import PseudonymCache
from pipeline.ingest.rows import FileQueries
from pipeline.ingest.sql import MACROS, ident, literal
from pipeline.warehouse import ensure_schemas, next_id, open_error, qualified

log = logging.getLogger(__name__)

WH = "wh"  # the catalog name of the attached warehouse
LOADS = qualified(WH, "meta", "loads")
QUARANTINE = qualified(WH, "quarantine", "rows")
Status = Literal["loaded", "skipped", "refused"]
# DuckDB errors that come from our SQL, not from a file's content: bugs, never refusals.
_OUR_MISTAKES = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.InternalException,
)


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: Path
    extract: str | None
    status: Status
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str | None = None
    load_id: int | None = None


class RowCountMismatch(RuntimeError):
    """rows read != loaded + quarantined: a bug in ingestion, never a user error."""


@dataclass
class _Load:
    """One delivery between its preparation (read, check, key) and its writing."""

    delivery: Delivery
    digest: str
    name: str  # prefix of its temporary tables
    started: datetime = field(default_factory=datetime.now)
    status: Status = "loaded"
    message: str | None = None  # why skipped or refused; how it was read
    extract: Extract | None = None
    raw: RawTable | None = None
    queries: FileQueries | None = None
    rows: int = 0  # non-empty rows split into fields
    bad: int = 0  # of those, failing a check or repeating a key
    rejected: int = 0  # CSV rows that could not be split into fields
    empty: int = 0

    @property
    def rows_read(self) -> int:
        return self.rows + self.rejected


class IngestSession:
    """An in-memory DuckDB connection with the warehouse attached and the run's CPR cache.

    Use as a context manager; the warehouse file is locked for writing while it is open."""

    def __init__(self, warehouse: Path, key: bytes, config: IngestConfig | None = None) -> None:
        self.warehouse = Path(warehouse)
        self._key = key
        self._config = config or load_config()
        self._names = itertools.count(1)

    def __enter__(self) -> IngestSession:
        self._tmp = tempfile.TemporaryDirectory(prefix="provmon-ingest-")
        resources = self._config.duckdb
        settings: dict[str, str | int] = {
            "memory_limit": resources.memory_limit,
            "temp_directory": str(Path(self._tmp.name) / "spill"),
        }
        if resources.threads:
            settings["threads"] = resources.threads
        self.con = duckdb.connect(":memory:", config=settings)
        self.con.execute("SET enable_progress_bar = false")
        # Checkpoint once at the end, not after every small delivery: a commit stays an
        # append to the write-ahead log (hundreds of monthly files spent half their time here).
        self.con.execute("SET checkpoint_threshold = '1GB'")
        try:
            self._attach()
            for macro in MACROS:
                self.con.execute(macro)
            self.cache = PseudonymCache(self.con, self._key)
        except BaseException:
            self.close()
            raise
        return self

    def _attach(self) -> None:
        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con.execute(f"ATTACH {literal(str(self.warehouse))} AS {WH}")
        except duckdb.IOException as exc:
            raise open_error(self.warehouse, exc) from exc
        ensure_schemas(self.con, WH)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.con.execute(f"CHECKPOINT {WH}")
        except duckdb.Error:
            log.debug("no checkpoint of %s", self.warehouse, exc_info=True)
        self.con.close()
        self._tmp.cleanup()

    # --- deliveries -----------------------------------------------------------------------------

    def load(self, deliveries: Iterable[Delivery]) -> Iterator[FileResult]:
        """Load deliveries in the order given, yielding what happened to each. A file that
        cannot be loaded is recorded as refused (this never raises for bad input).

        Each file is read, checked and keyed first, outside any transaction, so a file that
        turns out unreadable leaves no trace but its refusal. The prepared files are then
        written a window at a time in one transaction: one commit per file made hundreds of
        small monthly deliveries spend most of their time in fsync."""
        window: list[_Load] = []
        for delivery in deliveries:
            window.append(self._prepare(delivery))
            commit = self._config.commit
            if len(window) >= commit.files or sum(job.rows for job in window) >= commit.rows:
                yield from self._write_window(window)
                window = []
        yield from self._write_window(window)

    def _prepare(self, delivery: Delivery) -> _Load:
        job = _Load(delivery, file_hash(delivery.path), name=f"f{next(self._names)}")
        prior = self.con.execute(
            f"SELECT load_id, file_hash, finished_at FROM {LOADS} WHERE extract = ? AND file = ? "
            "AND status = 'loaded' ORDER BY load_id DESC LIMIT 1",
            [delivery.extract, delivery.file],
        ).fetchone()
        if prior and prior[1] == job.digest:
            job.status, job.message = "skipped", f"already loaded (load {prior[0]})"
        elif prior:
            self._refuse(
                job,
                f"a file of this name was loaded on {prior[2]:%Y-%m-%d %H:%M} (load {prior[0]}) with other "
                "content; a correction must come as a new delivery with a later date in its name",
            )
        else:
            self._read_and_check(job)
        return job

    def _read_and_check(self, job: _Load) -> None:
        """Read, key and check one file into its typed table; refuse it if it cannot be read."""
        try:
            job.extract = load_contract().extracts[job.delivery.extract]
            job.raw = read_table(self.con, job.delivery, job.name, Path(self._tmp.name))
            check_columns(job.extract, job.raw.columns)
            job.queries = queries = FileQueries(job.extract, job.raw.relation, job.raw.columns, job.name)
            if queries.cpr_column:
                self.cache.add(queries.cpr_values())
            self.con.execute(queries.create_typed())
            self.con.execute(queries.create_repeated())
            job.rows, failed, repeated = self.con.execute(queries.counts()).fetchone()
            self.con.execute(queries.create_duplicates(repeated > 0))
            job.bad = failed + self._scalar(f"SELECT count(*) FROM {queries.duplicates}")
            if job.bad:
                for statement in queries.create_bad():
                    self.con.execute(statement)
            job.rejected = (
                self._scalar(f"SELECT count(*) FROM {ident(job.raw.rejects)}") if job.raw.rejects else 0
            )
            job.empty = self._scalar(f"SELECT count(*) FROM {ident(job.raw.relation)}") - job.rows
            job.message = _load_message(job.raw, job.empty)
        except UnreadableFileError as exc:
            self._refuse(job, str(exc))
        except _OUR_MISTAKES:
            raise
        except duckdb.Error as exc:
            log.debug("loading %s failed", job.delivery.path, exc_info=True)
            self._refuse(job, f"cannot be loaded: {_first_line(exc)}")
        finally:
            # the text of the file, clear CPRs included, is not needed any more
            for kind, name in job.raw.text_objects if job.raw else ():
                self.con.execute(f"DROP {kind} IF EXISTS temp.main.{ident(name)}")

    def _refuse(self, job: _Load, problem: str) -> None:
        job.status, job.message = "refused", scrub(problem)
        log.error("refused %s: %s", scrub(str(job.delivery.path)), job.message)
        self._drop_temporaries(job.name)

    def _write_window(self, window: list[_Load]) -> list[FileResult]:
        """Write prepared deliveries in one transaction, in their order."""
        if not window:
            return []
        self.con.begin()
        try:
            results = [self._write(job) for job in window]
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        finally:
            for job in window:
                self._drop_temporaries(job.name)
        return results

    def _write(self, job: _Load) -> FileResult:
        """One delivery's landing rows, quarantine and load-log row (or only its refusal)."""
        delivery = job.delivery
        if job.status == "skipped":
            return FileResult(delivery.path, delivery.extract, "skipped", message=job.message)
        load_id = next_id(self.con, LOADS, "load_id")
        if job.status == "refused" or job.queries is None or job.extract is None or job.raw is None:
            self._log_load(job, load_id, "refused", [None, None, None])
            return FileResult(
                delivery.path, delivery.extract, "refused", message=job.message, load_id=load_id
            )
        loaded = self._insert_landing(
            job.extract, job.queries, [load_id, delivery.file, delivery.delivery_date]
        )
        quarantined = self._insert_quarantine(
            job, job.raw, job.queries, [load_id, job.extract.name, delivery.file]
        )
        if job.rows_read != loaded + quarantined:
            raise RowCountMismatch(
                f"{delivery.file}: {job.rows_read} rows read, {loaded} loaded, {quarantined} quarantined"
            )
        self._log_load(job, load_id, "loaded", [job.rows_read, loaded, quarantined])
        return FileResult(
            delivery.path,
            delivery.extract,
            "loaded",
            job.rows_read,
            loaded,
            quarantined,
            job.message,
            load_id,
        )

    def _insert_landing(self, extract: Extract, queries: FileQueries, meta: list[object]) -> int:
        """The good rows, pseudonymised, with the delivery's metadata columns."""
        values = [
            *queries.landing_values(),
            *zip(("_load_id", "_file", "_delivery_date"), "???", strict=True),
        ]
        names = ", ".join(ident(name) for name, _ in values)
        select = ", ".join(sql for _, sql in values)
        table = qualified(WH, "landing", extract.name)
        return self._scalar(f"INSERT INTO {table} ({names}) SELECT {select} {queries.good_rows()}", meta)

    def _insert_quarantine(self, job: _Load, raw: RawTable, queries: FileQueries, meta: list[object]) -> int:
        """The bad rows, and for CSV the rows that could not even be split into fields."""
        line = "NULL" if raw.line_offset is None else f"{ROW_NUMBER} + {raw.line_offset}"
        insert = (
            f"INSERT INTO {QUARANTINE} (load_id, extract, file, row_number, line_number, column_name, "
            f"reason, record, quarantined_at) SELECT ?, ?, ?, {ROW_NUMBER}, {line}, column_name, reason, "
            "record, current_localtimestamp() FROM "
        )
        count = self._scalar(f"{insert} ({queries.bad_records()})", meta) if job.bad else 0
        if job.rejected:
            reason = reject_reason_sql(len(raw.columns))
            rejects = (
                f"SELECT {ROW_NUMBER}, NULL AS column_name, {reason} AS reason, "
                f"json_object('line', mask_cpr(line)) AS record FROM {ident(raw.rejects)}"
            )
            count += self._scalar(f"{insert} ({rejects})", meta)
        return count

    def _log_load(self, job: _Load, load_id: int, status: str, counts: list[int | None]) -> None:
        """The delivery's row in meta.loads (counts: rows read, loaded, quarantined)."""
        delivery = job.delivery
        self.con.execute(
            f"INSERT INTO {LOADS} (load_id, extract, file, file_path, file_hash, delivery_date, status, "
            "rows_read, rows_loaded, rows_quarantined, message, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_localtimestamp())",
            [
                load_id,
                delivery.extract,
                delivery.file,
                scrub(str(delivery.path)),
                job.digest,
                delivery.delivery_date,
                status,
                *counts,
                job.message,
                job.started,
            ],
        )

    def refuse_misnamed(self, misnamed: Misnamed) -> FileResult:
        """Record a file that cannot be a delivery because of its name or folder."""
        problem = scrub(misnamed.problem)
        log.error("refused %s: %s", scrub(str(misnamed.path)), problem)
        load_id = next_id(self.con, LOADS, "load_id")
        self.con.execute(
            f"INSERT INTO {LOADS} (load_id, extract, file, file_path, file_hash, status, message, "
            "started_at, finished_at) VALUES (?, ?, ?, ?, ?, 'refused', ?, current_localtimestamp(), "
            "current_localtimestamp())",
            [
                load_id,
                misnamed.extract,
                scrub(misnamed.path.name),
                scrub(str(misnamed.path)),
                file_hash(misnamed.path),
                problem,
            ],
        )
        return FileResult(misnamed.path, misnamed.extract, "refused", message=problem, load_id=load_id)

    def _scalar(self, sql: str, params: list[object] | None = None) -> int:
        row = self.con.execute(sql, params or []).fetchone()
        return int(row[0]) if row else 0

    def _drop_temporaries(self, name: str) -> None:
        """Drop a file's temporary tables and views."""
        objects = self.con.execute(
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE database_name = 'temp' "
            "AND (view_name = $name OR view_name LIKE $prefix ESCAPE '\\') UNION ALL "
            "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = 'temp' "
            "AND (table_name = $name OR table_name LIKE $prefix ESCAPE '\\')",
            {"name": name, "prefix": f"{name}\\_%"},
        ).fetchall()
        for table, kind in objects:
            self.con.execute(f"DROP {kind} IF EXISTS temp.main.{ident(table)}")


def check_columns(extract: Extract, columns: list[str]) -> None:
    """Refuse a file without the extract's required columns, saying what it looks like."""
    missing = [c for c in extract.required_columns if c not in columns]
    if not missing:
        return
    found = ", ".join(columns[:15]) + (" …" if len(columns) > 15 else "")
    hint = ""
    lookalikes = [
        other.name
        for other in load_contract().extracts.values()
        if other.name != extract.name and set(other.required_columns) <= set(columns)
    ]
    if lookalikes:
        hint = f"; the columns are those of {lookalikes[0]}: does it belong in {lookalikes[0]}/?"
    elif len(columns) == 1 and any(sep in columns[0] for sep in ";,\t|"):
        hint = "; the header was read as a single column: separate the columns with ';' or ','"
    plural = "s" if len(missing) > 1 else ""
    raise UnreadableFileError(f"required column{plural} {', '.join(missing)} missing (found: {found}){hint}")


def _load_message(raw: RawTable, empty_rows: int) -> str:
    message = f"read as {raw.dialect}"
    if empty_rows:
        message += f"; {empty_rows} empty row{'s' if empty_rows > 1 else ''} skipped"
    return message


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return scrub(text.splitlines()[0]) if text else type(exc).__name__
