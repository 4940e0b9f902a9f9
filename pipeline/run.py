"""`provmon run` and `provmon demo`: the monthly job as one command.

The order is the product's safety: quality checks sit between ingest and build, so a critical
breach stops the run before any mart is rebuilt (the previous marts stay as they were), and the
marts are checked again before decisions and reports use them."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.months import complete_month, month_start
from pipeline.settings import Settings
from pipeline.warehouse import record_run

log = logging.getLogger(__name__)

DEMO_DIR = Path("demo")


@dataclass
class RunSummary:
    steps: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        done = ", ".join(name for name, _ in self.steps)
        return f"run: {len(self.steps)} steps done ({done}) in {self.seconds:.0f} s"


@dataclass
class Period:
    """The as-of date and the month of one run, resolved once: the build resolves the as_of
    (the one given, or the default from the deliveries) and the month follows from it, so that
    decide and report work on the same month."""

    as_of: dt.date | None
    month: dt.date | None

    def built(self, as_of: dt.date) -> None:
        self.as_of = as_of
        self.month = month_start(self.month) if self.month else complete_month(as_of)


def _steps(
    settings: Settings, period: Period, reference_date: dt.date | None
) -> list[tuple[str, Callable[[], object]]]:
    # Imported here: each library is heavy to import, and `provmon --help` should stay quick.
    from pipeline.build import build
    from pipeline.decisions.service import decide
    from pipeline.ingest import ingest
    from pipeline.quality import validate, validate_marts
    from pipeline.reports.report import report

    def build_step() -> object:
        summary = build(settings, as_of=period.as_of)
        period.built(summary.as_of)
        return summary

    return [
        ("ingest", lambda: ingest(settings)),
        ("validate", lambda: validate(settings, reference_date=reference_date)),
        ("build", build_step),
        ("validate marts", lambda: validate_marts(settings)),
        ("decide", lambda: decide(settings, month=period.month)),
        ("report", lambda: report(settings, month=period.month)),
    ]


def run(
    settings: Settings,
    as_of: dt.date | None = None,
    month: dt.date | None = None,
    reference_date: dt.date | None = None,
) -> RunSummary:
    """ingest → validate → build → validate marts → decide → report, stopping at the first
    failure (its error names the step)."""
    started = time.monotonic()
    summary = RunSummary()
    steps = _steps(settings, Period(as_of, month), reference_date)
    # The run has its row in meta.runs beside those of its steps; ingest may create the file.
    with record_run(settings.warehouse, "run") as record:
        for number, (name, step) in enumerate(steps, start=1):
            log.info("[%d/%d] %s …", number, len(steps), name)
            result = step()
            log.info("[%d/%d] %s", number, len(steps), result)
            summary.steps.append((name, str(result)))
        summary.seconds = time.monotonic() - started
        record.summary = str(summary)
    return summary


def demo(root: Path = DEMO_DIR, scale: str = "city", seed: int = 1) -> RunSummary:
    """Generate synthetic data into a fresh demo folder and run the monthly job on it.

    The folder is made anew each time, so the demo can be run again and gives the same result."""
    from pipeline.generate import generate

    if root.exists():
        shutil.rmtree(root)
    settings = Settings.resolve(
        warehouse=str(root / "warehouse.duckdb"), raw_dir=str(root / "raw"), out_dir=str(root / "reports")
    )
    log.info("demo: generating %s-scale synthetic data into %s …", scale, settings.raw_dir)
    log.info("%s", generate(scale=scale, seed=seed, out=settings.raw_dir))
    summary = run(settings)
    log.info(
        "demo: open %s in a browser; the data-quality checks are in %s",
        (settings.out_dir / "index.html").resolve(),
        (settings.out_dir / "quality" / "index.html").resolve(),
    )
    return summary
