"""Loading deliveries into the warehouse, each all or nothing, recorded in meta.loads.

Parsing, checking and pseudonymising happen in an in-memory DuckDB connection; the warehouse
file is attached to it and receives only pseudonymised rows, so a clear CPR is never written
to it, not even into a page that a rolled-back transaction leaves behind.

Deliveries go in windows (ingest.yaml: at most so many files and rows). Each file of a
window is read on its own (a file that cannot be read is refused and leaves nothing else);
the readable files of one extract are then checked together as a batch; finally the whole
window is written in one transaction, in delivery order. Hundreds of small monthly files
would otherwise spend their time planning statements and waiting for fsync."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import time
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
from pipeline.ingest.dialects import ROW_NUMBER, RawTable, estimated_rows, read_table, reject_reason_sql
from pipeline.ingest.mapping import SiteMapping
from pipeline.ingest.pseudonym import CPR_TABLE, PERSONS_TABLE, PseudonymCache, require_same_key
from pipeline.ingest.rows import BatchQueries
from pipeline.ingest.sql import MACROS
from pipeline.sql import ident, literal
from pipeline.warehouse import ensure_schemas, next_id, open_error, qualified

log = logging.getLogger(__name__)

WH = "wh"  # the catalog name of the attached warehouse
LOADS = qualified(WH, "meta", "loads")
QUARANTINE = qualified(WH, "quarantine", "rows")
QUARANTINE_COLUMNS = (
    "load_id, extract, file, row_number, line_number, column_name, reason, record, quarantined_at"
)
Status = Literal["loaded", "skipped", "refused"]
TMP_PREFIX = "provmon-ingest-"  # a session's private temporary folder, in the system's
OWNER_FILE = "owner"  # inside it: the pid and start time of the session's process
_ORPHAN_AGE_S = 3600
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
    """One delivery on its way: read, checked in a batch, written."""

    delivery: Delivery
    digest: str
    name: str  # prefix of its temporary tables
    started: datetime = field(default_factory=datetime.now)
    status: Status | Literal["pending"] = "pending"
    message: str | None = None  # how it was read; why it was skipped or refused
    raw: RawTable | None = None
    number: int = 0  # its file number in its batch
    rows: int = 0  # non-empty rows split into fields
    bad: int = 0  # of those, failing a check or repeating a key
    rejected: int = 0  # CSV rows that could not be split into fields
    load_id: int | None = None
    mapping_version: str | None = None  # of the site mapping, when it was applied to the file

    @property
    def rows_read(self) -> int:
        return self.rows + self.rejected


@dataclass
class _Batch:
    """Readable deliveries of one extract, checked together."""

    queries: BatchQueries
    jobs: list[_Load]


class IngestSession:
    """An in-memory DuckDB connection with the warehouse attached and the run's CPR cache.

    Use as a context manager; the warehouse file is locked for writing while it is open."""

    def __init__(
        self,
        warehouse: Path,
        key: bytes,
        config: IngestConfig | None = None,
        mapping: SiteMapping | None = None,
    ) -> None:
        self.warehouse = Path(warehouse)
        self._key = key
        self._config = config or load_config()
        self._mapping = mapping
        self._names = itertools.count(1)

    def __enter__(self) -> IngestSession:
        remove_leftovers()
        self._tmp = tempfile.TemporaryDirectory(prefix=TMP_PREFIX)
        (Path(self._tmp.name) / OWNER_FILE).write_text(_owner())
        resources = self._config.duckdb
        settings: dict[str, str | int] = {
            "memory_limit": resources.memory_limit,
            "temp_directory": str(Path(self._tmp.name) / "spill"),
        }
        if resources.threads:
            settings["threads"] = resources.threads
        self.con = duckdb.connect(":memory:", config=settings)
        self.con.execute("SET enable_progress_bar = false")
        # Checkpoint once at the end rather than after each window of small deliveries.
        self.con.execute("SET checkpoint_threshold = '1GB'")
        try:
            self._attach()
            for macro in MACROS:
                self.con.execute(macro)
            self.cache = PseudonymCache(self.con, self._key)
            self._loaded = self._loaded_files()
        except BaseException:
            self.close()
            raise
        return self

    def _loaded_files(self) -> dict[tuple[str, str], tuple[int, str, datetime]]:
        """(extract, file name) -> (load_id, hash, finished) of each file's latest load."""
        rows = self.con.execute(
            f"SELECT extract, file, load_id, file_hash, finished_at FROM {LOADS} WHERE status = 'loaded' "
            "QUALIFY row_number() OVER (PARTITION BY extract, file ORDER BY load_id DESC) = 1"
        ).fetchall()
        return {
            (extract, file): (load_id, digest, finished) for extract, file, load_id, digest, finished in rows
        }

    def _attach(self) -> None:
        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con.execute(f"ATTACH {literal(str(self.warehouse))} AS {WH}")
        except duckdb.IOException as exc:
            raise open_error(self.warehouse, exc) from exc
        ensure_schemas(self.con, WH)
        require_same_key(self.con, WH, self._key, self.warehouse)

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

    # --- windows of deliveries ------------------------------------------------------------------

    def load(self, deliveries: Iterable[Delivery]) -> Iterator[FileResult]:
        """Load deliveries in the order given, yielding what happened to each, in that order.
        A file that cannot be loaded is recorded as refused: this never raises for bad input."""
        limit = self._config.commit
        window: list[_Load] = []
        size = 0
        for delivery in deliveries:
            rows = estimated_rows(delivery)
            if window and (len(window) >= limit.files or size + rows > limit.rows):
                yield from self._load_window(window)
                window, size = [], 0
            window.append(self._new_or_known(delivery))
            size += rows
        yield from self._load_window(window)

    def _new_or_known(self, delivery: Delivery) -> _Load:
        """A delivery to load, or one already loaded (skipped) or changed since (refused)."""
        job = _Load(delivery, file_hash(delivery.path), name=f"f{next(self._names)}")
        prior = self._loaded.get((delivery.extract, delivery.file))
        if prior and prior[1] == job.digest:
            job.status, job.message = "skipped", f"already loaded (load {prior[0]})"
        elif prior:
            self._refuse(
                job,
                f"a file of this name was loaded on {prior[2]:%Y-%m-%d %H:%M} (load {prior[0]}) with other "
                "content; a correction must come as a new delivery with a later date in its name",
            )
        return job

    def _load_window(self, window: list[_Load]) -> list[FileResult]:
        """Read, check and write one window of deliveries."""
        batches: list[_Batch] = []
        try:
            for job in window:
                if job.status == "pending":
                    self._read(job)
            by_extract: dict[str, list[_Load]] = {}
            for job in window:
                if job.status == "pending":
                    by_extract.setdefault(job.delivery.extract, []).append(job)
            for extract, jobs in by_extract.items():
                batches += self._check(load_contract().extracts[extract], jobs)
            return self._write(window, batches)
        finally:
            self._drop_temporaries()

    def _read(self, job: _Load) -> None:
        """A delivery as a text table, or its refusal."""
        try:
            job.raw = read_table(self.con, job.delivery, job.name, Path(self._tmp.name))
            if self._mapping:  # the site's column names, codes and formats in the contract's form
                job.raw, job.mapping_version = self._mapping.apply(self.con, job.delivery, job.raw)
            check_columns(load_contract().extracts[job.delivery.extract], job.raw.columns)
        except UnreadableFileError as exc:
            self._refuse(job, str(exc))
        except _OUR_MISTAKES:
            raise
        except duckdb.Error as exc:
            self._refuse(job, f"cannot be read: {_first_line(exc)}")

    def _check(self, extract: Extract, jobs: list[_Load]) -> list[_Batch]:
        """Check readable deliveries of one extract together. When DuckDB fails on the batch
        (a Parquet file may turn out corrupt only when read in full), each file is checked
        alone, so that only the faulty one is refused."""
        queries = BatchQueries(
            extract, tuple(tuple(j.raw.columns) for j in jobs if j.raw), f"b{next(self._names)}"
        )
        try:
            self._run_checks(queries, jobs)
        except _OUR_MISTAKES:
            raise
        except duckdb.Error as exc:
            log.debug("checking %s failed", [j.delivery.file for j in jobs], exc_info=True)
            self._drop_temporaries(queries.name)
            if len(jobs) > 1:
                return [batch for job in jobs for batch in self._check(extract, [job])]
            self._refuse(jobs[0], f"cannot be loaded: {_first_line(exc)}")
            return []
        for job in jobs:  # the clear text of the files is not needed any more
            for kind, name in job.raw.text_objects if job.raw else ():
                self.con.execute(f"DROP {kind} IF EXISTS temp.main.{ident(name)}")
        return [_Batch(queries, jobs)]

    def _run_checks(self, queries: BatchQueries, jobs: list[_Load]) -> None:
        self.con.execute(queries.create_source([j.raw.relation for j in jobs if j.raw]))
        if queries.cpr_column:
            self.cache.add(queries.cpr_values())
        self.con.execute(queries.create_typed())
        self.con.execute(queries.create_repeated())
        self.con.execute(
            queries.create_duplicates(self._scalar(f"SELECT count(*) FROM {queries.repeated}") > 0)
        )
        landing = qualified(WH, "landing", queries.extract.name)
        for statement in queries.continuation_problems(landing):
            self.con.execute(statement)
        counts = {
            n: (rows, failed + repeated)
            for n, rows, failed, repeated in self.con.execute(queries.file_counts()).fetchall()
        }
        in_source = dict(self.con.execute(queries.source_counts()).fetchall())
        for number, job in enumerate(jobs, 1):
            job.number = number
            job.rows, job.bad = counts.get(number, (0, 0))
            if job.raw:
                job.rejected = job.raw.rejected
                job.message = _load_message(job.raw, in_source.get(number, 0) - job.rows)
        if any(job.bad for job in jobs):
            for statement in queries.create_quarantine():
                self.con.execute(statement)

    def _refuse(self, job: _Load, problem: str) -> None:
        job.status, job.message = "refused", scrub(problem)
        log.error("refused %s: %s", scrub(str(job.delivery.path)), job.message)

    # --- writing ----------------------------------------------------------------------------------

    def _write(self, window: list[_Load], batches: list[_Batch]) -> list[FileResult]:
        """Everything of a window in one transaction, load ids in delivery order."""
        self.con.begin()
        try:
            next_load = next_id(self.con, LOADS, "load_id")
            for job in window:
                if job.status != "skipped":
                    job.load_id, next_load = next_load, next_load + 1
            written = {id(job): counts for batch in batches for job, counts in self._write_batch(batch)}
            results = [self._log(job, written.get(id(job))) for job in window]
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise
        return results

    def _write_batch(self, batch: _Batch) -> list[tuple[_Load, tuple[int, int]]]:
        """A batch's landing rows and quarantine; (loaded, quarantined) as written, per file."""
        queries, jobs = batch.queries, batch.jobs
        self.con.execute(queries.create_deliveries())
        self.con.executemany(
            f"INSERT INTO {queries.deliveries} VALUES (?, ?, ?, ?, ?)",
            [
                [
                    j.number,
                    j.load_id,
                    j.delivery.file,
                    j.delivery.delivery_date,
                    j.raw.line_offset if j.raw else None,
                ]
                for j in jobs
            ],
        )
        values = queries.landing_values()
        names = ", ".join(ident(name) for name, _ in values)
        select = ", ".join(sql for _, sql in values)
        table = qualified(WH, "landing", queries.extract.name)
        self.con.execute(f"INSERT INTO {table} ({names}) SELECT {select} {queries.good_rows()}")
        if any(job.bad for job in jobs):
            self.con.execute(f"INSERT INTO {QUARANTINE} ({QUARANTINE_COLUMNS}) {queries.quarantined_rows()}")
        for job in jobs:
            if job.rejected and job.raw:
                self._insert_rejects(job, job.raw, queries.extract.name)
        ids = [j.load_id for j in jobs]
        loaded = self._counts_by_load(
            f"SELECT _load_id, count(*) FROM {table} WHERE _load_id BETWEEN ? AND ? GROUP BY ALL", ids
        )
        quarantined = self._counts_by_load(
            f"SELECT load_id, count(*) FROM {QUARANTINE} WHERE load_id BETWEEN ? AND ? GROUP BY ALL", ids
        )
        return [(job, (loaded.get(job.load_id, 0), quarantined.get(job.load_id, 0))) for job in jobs]

    def _counts_by_load(self, sql: str, ids: list[int | None]) -> dict[int, int]:
        known = [i for i in ids if i is not None]
        return dict(self.con.execute(sql, [min(known), max(known)]).fetchall())

    def _insert_rejects(self, job: _Load, raw: RawTable, extract: str) -> None:
        """The CSV rows of a file that could not even be split into fields (or decoded, or that
        hold a NUL byte)."""
        line = "NULL" if raw.line_offset is None else f"{ROW_NUMBER} + {raw.line_offset}"
        self.con.execute(
            f"INSERT INTO {QUARANTINE} ({QUARANTINE_COLUMNS}) "
            f"SELECT ?, ?, ?, {ROW_NUMBER}, {line}, column_name, "
            f"{reject_reason_sql(len(raw.columns))}, "
            "json_object('line', mask_cpr(replace(line, chr(0), ''))), "
            f"current_localtimestamp() FROM {ident(raw.rejects or '')}",
            [job.load_id, extract, job.delivery.file],
        )

    def _log(self, job: _Load, written: tuple[int, int] | None) -> FileResult:
        """A delivery's row in meta.loads, after checking that every row read is accounted for."""
        delivery = job.delivery
        if job.status == "skipped":
            return FileResult(delivery.path, delivery.extract, "skipped", message=job.message)
        if written is None:
            self._log_load(job, "refused", [None, None, None])
            return FileResult(
                delivery.path, delivery.extract, "refused", message=job.message, load_id=job.load_id
            )
        loaded, quarantined = written
        if job.rows_read != loaded + quarantined:
            raise RowCountMismatch(
                f"{delivery.file}: {job.rows_read} rows read, {loaded} loaded, {quarantined} quarantined"
            )
        self._log_load(job, "loaded", [job.rows_read, loaded, quarantined])
        return FileResult(
            delivery.path,
            delivery.extract,
            "loaded",
            job.rows_read,
            loaded,
            quarantined,
            job.message,
            job.load_id,
        )

    def _log_load(self, job: _Load, status: str, counts: list[int | None]) -> None:
        """The delivery's row in meta.loads (counts: rows read, loaded, quarantined)."""
        delivery = job.delivery
        self.con.execute(
            f"INSERT INTO {LOADS} (load_id, extract, file, file_path, file_hash, delivery_date, status, "
            "rows_read, rows_loaded, rows_quarantined, message, started_at, mapping_version, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_localtimestamp())",
            [
                job.load_id,
                delivery.extract,
                delivery.file,
                scrub(str(delivery.path)),
                job.digest,
                delivery.delivery_date,
                status,
                *counts,
                job.message,
                job.started,
                job.mapping_version,
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

    def _drop_temporaries(self, prefix: str = "") -> None:
        """Drop the temporary tables and views of a batch (those whose name starts with
        `prefix` and an underscore), or of everything but the run's CPR cache."""
        objects = self.con.execute(
            "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE database_name = 'temp' AND NOT internal "
            "AND starts_with(view_name, $prefix) UNION ALL "
            "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE database_name = 'temp' "
            "AND starts_with(table_name, $prefix) AND table_name NOT IN ($cpr, $persons)",
            {"prefix": f"{prefix}_" if prefix else "", "cpr": CPR_TABLE, "persons": PERSONS_TABLE},
        ).fetchall()
        for table, kind in objects:
            self.con.execute(f"DROP {kind} IF EXISTS temp.main.{ident(table)}")


def remove_leftovers(root: Path | None = None) -> list[Path]:
    """Remove the private temporary folders of ingest sessions that ended without cleaning up
    (killed, or the machine lost power): they may hold a UTF-8 copy of a Windows-1252 delivery
    or DuckDB's spill files, both with clear CPR numbers. A folder whose owner still runs is
    left alone; one without an owner file only when it is an hour old (a session of an
    earlier version, or one that is just being created)."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
        try:
            owner = (folder / OWNER_FILE).read_text().strip()
        except FileNotFoundError:
            owner = None
        except OSError:
            continue  # another user's folder
        if owner is None and time.time() - folder.stat().st_mtime < _ORPHAN_AGE_S:
            continue
        if owner is not None and _alive(owner):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            log.warning("removed the temporary folder %s of an ingest that did not finish", folder)
            removed.append(folder)
    return removed


def _owner() -> str:
    """'<pid> <start time>' of this process: a pid alone may be reused after a reboot."""
    return f"{os.getpid()} {_started(os.getpid())}"


def _started(pid: int) -> str:
    """When a process started (clock ticks since boot, Linux), '' where that is unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(owner: str) -> bool:
    """Whether the process named in an owner file still runs."""
    pid_text, _, started = owner.partition(" ")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError, OSError):
        return True  # unreadable or someone else's process: keep the folder
    return not started or _started(pid) in ("", started)


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
