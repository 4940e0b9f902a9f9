"""Disclosure control: small counts read "<5" and nothing computed from them is shown; other
providers are anonymised. Expected values are written by hand from outputs.md's rule."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline.reports.config import Disclosure, load_config
from pipeline.reports.disclosure import (
    count_text,
    letters,
    protect_counts,
    protect_results,
    provider_labels,
    reason_text,
)

RULE = Disclosure(min_count=5, suppress_zero=False)


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "0"), (1, "<5"), (3, "<5"), (4, "<5"), (5, "5"), (1234, "1.234"), (None, "–"), (math.nan, "–")],
)
def test_a_count_below_five_reads_less_than_five(count: float | None, shown: str) -> None:
    assert count_text(count, RULE) == shown


def test_suppressing_zero_is_a_choice_of_the_config() -> None:
    assert count_text(0, Disclosure(min_count=5, suppress_zero=True)) == "<5"
    assert count_text(2, Disclosure(min_count=3, suppress_zero=False)) == "<3"


def test_the_shipped_config_uses_five() -> None:
    assert load_config().disclosure.min_count == 5


def _mart_rows() -> pd.DataFrame:
    # provider P3 has 3 referrals; P4 has 40 referrals but only 2 successes; P5 is fine.
    return pd.DataFrame(
        {
            "provider_id": ["P3", "P4", "P5"],
            "n": [3, 40, 40],
            "successes": [1.0, 2.0, 12.0],
            "rate": [1 / 3, 2 / 40, 12 / 40],
            "rate_low": [0.06, 0.01, 0.18],
            "rate_high": [0.79, 0.16, 0.45],
            "value_mean": [100.0, 200.0, 300.0],
            "risk_adjusted_rate": [0.3, 0.06, 0.31],
            "area_n": [83, 83, 83],
            "area_successes": [15.0, 15.0, 15.0],
            "area_rate": [15 / 83] * 3,
            "area_n_excl_provider": [80, 43, 43],
            "area_successes_excl_provider": [14.0, 13.0, 3.0],
            "area_rate_excl_provider": [14 / 80, 13 / 43, 3 / 43],
        }
    )


def test_rates_of_a_provider_with_three_referrals_are_blanked() -> None:
    out = protect_results(_mart_rows(), RULE).set_index("provider_id")
    for column in ("rate", "rate_low", "rate_high", "value_mean", "risk_adjusted_rate"):
        assert math.isnan(out.loc["P3", column]), column
    assert out.loc["P3", "n"] == 3  # the count stays for positions; count_text shows "<5"
    assert out.loc["P5", "rate"] == pytest.approx(0.3)


def test_a_rate_from_a_small_numerator_is_blanked_too() -> None:
    # 2 of 40 = 5 %: the rate would give the 2 away as surely as the count.
    out = protect_results(_mart_rows(), RULE).set_index("provider_id")
    assert math.isnan(out.loc["P4", "rate"])
    assert out.loc["P4", "hidden"]
    assert not out.loc["P5", "hidden"]


def test_area_rates_follow_the_area_counts() -> None:
    out = protect_results(_mart_rows(), RULE).set_index("provider_id")
    assert out.loc["P5", "area_rate"] == pytest.approx(15 / 83)
    # the area without P5 has 3 successes: that rate is not shown
    assert math.isnan(out.loc["P5", "area_rate_excl_provider"])
    assert out.loc["P3", "area_rate_excl_provider"] == pytest.approx(14 / 80)


def test_small_counts_are_not_drawn() -> None:
    frame = pd.DataFrame({"ongoing": [3, 0, 7], "ended": [12, 4, None]})
    out = protect_counts(frame, ["ongoing", "ended"], RULE)
    assert out["ongoing"].tolist()[1:] == [0.0, 7.0] and math.isnan(out["ongoing"][0])
    assert out["ended"][0] == 12 and math.isnan(out["ended"][1]) and math.isnan(out["ended"][2])


def test_letters_continue_after_z() -> None:
    assert letters(3) == ["A", "B", "C"]
    assert letters(28)[25:] == ["Z", "AA", "AB"]


def test_other_providers_are_anonymised_by_their_place_among_all() -> None:
    names = {"P2": "Beta ApS", "P1": "Alfa A/S", "P3": "Gamma I/S"}
    labels = provider_labels(names, own="P2", anonymise=True, prefix="Leverandør")
    assert labels == {"P1": "Leverandør A", "P3": "Leverandør C", "P2": "Beta ApS"}
    assert provider_labels(names, own="P2", anonymise=False, prefix="Leverandør") == names


def test_a_letter_is_one_provider_whoever_reads() -> None:
    """Every reader's dashboard gives a provider the same letter (outputs.md)."""
    names = {f"P{i:02d}": f"Leverandør nr. {i}" for i in range(1, 8)}
    seen: dict[str, set[str]] = {}
    for reader in names:
        for pid, label in provider_labels(names, reader, True, "Leverandør").items():
            if pid != reader:
                seen.setdefault(label, set()).add(pid)
    assert seen and all(len(pids) == 1 for pids in seen.values()), seen
    assert len(seen) == len(names)


