"""The expected probabilities the early-warning CUSUM reads (fct_referral_expected) are
calibrated where the chart uses them: for every binary measure and tender area, the referrals
judged in the month their measure matured were expected, in sum, as many successes as they had.

Each referral's expected_p comes from the model of the month its measure matured, and in that
month it is among the newest referrals of the model's base. If the case mix carries something
that tells the newest referrals apart from the rest of the base, the model fits it on a
selection: a calendar start quarter held only the early closers of has_result and
purpose_achieved (those with a result), and on the city data every newly matured referral was
expected about 10 % too many successes (z about -15 in tender area 1), which the CUSUM read as
drops. The check compares the sum of expected_p with the observed successes of
fct_referral_measures, in standard errors of the sum (independent Bernoulli outcomes)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.settings import Settings
from pipeline.stats.compare import RISK_ADJUSTED

pytestmark = pytest.mark.integration

# |observed - expected| in standard errors of the sum. Some 60 measure x area cells are checked;
# at 4 the chance that a calibrated cell fails is about 6 in 100 000 each.
MAX_Z = 4.0


@pytest.fixture(scope="module")
def calibration(city_warehouse: Settings) -> pd.DataFrame:
    with duckdb.connect(str(city_warehouse.warehouse), read_only=True) as con:
        frame = con.execute(
            """
            select m.measure, m.tender_area, count(*) as n,
                   sum(m.success::int) as observed,
                   sum(e.expected_p) as expected,
                   sum(e.expected_p * (1 - e.expected_p)) as variance
            from main.fct_referral_expected as e
            inner join main.fct_referral_measures as m
                on m.referral_id = e.referral_id and m.measure = e.measure
            where m.success is not null and e.adjustment = ?
            group by all
            order by all
            """,
            [RISK_ADJUSTED],
        ).df()
    frame["z"] = (frame["observed"] - frame["expected"]) / np.sqrt(frame["variance"])
    return frame


def test_the_primary_measures_of_the_chart_are_checked(calibration: pd.DataFrame) -> None:
    checked = set(zip(calibration["measure"], calibration["tender_area"], strict=True))
    assert {("has_result", 1), ("fit_within_6m", 2), ("has_result", 3), ("has_result", 4)} <= checked


def test_newly_matured_referrals_are_expected_as_many_successes_as_they_have(
    calibration: pd.DataFrame,
) -> None:
    off = calibration[calibration["z"].abs() > MAX_Z]
    assert off.empty, "expected_p off in the month the measure matured:\n" + off.round(2).to_string()
