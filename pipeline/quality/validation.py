"""`provmon validate` and the mart checks after a build: gather the frames, let Great
Expectations judge them with the committed suites, store and report the results."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
from tqdm import tqdm

from pipeline.quality.config import QualityConfig, load_config
from pipeline.quality.frames import (
    Delivery,
    TableFacts,
    deliveries,
    landing_frames,
    orphan_counts,
    present_columns,
    schema_frame,
)
from pipeline.quality.gx_context import GxRun, ensure_current
from pipeline.quality.layout import LandingTable, landing_tables
from pipeline.quality.marts import WAREHOUSE_SCHEMA, MartFrames, parquet_source
from pipeline.quality.page import write_page
from pipeline.quality.profile import (
    PROFILES_DDL,
    DeliveryProfile,
    Profiler,
    cached_profiles,
    profile_version,
    store_profiles,
)
from pipeline.quality.results import (
    CriticalQualityError,
    QualitySummary,
    interpret,
    store_results,
)
from pipeline.quality.suites import SuiteSpec, all_suites, reference_columns
from pipeline.settings import Settings
from pipeline.warehouse import WarehouseError, connect, record_run

log = logging.getLogger(__name__)

Frames = dict[tuple[str, str], pd.DataFrame]  # (suite table, frame kind) -> frame


def quality_dir(settings: Settings) -> Path:
    """Where a run's GX validation results and the data-quality page go. Absolute, because Great
    Expectations resolves a relative path against its own context folder (expectations/)."""
    return (settings.out_dir / "quality").resolve()


@contextmanager
def _warehouse(
    settings: Settings, config: QualityConfig, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse with the configured DuckDB resources (the machine is shared)."""
    if not settings.warehouse.exists():
        raise WarehouseError(f"no warehouse at {settings.warehouse}: run `provmon ingest` first")
    with connect(settings.warehouse, read_only=read_only) as con:
        con.execute(f"SET memory_limit = '{config.duckdb.memory_limit}'")
        if config.duckdb.threads:
            con.execute(f"SET threads = {int(config.duckdb.threads)}")
        con.execute("SET enable_progress_bar = false")
        yield con


def reference_date_for(con: duckdb.DuckDBPyConnection, settings: Settings, given: date | None) -> date:
    """The date freshness is judged against: the one given; for synthetic data (dated in the
    past) the newest delivery date, so that the demo passes; otherwise today."""
    if given is not None:
        return given
    if settings.is_synthetic:
        newest_sql = "SELECT max(delivery_date) FROM meta.loads WHERE status = 'loaded'"
        (newest,) = con.execute(newest_sql).fetchone()
        if newest is not None:
            log.info("synthetic data: freshness is judged as of the newest delivery, %s", newest)
            return newest
    return date.today()


# --- landing ---------------------------------------------------------------------------------


def _profiles(
    con: duckdb.DuckDBPyConnection,
    table: LandingTable,
    present: set[str],
    items: list[Delivery],
    config: QualityConfig,
) -> tuple[dict[int, DeliveryProfile], int]:
    """Profiles of every delivery, from the cache or computed now (and then cached, when the
    table has its full layout: a profile of an incomplete table is not the delivery's profile)."""
    rule, young = config.landing.end_reason_missing, config.landing.min_age
    version = profile_version(rule, young)
    complete = {name for name, _ in table.columns} <= present
    cached = cached_profiles(con, table.name, version) if complete else {}
    keys = {d.load_id: (d.load_id, d.file_hash, d.rows) for d in items}
    out = {load_id: cached[key] for load_id, key in keys.items() if key in cached}
    todo = [load_id for load_id in keys if load_id not in out]
    computed = Profiler(table, present, rule, young).profile(con, todo)
    if complete:
        store_profiles(con, table.name, version, {keys[i]: p for i, p in computed.items()})
    return {**out, **computed}, len(todo)


def table_facts(
    con: duckdb.DuckDBPyConnection,
    table: LandingTable,
    present: set[str],
    config: QualityConfig,
    reference_date: date,
) -> tuple[TableFacts, int]:
    """What the frames need from one landing table, with the number of deliveries profiled now."""
    items = deliveries(con, table) if present else []
    profiles, profiled = _profiles(con, table, present, items, config) if present else ({}, 0)
    facts = TableFacts(
        table=table,
        present=present,
        deliveries=items,
        profiles=profiles,
        orphans=orphan_counts(con, table, present) if present else {},
        reference_date=reference_date,
        config=config.landing,
    )
    return facts, profiled


def _judge(gx_run: GxRun, suites: list[SuiteSpec], frames: Frames) -> list:
    """Run every suite whose frame was gathered and interpret its results."""
    results = []
    for spec in suites:
        frame = frames.get((spec.table, spec.frame))
        if frame is None:
            continue
        meta = {"table": spec.table, "frame": spec.frame, "index": spec.index}
        results += interpret(spec.name, meta, frame, gx_run.validate(spec.name, frame))
    return results


