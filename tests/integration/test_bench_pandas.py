"""The plain pandas script (bench/pandas_outcomes.py) against fct_referral_outcomes of the small
synthetic warehouse: the same referrals, the same as-of date and, referral by referral, the same
value of every measure both have, NULLs included.

The two are independent readings of metrics.md: the pandas script reads the raw delivery files
itself (it shares only the contract's YAML with the pipeline), so agreement is evidence for both
and a difference names the referral and the measure to investigate."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.compare import (
    AMOUNT_ABS_TOL,
    AMOUNT_REL_TOL,
    CONTINUOUS,
    compared_columns,
    describe,
    mismatches,
    read_fct,
)
from bench.pandas_outcomes import referral_outcomes
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

# Every column the comparison must cover: a measure dropped from either side fails the test.
MEASURES = (
    "any_paid_hours_6m", "paid_hours_baseline", "paid_hours_followup", "paid_hours_progression",
    "progressed", "job_start_month", "sustained_3m", "sustained_6m", "sustained_12m",
    "self_supporting_3m", "self_supporting_6m", "self_supporting_12m", "fit_within_6m",
    "fully_fit_within_6m", "rehab_grant_within_12m", "rehab_grant_type", "has_result", "is_closed",
    "result_type_first", "course_days", "cost_dkk", "attendance_rate", "stable_attendance",
    "purpose_achieved", "retained_6m",
)  # fmt: skip
CASE_MIX = ("age_at_start", "sex", "benefit_at_start", "benefit_weeks_52", "prior_referrals", "tender_area",
            "offer_code", "purpose", "start_quarter")  # fmt: skip
REFERRAL = ("provider_id", "provider_name", "start_date", "end_date", "end_reason", "is_ended",
            "is_course_ended", "cohort_month", "as_of", "sick_listed_at_start", "course_id",
            "is_aftercare")  # fmt: skip
EXACT = [c for c in (*MEASURES, *CASE_MIX, *REFERRAL) if c not in CONTINUOUS]
# Flags a data set must show both ways for their equality to mean something.
FLAGS = [c for c in MEASURES if c.startswith(("any_", "progressed", "sustained", "self_", "fit", "fully",
                                              "rehab_grant_within", "has_", "is_", "stable_",
                                              "purpose_", "retained_"))]  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(small_warehouse: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pandas, dbt) for the small data set, pandas with its own default as-of date."""
    return referral_outcomes(small_warehouse.raw_dir), read_fct(small_warehouse.warehouse)


def test_same_referrals_and_as_of(outcomes: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    actual, expected = outcomes
    assert sorted(actual.index) == sorted(expected.index)
    assert actual.index.is_unique
    assert set(actual["as_of"]) == set(pd.to_datetime(expected["as_of"]))


def test_every_measure_is_compared(outcomes: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    actual, expected = outcomes
    assert set(EXACT) | set(CONTINUOUS) <= set(compared_columns(actual, expected))


@pytest.mark.parametrize("column", EXACT)
def test_same_values(outcomes: tuple[pd.DataFrame, pd.DataFrame], column: str) -> None:
    actual, expected = outcomes
    differ = mismatches(actual, expected, column)
    assert differ.empty, describe(column, differ)


@pytest.mark.parametrize("column", CONTINUOUS)
def test_same_amounts(outcomes: tuple[pd.DataFrame, pd.DataFrame], column: str) -> None:
    """Hours, progression, cost and rates: the same doubles, up to the order of summation."""
    actual, expected = outcomes
    differ = mismatches(actual, expected, column, AMOUNT_REL_TOL, AMOUNT_ABS_TOL)
    assert differ.empty, describe(column, differ)


@pytest.mark.parametrize("column", FLAGS)
def test_flag_is_exercised(outcomes: tuple[pd.DataFrame, pd.DataFrame], column: str) -> None:
    """Equality of a flag that is always NULL, or always the same, would prove little."""
    _, expected = outcomes
    assert set(expected[column].dropna().unique()) == {True, False}


def test_a_difference_is_found(outcomes: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The comparison itself can fail: one changed flag and one NULL made FALSE are both found."""
    actual, expected = outcomes
    changed = actual.copy()
    mature = changed["has_result"].dropna().index[0]
    immature = changed.index[changed["fit_within_6m"].isna()][0]
    changed.loc[mature, "has_result"] = not changed.loc[mature, "has_result"]
    changed.loc[immature, "fit_within_6m"] = False
    assert list(mismatches(changed, expected, "has_result").index) == [mature]
    assert list(mismatches(changed, expected, "fit_within_6m").index) == [immature]
