"""The early-warning chart's signal in Model B (decisions.md): it moves GREEN to YELLOW (action
plan, intake unchanged) even when the funnel says ok, stops an ok month from counting towards a
step down, and never reduces intake by itself."""

from datetime import date

from pipeline.decisions import Model, ProviderMemory, SoftMemory, SoftState
from pipeline.decisions.evidence import Evidence
from tests.unit.test_decisions_engine import RULES, by_model, decide, pm

RECOVER = RULES.area(1).soft.recover_months


def month(k: int) -> date:
    return date(2024, k, 1)


def soft_row(k: int, state: SoftState, signal: bool, ok_streak: int = 0, successes: int = 15):
    memory = {("P01", 1): ProviderMemory(SoftMemory(state, ok_streak=ok_streak, evidence=Evidence.OK))}
    row = pm(
        month(k), "P01", 50, successes, cusum_s=4.25 if signal else 1.5, cusum_h=3.8, cusum_signal=signal
    )
    return by_model(decide(month(k), [row], memory).rows, Model.SOFT)


def assert_yellow_with_full_intake(row, reason_code: str) -> None:
    """YELLOW with an action plan and its full share of new referrals, for the reason given."""
    assert (row.state, row.reason_code, row.share, row.action_plan_required) == (
        "YELLOW",
        reason_code,
        1.0,
        True,
    )


def test_a_signal_moves_green_to_yellow_with_an_action_plan_and_full_intake() -> None:
    row = soft_row(2, SoftState.GREEN, signal=True)
    assert row.evidence == "ok"
    assert_yellow_with_full_intake(row, "early_warning")
    # the early warning moved the state, so the sentence opens with it and its numbers
    assert row.reason.startswith("Tidlig varsling: den risikojusterede CUSUM nåede grænsen h = 3,80")
    assert "er 4,25 ved månedens udgang" in row.reason
    assert row.reason.endswith(
        "Tragtplot: Resultatandel 30,0 % (95 %-interval 19,1–43,8 %) mod områdets 31,0 % uden "
        "leverandøren, n = 50."
    )
    assert (row.cusum_s, row.cusum_h, row.cusum_signal) == (4.25, 3.8, True)


def test_without_a_signal_green_stays_green() -> None:
    row = soft_row(2, SoftState.GREEN, signal=False)
    assert (row.state, row.reason_code, row.cusum_signal) == ("GREEN", "ok_normal", False)


def test_a_signal_never_reduces_intake_and_blocks_the_step_down() -> None:
    for state in (SoftState.YELLOW, SoftState.ORANGE):
        row = soft_row(2, state, signal=True, ok_streak=RECOVER - 1)
        assert (row.state, row.reason_code, row.ok_streak) == (state.value, "ok_signal", 0)
        assert row.reason.startswith("Tidlig varsling: ") and "h = 3,80" in row.reason
    # without the signal the same month would have stepped down
    assert soft_row(2, SoftState.YELLOW, signal=False, ok_streak=RECOVER - 1).state == "GREEN"


def test_signals_month_after_month_keep_yellow() -> None:
    states = []
    memory = {}
    for k in range(1, 7):
        row = pm(month(k), "P01", 50, 15, cusum_s=5.0, cusum_h=3.8, cusum_signal=True)
        decided = decide(month(k), [row], memory)
        states.append(by_model(decided.rows, Model.SOFT).state)
        memory = decided.memory
    assert states[0] == "YELLOW" and set(states) == {"YELLOW"}


def test_the_funnel_decides_when_it_is_below_its_limit() -> None:
    row = soft_row(2, SoftState.GREEN, signal=True, successes=2)  # far below: alarm
    assert (row.evidence, row.reason_code) == ("alarm", "escalate")


def test_a_signal_moves_green_to_yellow_also_in_a_first_month_below_the_warning_limit() -> None:
    # 9/50 = 18 % against 31 %: z = (9 - 50 x 0.31) / sqrt(50 x 0.31 x 0.69) = -1.99, below the
    # 95 % limit (z = -1.96) but not the 99.8 % one. Alone, the funnel waits one month; a signal
    # moves GREEN to YELLOW "even when the funnel says ok", so all the more when it says warning.
    row = soft_row(2, SoftState.GREEN, signal=True, successes=9)
    assert row.evidence == "warning"
    assert_yellow_with_full_intake(row, "early_warning_below")
    # the month below the limit stays counted: another one escalates on the funnel's evidence
    assert row.below_streak == 1
    assert row.reason.startswith("Tidlig varsling: den risikojusterede CUSUM nåede grænsen h = 3,80")
    assert "– skærpet opfølgning (var normal) med handlingsplan" in row.reason
    assert row.reason.endswith(
        "z = -1,99: under 95 %-grænsen (z = -1,96) for første måned; endnu en måned under grænsen "
        "giver reduceret booking."
    )


def test_the_funnel_waits_a_month_on_a_first_warning_without_a_signal() -> None:
    row = soft_row(2, SoftState.GREEN, signal=False, successes=9)
    assert (row.evidence, row.state, row.reason_code) == ("warning", "GREEN", "first_warning")


# P05 of the city data (seed 1, tender area 1, results drop from September 2022), its
# fct_decision_inputs from September 2022 to June 2023: the funnel's evidence and the chart's
# signal per month. The chart first signals in February 2023, in a month whose funnel is below
# the warning limit for the first time.
P05 = [
    ("ok", False),  # 2022-09
    ("ok", False),
    ("ok", False),
    ("ok", False),
    ("ok", False),  # 2023-01
    ("warning", True),  # 2023-02: the chart's first signal
    ("ok", False),
    ("warning", True),
    ("warning", False),  # 2023-05: below the warning limit for the second month running
    ("alarm", True),  # 2023-06
]


def test_the_decision_reacts_in_the_month_the_chart_first_signals() -> None:
    """decisions.md step by step: GREEN to YELLOW on the February signal; March ok (one of the two
    months a step down needs); April below the warning limit for the first month (March was ok);
    May the second month running: ORANGE; June alarm: RED."""
    states, memory = [], {}
    for k, (evidence, signal) in enumerate(P05):
        successes = {"ok": 15, "warning": 9, "alarm": 2}[evidence]
        m = date(2022 + (8 + k) // 12, (8 + k) % 12 + 1, 1)
        row = pm(m, "P01", 50, successes, cusum_s=1.0, cusum_h=5.4, cusum_signal=signal)
        assert row.evidence == evidence
        decided = decide(m, [row], memory)
        states.append(by_model(decided.rows, Model.SOFT).state)
        memory = decided.memory
    assert states == ["GREEN"] * 5 + ["YELLOW", "YELLOW", "YELLOW", "ORANGE", "RED"]
