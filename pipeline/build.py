"""`provmon build`: the dbt project for one as-of date, then the public marts as Parquet.

dbt runs in-process (dbt's programmatic runner) so that a failure comes back as a result we can
turn into one line naming the failing model or test, instead of a screen of dbt output. dbt's
own files (manifest, compiled SQL, logs) go to a folder under the system temp directory keyed by
the warehouse, so that the repository stays clean and two builds of different warehouses (two
engineers, or the tests beside a demo) never share dbt's partial-parse state.

Which marts are exported is data, not code: every dbt model with `meta: {export_parquet: true}`
(models/marts/_marts__models.yml) is written to settings.marts_dir, one file per mart, first to a
temporary name and then renamed, so that a reader never sees half a file."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipeline.contract import extract_names
from pipeline.cpr import scrub
from pipeline.errors import ProvmonError
from pipeline.settings import WAREHOUSE_ENV, Settings

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
LANDING_SCHEMA = "landing"
# How many failing nodes the one-line error names before "and N more".
MAX_NAMED_FAILURES = 3


class BuildError(ProvmonError):
    """The warehouse cannot be built: missing input, a locked file, or a failing model or test."""


@dataclass(frozen=True)
class BuildSummary:
    """What a build did, for the CLI's one-line summary and for callers (run, backtest)."""

    as_of: dt.date
    models: int
    tests: int
    warnings: int
    seconds: float
    exported: tuple[Path, ...] = field(default=())

    def __str__(self) -> str:
        warned = f", {self.warnings} warnings" if self.warnings else ""
        return (
            f"build: as_of {self.as_of.isoformat()}, {self.models} models and {self.tests} tests "
            f"passed{warned}, {len(self.exported)} marts exported, {self.seconds:.1f} s"
        )


def build(settings: Settings, as_of: dt.date | None = None) -> BuildSummary:
    """Build every model of the dbt project for `as_of` (default: the month end before the
    newest referrals delivery) and export the public marts to settings.marts_dir."""
    started = time.monotonic()
    warehouse = settings.warehouse.resolve()
    check_landing(warehouse, need_referrals=as_of is None)
    results = run_dbt(warehouse, dbt_args(as_of))
    resolved = built_as_of(warehouse)
    exported = export_marts(warehouse, results.exports, settings.marts_dir)
    return BuildSummary(
        as_of=resolved,
        models=results.models,
        tests=results.tests,
        warnings=results.warnings,
        seconds=time.monotonic() - started,
        exported=tuple(exported),
    )


def dbt_args(as_of: dt.date | None, command: Sequence[str] = ("build",)) -> list[str]:
    """The dbt command line for this project; as_of becomes the dbt var of the same name."""
    args = [
        *command,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
    ]
    if as_of is not None:
        args += ["--vars", f"{{as_of: '{as_of.isoformat()}'}}"]
    return args


# --- before dbt: is there anything to build? -----------------------------------------------


def connect(warehouse: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, turning DuckDB's lock error into a message a person can act on."""
    try:
        return duckdb.connect(str(warehouse), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise BuildError(
                f"the warehouse {warehouse} is in use by another process; wait for it to finish "
                "(or close the notebook holding it) and run provmon build again"
            ) from exc
        raise BuildError(f"cannot open the warehouse {warehouse}: {exc}") from exc


def missing_landing_tables(con: duckdb.DuckDBPyConnection, extracts: Iterable[str]) -> list[str]:
    present = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?",
            [LANDING_SCHEMA],
        ).fetchall()
    }
    return [name for name in extracts if name not in present]


def check_landing(warehouse: Path, need_referrals: bool) -> None:
    """Refuse early, with the fix in the message, when there is nothing to build from."""
    if not warehouse.exists():
        raise BuildError(
            f"the warehouse {warehouse} does not exist; load deliveries first with provmon ingest"
        )
    con = connect(warehouse, read_only=True)
    try:
        missing = missing_landing_tables(con, extract_names())
        if missing:
            raise BuildError(
                f"the warehouse {warehouse} has no landing table for {', '.join(missing)}; "
                "load deliveries first with provmon ingest"
            )
        if need_referrals:
            (count,) = con.execute(f"select count(*) from {LANDING_SCHEMA}.referrals").fetchone()  # type: ignore[misc]
            if count == 0:
                raise BuildError(
                    "no referrals are loaded, so there is no as-of date to build for; load a "
                    "referrals delivery with provmon ingest, or give --as-of"
                )
    finally:
        con.close()


# --- dbt ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbtOutcome:
    models: int
    tests: int
    warnings: int
    exports: tuple[tuple[str, tuple[str, ...]], ...]  # (relation, order-by columns) per mart


