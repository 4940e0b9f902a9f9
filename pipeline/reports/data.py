"""What a report reads: the Parquet marts of the latest build (data/marts/), never the landing
data and never the warehouse file itself, so that a running build can neither block a report
nor be blocked by one (the build replaces each Parquet file atomically).

fct_referral_outcomes is the one referral-level mart. It is read here only through DuckDB
aggregations (counts per provider, area, month and band), so a notebook never holds a row about
a person: what reaches a notebook is already a count."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from pipeline.build import PROJECT_DIR
from pipeline.errors import ProvmonError
from pipeline.months import add_months, month_end, month_start, previous_month
from pipeline.reports.config import Band, ReportConfig
from pipeline.sql import literal

RESULTS = "mart_provider_results"
MEASURES = "dim_measures"
PROVIDERS = "dim_providers"
OUTCOMES = "fct_referral_outcomes"
DECISIONS = "mart_booking_decisions"
ALLOCATION = "mart_booking_allocation"
EXCLUSIONS = "mart_data_exclusions"
REQUIRED = (RESULTS, MEASURES, PROVIDERS, OUTCOMES)


class ReportInputError(ProvmonError):
    """The marts a report needs are missing, or the month asked for is not in them."""


@cache
def base_months() -> int:
    """Months in a measure's rolling base: the dbt var rolling_months, so the distributions the
    reports count agree with the rates of mart_provider_results."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return int(project["vars"]["rolling_months"])


def mart_path(marts_dir: Path, name: str) -> Path:
    return Path(marts_dir) / f"{name}.parquet"


def check_marts(marts_dir: Path) -> None:
    """Refuse with the fix in the message when the build's marts are not there."""
    missing = [name for name in REQUIRED if not mart_path(marts_dir, name).exists()]
    if missing:
        raise ReportInputError(
            f"the marts {', '.join(missing)} are missing in {marts_dir}; run provmon build first"
        )


def parse_month(month: dt.date | str | None) -> dt.date | None:
    """A report month from a date or 'YYYY-MM' text, as its first day (papermill passes text)."""
    if month is None or month == "":
        return None
    if isinstance(month, dt.date):
        return month_start(month)
    try:
        return month_start(dt.date.fromisoformat(f"{str(month).strip()[:7]}-01"))
    except ValueError:
        raise ReportInputError(f"'{month}' is not a month of the form YYYY-MM") from None


def _read(marts_dir: Path, name: str, optional: bool = False) -> pd.DataFrame | None:
    path = mart_path(marts_dir, name)
    if not path.exists():
        if optional:
            return None
        raise ReportInputError(f"{path} is missing; run provmon build first")
    return pd.read_parquet(path)


