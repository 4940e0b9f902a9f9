"""`provmon report`: everything a month's meetings need, in reports/<YYYY-MM>/.

One follow-up report per tender area and one dashboard per provider (the notebooks in
notebooks/, executed with papermill and exported to HTML that opens offline), the one copy of
plotly.js they all load (plotly.min.js), the scorecard workbook, a manifest, and
reports/index.html linking every month. The warehouse is only read, briefly: for the month of
the published build (the default month) and a snapshot of the run log (quality.py); everything
else comes from the Parquet marts, so a build running meanwhile does not matter."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipeline import danish
from pipeline.build import built_month
from pipeline.decisions.rules import Rules, load_rules
from pipeline.errors import ProvmonError
from pipeline.months import month_start
from pipeline.reports import quality
from pipeline.reports.config import ReportConfig, load_config
from pipeline.reports.data import ReportData, load_report_data
from pipeline.reports.excel import write_scorecard
from pipeline.reports.execute import Job, run_jobs
from pipeline.reports.index import MANIFEST, Manifest, write_index
from pipeline.reports.present import PLOTLY_FILE, write_plotly
from pipeline.settings import Settings
from pipeline.warehouse import record_run

log = logging.getLogger(__name__)

FOLLOWUP_NOTEBOOK = "monthly_followup.py"
DIALOGUE_NOTEBOOK = "provider_dialogue.py"
SCORECARD = "scorecard.xlsx"


@dataclass(frozen=True)
class ReportSummary:
    """What `provmon report` wrote; str() is the one-line summary of the CLI."""

    month: dt.date
    folder: Path
    area_reports: tuple[Path, ...]
    provider_reports: tuple[Path, ...]
    scorecard: Path
    index: Path
    seconds: float
    files: tuple[Path, ...] = field(default=())

    def __str__(self) -> str:
        return (
            f"report: {danish.format_month(self.month)} – {len(self.area_reports)} follow-up reports, "
            f"{len(self.provider_reports)} provider dashboards and {self.scorecard.name} in {self.folder}, "
            f"index {self.index}, {self.seconds:.1f} s"
        )


def area_file(area: int) -> str:
    return f"opfoelgning-omraade-{area}.html"


def provider_file(provider_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in provider_id)
    return f"leverandoer-{safe}.html"


def plan_jobs(
    data: ReportData, settings: Settings, rules: Rules, folder: Path, quality_file: Path, name_providers: bool
) -> list[Job]:
    """One job per tender area and one per provider with results in the month."""
    month = f"{data.month:%Y-%m}"
    common = {
        "month": month,
        "marts_dir": str(settings.marts_dir.resolve()),
        "warehouse": str(settings.warehouse.resolve()),
        "quality_file": str(quality_file),
        "plotly_js": PLOTLY_FILE,
    }
    jobs = [
        Job(
            FOLLOWUP_NOTEBOOK,
            {**common, "tender_area": area},
            folder / area_file(area),
            f"Opfølgning {danish.format_month(data.month)}: område {area}, {rules.area(area).name}",
            "area",
            str(area),
        )
        for area in data.areas()
    ]
    names = data.provider_names()
    providers = sorted({p for area in data.areas() for p in data.providers_in(area)})
    jobs += [
        Job(
            DIALOGUE_NOTEBOOK,
            {**common, "provider": pid, "name_providers": name_providers},
            folder / provider_file(pid),
            f"{names.get(pid, pid)} ({pid}), {danish.format_month(data.month)}",
            "provider",
            pid,
        )
        for pid in providers
    ]
    return jobs


def _remove_stale(folder: Path, keep: set[Path]) -> None:
    """HTML reports of an earlier run of the month that this run did not write (a provider
    gone from the marts) would otherwise stay linked from nowhere and mislead."""
    for path in folder.glob("*.html"):
        if path not in keep and path.name.startswith(("opfoelgning-", "leverandoer-")):
            path.unlink()


def _manifest(folder: Path, data: ReportData, jobs: list[Job]) -> Manifest:
    def entries(kind: str) -> list[dict[str, str]]:
        return [{"key": j.key, "title": j.title, "file": j.html.name} for j in jobs if j.kind == kind]

    return Manifest(
        month=f"{data.month:%Y-%m}",
        generated_at=danish.format_date(dt.date.today(), long=True),
        areas=entries("area"),
        providers=entries("provider"),
        scorecard=SCORECARD,
    )


def report_month(settings: Settings, month: dt.date | None) -> dt.date | None:
    """The month to report: the one asked for, else the month of the published build (the
    month `provmon decide` defaults to as well). Without a warehouse (marts copied elsewhere)
    None: the newest month of the Parquet marts."""
    if month is not None:
        return month_start(month)
    return built_month(settings.warehouse) if settings.warehouse.exists() else None


def report_verb(
    settings: Settings, month: dt.date | None = None, year: str | None = None, name_providers: bool = False
) -> object:
    """`provmon report`: a month's reports, logged in meta.runs when there is a warehouse (the
    reports themselves read the Parquet marts), or with `year` the annual report."""
    if year is not None:
        if month is not None:
            raise ProvmonError("report takes --month or --year, not both")
        from pipeline.reports.annual import annual_report

        return annual_report(settings, year)
    if not settings.warehouse.exists():
        return report(settings, month=month, name_providers=name_providers)
    with record_run(settings.warehouse, "report", create=False) as run:
        summary = report(settings, month=month, name_providers=name_providers)
        run.summary = str(summary)
    return summary


def report(settings: Settings, month: dt.date | None = None, name_providers: bool = False) -> ReportSummary:
    """Write the month's reports (month None = the month of the published build, report_month)
    to settings.out_dir/<YYYY-MM>/ and rebuild settings.out_dir/index.html."""
    started = time.monotonic()
    month = report_month(settings, month)
    config: ReportConfig = load_config()
    rules = load_rules()
    with tempfile.TemporaryDirectory(prefix="provmon-report-") as work:
        quality_file = quality.write_snapshot(
            quality.snapshot(settings.warehouse), Path(work) / "quality.json"
        )
        data = load_report_data(settings.marts_dir, month, config, quality.read_snapshot(quality_file, None))
        folder = settings.out_dir / f"{data.month:%Y-%m}"
        folder.mkdir(parents=True, exist_ok=True)
        plotly_js = write_plotly(folder)  # the month's one copy, which every report loads
        jobs = plan_jobs(data, settings, rules, folder.resolve(), quality_file, name_providers)
        log.info("report: %d notebooks for %s", len(jobs), danish.format_month(data.month))
        with tqdm(total=len(jobs), desc="report", unit="rapport", disable=None) as bar:
            run_jobs(
                jobs,
                config.execution.workers,
                config.execution.kernel,
                config.execution.timeout_seconds,
                progress=lambda job: bar.update(1),
            )
    scorecard = write_scorecard(data, rules, config, folder / SCORECARD)
    _remove_stale(folder.resolve(), {j.html for j in jobs})
    _manifest(folder, data, jobs).write(folder)
    index = write_index(settings.out_dir)
    return ReportSummary(
        month=data.month,
        folder=folder,
        area_reports=tuple(j.html for j in jobs if j.kind == "area"),
        provider_reports=tuple(j.html for j in jobs if j.kind == "provider"),
        scorecard=scorecard,
        index=index,
        seconds=time.monotonic() - started,
        files=(*(j.html for j in jobs), scorecard, plotly_js, folder / MANIFEST, index),
    )
