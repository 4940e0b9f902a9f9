"""What the early-warning chart is fed (pipeline/decisions/early_warning.py): a referral enters
on the day its outcome became final (its window's end: closed), with its expected probability
if known by that month, else its area's rate of the month; nothing known after the cut-off day
enters."""

import math
from datetime import date

import pandas as pd
import pytest

from pipeline.decisions.early_warning import chart, chart_referrals
from pipeline.stats.cusum import CusumParams

PRIMARY = {1: "has_result", 2: "fit_within_6m"}


def _dated() -> pd.DataFrame:
    rows = [
        # referral, provider, area, success, window_end, success_known_on
        ("R1", "P1", 1, True, "2024-03-28", "2024-02-20"),  # a success: enters when closed
        ("R2", "P1", 1, False, "2024-04-15", None),  # failure when closed
        ("R3", "P1", 1, None, None, None),  # aftercare / immature: not in the chart
        ("R4", "P2", 1, False, "2024-07-15", None),  # closed after the cut-off
        ("R5", "P3", 2, True, "2024-04-01", "2024-04-01"),
    ]
    frame = pd.DataFrame(
        rows,
        columns=["referral_id", "provider_id", "tender_area", "success", "window_end", "success_known_on"],
    )
    return frame.astype({"success": "boolean"})


def _expected() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("R2", "has_result", "2024-04-01", 0.4),
            ("R2", "fit_within_6m", "2024-04-01", 0.9),
            ("R4", "has_result", "2024-07-01", 0.2),
            ("R5", "fit_within_6m", "2024-05-01", 0.7),  # known only after R5 enters in April
        ],
        columns=["referral_id", "measure", "as_of_month", "expected_p"],
    )


def _area_rates() -> pd.DataFrame:
    """Area 1: 0.4 in March, 0.45 in April; area 2: 0.5 and 0.55."""
    months = ["2024-03-01", "2024-04-01"]
    return pd.DataFrame(
        [(m, a, 0.3 + 0.1 * a + (0.05 if m == months[1] else 0.0)) for m in months for a in (1, 2)],
        columns=["as_of_month", "tender_area", "area_rate"],
    )


def test_referrals_enter_when_their_outcome_is_known_with_their_expected_probability() -> None:
    got = chart_referrals(_dated(), _expected(), _area_rates(), PRIMARY, date(2024, 6, 30))
    got = got.set_index("referral_id")
    assert sorted(got.index) == ["R1", "R2", "R5"]
    assert got.loc["R1", "known_date"] == pd.Timestamp("2024-03-28")
    assert got.loc["R2", "known_date"] == pd.Timestamp("2024-04-15")
    assert got.loc[["R1", "R2", "R5"], "y"].tolist() == [1, 0, 1]
    assert got.loc["R2", "p"] == pytest.approx(0.4)  # the area's primary measure, not fit
    # R1's and R5's expected probabilities are not known in the month they enter: the area's
    # rate of that month, nothing dated later
    assert got.loc["R1", "p"] == pytest.approx(0.4)
    assert got.loc["R5", "p"] == pytest.approx(0.55)


def test_the_chart_accumulates_the_log_likelihood_ratios_by_hand() -> None:
    params = CusumParams(simulations=20)
    months = [date(2024, 3, 1), date(2024, 4, 1)]
    result = chart(_dated(), _expected(), _area_rates(), months, PRIMARY, params)
    p1 = result[result["provider_id"] == "P1"].set_index("as_of_month")
    # W = y ln(R) - ln(1 - p + R p), R = 0.5, p = 0.4 (R1 a success, then R2 a failure)
    w = [math.log(0.5) - math.log(1 - 0.4 + 0.5 * 0.4), -math.log(1 - 0.4 + 0.5 * 0.4)]
    march = max(0.0, w[0])
    april = max(0.0, march + w[1])
    assert p1.loc[date(2024, 3, 1), "s"] == pytest.approx(march)
    assert p1.loc[date(2024, 4, 1), "s"] == pytest.approx(april)


def test_a_pool_where_the_chart_can_never_rise_calibrates_without_error() -> None:
    """Every expected probability 1: a failure is impossible in control, S never rises, and no
    h gives a false signal (an empty set of records used to raise an IndexError)."""
    from pipeline.stats.cusum import calibrate_threshold

    t = calibrate_threshold([1.0] * 30, 3.0, CusumParams(simulations=20))
    assert t.false_signal_rate == 0.0
