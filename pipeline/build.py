"""`provmon build`: the dbt project for one as-of date, then the public marts as Parquet.

dbt runs in-process (dbt's programmatic runner) so that a failure comes back as a result we can
turn into one line naming the failing model or test, instead of a screen of dbt output. dbt's
own files (manifest, compiled SQL, logs) go to a folder under the system temp directory keyed by
the warehouse, so that the repository stays clean and two builds of different warehouses (two
engineers, or the tests beside a demo) never share dbt's partial-parse state.

A build replaces every public mart and its Parquet export together, or changes none of them
(docs/warehouse.md): dbt builds into a schema of its own for this build (`provmon_build_<id>`,
with dbt's `_staging` and `_intermediate` beside it), the Parquet exports are written to a
temporary folder, and only when all of that succeeded do the public names in `main` become views
of the new tables, in one DuckDB transaction, and the Parquet files replace the old ones. A failed
build drops its schemas and leaves the previous marts, exports and decisions' input as they were.
Nothing is copied: the swap is a few view definitions, whatever the size of the warehouse.

Which marts are exported is data, not code: every dbt model with `meta: {export_parquet: true}`
(models/marts/_marts__models.yml) is written to settings.marts_dir, one file per mart."""

from __future__ import annotations

import atexit
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipeline.contract import extract_names
from pipeline.cpr import scrub
from pipeline.errors import ProvmonError
from pipeline.files import atomic_path
from pipeline.landing_checks import (
    CHECK_ALL,
    LANDING_VAR,
    READ_VAR,
    Checked,
    checked_through,
    last_checked,
    newest_load,
    read_through,
    record_checked,
)
from pipeline.months import complete_month, month_end, next_month
from pipeline.project_tests import (
    Passed,
    code_digest,
    is_project_test,
    landing_types_digest,
    last_passed,
    record_passed,
    select_args,
    skip_args,
    types_digest,
)
from pipeline.settings import WAREHOUSE_ENV, Settings
from pipeline.sql import ident, literal
from pipeline.warehouse import WarehouseError, connect, meta_table_exists, process_alive, record_run

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
LANDING_SCHEMA = "landing"
# Where the public marts are (views of the published build's tables), and how dbt is told where
# to build (profiles.yml reads the environment variable).
PUBLIC_SCHEMA = "main"
SCHEMA_ENV = "PROVMON_DBT_SCHEMA"
BUILD_SCHEMA_PREFIX = "provmon_build_"
PUBLISHED_TABLE = "published_build"
# The dbt var naming the published build an incremental build keeps unchanged months from.
PREVIOUS_BUILD_VAR = "previous_build_schema"
# The schemas dbt made before builds had schemas of their own.
LEGACY_SCHEMAS = ("main_staging", "main_intermediate")
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
    # Each dbt test that warned, in words: "<model>.<column> <test>: <n> rows".
    warned: tuple[str, ...] = field(default=())
    # Of `tests`, the project's own (unit tests and SQL properties, pipeline/project_tests.py),
    # and whether they were skipped because they had passed on the same code and column types.
    project_tests: int = 0
    project_tests_skipped: bool = False

    def __str__(self) -> str:
        warned = ""
        if self.warnings:
            named = f" ({'; '.join(self.warned)})" if self.warned else ""
            warned = f", {self.warnings} warning{'s' if self.warnings != 1 else ''}{named}"
        skipped = ""
        if self.project_tests_skipped:
            skipped = " (the project's own tests skipped: passed on this code)"
        return (
            f"build: as_of {self.as_of.isoformat()}, {self.models} models and {self.tests} tests "
            f"passed{skipped}{warned}, {len(self.exported)} marts exported, {self.seconds:.1f} s"
        )


