"""Shared session fixtures of the integration and browser tests.

`small_warehouse` builds the small synthetic warehouse once per test session (generate ->
ingest -> build, the same verbs a user runs) and returns its Settings; `city_warehouse` does the
same for the city scale (seed 1), for the tests that judge against the city's planted truth.
Treat them as read-only: a test that writes to the warehouse (decisions, overrides) or changes
its data works on a copy from `warehouse_copy`, so tests stay independent of their order.
`small_reports` decides and reports the newest month on one such copy, once, for the report and
browser tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.build import build
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.settings import Settings

SMALL_SEED = 1
CITY_SEED = 1  # the seed of `provmon demo` and of the README's city-scale numbers


def synthetic_warehouse(root: Path, scale: str, seed: int) -> Settings:
    """Generate, ingest and build a synthetic data set under `root`, as a user would."""
    raw = root / "raw"
    generate(scale=scale, seed=seed, out=raw)
    settings = Settings.resolve(
        warehouse=str(root / "warehouse" / "warehouse.duckdb"),
        raw_dir=str(raw),
        out_dir=str(root / "reports"),
    )
    ingest(settings)
    build(settings)
    return settings


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The small synthetic data set (seed 1), ingested and built for its default as-of date."""
    return synthetic_warehouse(tmp_path_factory.mktemp("small_warehouse"), "small", SMALL_SEED)


@pytest.fixture(scope="session")
def city_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The city-scale synthetic data set (seed 1), ingested and built for its default as-of
    date, once per session for every test that judges the pipeline against the city's planted
    truth (ground_truth.json in its raw folder). Read-only, like small_warehouse."""
    return synthetic_warehouse(tmp_path_factory.mktemp("city_warehouse"), "city", CITY_SEED)


def copy_settings(source: Settings, folder: Path) -> Settings:
    """A copy of the warehouse file and its Parquet marts in `folder`, sharing the raw folder
    (read-only) with the source."""
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = folder / source.warehouse.name
    shutil.copy(source.warehouse, warehouse)
    if source.marts_dir.exists():
        shutil.copytree(source.marts_dir, folder / "marts")
    return Settings.resolve(
        warehouse=str(warehouse),
        raw_dir=str(source.raw_dir),
        out_dir=str(folder / "reports"),
        marts_dir=str(folder / "marts"),
    )


@pytest.fixture(scope="session")
def warehouse_copy(
    small_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Settings]:
    """A factory of writable copies of the small warehouse, usable from fixtures of any scope:
    warehouse_copy("name") -> Settings of a fresh copy in its own folder."""
    return lambda name: copy_settings(small_warehouse, tmp_path_factory.mktemp(name))


@dataclass(frozen=True)
class SmallReports:
    settings: Settings
    month: str  # YYYY-MM
    seconds: float

    @property
    def folder(self) -> Path:
        return self.settings.out_dir / self.month

    def files(self, pattern: str = "*") -> list[Path]:
        return sorted(p for p in self.folder.glob(pattern) if p.is_file())


@pytest.fixture(scope="session")
def small_reports(warehouse_copy: Callable[[str], Settings]) -> SmallReports:
    """The newest month's decisions and reports on a copy of the small warehouse."""
    from pipeline.build import built_month
    from pipeline.decisions.service import decide
    from pipeline.reports import report

    settings = warehouse_copy("reports")
    # the month resolved first: decide() without one opens the warehouse read-only while it
    # holds it open for writing, which DuckDB refuses within one process
    decide(settings, built_month(settings.warehouse))
    summary = report(settings)
    return SmallReports(settings, f"{summary.month:%Y-%m}", summary.seconds)
