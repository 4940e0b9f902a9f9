"""What a report reads: the Parquet marts of the latest build (data/marts/), never the landing
data and never the warehouse file itself, so that a running build can neither block a report
nor be blocked by one (the build replaces each Parquet file atomically).

Every number a report shows is a mart column: the referral flow, the progression bands and the
rehabilitation grant types are counted by dbt over the same rolling base as the provider
results (mart_referral_flow, mart_progression_bands, mart_rehab_grant_types), and the
parameters the build ran with (min_n, rolling months, funnel levels, as_of) come from
dim_parameters. No report reads a referral-level mart, so a notebook never holds a row about a
person: what reaches a notebook is already a count."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import ProvmonError
from pipeline.months import month_end, month_start, previous_month
from pipeline.reports.config import ReportConfig
from pipeline.stats.config import FunnelConfig, level_label

RESULTS = "mart_provider_results"
MEASURES = "dim_measures"
PROVIDERS = "dim_providers"
PARAMETERS = "dim_parameters"
FLOW = "mart_referral_flow"
PROGRESSION = "mart_progression_bands"
REHAB_TYPES = "mart_rehab_grant_types"
DECISIONS = "mart_booking_decisions"
ALLOCATION = "mart_booking_allocation"
EXCLUSIONS = "mart_data_exclusions"
CUSUM = "fct_provider_cusum"
REQUIRED = (RESULTS, MEASURES, PROVIDERS, PARAMETERS, FLOW, PROGRESSION, REHAB_TYPES)


class ReportInputError(ProvmonError):
    """The marts a report needs are missing, or the month asked for is not in them."""


@dataclass(frozen=True)
class BuildParameters:
    """The parameters the marts were built with (dim_parameters): what a report's texts state
    and its funnel draws, so that a build with other values cannot be described wrongly."""

    min_n: int
    rolling_months: int
    warning_level: float
    alarm_level: float
    limits: str
    interval_level: float
    as_of: dt.date

    @property
    def funnel(self) -> FunnelConfig:
        """The funnel settings of the build, in the form pipeline.stats draws limits with."""
        return FunnelConfig(
            warning_level=self.warning_level,
            alarm_level=self.alarm_level,
            min_n=self.min_n,
            limits=self.limits,  # type: ignore[arg-type]
        )

    def funnel_levels(self) -> dict[str, float]:
        """Funnel level by the label of its limit columns: {'95': 0.95, '998': 0.998}."""
        return {level_label(level): level for level in (self.warning_level, self.alarm_level)}


def read_parameters(marts_dir: Path) -> BuildParameters:
    """The build's parameters from dim_parameters, refusing a file that lacks one."""
    frame = _read(marts_dir, PARAMETERS)
    values = dict(zip(frame["parameter"], frame["value"], strict=True))  # type: ignore[index]
    try:
        return BuildParameters(
            min_n=int(values["min_n"]),
            rolling_months=int(values["rolling_months"]),
            warning_level=float(values["funnel_warning_level"]),
            alarm_level=float(values["funnel_alarm_level"]),
            limits=str(values["funnel_limits"]),
            interval_level=float(values["comparison_interval_level"]),
            as_of=dt.date.fromisoformat(str(values["as_of"])[:10]),
        )
    except (KeyError, ValueError) as exc:
        raise ReportInputError(
            f"{mart_path(marts_dir, PARAMETERS)} lacks or garbles the parameter {exc}; run provmon build"
        ) from None


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


def built_month(marts_dir: Path) -> dt.date:
    """The month of the build's as_of (dim_parameters): the month a report defaults to, the
    same month the build and the decisions were made for."""
    check_marts(marts_dir)
    return month_start(read_parameters(marts_dir).as_of)


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
    parameters: BuildParameters  # dim_parameters: min_n, rolling months, funnel levels, as_of
    flow: pd.DataFrame  # mart_referral_flow: month x provider x area, the trend months
    progression: pd.DataFrame  # mart_progression_bands of the month: provider x area x band
    rehab_types: pd.DataFrame  # mart_rehab_grant_types of the month: provider x area x grant type
    quality: dict = field(default_factory=dict)  # the run-log snapshot (quality.py)
    # fct_provider_cusum up to the report month: the early-warning chart (S, h, signal) per
    # provider x area x month; empty for marts built before it was exported.
    cusum: pd.DataFrame = field(default_factory=pd.DataFrame)

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
    """The month's report data from the marts in marts_dir (month None = the built month)."""
    marts_dir = Path(marts_dir)
    check_marts(marts_dir)
    parameters = read_parameters(marts_dir)
    built = month_start(parameters.as_of)
    chosen = parse_month(month) or built
    results = _months(_read(marts_dir, RESULTS), "as_of_month", "as_of_date")  # type: ignore[arg-type]
    if chosen > built or pd.Timestamp(chosen) not in set(results["as_of_month"]):
        raise ReportInputError(
            f"no results for {chosen:%Y-%m} in {marts_dir} (the marts cover "
            f"{results['as_of_month'].min():%Y-%m} to {built:%Y-%m}); choose one of those months "
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
        parameters=parameters,
        flow=_flow(marts_dir, cut, config.months.trend),
        progression=_of_month(marts_dir, PROGRESSION, cut).query("measure == @config.measures.progression"),
        rehab_types=_of_month(marts_dir, REHAB_TYPES, cut),
        quality=quality or {},
        cusum=_cusum(marts_dir, cut),
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


def _cusum(marts_dir: Path, cut: pd.Timestamp) -> pd.DataFrame:
    """The early-warning chart's months up to the report month (what the decisions of those
    months read), or an empty frame with its columns when the build did not export it."""
    frame = _read(marts_dir, CUSUM, optional=True)
    if frame is None:
        return pd.DataFrame(columns=["as_of_month", "tender_area", "provider_id", "s", "h", "signal"])
    frame = _months(frame, "as_of_month")
    return frame[frame["as_of_month"] <= cut].reset_index(drop=True)


def _allocation(marts_dir: Path, cut: pd.Timestamp) -> pd.DataFrame:
    frame = _read(marts_dir, ALLOCATION, optional=True)
    if frame is None:
        return pd.DataFrame(columns=["month", "model", "tender_area", "provider_id"])
    frame = _months(frame, "month")
    return frame[frame["month"] == cut].reset_index(drop=True)


def _of_month(marts_dir: Path, name: str, cut: pd.Timestamp) -> pd.DataFrame:
    """The rows of a report mart for one as-of month."""
    frame = _months(_read(marts_dir, name), "as_of_month")  # type: ignore[arg-type]
    return frame[frame["as_of_month"] == cut].reset_index(drop=True)


def _flow(marts_dir: Path, cut: pd.Timestamp, months: int) -> pd.DataFrame:
    """mart_referral_flow over the trend's `months` months up to the report month, with the
    month in the column `month` as the charts draw it."""
    frame = _months(_read(marts_dir, FLOW), "as_of_month").rename(columns={"as_of_month": "month"})  # type: ignore[union-attr]
    first = cut - pd.DateOffset(months=months - 1)
    return frame[(frame["month"] >= first) & (frame["month"] <= cut)].reset_index(drop=True)