def build(
    settings: Settings,
    as_of: dt.date | None = None,
    variables: Mapping[str, Any] | None = None,
    full_refresh: bool = False,
) -> BuildSummary:
    """Build every model of the dbt project for `as_of` (default: the month end before the
    newest referrals delivery) and publish the public marts and their Parquet exports together.
    `variables`: other dbt vars for this build (e.g. {'min_n': 30}), as `dbt --vars` takes them.

    Incremental unless `full_refresh`: the risk adjustment keeps the as-of months whose risk
    base is unchanged since the published build and fits only the rest (var
    previous_build_schema, pipeline/stats/incremental.py); the result is the same either way.
    The project's own tests (pipeline/project_tests.py) are skipped when they passed on the same
    code and column types before: they test the SQL, not the month's data. Likewise the row
    tests of the landing benefit weeks check only the loads that arrived since a build on the
    same code checked the others (pipeline/landing_checks.py): landing only grows.

    Until the very end everything is written beside the public marts (a build schema, a
    temporary export folder), so a failure anywhere leaves the previous build in place."""
    started = time.monotonic()
    warehouse = settings.warehouse.resolve()
    require_warehouse(warehouse)
    # The lock before the landing checks: a second build is told so, not that the file is in use.
    with build_lock(warehouse):
        check_landing(warehouse, need_referrals=as_of is None, as_of=as_of)
        given = dict(variables or {})
        code = code_digest(PROJECT_DIR, given)
        previous = None if full_refresh else published_schema(warehouse)
        if previous is not None:
            given.setdefault(PREVIOUS_BUILD_VAR, previous)
        passed = None if previous is None else project_tests_passed(warehouse)
        tested = passed if passed and passed.code == code else None
        checked = landing_to_check(warehouse, code, check_all=previous is None)
        given[LANDING_VAR] = checked_through(checked.before, code, checked.now.types)
        # what the published build read, if the build kept from is the published one
        read = read_through(checked.before, checked.published_run, code, checked.now.types)
        given[READ_VAR] = read if given.get(PREVIOUS_BUILD_VAR) == previous else CHECK_ALL
        if given[LANDING_VAR]:
            log.info(
                "build: the landing row tests check the loads after %s (the others passed on this code)",
                given[LANDING_VAR],
            )
        if given[READ_VAR]:
            log.info(
                "build: the benefit spells keep the weeks that no load after %s changed (read by %s)",
                given[READ_VAR],
                previous,
            )
        return _build(settings, warehouse, as_of, started, given, Known(code, tested, checked.now))


@dataclass(frozen=True)
class Known:
    """What a build knows of its code and of earlier checks before dbt runs."""

    code: str  # the code digest of the project this build runs
    tested: Passed | None  # what the project's own tests passed on, if on the same code (else: run them)
    checking: Checked  # the landing rows this build's row tests will have checked


@dataclass(frozen=True)
class LandingCheck:
    """The landing rows checked by the last published build, and those this build will have checked."""

    before: Checked | None
    now: Checked
    published_run: int | None = None  # the run that published the build the marts are now


def landing_to_check(warehouse: Path, code: str, check_all: bool) -> LandingCheck:
    """What the last published build checked (nothing when `check_all`) and what this one will
    have checked: every load so far, on the current landing columns (pipeline/landing_checks.py)."""
    with connect(warehouse, read_only=True) as con:
        before = None if check_all else last_checked(con)
        now = Checked(newest_load(con), code, landing_types_digest(con))
        return LandingCheck(before, now, None if check_all else _published_run(con))


def _build(
    settings: Settings,
    warehouse: Path,
    as_of: dt.date | None,
    started: float,
    variables: Mapping[str, Any],
    known: Known,
) -> BuildSummary:
    with record_run(warehouse, "build", create=False) as run:
        drop_unpublished(warehouse)
        for left in settings.marts_dir.glob(f".{BUILD_SCHEMA_PREFIX}*"):  # of a killed build
            shutil.rmtree(left, ignore_errors=True)
        schema = f"{BUILD_SCHEMA_PREFIX}{run.run_id}"
        staging = settings.marts_dir / f".{schema}"
        try:
            built = run_build(warehouse, schema, as_of, variables, known.code, known.tested)
            results = built.outcome
            resolved = resolved_as_of(warehouse, schema)
            staged = stage_exports(warehouse, results.exports, staging)
            # Nothing recorded if the project's files changed while dbt ran: which code passed is unknown.
            unchanged = code_digest(PROJECT_DIR, variables) == known.code
            checks = Checks(built.passed, known.checking) if unchanged else Checks()
            publish(warehouse, schema, results.public, resolved, run.run_id, checks)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            discard(warehouse, schema)
            raise
        exported = [replace_into(path, settings.marts_dir) for path in staged]
        shutil.rmtree(staging, ignore_errors=True)
        summary = BuildSummary(
            as_of=resolved,
            models=results.models,
            tests=built.tests,
            warnings=len(results.warned),
            seconds=time.monotonic() - started,
            exported=tuple(exported),
            warned=results.warned,
            project_tests=built.project_tests,
            project_tests_skipped=built.passed is None,
        )
        run.summary = str(summary)
    return summary