def dbt_work_dir(warehouse: Path) -> Path:
    """dbt's target and log folder for this warehouse, outside the repository."""
    key = hashlib.sha256(str(warehouse).encode("utf-8")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"provmon-dbt-{key}"


def run_dbt(warehouse: Path, args: Sequence[str]) -> DbtOutcome:
    """Run dbt in-process against `warehouse`; raise BuildError naming what failed."""
    from dbt.cli.main import dbtRunner

    work = dbt_work_dir(warehouse)
    full_args = [
        *args,
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--log-level",
        "none",
        "--log-level-file",
        "info",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]
    progress = _Progress()
    log.info("build: running dbt %s on %s", args[0], warehouse)
    with environment({WAREHOUSE_ENV: str(warehouse), "DO_NOT_TRACK": "1"}):
        result = dbtRunner(callbacks=[progress]).invoke(full_args)
    if result.exception is not None:
        raise BuildError(one_line(f"dbt could not run: {result.exception}")) from None
    node_results = list(getattr(result.result, "results", None) or [])
    failures = [r for r in node_results if str(r.status) in ("error", "fail")]
    if failures or not result.success:
        raise BuildError(failure_message(failures, work / "logs" / "dbt.log"))
    return summarise(node_results)


def summarise(node_results: Sequence[Any]) -> DbtOutcome:
    models = sum(1 for r in node_results if r.node.resource_type == "model" and str(r.status) == "success")
    tests = sum(
        1 for r in node_results if r.node.resource_type in ("test", "unit_test") and str(r.status) == "pass"
    )
    warnings = sum(1 for r in node_results if str(r.status) == "warn")
    exports = tuple(
        (r.node.relation_name, tuple(r.node.config.meta.get("export_order_by") or ()))
        for r in node_results
        if r.node.resource_type == "model" and r.node.config.meta.get("export_parquet")
    )
    return DbtOutcome(models=models, tests=tests, warnings=warnings, exports=exports)


def failure_message(failures: Sequence[Any], log_file: Path) -> str:
    """One line: which models or tests failed, the first line of each reason, where the log is."""
    if not failures:
        return one_line(f"dbt build failed without a failing node; see {log_file}")
    named = [
        f"{r.node.resource_type} {r.node.name}: {first_line(r.message or str(r.status))}"
        for r in failures[:MAX_NAMED_FAILURES]
    ]
    more = len(failures) - MAX_NAMED_FAILURES
    tail = f" and {more} more" if more > 0 else ""
    return one_line(f"dbt build failed: {'; '.join(named)}{tail} (details in {log_file})")


def first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def one_line(text: str) -> str:
    """Whitespace folded and any CPR-like number masked: an error message is one line."""
    return scrub(" ".join(str(text).split()))


class _Progress:
    """Counts finished dbt nodes and logs every model, so a long build shows it is moving."""

    def __init__(self) -> None:
        self.done = 0

    def __call__(self, event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        self.done += 1
        node = event.data.node_info
        if node.resource_type == "model":
            log.info("build: %s %s (%d nodes done)", node.node_name, node.node_status, self.done)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables set for the duration of a block (dbt reads them with env_var)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- after dbt: as_of and the Parquet marts -----------------------------------------------------


def built_as_of(warehouse: Path) -> dt.date:
    """The as_of the build resolved (the var, or the default from the deliveries)."""
    con = connect(warehouse, read_only=True)
    try:
        row = con.execute("select max(as_of) from main.mart_data_exclusions").fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        raise BuildError("the build finished but resolved no as_of; are any referrals loaded?")
    return row[0]


def export_marts(
    warehouse: Path, exports: Iterable[tuple[str, Sequence[str]]], marts_dir: Path
) -> list[Path]:
    """Write each mart to marts_dir/<name>.parquet, atomically (temporary name, then rename)."""
    marts_dir.mkdir(parents=True, exist_ok=True)
    written = []
    con = connect(warehouse, read_only=True)
    try:
        for relation, order_by in exports:
            name = relation.split(".")[-1].strip('"')
            target = marts_dir / f"{name}.parquet"
            tmp = marts_dir / f".{name}.parquet.tmp-{os.getpid()}"
            order = f" order by {', '.join(order_by)}" if order_by else ""
            try:
                con.execute(
                    f"copy (select * from {relation}{order}) to '{sql_path(tmp)}' "
                    "(format parquet, compression zstd)"
                )
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            written.append(target)
            log.info("build: exported %s", target)
    finally:
        con.close()
    return written


def sql_path(path: Path) -> str:
    """A path as the body of an SQL string literal."""
    return str(path).replace("'", "''")
