"""The lift cohort of a booking stop, computed from fct_referral_outcomes.

The referrals ongoing at the stop are those started on or before the last day of the stop month
and not ended by then. They are judged as they close: for `has_result` a referral counts once it
is closed (end_date + result_grace_days on or before the as-of date, when its result status is
final), for another primary measure once the measure is mature (not NULL).

As-of discipline: for `has_result` the cohort can be cut at any as-of date up to the outcomes'
own as_of (a referral closed by then has the same result flag then as later, because results
after end_date + grace never count), so a back-test can use one recent build. Another measure's
maturity is not visible in the outcomes table per date, so it needs outcomes built as of the
month itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pandas as pd

from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.hard import LiftCohort
from pipeline.decisions.inputs import month_end, month_start

OUTCOME_COLUMNS = (
    "referral_id",
    "provider_id",
    "tender_area",
    "start_date",
    "end_date",
    "has_result",
    "is_closed",
    "as_of",
)
RESULT_MEASURE = "has_result"


class CohortSource(Protocol):
    """Where the decision step gets a stopped provider's lift cohort for its month."""

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort: ...


class NoCohorts:
    """A source with no outcomes: every cohort is empty, so no stop is lifted."""

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        return LiftCohort()


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.normalize()


def _judged(frame: pd.DataFrame, measure: str, as_of: date, grace_days: int) -> pd.Series:
    if measure == RESULT_MEASURE:
        final_by = _dates(frame["end_date"]) + pd.Timedelta(days=grace_days)
        return frame["is_closed"].fillna(False).astype(bool) & (final_by <= pd.Timestamp(as_of))
    return frame[measure].notna()


def summarise_cohort(
    frame: pd.DataFrame, stop_month: date, as_of: date, measure: str, grace_days: int
) -> LiftCohort:
    """The lift cohort among one provider-area's referrals (rows of fct_referral_outcomes)."""
    stop_day = pd.Timestamp(month_end(stop_month))
    end = _dates(frame["end_date"])
    ongoing = frame[(_dates(frame["start_date"]) <= stop_day) & (end.isna() | (end > stop_day))]
    judged = _judged(ongoing, measure, as_of, grace_days)
    success = ongoing[measure].fillna(False).astype(bool) & judged
    return LiftCohort(ongoing_at_stop=len(ongoing), closed=int(judged.sum()), with_result=int(success.sum()))


@dataclass
class OutcomeCohorts:
    """Lift cohorts from fct_referral_outcomes, cut at `as_of` (the last day of the decision
    month, inputs.month_end).

    result_grace_days must be the build's dbt var of that name (metrics.md, default 30)."""

    outcomes: pd.DataFrame
    as_of: date
    result_grace_days: int
    _groups: dict[tuple[str, int], pd.DataFrame] = field(init=False, repr=False)
    _known: date | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        missing = [c for c in OUTCOME_COLUMNS if c not in self.outcomes.columns]
        if missing:
            raise DecisionInputError(
                f"fct_referral_outcomes lacks the column(s) {', '.join(missing)}: rebuild (provmon build)"
            )
        known = _dates(self.outcomes["as_of"]).max() if len(self.outcomes) else pd.NaT
        if pd.notna(known) and known < pd.Timestamp(self.as_of):
            raise DecisionInputError(
                f"fct_referral_outcomes is built as of {known:%Y-%m-%d}, before {self.as_of:%Y-%m-%d}: "
                f"build for that date first (provmon build --as-of {self.as_of:%Y-%m-%d})"
            )
        self._known = None if pd.isna(known) else known.date()
        grouped = self.outcomes.groupby(["provider_id", "tender_area"], sort=False)
        self._groups = {(str(p), int(a)): g for (p, a), g in grouped}

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        if measure != RESULT_MEASURE and self._known not in (None, self.as_of):
            raise DecisionInputError(
                f"the lift cohort for {measure} needs fct_referral_outcomes built as of "
                f"{self.as_of:%Y-%m-%d} (it is as of {self._known:%Y-%m-%d})"
            )
        frame = self._groups.get((provider_id, int(tender_area)))
        if frame is None:
            return LiftCohort()
        if measure not in frame.columns:
            raise DecisionInputError(f"fct_referral_outcomes has no column {measure}")
        return summarise_cohort(frame, stop_month, self.as_of, measure, self.result_grace_days)


def lift_cohorts(
    outcomes: pd.DataFrame,
    stops: Iterable[tuple[str, int, date]],
    as_of: date,
    result_grace_days: int,
    measure: str = RESULT_MEASURE,
) -> pd.DataFrame:
    """One row per stop (provider_id, tender_area, stop_month) with its lift cohort as of `as_of`:
    ongoing_at_stop, closed, with_result."""
    source = OutcomeCohorts(outcomes, as_of, result_grace_days)
    rows = []
    for provider_id, tender_area, stop_month in stops:
        c = source.cohort(provider_id, tender_area, month_start(stop_month), measure)
        rows.append(
            (provider_id, tender_area, month_start(stop_month), c.ongoing_at_stop, c.closed, c.with_result)
        )
    columns = ["provider_id", "tender_area", "stop_month", "ongoing_at_stop", "closed", "with_result"]
    return pd.DataFrame(rows, columns=columns)
