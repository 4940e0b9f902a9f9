"""The lift cohort of a booking stop, as the dbt project counted it (fct_decision_inputs'
lift_cohorts, from int_lift_cohorts_counted_to_months).

The referrals ongoing at the stop are those started on or before the last day of the stop month
and not ended by then. One counts as a success from the day its result is registered (even while
ongoing) and as a failure once its measure is mature without one. The counting is the dbt
model's (tested there); this module only looks the counts up by the decision's stop month.
Model B's state cohorts (state_cohorts_from_rows) are counted the same way."""

from __future__ import annotations

from datetime import date
from typing import Protocol

import pandas as pd

from pipeline.decisions.hard import LiftCohort
from pipeline.decisions.soft import StateCohort
from pipeline.months import month_start


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
