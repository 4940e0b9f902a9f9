"""The lift cohort of a booking stop, computed from fct_referral_outcomes.

The referrals ongoing at the stop are those started on or before the last day of the stop month
and not ended by then. They count as judged once their measure is mature: its window ended on
or before the as-of date (for `has_result`: the referral closed, end_date + result_grace_days).

As-of discipline: a flag whose window ended by a date has the same value at that date as in any
later build (events after the window never count), so a cohort can be cut at any as-of date up
to the outcomes' own as_of, and a back-test can use one recent build. That needs the measure's
window-end column; without it, `has_result` falls back to end_date + result_grace_days, and any
other measure needs outcomes built as of the month itself.

`provmon decide` reads the cohorts fct_decision_inputs counted (CountedCohorts,
state_cohorts_from_rows), where a success counts from the day it is registered
(int_referrals_primary_dated). OutcomeCohorts, from fct_referral_outcomes alone, has no
registration date and counts a success only once the measure is mature: a later, conservative
view kept for analyses of one build's outcomes."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pandas as pd

from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.hard import LiftCohort
from pipeline.decisions.soft import StateCohort
from pipeline.months import month_end, month_start

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

# The fct_referral_outcomes column with the day a measure's window ends, where it is not
# `<measure>_window_end` (names of dbt_project/models/marts/_marts__models.yml).
WINDOW_END_COLUMNS = {
    "has_result": "result_window_end",
    "fit_within_6m": "fit_window_end",
    "fully_fit_within_6m": "fit_window_end",
    "rehab_grant_within_12m": "rehab_window_end",
    "any_paid_hours_6m": "paid_hours_window_end",
    "progressed": "paid_hours_window_end",
}


def window_end_column(measure: str) -> str:
    return WINDOW_END_COLUMNS.get(measure, f"{measure}_window_end")


class CohortSource(Protocol):
    """Where the decision step gets a stopped provider's lift cohort for its month."""

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort: ...


class NoCohorts:
    """A source with no outcomes: every cohort is empty, so no stop is lifted."""

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        return LiftCohort()


class CountedCohorts:
    """The lift cohorts fct_decision_inputs counted for one as-of month (its lift_cohorts list:
    one entry per stop month with ongoing referrals), looked up by the decision's stop month."""

    def __init__(self, counted: dict[tuple[str, int], dict[date, LiftCohort]]) -> None:
        self._counted = counted

    @classmethod
    def from_rows(cls, rows: pd.DataFrame) -> CountedCohorts:
        """From the month's fct_decision_inputs rows (provider_id, tender_area, lift_cohorts)."""
        counted: dict[tuple[str, int], dict[date, LiftCohort]] = {}
        for provider_id, tender_area, cohorts in rows[
            ["provider_id", "tender_area", "lift_cohorts"]
        ].itertuples(index=False):
            counted[(str(provider_id), int(tender_area))] = {
                month_start(pd.Timestamp(c["stop_month"]).date()): LiftCohort(
                    ongoing_at_stop=int(c["ongoing_at_stop"]),
                    closed=int(c["closed"]),
                    with_result=int(c["with_result"]),
                    finished=int(c.get("finished") or 0),
                )
                for c in (cohorts if cohorts is not None else [])
            }
        return cls(counted)

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        by_stop = self._counted.get((provider_id, int(tender_area)), {})
        return by_stop.get(month_start(stop_month), LiftCohort())


def state_cohorts_from_rows(rows: pd.DataFrame) -> dict[tuple[str, int], dict[date, StateCohort]]:
    """Model B's state cohorts that fct_decision_inputs counted for one as-of month (its
    state_cohorts list: one entry per month a state could have been entered in), by provider-area
    and entry month. A relation without the column gives none (every cohort empty)."""
    if "state_cohorts" not in rows.columns:
        return {}
    counted: dict[tuple[str, int], dict[date, StateCohort]] = {}
    for provider_id, tender_area, cohorts in rows[["provider_id", "tender_area", "state_cohorts"]].itertuples(
        index=False
    ):
        counted[(str(provider_id), int(tender_area))] = {
            month_start(pd.Timestamp(c["entry_month"]).date()): StateCohort(
                judged=int(c["judged"]),
                successes=int(c["successes"]),
                expected=float(c["expected"] or 0.0),
                variance=float(c["variance"] or 0.0),
            )
            for c in (cohorts if cohorts is not None else [])
        }
    return counted


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.normalize()


