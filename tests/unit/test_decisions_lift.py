"""Model A's lift as decisions.md specifies it: the stop cohort's successes count as soon as a
result is registered, failures once closed without one; a cohort that has closed without
reaching the bar goes to the meeting; every sentence with model A's numbers says that its
threshold is assumed ("antaget tærskel")."""

from datetime import date

import pytest

from pipeline.decisions import LiftCohort, Model, decisions_frame, memory_from_frame
from pipeline.decisions.hard import HardMove
from tests.unit.test_decisions_engine import JAN, RULES, RecordingCohorts, by_model, decide, pm

STOP_RATIO = RULES.area(1).hard.stop_ratio
MIN_LIFT_N = RULES.area(1).hard.min_lift_n
AREA_RATE = 0.31  # pm()'s default area rate
BAR = STOP_RATIO * AREA_RATE


def _stopped():
    jan = decide(JAN, [pm(JAN, "P01", 50, 5)])
    assert by_model(jan.rows, Model.HARD).state == "STOP"
    return jan


def _month(k: int) -> date:
    return date(2024, 1 + k, 1)


def _hard_after_stop(cohort: LiftCohort):
    """Model A's row the month after a January stop, with the stop cohort as given."""
    feb = decide(
        _month(1),
        [pm(_month(1), "P01", 50, 5)],
        _stopped().memory,
        cohorts=RecordingCohorts({("P01", 1, JAN): cohort}),
    )
    return by_model(feb.rows, Model.HARD)


def test_results_on_ongoing_referrals_lift_the_stop_before_they_close() -> None:
    """Twelve judged by their registered results alone (none closed) lift the stop."""
    successes = MIN_LIFT_N
    cohort = LiftCohort(ongoing_at_stop=20, closed=successes, with_result=successes, finished=0)
    hard = _hard_after_stop(cohort)
    assert (hard.state, hard.reason_code) == ("OPEN", HardMove.STOP_LIFT.value)


@pytest.mark.parametrize("judged", [MIN_LIFT_N - 1, MIN_LIFT_N])
def test_the_lift_needs_min_lift_n_judged_and_the_bar(judged: int) -> None:
    with_result = int(judged * BAR) + 1  # just above the bar
    cohort = LiftCohort(
        ongoing_at_stop=30, closed=judged, with_result=with_result, finished=judged - with_result
    )
    assert with_result / judged >= BAR
    assert _hard_after_stop(cohort).state == ("OPEN" if judged >= MIN_LIFT_N else "STOP")


def test_a_closed_cohort_below_the_bar_goes_to_the_meeting_every_month() -> None:
    cohort = LiftCohort(ongoing_at_stop=12, closed=12, with_result=1, finished=12)
    memory, seen = _stopped().memory, []
    for k in (1, 2, 3):
        month = _month(k)
        decided = decide(
            month, [pm(month, "P01", 50, 5)], memory, cohorts=RecordingCohorts({("P01", 1, JAN): cohort})
        )
        hard = by_model(decided.rows, Model.HARD)
        seen.append((hard.state, hard.reason_code, hard.review_required))
        assert hard.reason.endswith("fortsat bookingstop, til revurdering på mødet.")
        assert "antaget tærskel" in hard.reason
        assert memory_from_frame(decisions_frame(decided.rows)) == decided.memory
        memory = decided.memory
    assert seen == [("STOP", "stop_review", True)] * 3


def test_a_cohort_still_open_is_not_sent_to_the_meeting() -> None:
    cohort = LiftCohort(ongoing_at_stop=12, closed=11, with_result=1, finished=11)
    hard = _hard_after_stop(cohort)
    assert (hard.reason_code, hard.review_required) == ("stop_hold", False)
    assert "til revurdering" not in hard.reason


def test_every_hard_sentence_showing_the_threshold_says_it_is_assumed() -> None:
    rows = []
    memory = {}
    cohorts = {
        1: LiftCohort(30, 5, 2, 3),  # hold
        2: LiftCohort(30, 12, 12, 0),  # lift
    }
    for k, successes in enumerate([5, 5, 5, 30]):
        month = _month(k)
        source = RecordingCohorts({("P01", 1, JAN): cohorts[k]} if k in cohorts else {})
        decided = decide(month, [pm(month, "P01", 50, successes)], memory, cohorts=source)
        rows += [r for r in decided.rows if r.model == Model.HARD.value]
        memory = decided.memory
    shown = [r for r in rows if r.threshold is not None]
    assert {r.reason_code for r in shown} >= {"stop", "stop_hold", "stop_lift", "open_ok"}
    for r in shown:
        assert "antaget tærskel" in r.reason, r.reason
