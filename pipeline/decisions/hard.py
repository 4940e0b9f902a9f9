"""Model A, today's booking stop (bookingstop): OPEN or STOP.

STOP when the provider's rate is below stop_ratio x the area's rate without it (n >= min_n);
stop_ratio is an assumption the administration sets (the seeds give no threshold).
A stop is not lifted by the provider's rolling rate, which cannot rise while it receives no new
referrals, but by the stop cohort, the referrals ongoing on the last day of the stop month: a
referral counts as a success as soon as a result is registered on it (even while ongoing) and
as a failure once closed without one. Once successes + failures >= min_lift_n and their success
rate reaches the same bar, the stop is lifted. When every referral of the cohort has closed
without that, nothing more can be learned from data: the stop stays, for review at the meeting."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from pipeline.decisions.evidence import Evidence, below_bar
from pipeline.decisions.rules import HardRule, HardState


class HardMove(StrEnum):
    STOP = "stop"
    OPEN_OK = "open_ok"
    INSUFFICIENT = "insufficient"
    STOP_HOLD = "stop_hold"
    STOP_LIFT = "stop_lift"
    STOP_REVIEW = "stop_review"  # the whole cohort closed, the bar not reached: to the meeting


@dataclass(frozen=True)
class LiftCohort:
    """The referrals ongoing at the stop, as known this month (the caller computes it,
    see cohort.lift_cohorts)."""

    ongoing_at_stop: int = 0
    closed: int = 0  # of those, judged by now: a result registered, or closed without one
    with_result: int = 0  # of the judged, successes (a result registered)
    finished: int = 0  # of those, closed (the measure's window ended): nothing more to learn

    @property
    def rate(self) -> float | None:
        return self.with_result / self.closed if self.closed else None

    @property
    def failures(self) -> int:
        return self.closed - self.with_result

    @property
    def exhausted(self) -> bool:
        """Every referral of the cohort has closed (or there was none): data cannot lift it."""
        return self.finished >= self.ongoing_at_stop


@dataclass(frozen=True)
class HardMemory:
    state: HardState = HardState.OPEN
    stop_month: date | None = None  # the month the running stop began
    evidence: Evidence | None = None


@dataclass(frozen=True)
class HardStep:
    state: HardState
    move: HardMove
    memory: HardMemory


def lift_reached(cohort: LiftCohort, rule: HardRule, threshold: float | None) -> bool:
    """Do the referrals ongoing at the stop now show enough results to lift it?"""
    if threshold is None or cohort.rate is None or cohort.closed < rule.min_lift_n:
        return False
    return not below_bar(cohort.rate, threshold)


def hard_step(
    memory: HardMemory,
    evidence: Evidence,
    month: date,
    threshold: float | None,
    cohort: LiftCohort,
    rule: HardRule,
) -> HardStep:
    """The proposed Model A state for `month`.

    evidence is the month's comparison of the provider's rate with `threshold`
    (stop_ratio x area rate without the provider); cohort matters only while stopped."""
    if memory.state == HardState.STOP:
        if lift_reached(cohort, rule, threshold):
            opened = HardMemory(HardState.OPEN, None, evidence)
            return HardStep(HardState.OPEN, HardMove.STOP_LIFT, opened)
        move = HardMove.STOP_REVIEW if cohort.exhausted else HardMove.STOP_HOLD
        return HardStep(HardState.STOP, move, replace(memory, evidence=evidence))
    if evidence == Evidence.BELOW:
        return HardStep(HardState.STOP, HardMove.STOP, HardMemory(HardState.STOP, month, evidence))
    move = HardMove.OPEN_OK if evidence == Evidence.OK else HardMove.INSUFFICIENT
    return HardStep(HardState.OPEN, move, HardMemory(HardState.OPEN, None, evidence))


def hard_decided(step: HardStep, decided: HardState | None, month: date) -> HardMemory:
    """Next month's memory when a person decided `decided` (None: the proposal stands).

    A stop decided by a person starts its lift cohort this month, like a proposed one; an
    opening decided by a person ends the stop."""
    if decided is None or decided == step.state:
        return step.memory
    if decided == HardState.STOP:
        return replace(step.memory, state=HardState.STOP, stop_month=month)
    return replace(step.memory, state=HardState.OPEN, stop_month=None)