def _judged(frame: pd.DataFrame, measure: str, as_of: date, grace_days: int | None) -> pd.Series:
    """Which referrals' measure is mature at as_of; see OutcomeCohorts.judging for the rules."""
    column = window_end_column(measure)
    if column in frame.columns:
        return frame[measure].notna() & (_dates(frame[column]) <= pd.Timestamp(as_of))
    if measure == RESULT_MEASURE and grace_days is not None:
        final_by = _dates(frame["end_date"]) + pd.Timedelta(days=grace_days)
        return frame["is_closed"].fillna(False).astype(bool) & (final_by <= pd.Timestamp(as_of))
    return frame[measure].notna()


def summarise_cohort(
    frame: pd.DataFrame, stop_month: date, as_of: date, measure: str, grace_days: int | None = None
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

    result_grace_days (the build's dbt var of that name) is needed only for outcomes without
    the result_window_end column."""

    outcomes: pd.DataFrame
    as_of: date
    result_grace_days: int | None = None
    _groups: dict[tuple[str, int], pd.DataFrame] = field(init=False, repr=False)
    _known: date | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        missing = [c for c in OUTCOME_COLUMNS if c not in self.outcomes.columns]
        if missing:
            raise DecisionInputError(
                f"fct_referral_outcomes lacks the column(s) {', '.join(missing)}: rebuild (provmon build)"
            )
        known = _dates(self.outcomes["as_of"]).max() if len(self.outcomes) else pd.NaT
        self._known = None if pd.isna(known) else known.date()
        self._check_known(self.as_of)
        grouped = self.outcomes.groupby(["provider_id", "tender_area"], sort=False)
        self._groups = {(str(p), int(a)): g for (p, a), g in grouped}

    def _check_known(self, as_of: date) -> None:
        if self._known is not None and self._known < as_of:
            raise DecisionInputError(
                f"fct_referral_outcomes is built as of {self._known:%Y-%m-%d}, before {as_of:%Y-%m-%d}: "
                f"build for that date first (provmon build --as-of {as_of:%Y-%m-%d})"
            )

    def at(self, as_of: date) -> OutcomeCohorts:
        """The same outcomes cut at another as-of date, without grouping them again: one
        build's outcomes serve every month of a back-test or a run of decisions."""
        self._check_known(as_of)
        other = copy.copy(self)
        other.as_of = as_of
        return other

    def _check_can_cut(self, measure: str) -> None:
        """A measure is cut at an earlier as_of by its window end; without that column only
        has_result (by end_date + grace) can be, and others need outcomes of the month itself."""
        if measure not in self.outcomes.columns:
            raise DecisionInputError(f"fct_referral_outcomes has no column {measure}")
        if window_end_column(measure) in self.outcomes.columns or self._known in (None, self.as_of):
            return
        if measure == RESULT_MEASURE and self.result_grace_days is not None:
            return
        raise DecisionInputError(
            f"the lift cohort for {measure} as of {self.as_of:%Y-%m-%d} needs the column "
            f"{window_end_column(measure)} or fct_referral_outcomes built as of that day "
            f"(it is as of {self._known:%Y-%m-%d})"
        )

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        self._check_can_cut(measure)
        frame = self._groups.get((provider_id, int(tender_area)))
        if frame is None:
            return LiftCohort()
        return summarise_cohort(frame, stop_month, self.as_of, measure, self.result_grace_days)


def lift_cohorts(
    outcomes: pd.DataFrame,
    stops: Iterable[tuple[str, int, date]],
    as_of: date,
    result_grace_days: int | None = None,
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
