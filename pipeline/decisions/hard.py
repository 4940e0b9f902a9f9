"""Model A, today's booking stop (bookingstop): OPEN or STOP.

STOP when the provider's rate is below stop_ratio x the area's rate without it (n >= min_n).
A stop is not lifted by the provider's rolling rate, which cannot rise while it receives no new
referrals, but by the referrals that were ongoing at the stop: once at least min_lift_n of them
have closed and their result rate reaches the same bar, the stop is lifted."""

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


@dataclass(frozen=True)
class LiftCohort:
    """The referrals ongoing at the stop, as known this month (the caller computes it,
    see cohort.lift_cohorts)."""

    ongoing_at_stop: int = 0
    closed: int = 0  # of those, judged by now (closed, or the measure mature)
    with_result: int = 0  # of the closed, with a result (the measure true)

    @property
    def rate(self) -> float | None:
        return self.with_result / self.closed if self.closed else None


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
        return HardStep(HardState.STOP, HardMove.STOP_HOLD, replace(memory, evidence=evidence))
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