def _months(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Month and date columns as pandas timestamps, whatever type the Parquet gave them."""
    for column in columns:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
    return frame


def latest_month(marts_dir: Path) -> dt.date:
    """The newest as-of month of mart_provider_results: the month a report defaults to."""
    check_marts(marts_dir)
    con = duckdb.connect()
    try:
        path = str(mart_path(marts_dir, RESULTS))
        (latest,) = con.execute("select max(as_of_month) from read_parquet(?)", [path]).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    if latest is None:
        raise ReportInputError(f"{marts_dir}: mart_provider_results has no rows; run provmon build")
    return month_start(pd.Timestamp(latest).date())


@dataclass(frozen=True)
class ReportData:
    """Everything one month's reports show, already aggregated; see the module docstring."""

    month: dt.date  # first day of the report month
    results: pd.DataFrame  # mart_provider_results, every month up to the report month
    measures: pd.DataFrame  # dim_measures
    providers: pd.DataFrame  # dim_providers
    decisions: pd.DataFrame  # mart_booking_decisions up to the report month (may be empty)
    allocation: pd.DataFrame  # mart_booking_allocation of the report month (may be empty)
    exclusions: pd.DataFrame  # mart_data_exclusions (may be empty)
    flow: pd.DataFrame  # month x provider x area: started, ended, ongoing, ended_base
    progression: pd.DataFrame  # provider x area x band: referrals
    rehab_types: pd.DataFrame  # provider x area x grant type: referrals
    quality: dict = field(default_factory=dict)  # the run-log snapshot (quality.py)

    @property
    def month_end(self) -> dt.date:
        return month_end(self.month)

    @property
    def previous_month(self) -> dt.date:
        return previous_month(self.month)

    def provider_names(self) -> dict[str, str]:
        names = self.providers.set_index("provider_id")["provider_name"]
        return {str(k): str(v) if pd.notna(v) else str(k) for k, v in names.items()}

    def areas(self) -> list[int]:
        """Tender areas with a provider row in the report month."""
        now = self.results[self.results["as_of_month"] == pd.Timestamp(self.month)]
        return sorted(int(a) for a in now["tender_area"].unique())

    def areas_of(self, provider_id: str) -> list[int]:
        now = self.results[
            (self.results["as_of_month"] == pd.Timestamp(self.month))
            & (self.results["provider_id"] == provider_id)
        ]
        return sorted(int(a) for a in now["tender_area"].unique())

    def providers_in(self, area: int) -> list[str]:
        now = self.results[
            (self.results["as_of_month"] == pd.Timestamp(self.month)) & (self.results["tender_area"] == area)
        ]
        return sorted(str(p) for p in now["provider_id"].unique())

    def measure_label(self, measure: str) -> str:
        labels = self.measures.set_index("measure")["label_da"]
        return str(labels.get(measure, measure))


def load_report_data(
    marts_dir: Path, month: dt.date | str | None, config: ReportConfig, quality: dict | None = None
) -> ReportData:
    """The month's report data from the marts in marts_dir (month None = the newest)."""
    marts_dir = Path(marts_dir)
    check_marts(marts_dir)
    newest = latest_month(marts_dir)
    chosen = parse_month(month) or newest
    results = _months(_read(marts_dir, RESULTS), "as_of_month", "as_of_date")  # type: ignore[arg-type]
    if chosen > newest or pd.Timestamp(chosen) not in set(results["as_of_month"]):
        raise ReportInputError(
            f"no results for {chosen:%Y-%m} in {marts_dir} (the marts cover "
            f"{results['as_of_month'].min():%Y-%m} to {newest:%Y-%m}); choose one of those months "
            "or build for a later as-of date"
        )
    cut = pd.Timestamp(chosen)
    return ReportData(
        month=chosen,
        results=results[results["as_of_month"] <= cut].reset_index(drop=True),
        measures=_read(marts_dir, MEASURES),  # type: ignore[arg-type]
        providers=_read(marts_dir, PROVIDERS),  # type: ignore[arg-type]
        decisions=_decisions(marts_dir, cut),
        allocation=_allocation(marts_dir, cut),
        exclusions=_optional(marts_dir, EXCLUSIONS),
        flow=referral_flow(marts_dir, chosen, config.months.trend),
        progression=progression_bands(
            marts_dir, chosen, config.measures.progression, config.progression_bands
        ),
        rehab_types=rehab_grant_types(marts_dir, chosen),
        quality=quality or {},
    )


def _optional(marts_dir: Path, name: str) -> pd.DataFrame:
    frame = _read(marts_dir, name, optional=True)
    return pd.DataFrame() if frame is None else frame


def _decisions(marts_dir: Path, cut: pd.Timestamp) -> pd.DataFrame:
    frame = _read(marts_dir, DECISIONS, optional=True)
    if frame is None:
        return pd.DataFrame(columns=["month", "provider_id", "tender_area", "model", "state"])
    frame = _months(frame, "month", "stop_month")
    return frame[frame["month"] <= cut].reset_index(drop=True)


def _allocation(marts_dir: Path, cut: pd.Timestamp) -> pd.DataFrame:
    frame = _read(marts_dir, ALLOCATION, optional=True)
    if frame is None:
        return pd.DataFrame(columns=["month", "model", "tender_area", "provider_id"])
    frame = _months(frame, "month")
    return frame[frame["month"] == cut].reset_index(drop=True)


# --- aggregations over fct_referral_outcomes ---------------------------------------------------


def _aggregate(marts_dir: Path, sql: str, params: list[object]) -> pd.DataFrame:
    """Run an aggregating query over fct_referral_outcomes (the view `outcomes`)."""
    con = duckdb.connect()
    try:
        path = literal(mart_path(marts_dir, OUTCOMES))
        con.execute(f"create view outcomes as select * from read_parquet({path})")
        return con.execute(sql, params).df()
    finally:
        con.close()


def referral_flow(marts_dir: Path, month: dt.date, months: int) -> pd.DataFrame:
    """Per month of the last `months` up to `month`, provider and area: referrals started and
    ended in the month, ongoing at its end, and ended in the rolling base up to it."""
    first = add_months(month, -(months - 1))
    sql = """
        with months as (
            select cast(m as date) as month, last_day(cast(m as date)) as month_end
            from range(cast(? as date), cast(? as date) + interval 1 month, interval 1 month) t(m)
        ), referrals as (
            select provider_id, tender_area, start_date, end_date from outcomes
        )
        select m.month, r.provider_id, r.tender_area,
            count(*) filter (where r.start_date between m.month and m.month_end) as started,
            count(*) filter (where r.end_date between m.month and m.month_end) as ended,
            count(*) filter (
                where r.start_date <= m.month_end and (r.end_date is null or r.end_date > m.month_end)
            ) as ongoing,
            count(*) filter (
                where r.end_date <= m.month_end and r.end_date > m.month_end - to_months(?)
            ) as ended_base
        from months m cross join referrals r
        group by all
        order by 1, 3, 2
    """
    frame = _aggregate(marts_dir, sql, [first, month_start(month), base_months()])
    return _months(frame, "month")


def band_case(column: str, bands: list[Band]) -> str:
    """An SQL CASE giving the index of the band a value falls in (bands from reports.yaml)."""
    whens = " ".join(f"when {column} < {float(b.below)!r} then {i}" for i, b in enumerate(bands[:-1]))
    return f"case {whens} else {len(bands) - 1} end"


def progression_bands(marts_dir: Path, month: dt.date, measure: str, bands: list[Band]) -> pd.DataFrame:
    """Referrals per provider, area and band of paid-hours progression, over the rolling base of
    `month` (the measure's window ended in the base months up to it, as in the mart)."""
    sql = f"""
        select provider_id, tender_area, {band_case(measure, bands)} as band, count(*) as referrals
        from outcomes
        where {measure} is not null
          and paid_hours_window_end <= ? and paid_hours_window_end > cast(? as date) - to_months(?)
        group by all
        order by 2, 1, 3
    """
    end = month_end(month)
    frame = _aggregate(marts_dir, sql, [end, end, base_months()])
    frame["band_label"] = [bands[int(i)].label for i in frame["band"]]
    return frame


def rehab_grant_types(marts_dir: Path, month: dt.date) -> pd.DataFrame:
    """Rehabilitation-team grants per provider, area and grant type over the rolling base."""
    sql = """
        select provider_id, tender_area, rehab_grant_type, count(*) as referrals
        from outcomes
        where rehab_grant_within_12m
          and rehab_window_end <= ? and rehab_window_end > cast(? as date) - to_months(?)
        group by all
        order by 2, 1, 3
    """
    end = month_end(month)
    return _aggregate(marts_dir, sql, [end, end, base_months()])