@dataclass(frozen=True)
class DbtBuild:
    """dbt's build of one build schema, with the project's own tests run in it, after it or not
    at all."""

    outcome: DbtOutcome
    tests: int  # every test that passed, the project's own run after the build included
    project_tests: int
    passed: Passed | None  # what the project's own tests passed on; None when they were skipped


def run_build(
    warehouse: Path,
    schema: str,
    as_of: dt.date | None,
    variables: Mapping[str, Any],
    code: str,
    tested: Passed | None,
) -> DbtBuild:
    """dbt build into `schema`. The project's own tests run inside it unless they passed on the
    same code (`tested`); then they run after it only when the column types of the build and the
    landing tables differ from those they passed on (a fixture row is cast to its input's type)."""
    if tested is not None:
        log.info("build: the project's code is the one its own tests passed on; skipping them")
    skipped = skip_args() if tested is not None else []
    outcome = run_dbt(warehouse, [*dbt_args(as_of, variables=variables), *skipped], schema=schema)
    types = built_types(warehouse, schema)
    if tested is None:
        return DbtBuild(outcome, outcome.tests, outcome.project_tests, Passed(code, types))
    if tested.types == types:
        return DbtBuild(outcome, outcome.tests, 0, None)
    log.info("build: column types changed since the project's own tests passed; running them")
    after = run_dbt(warehouse, [*dbt_args(as_of, ("test",), variables), *select_args()], schema=schema)
    return DbtBuild(outcome, outcome.tests + after.tests, after.project_tests, Passed(code, types))


def dbt_args(
    as_of: dt.date | None, command: Sequence[str] = ("build",), variables: Mapping[str, Any] | None = None
) -> list[str]:
    """The dbt command line for this project; as_of and `variables` become dbt vars."""
    args = [
        *command,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
    ]
    given = dict(variables or {}) | ({"as_of": as_of.isoformat()} if as_of is not None else {})
    if given:
        args += ["--vars", json.dumps(given)]
    return args


# --- before dbt: is there anything to build? -----------------------------------------------


def missing_landing_tables(con: duckdb.DuckDBPyConnection, extracts: Iterable[str]) -> list[str]:
    present = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ?",
            [LANDING_SCHEMA],
        ).fetchall()
    }
    return [name for name in extracts if name not in present]


def require_warehouse(warehouse: Path) -> None:
    if not warehouse.exists():
        raise BuildError(
            f"the warehouse {warehouse} does not exist; load deliveries first with provmon ingest"
        )