def _landing_frames(
    settings: Settings,
    config: QualityConfig,
    schema: pd.DataFrame,
    reference_date: date | None,
    summary: QualitySummary,
) -> Frames:
    """Profile what is new, gather the rest, and build the landing frames."""
    tables = landing_tables()
    progress = sys.stderr.isatty()
    with _warehouse(settings, config) as con:
        con.execute(PROFILES_DDL)
        as_of = reference_date_for(con, settings, reference_date)
        facts = []
        for table in tqdm(tables, desc="validate: profile", unit="table", disable=not progress):
            present = present_columns(schema, table.name)
            table_fact, profiled = table_facts(con, table, present, config, as_of)
            facts.append(table_fact)
            summary.deliveries += len(table_fact.deliveries)
            summary.profiled += profiled
    summary.reference_date = as_of.isoformat()
    frames = landing_frames(facts, schema, reference_columns(tables))
    return {("landing", kind): frame for kind, frame in frames.items()}


def validate(settings: Settings, reference_date: date | None = None) -> QualitySummary:
    """Check every landing table and delivery; raise CriticalQualityError (after storing the
    results and writing the data-quality page) when a critical check fails, so that `provmon run`
    stops before the build. Warnings are in the summary."""
    started = time.perf_counter()
    config = load_config()
    ensure_current()
    # The schema is read before the run log opens the file for writing: that adds a missing
    # landing column back (pipeline.warehouse.ensure_schemas), empty, which must not hide it.
    with _warehouse(settings, config, read_only=True) as con:
        schema = schema_frame(con, [t.name for t in landing_tables()])
    with record_run(settings.warehouse, "validate") as run:
        summary = QualitySummary(run_id=run.run_id)
        frames = _landing_frames(settings, config, schema, reference_date, summary)
        suites = [s for s in all_suites(config) if s.table == "landing"]
        _finish(settings, run.run_id, summary, suites, frames, started)
        run.summary = str(summary)
        if summary.critical:
            raise CriticalQualityError(summary)
    return summary


def _finish(
    settings: Settings,
    run_id: int,
    summary: QualitySummary,
    suites: list[SuiteSpec],
    frames: Frames,
    started: float,
) -> None:
    """Judge, store the results, write the data-quality page."""
    folder = quality_dir(settings)
    gx_run = GxRun(folder, f"{summary.verb}-{run_id}")
    summary.results = _judge(gx_run, suites, frames)
    summary.suites = len(suites)
    with connect(settings.warehouse) as con:
        store_results(con, run_id, summary.results)
        summary.page = write_page(con, folder)
    summary.seconds = time.perf_counter() - started


# --- marts -----------------------------------------------------------------------------------


def _mart_relation(
    settings: Settings, con: duckdb.DuckDBPyConnection, name: str
) -> tuple[str | None, pd.DataFrame]:
    """(relation, schema frame) of a mart: the exported Parquet, else the warehouse table."""
    relation = parquet_source(settings.marts_dir, name)
    if relation is not None:
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}").df()
        return relation, described.rename(columns={"column_type": "data_type"})[["column_name", "data_type"]]
    schema = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [WAREHOUSE_SCHEMA, name],
    ).df()
    return (f'"{WAREHOUSE_SCHEMA}"."{name}"' if len(schema) else None), schema


def mart_frames(settings: Settings, con: duckdb.DuckDBPyConnection, config: QualityConfig) -> Frames:
    """Schema, profile and codes frames of every configured mart."""
    frames: Frames = {}
    for name, mart in config.marts.items():
        checks = MartFrames(name, mart)
        relation, schema = _mart_relation(settings, con, name)
        present = set(schema["column_name"])
        frames[(name, "schema")] = schema
        if relation is None:
            frames[(name, "profile")] = checks.empty_profile()
            continue
        frames[(name, "profile")] = checks.profile_frame(con, relation, present)
        frames[(name, "codes")] = checks.codes_frame(con, relation, present)
    return frames


def validate_marts(settings: Settings) -> QualitySummary:
    """Check the marts a build produced (Parquet in settings.marts_dir, else the warehouse);
    raise CriticalQualityError on a critical breach, before decisions and reports use them."""
    started = time.perf_counter()
    config = load_config()
    ensure_current()
    with _warehouse(settings, config, read_only=True) as con:
        frames = mart_frames(settings, con, config)
    with record_run(settings.warehouse, "validate-marts") as run:
        summary = QualitySummary(run_id=run.run_id, verb="validate-marts")
        suites = [s for s in all_suites(config) if s.table != "landing"]
        _finish(settings, run.run_id, summary, suites, frames, started)
        run.summary = str(summary)
        if summary.critical:
            raise CriticalQualityError(summary)
    return summary
