"""Model B's reasons say which evidence moved the state (issue 17 item 7): the funnel ("Tragtplot":
rate, the area's rate without the provider, n, the z-score and the limit's z) or the early
warning ("Tidlig varsling": the CUSUM's S and h), with the numbers the decision used. Expected
z-scores are computed here from the counts, the limits' z from scipy."""

import math
from datetime import date

import pytest
from scipy.stats import norm

from pipeline import danish
from pipeline.decisions import Model, ProviderMemory, SoftMemory, SoftState, load_templates
from pipeline.decisions.evidence import Evidence
from pipeline.decisions.reasons import placeholders
from tests.unit.test_decisions_engine import RULES, by_model, decide, pm

FUNNEL_MOVES = (
    "escalate",
    "hold_top",
    "first_warning",
    "warning_capped",
    "recover",
    "ok_counting",
    "ok_normal",
)
WARNING_MOVES = ("early_warning", "early_warning_below", "ok_signal")
MAR = date(2024, 3, 1)


def _z(successes: int, n: int, p: float) -> str:
    return danish.format_number((successes - n * p) / math.sqrt(n * p * (1 - p)), 2)


def _limit_z(level: float) -> str:
    return danish.format_number(norm.ppf((1 - level) / 2), 2)


@pytest.mark.parametrize("move", FUNNEL_MOVES)
def test_a_funnel_sentence_opens_with_the_funnel_and_quotes_z_and_the_limit(move: str) -> None:
    sentence = load_templates().soft[move]
    assert sentence.startswith("Tragtplot: {measure_part}")
    assert {"z", "limit_z", "limit", "measure_part"} <= placeholders(sentence)


@pytest.mark.parametrize("move", WARNING_MOVES)
def test_an_early_warning_sentence_opens_with_the_cusum_and_quotes_s_and_h(move: str) -> None:
    sentence = load_templates().soft[move]
    assert sentence.startswith("Tidlig varsling: ")
    assert {"cusum_s", "cusum_h", "measure_part"} <= placeholders(sentence)


def test_a_step_down_names_the_funnel_months_within_the_limit() -> None:
    memory = {("P01", 1): ProviderMemory(SoftMemory(SoftState.YELLOW, ok_streak=1, evidence=Evidence.OK))}
    row = pm(MAR, "P01", 90, 27, cusum_s=0.8, cusum_h=3.8)
    soft = by_model(decide(MAR, [row], memory).rows, Model.SOFT)
    assert (soft.state, soft.reason_code) == ("GREEN", "recover")
    level = RULES.area(1).evidence.warning_level
    assert soft.reason == (
        "Tragtplot: Resultatandel 30,0 % (95 %-interval 21,5–40,1 %) mod områdets 31,0 % uden "
        f"leverandøren, n = 90, z = {_z(27, 90, 0.31)}: inden for 95 %-grænsen (z = {_limit_z(level)}) "
        "for anden måned i træk uden signal fra tidlig varsling – normal (var skærpet opfølgning)."
    )


def test_a_signal_that_holds_the_state_names_s_h_and_then_the_funnel() -> None:
    memory = {("P01", 1): ProviderMemory(SoftMemory(SoftState.YELLOW, ok_streak=1, evidence=Evidence.OK))}
    row = pm(MAR, "P01", 90, 27, cusum_s=0.35, cusum_h=3.82, cusum_signal=True)
    soft = by_model(decide(MAR, [row], memory).rows, Model.SOFT)
    assert (soft.state, soft.reason_code) == ("YELLOW", "ok_signal")
    level = RULES.area(1).evidence.warning_level
    assert soft.reason == (
        "Tidlig varsling: den risikojusterede CUSUM nåede grænsen h = 3,82 i måneden (S starter "
        "derefter forfra og er 0,35 ved månedens udgang) – uændret skærpet opfølgning; tællingen mod "
        "et trin ned starter forfra. Tragtplot: Resultatandel 30,0 % (95 %-interval 21,5–40,1 %) mod "
        f"områdets 31,0 % uden leverandøren, n = 90, z = {_z(27, 90, 0.31)}: inden for 95 %-grænsen "
        f"(z = {_limit_z(level)})."
    )


def test_an_alarm_quotes_the_alarm_limits_z() -> None:
    row = pm(MAR, "P01", 100, 12)  # 12 % against 31 %: far below the 99.8 % limit
    soft = by_model(decide(MAR, [row]).rows, Model.SOFT)
    level = RULES.area(1).evidence.alarm_level
    assert soft.evidence == "alarm"
    assert f"n = 100, z = {_z(12, 100, 0.31)}: under 99,8 %-grænsen (z = {_limit_z(level)}) – " in soft.reason
