"""The month's reports of the small synthetic warehouse, made once per test session and shared
by the report integration tests and the browser test.

The warehouse comes from the shared `small_warehouse` fixture (tests/integration/conftest.py);
decisions and reports are written to a copy of it. pytest registers a fixture once per conftest
that defines or imports it, so the finished reports are also remembered on disk under the
session's base temp folder: whichever test directory asks first makes them, the other reuses
them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.settings import Settings
from tests.integration.conftest import small_warehouse, warehouse_copy  # noqa: F401 - fixtures

DONE = "small_reports.json"


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


def make_reports(copy: Callable[[str], Settings]) -> tuple[Settings, str, float]:
    from pipeline.decisions.service import decide
    from pipeline.reports import report

    settings = copy("reports")
    decide(settings)
    summary = report(settings)
    return settings, f"{summary.month:%Y-%m}", summary.seconds


@pytest.fixture(scope="session", name="small_reports")
def small_reports_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SmallReports:
    done = tmp_path_factory.getbasetemp() / DONE
    if not done.exists():
        settings, month, seconds = make_reports(request.getfixturevalue("warehouse_copy"))
        record = {
            "warehouse": str(settings.warehouse),
            "raw_dir": str(settings.raw_dir),
            "marts_dir": str(settings.marts_dir),
            "out_dir": str(settings.out_dir),
            "month": month,
            "seconds": seconds,
        }
        done.write_text(json.dumps(record), encoding="utf-8")
    record = json.loads(done.read_text(encoding="utf-8"))
    settings = Settings.resolve(
        warehouse=record["warehouse"],
        raw_dir=record["raw_dir"],
        marts_dir=record["marts_dir"],
        out_dir=record["out_dir"],
    )
    return SmallReports(settings, record["month"], record["seconds"])
