"""The back-test's issue-17 scores against hand-made decision histories: months from every
planted drop to the first reaction and reduction, RED months with insufficient evidence past
review_months without the review flag, and the CUSUM's signals for truly-no-worse providers.
Each expected number is counted by hand from the history written out in the test."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from pipeline.decisions.backtest_report import (
    GroundTruth,
    cusum_false_signals,
    drop_reactions,
    red_without_review,
)

M = [date(2022, m, 1) for m in range(1, 13)]


def history(
    provider: str,
    model: str,
    states: list[str],
    *,
    area: int = 1,
    evidence: list[str] | None = None,
    since: list[date | None] | None = None,
    review: list[bool] | None = None,
    signals: list[bool] | None = None,
) -> pd.DataFrame:
    """One provider-area's decision rows for the first len(states) months of 2022."""
    n = len(states)
    share = {"GREEN": 1.0, "YELLOW": 1.0, "ORANGE": 0.5, "RED": 0.0, "OPEN": 1.0, "STOP": 0.0}
    return pd.DataFrame(
        {
            "month": M[:n],
            "provider_id": provider,
            "tender_area": area,
            "model": model,
            "measure": "has_result",
            "state": states,
            "share": [share[s] for s in states],
            "evidence": evidence or ["ok"] * n,
            "state_since": since or [None] * n,
            "review_required": review or [False] * n,
            "cusum_signal": signals or [False] * n,
        }
    )


def truth(**roles: dict) -> GroundTruth:
    return GroundTruth.from_dict({"providers": roles})


DROP_MARCH = {"areas": [1], "role": "drops", "drop_month": "2022-03"}
NORMAL = {"areas": [1], "role": "normal"}


def test_months_from_the_drop_count_from_the_drop_month_and_ignore_flags_before_it() -> None:
    """A flag in February (before the March drop) is no reaction to it; the first flag from
    March is June (3 months), the first reduction August (5 months)."""
    soft = history(
        "P05", "soft", ["GREEN", "YELLOW", "GREEN", "GREEN", "GREEN", "YELLOW", "YELLOW", "ORANGE"]
    )
    hard = history("P05", "hard", ["OPEN"] * 8)
    out = drop_reactions(pd.concat([soft, hard]), truth(P05=DROP_MARCH)).set_index("model")
    assert out.loc["soft", "first_reaction"] == date(2022, 6, 1)
    assert out.loc["soft", "reaction_months"] == 3
    assert out.loc["soft", "first_reduction"] == date(2022, 8, 1)
    assert out.loc["soft", "reduction_months"] == 5
    assert out.loc["hard", "first_reaction"] is None and math.isnan(out.loc["hard", "reaction_months"])
    assert out.loc["soft", "drop_month"] == date(2022, 3, 1)


def test_every_planted_drop_has_a_row_even_if_it_was_never_judgeable() -> None:
    """A drop the model never reacted to is a row with no months, not a missing row; a drop
    outside the period and a provider without a drop give none."""
    history_ = pd.concat(
        [
            history("P05", "soft", ["GREEN"] * 6, evidence=["insufficient"] * 6),
            history("P09", "soft", ["GREEN"] * 6, area=2),
            history("P01", "soft", ["GREEN"] * 6),
        ]
    )
    later = {"areas": [2], "role": "drops", "drop_month": "2023-01"}
    out = drop_reactions(history_, truth(P05=DROP_MARCH, P09=later, P01=NORMAL))
    assert out["provider_id"].tolist() == ["P05"]
    assert math.isnan(out["reaction_months"].iloc[0]) and math.isnan(out["reduction_months"].iloc[0])


def test_a_drop_reacted_to_in_its_own_month_counts_zero() -> None:
    soft = history("P05", "soft", ["GREEN", "GREEN", "RED", "RED"])
    out = drop_reactions(soft, truth(P05=DROP_MARCH))
    assert out["reaction_months"].tolist() == [0] and out["reduction_months"].tolist() == [0]


def test_red_with_insufficient_evidence_past_review_months_needs_the_flag() -> None:
    """RED entered in February, review_months 3: April (2 months) is not yet due; May, June
    and July are (3, 4, 5 months). May is flagged, June is not (counted), July has warning
    evidence (not a cohort month: not counted). A YELLOW month and the hard model's STOP
    months never count."""
    red_from = date(2022, 2, 1)
    soft = history(
        "P04",
        "soft",
        ["GREEN", "RED", "RED", "RED", "RED", "RED", "RED", "YELLOW"],
        evidence=[
            "ok",
            "alarm",
            "insufficient",
            "insufficient",
            "insufficient",
            "insufficient",
            "warning",
            "ok",
        ],
        since=[None, red_from, red_from, red_from, red_from, red_from, red_from, date(2022, 8, 1)],
        review=[False, False, False, False, True, False, False, False],
    )
    hard = history("P04", "hard", ["OPEN"] + ["STOP"] * 7, evidence=["ok"] + ["insufficient"] * 7)
    assert red_without_review(pd.concat([soft, hard]), {1: 3}) == 1
    assert red_without_review(pd.concat([soft, hard]), {1: 6}) == 0  # only July would be due
    flagged = soft.assign(review_required=[False, False, False, False, True, True, False, False])
    assert red_without_review(flagged, {1: 3}) == 0


def test_red_review_months_are_per_area() -> None:
    since = [date(2022, 1, 1)] * 5
    rows = pd.concat(
        [
            history("P04", "soft", ["RED"] * 5, evidence=["insufficient"] * 5, since=since),
            history("P08", "soft", ["RED"] * 5, area=2, evidence=["insufficient"] * 5, since=since),
        ]
    )
    # area 1: months 2, 3, 4 from January are due at 2; area 2: only month 4 at 4
    assert red_without_review(rows, {1: 2, 2: 4}) == 3 + 1


def test_cusum_false_signals_count_only_truly_no_worse_provider_months() -> None:
    """P05's signals before its March drop are false (January), from March they are not; the
    normal provider's two are false; the worse provider's never; the hard model's rows carry
    the same chart and are not counted twice. 3 false signals in 2 + 12 + 0 = 14 truly-ok
    provider-months: 60 x 3 / 14 per 60 provider-months."""
    p05 = [True, False, True, True] + [False] * 8
    p01 = [False, True, False, False, False, True] + [False] * 6
    rows = pd.concat(
        [
            history("P05", "soft", ["GREEN"] * 12, signals=p05),
            history("P05", "hard", ["OPEN"] * 12, signals=p05),
            history("P01", "soft", ["GREEN"] * 12, signals=p01),
            history("P02", "soft", ["GREEN"] * 12, signals=[True] * 12),
        ]
    )
    worse = {"areas": [1], "role": "worse"}
    scores = cusum_false_signals(rows, truth(P05=DROP_MARCH, P01=NORMAL, P02=worse))
    assert scores["cusum_false_signals"] == 3
    assert scores["cusum_false_signal_rate"] == pytest.approx(60 * 3 / 14)