def check_landing(warehouse: Path, need_referrals: bool, as_of: dt.date | None = None) -> None:
    """Refuse early, with the fix in the message, when there is nothing to build from or the
    as_of lies outside the data (before the first referral, or past the month after the newest
    referrals delivery: such a build says nothing and used to fail halfway)."""
    require_warehouse(warehouse)
    con = connect(warehouse, read_only=True)
    try:
        missing = missing_landing_tables(con, extract_names())
        if missing:
            raise BuildError(
                f"the warehouse {warehouse} has no landing table for {', '.join(missing)}; "
                "load deliveries first with provmon ingest"
            )
        first, newest = con.execute(
            f"select min(booked_on), max(_delivery_date) from {LANDING_SCHEMA}.referrals"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    if first is None or newest is None:
        if need_referrals:
            raise BuildError(
                "no referrals are loaded, so there is no as-of date to build for; load a "
                "referrals delivery with provmon ingest, or give --as-of"
            )
        return
    if as_of is not None:
        check_as_of(as_of, first, newest)


def check_as_of(as_of: dt.date, first_referral: dt.date, newest_delivery: dt.date) -> None:
    """The latest as_of worth building is the end of the month after the newest delivery (the
    default is the end of the month before it); the earliest is the first referral."""
    latest = month_end(next_month(newest_delivery))
    if not first_referral <= as_of <= latest:
        raise BuildError(
            f"--as-of {as_of.isoformat()} is outside the data: give a date from "
            f"{first_referral.isoformat()} (the first referral) to {latest.isoformat()} (the end of "
            f"the month after the newest referrals delivery, {newest_delivery.isoformat()})"
        )


@contextmanager
def build_lock(warehouse: Path) -> Iterator[None]:
    """One build of a warehouse at a time. dbt opens and closes the file model by model, so
    DuckDB's own lock does not keep a second build out; this lock file does. The kernel
    releases it when the process ends, even on kill -9, so it never needs clearing by hand."""
    path = warehouse.parent / f".{warehouse.name}.build-lock"
    try:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise BuildError(f"cannot create the build lock {path}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BuildError(
                f"another provmon build of {warehouse} is running ({holder}); wait for it to "
                "finish and run provmon build again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield
    finally:
        handle.close()


# --- dbt ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DbtOutcome:
    models: int
    tests: int
    warned: tuple[str, ...]
    exports: tuple[tuple[str, tuple[str, ...]], ...]  # (relation, order-by columns) per mart
    public: tuple[str, ...] = ()  # the models of the build schema itself: the public marts
    project_tests: int = 0  # of `tests`, the project's own (pipeline/project_tests.py)

    @property
    def warnings(self) -> int:
        return len(self.warned)


def dbt_work_dir(warehouse: Path) -> Path:
    """dbt's target and log folder for this warehouse in this process, outside the repository.

    The folder carries the process id: it is removed when the process ends, and a folder left
    by a process that was killed is removed by the next build."""
    key = hashlib.sha256(str(warehouse).encode("utf-8")).hexdigest()[:16]
    work = Path(tempfile.gettempdir()) / f"{WORK_DIR_PREFIX}{os.getpid()}-{key}"
    if work not in _WORK_DIRS:
        _WORK_DIRS.add(work)
        if len(_WORK_DIRS) == 1:
            atexit.register(remove_work_dirs)
            remove_orphaned_work_dirs()
    return work


WORK_DIR_PREFIX = "provmon-dbt-"
_WORK_DIRS: set[Path] = set()


def remove_work_dirs() -> None:
    """At exit: remove this process's dbt folders (manifests, compiled SQL, logs)."""
    for work in _WORK_DIRS:
        shutil.rmtree(work, ignore_errors=True)


def remove_orphaned_work_dirs() -> None:
    """Remove dbt folders whose process no longer runs (killed before its exit handler)."""
    for work in Path(tempfile.gettempdir()).glob(f"{WORK_DIR_PREFIX}*"):
        pid = work.name[len(WORK_DIR_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(work, ignore_errors=True)


def run_dbt(warehouse: Path, args: Sequence[str], schema: str | None = None) -> DbtOutcome:
    """Run dbt in-process against `warehouse`; raise BuildError naming what failed.

    `schema` is dbt's target schema (a build's own schema); without it, the schema of the
    published build, so that `dbt docs generate` or `dbt test` see what the marts are."""
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
    target_schema = schema or published_schema(warehouse) or PUBLIC_SCHEMA
    progress = _Progress()
    log.info("build: running dbt %s on %s (schema %s)", args[0], warehouse, target_schema)
    env = {WAREHOUSE_ENV: str(warehouse), SCHEMA_ENV: target_schema, "DO_NOT_TRACK": "1"}
    try:
        with environment(env):
            result = dbtRunner(callbacks=[progress]).invoke(full_args)
    finally:
        kept = keep_log(work / "logs" / "dbt.log", warehouse)
    if result.exception is not None:
        raise BuildError(one_line(f"dbt could not run: {result.exception}")) from None
    node_results = list(getattr(result.result, "results", None) or [])
    failures = [r for r in node_results if str(r.status) in ("error", "fail")]
    if failures or not result.success:
        raise BuildError(failure_message(failures, kept))
    return summarise(node_results, target_schema)


def keep_log(log_file: Path, warehouse: Path) -> Path:
    """Copy dbt's log beside the warehouse (logs/dbt.log), where it outlives the temporary
    folder: a failure message and the warnings of the summary point at it."""
    kept = warehouse.parent / "logs" / "dbt.log"
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_file, kept)
    except OSError as exc:
        log.warning("build: could not keep dbt's log at %s: %s", kept, exc)
        return log_file
    return kept


def summarise(node_results: Sequence[Any], schema: str = PUBLIC_SCHEMA) -> DbtOutcome:
    models = sum(1 for r in node_results if r.node.resource_type == "model" and str(r.status) == "success")
    tests = sum(
        1 for r in node_results if r.node.resource_type in ("test", "unit_test") and str(r.status) == "pass"
    )
    warned = tuple(warning_text(r) for r in node_results if str(r.status) == "warn")
    models_built = [r.node for r in node_results if r.node.resource_type == "model"]
    exports = tuple(
        (node.relation_name, tuple(node.config.meta.get("export_order_by") or ()))
        for node in models_built
        if node.config.meta.get("export_parquet")
    )
    public = tuple(node.alias for node in models_built if node.schema == schema)
    project_tests = sum(
        1
        for r in node_results
        if is_project_test(r.node.resource_type, list(r.node.tags or ())) and str(r.status) == "pass"
    )
    return DbtOutcome(
        models=models, tests=tests, warned=warned, exports=exports, public=public, project_tests=project_tests
    )


def warning_text(result: Any) -> str:
    """A warned test in words: the table and column it checks, the test, how many rows."""
    node = result.node
    metadata = getattr(node, "test_metadata", None)
    attached = getattr(node, "attached_node", None)
    if metadata is not None and attached:
        column = getattr(node, "column_name", None)
        table = attached.split(".")[-1] + (f".{column}" if column else "")
        what = f"{table} {metadata.name}"
    else:
        what = node.name
    count = getattr(result, "failures", None)
    return f"{what}: {count} row{'s' if count != 1 else ''}" if count is not None else what


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


def resolved_as_of(warehouse: Path, schema: str) -> dt.date:
    """The as_of dbt resolved in a build schema (the var, or the default from the deliveries),
    which publish() records; everyone else asks built_as_of()."""
    con = connect(warehouse, read_only=True)
    try:
        row = con.execute(f"select max(as_of) from {ident(schema)}.mart_data_exclusions").fetchone()
    finally:
        con.close()
    if row is None or row[0] is None:
        raise BuildError("the build finished but resolved no as_of; are any referrals loaded?")
    return row[0]


def built_as_of(warehouse: Path) -> dt.date:
    """The as_of of the published build (meta.published_build): the one date every verb after
    the build works from, so that decide and report default to the same month."""
    if not Path(warehouse).exists():
        raise BuildError(f"no warehouse at {warehouse}: build it first (provmon build)")
    con = connect(warehouse, read_only=True)
    try:
        row = (
            con.execute(f"select as_of from meta.{PUBLISHED_TABLE}").fetchone()
            if _published_schema(con)
            else None
        )
    finally:
        con.close()
    if row is None or row[0] is None:
        raise BuildError(f"the warehouse {warehouse} has no published build yet: run provmon build")
    return row[0]


def built_month(warehouse: Path) -> dt.date:
    """The month the published build decides and reports: the newest month complete at its as_of."""
    return complete_month(built_as_of(warehouse))


def is_build_family(name: str, schema: str) -> bool:
    """A build's schema and the ones dbt makes beside it (`<schema>_staging`, …)."""
    return name == schema or name.startswith(f"{schema}_")


def published_schema(warehouse: Path) -> str | None:
    """The build schema the public marts are views of (None before the first build)."""
    if not warehouse.exists():
        return None
    con = connect(warehouse, read_only=True)
    try:
        return _published_schema(con)
    finally:
        con.close()


def project_tests_passed(warehouse: Path) -> Passed | None:
    """What the project's own tests last passed on in this warehouse (None: never)."""
    with connect(warehouse, read_only=True) as con:
        return last_passed(con)


def built_types(warehouse: Path, schema: str) -> str:
    """The column-type digest of the build in `schema` and of the landing tables."""
    with connect(warehouse, read_only=True) as con:
        return types_digest(con, schema)


def _published_schema(con: duckdb.DuckDBPyConnection) -> str | None:
    return _published(con, "build_schema")


def _published_run(con: duckdb.DuckDBPyConnection) -> int | None:
    return _published(con, "run_id")


def _published(con: duckdb.DuckDBPyConnection, column: str) -> Any:
    """`column` of the published build's record (None before the first build)."""
    if not meta_table_exists(con, PUBLISHED_TABLE):
        return None
    row = con.execute(f"select {ident(column)} from meta.{PUBLISHED_TABLE}").fetchone()
    return row[0] if row else None


def drop_schemas(warehouse: Path, doomed: Callable[[str], bool]) -> list[str]:
    """Drop every schema of the warehouse for which doomed(name) holds; best effort, since it
    only frees space (a left-over schema is dropped again by the next build)."""
    try:
        con = connect(warehouse, read_only=False)
    except WarehouseError as exc:
        log.warning("build: could not drop unpublished build schemas: %s", exc)
        return []
    try:
        names = [
            row[0]
            for row in con.execute(
                "select schema_name from information_schema.schemata where catalog_name = current_database()"
            ).fetchall()
            if doomed(row[0])
        ]
        for name in names:
            con.execute(f"drop schema if exists {ident(name)} cascade")
        return names
    finally:
        con.close()


def discard(warehouse: Path, schema: str) -> None:
    """After a failed build: drop its schemas, never letting the cleanup hide the failure."""
    try:
        drop_schemas(warehouse, lambda name: is_build_family(name, schema))
    except Exception as exc:  # the next build drops them anyway
        log.warning("build: could not drop the schemas of the failed build %s: %s", schema, exc)


def drop_unpublished(warehouse: Path) -> None:
    """Drop what earlier builds left besides the published one: the schemas of a build that
    was killed or replaced, and the `main_staging` / `main_intermediate` of the builds before
    the public marts became views."""
    published = published_schema(warehouse)

    def doomed(name: str) -> bool:
        if name in LEGACY_SCHEMAS:
            return True
        return name.startswith(BUILD_SCHEMA_PREFIX) and not (
            published is not None and is_build_family(name, published)
        )

    dropped = drop_schemas(warehouse, doomed)
    if dropped:
        log.info("build: dropped left-over schemas %s", ", ".join(dropped))


@dataclass(frozen=True)
class Checks:
    """What a build's checks passed on, recorded with it: the project's own tests (if they ran,
    pipeline/project_tests.py) and the landing rows (pipeline/landing_checks.py)."""

    passed: Passed | None = None
    landing: Checked | None = None


def publish(
    warehouse: Path,
    schema: str,
    public: Sequence[str],
    as_of: dt.date,
    run_id: int,
    checks: Checks | None = None,
) -> None:
    """Make the public names in `main` views of this build's tables, in one transaction: a
    reader sees either every mart of the previous build or every mart of this one, and the
    record of what its checks passed on (`checks`) with them."""
    con = connect(warehouse, read_only=False)
    try:
        existing = dict(
            con.execute(
                "select table_name, table_type from information_schema.tables "
                "where table_schema = ? and table_catalog = current_database()",
                [PUBLIC_SCHEMA],
            ).fetchall()
        )
        con.execute("begin transaction")
        for name in public:
            kind = existing.get(name)
            target = f"{ident(PUBLIC_SCHEMA)}.{ident(name)}"
            if kind is not None:
                con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {target}")
            con.execute(f"create view {target} as select * from {ident(schema)}.{ident(name)}")
        con.execute(
            f"create table if not exists meta.{PUBLISHED_TABLE} (build_schema varchar not null, "
            "as_of date not null, run_id bigint, published_at timestamp not null)"
        )
        con.execute(f"delete from meta.{PUBLISHED_TABLE}")
        con.execute(
            f"insert into meta.{PUBLISHED_TABLE} (build_schema, as_of, run_id, published_at) "
            "values (?, ?, ?, current_localtimestamp())",
            [schema, as_of, run_id],
        )
        checks = checks or Checks()
        if checks.passed is not None:
            record_passed(con, checks.passed, run_id)
        if checks.landing is not None:
            record_checked(con, checks.landing, run_id)
        con.execute("commit")
    except BaseException:
        with suppress(duckdb.Error):
            con.execute("rollback")
        raise
    finally:
        con.close()
    drop_unpublished(warehouse)


def stage_exports(warehouse: Path, exports: Iterable[tuple[str, Sequence[str]]], staging: Path) -> list[Path]:
    """The Parquet exports of a build, in a folder beside the published ones."""
    try:
        return export_marts(warehouse, exports, staging)
    except (OSError, duckdb.IOException) as exc:
        reason = getattr(exc, "strerror", None) or first_line(str(exc))
        raise BuildError(one_line(f"cannot write the Parquet marts to {staging.parent}: {reason}")) from exc


def replace_into(path: Path, folder: Path) -> Path:
    """Move a staged export over the published one (a rename: a reader never sees half)."""
    target = folder / path.name
    os.replace(path, target)
    log.info("build: exported %s", target)
    return target


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
            order = f" order by {', '.join(order_by)}" if order_by else ""
            with atomic_path(target) as tmp:
                con.execute(
                    f"copy (select * from {relation}{order}) to {literal(tmp)} "
                    "(format parquet, compression zstd)"
                )
            written.append(target)
    finally:
        con.close()
    return written