def _two_provider_area() -> pd.DataFrame:
    """Area 3 with P10 and P11, area 4 with three providers; the mart's own excl figures."""
    rows = []
    for area, members in (
        (3, {"P10": (56, 22), "P11": (28, 6)}),
        (4, {"P10": (51, 18), "P12": (50, 24), "P13": (40, 20)}),
    ):
        area_n, area_s = sum(n for n, _ in members.values()), sum(s for _, s in members.values())
        for pid, (n, s) in members.items():
            rows.append(
                {
                    "as_of_month": pd.Timestamp("2024-12-01"),
                    "tender_area": area,
                    "measure": "has_result",
                    "provider_id": pid,
                    "n": n,
                    "successes": float(s),
                    "rate": s / n,
                    "area_n": area_n,
                    "area_successes": float(area_s),
                    "area_rate": area_s / area_n,
                    "area_n_excl_provider": area_n - n,
                    "area_successes_excl_provider": float(area_s - s),
                    "area_rate_excl_provider": (area_s - s) / (area_n - n),
                }
            )
    return pd.DataFrame(rows)


def test_the_area_without_the_provider_is_not_shown_when_it_is_one_provider() -> None:
    rows = _two_provider_area()
    out = protect_results(rows, RULE).set_index(["tender_area", "provider_id"])
    # in area 3 "without P10" is P11's own 6 of 28: never shown
    assert math.isnan(out.loc[(3, "P10"), "area_rate_excl_provider"])
    assert math.isnan(out.loc[(3, "P11"), "area_rate_excl_provider"])
    assert out.loc[(4, "P10"), "area_rate_excl_provider"] == pytest.approx(44 / 90)


def test_a_reason_hides_the_figures_of_a_single_other_provider() -> None:
    decision = {
        "n": 56,
        "successes": 22,
        "area_rate_excl_provider": 6 / 28,
        "threshold": 0.8 * 6 / 28,
        "reason": "Resultatandel 39,3 % (95 %-interval 27,6–52,4 %) mod områdets 21,4 % uden "
        "leverandøren, n = 56: mindst 80 % af områdets niveau (grænse 17,1 %) – åben.",
    }
    text = reason_text(decision, RULE, single_other=True)
    assert "21,4 %" not in text and "17,1 %" not in text
    assert "39,3 %" in text and "n = 56" in text
    assert reason_text(decision, RULE) == decision["reason"]


def test_the_risk_adjusted_interval_of_a_small_count_is_blanked() -> None:
    rows = _mart_rows().assign(risk_adjusted_rate_low=0.1, risk_adjusted_rate_high=0.5)
    out = protect_results(rows, RULE).set_index("provider_id")
    assert math.isnan(out.loc["P3", "risk_adjusted_rate_low"]) and math.isnan(
        out.loc["P3", "risk_adjusted_rate_high"]
    )
    assert out.loc["P5", "risk_adjusted_rate_low"] == pytest.approx(0.1)


def test_a_reason_quoting_a_small_count_is_replaced() -> None:
    small = {"n": 3, "successes": 1, "state_label": "Normal", "reason": "For få forløb (n = 3, mindst 20)."}
    text = reason_text(small, RULE)
    assert "3" not in text and "Normal" in text and "færre end 5" in text
    fine = {"n": 30, "successes": 9, "cohort_closed": None, "reason": "Resultatandel 30,0 %, n = 30."}
    assert reason_text(fine, RULE) == fine["reason"]
    stopped = {"n": 30, "successes": 9, "cohort_closed": 2, "state_label": "Bookingstop", "reason": "…2…"}
    assert "2" not in reason_text(stopped, RULE)


def test_a_funnel_reason_hides_the_z_score_against_a_single_other_provider() -> None:
    """The z-score of a funnel reason, with the provider's own n and rate, gives the area's rate
    without it: where that is one other provider's result, the z-score is withheld as the rate
    is; the limit's z (a constant of the build) stays."""
    from dataclasses import asdict
    from datetime import date

    from pipeline.decisions import Model
    from tests.unit.test_decisions_engine import by_model, decide, pm

    month = date(2024, 2, 1)
    soft = asdict(by_model(decide(month, [pm(month, "P01", 88, 16, area_rate=0.31)]).rows, Model.SOFT))
    assert "z = -2,60:" in soft["reason"] and "31,0 %" in soft["reason"]
    text = reason_text(soft, RULE, single_other=True)
    assert "-2,60" not in text and "31,0 %" not in text
    assert text.startswith("Tragtplot: ") and "(z = -1,96)" in text and "n = 88" in text
