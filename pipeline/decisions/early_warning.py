"""The early-warning chart the decisions read: the risk-adjusted Bernoulli CUSUM
(pipeline/stats/cusum.py) per provider × tender area on the area's primary measure, fed from the
dated referrals of the decisions' cohorts (int_referrals_primary_dated) and their expected
probabilities (fct_referral_expected). The dbt Python model fct_provider_cusum calls chart();
fct_decision_inputs joins its S, h and signal to each month's row.

A referral enters the chart on the day its outcome became final: the day its primary
measure's window ended (has_result: the day it is closed, end + result grace). Not on the day
a result was registered while the course ran: which link carries a course's result depends on
rebookings that may come later, so only a closed referral's outcome is known for good (as in
the funnel's base), and a month's chart must not change with later data. Its p is its expected
probability from the area's case-mix model if that was known by the month it enters (the model
of the month its measure matured, fct_referral_expected); without one by then, the area's rate
of that month (mart_provider_results.area_rate), so that a month's chart uses nothing dated
after it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

import pandas as pd

from pipeline.stats.cusum import CHART_COLUMNS, CusumParams, cusum_by_month

DATED_COLUMNS = ("referral_id", "provider_id", "tender_area", "success", "window_end", "success_known_on")


def chart_referrals(
    dated: pd.DataFrame,
    expected: pd.DataFrame,
    area_rates: pd.DataFrame,
    primary: Mapping[int, str],
    known_by: date,
) -> pd.DataFrame:
    """The CUSUM's input (cusum.REFERRAL_COLUMNS + referral_id): one row per referral whose
    primary measure is known by `known_by`, with y, p and the day it became known.

    expected: referral_id, measure, as_of_month, expected_p; area_rates: as_of_month,
    tender_area, area_rate (the area's rate on the primary measure in each month)."""
    frame = dated[list(DATED_COLUMNS)].copy()
    frame = frame[frame["success"].notna()]
    success = frame["success"].astype(bool)
    frame = frame.assign(known_date=pd.to_datetime(frame["window_end"]), y=success.astype(int))
    frame = frame[frame["known_date"].notna() & (frame["known_date"] <= pd.Timestamp(known_by))]
    measure = frame["tender_area"].astype(int).map({int(a): m for a, m in primary.items()})
    month = frame["known_date"].dt.to_period("M").dt.to_timestamp()
    probs = expected[["referral_id", "measure", "as_of_month", "expected_p"]].rename(
        columns={"as_of_month": "expected_month"}
    )
    probs = probs.assign(expected_month=pd.to_datetime(probs["expected_month"]))
    frame = frame.assign(measure=measure, month=month).merge(probs, on=["referral_id", "measure"], how="left")
    known_p = frame["expected_p"].where(frame["expected_month"] <= frame["month"])
    rates = area_rates.assign(month=pd.to_datetime(area_rates["as_of_month"]))[
        ["month", "tender_area", "area_rate"]
    ]
    frame = frame.merge(rates, on=["month", "tender_area"], how="left")
    frame["p"] = known_p.fillna(frame["area_rate"])
    frame = frame[frame["p"].notna()]
    columns = ["referral_id", "provider_id", "tender_area", "known_date", "y", "p"]
    return frame[columns].reset_index(drop=True)


def chart(
    dated: pd.DataFrame,
    expected: pd.DataFrame,
    area_rates: pd.DataFrame,
    months: Iterable[date],
    primary: Mapping[int, str],
    params: CusumParams,
) -> pd.DataFrame:
    """CHART_COLUMNS per as-of month × tender area × provider for the given as-of months."""
    wanted = sorted(pd.Timestamp(m).date() for m in months)
    if not wanted:
        return pd.DataFrame(columns=CHART_COLUMNS)
    last = (pd.Timestamp(wanted[-1]) + pd.offsets.MonthEnd(0)).date()
    referrals = chart_referrals(dated, expected, area_rates, primary, last)
    return cusum_by_month(referrals, wanted, params)
