"""Model B, the soft transition (blid overgang): GREEN -> YELLOW -> ORANGE -> RED and back.

One pure step per month, so the state machine can be checked on hand-made sequences of
evidence and replayed in a back-test. The rules (decisions.md):
- escalate one step on `alarm`, or on `warning` for the second month running (a month below
  the alarm limit is below the warning limit too, so alarm-then-warning is two months running);
- `warning` steps up no further than the area's warning_up_to (rules.yaml): at RED, the
  default, warnings alone reach a booking stop as decisions.md says; at YELLOW a reduction
  needs an alarm. A rolling 12-month rate that lies low by chance stays below the 95 % limit
  for months, and month after month of it steps a provider that is no worse than its area all
  the way up; the choice between the two is the administration's;
- de-escalate one step after `recover_months` consecutive `ok`, counted afresh after every
  change of state, so each step down is earned on its own;
- never more than one step in a month;
- a signal of the early-warning chart moves GREEN to YELLOW whatever the funnel says short of
  an escalation: in an `ok` month and in a first month below the warning limit alike (there the
  funnel alone would wait a month, and the chart, restarted at 0, would not signal again soon);
  elsewhere it keeps an `ok` month from counting towards a step down;
- `insufficient` changes nothing, neither the state nor the running counts: a month without
  enough referrals to judge is no evidence either way; except in ORANGE and RED, where a
  provider receives few or no new referrals and would otherwise be trapped: there the state is
  judged on its state cohort (state_cohort_step), and after review_months in RED without a way
  down the proposal goes to the meeting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from pipeline.decisions.evidence import Evidence
from pipeline.decisions.rules import SOFT_ORDER, SoftState


class SoftMove(StrEnum):
    """What the step did, and so which reason sentence explains it."""

    ESCALATE = "escalate"
    HOLD_TOP = "hold_top"  # below a limit, but already at the last state
    FIRST_WARNING = "first_warning"  # below the warning limit for the first month: wait one
    # below the warning limit, at or past the last state warnings step up to (warning_up_to)
    WARNING_CAPPED = "warning_capped"
    RECOVER = "recover"
    OK_COUNTING = "ok_counting"  # ok, but not yet recover_months in a row
    OK_NORMAL = "ok_normal"
    INSUFFICIENT = "insufficient"
    EARLY_WARNING = "early_warning"  # the CUSUM signalled: GREEN -> YELLOW, intake unchanged
    # the CUSUM signalled in a first month below the warning limit: GREEN -> YELLOW, not a wait
    EARLY_WARNING_BELOW = "early_warning_below"
    OK_SIGNAL = "ok_signal"  # ok, but the CUSUM signalled: no step down, the count restarts
    COHORT_RECOVER = "cohort_recover"  # insufficient, but the state cohort did as expected
    COHORT_HOLD = "cohort_hold"  # insufficient, and the state cohort does not (yet) show it
    REVIEW = "review"  # as cohort_hold, review_months or more in RED: to the meeting


@dataclass(frozen=True)
class SoftMemory:
    """What Model B carries from one month to the next."""

    state: SoftState = SoftState.GREEN
    ok_streak: int = 0  # consecutive `ok` months since the last change of state
    below_streak: int = 0  # consecutive judged months below the warning limit
    evidence: Evidence | None = None  # last month's evidence, shown as previous evidence
    since: date | None = None  # the month the state was entered (its state cohort starts there)


# The states whose few or no new referrals would trap a provider without its state cohort.
COHORT_STATES = (SoftState.ORANGE, SoftState.RED)


@dataclass(frozen=True)
class StateCohort:
    """The state cohort as known this month: the referrals ongoing when the provider entered
    its state plus those booked since, judged as model A's stop cohort is (a success when a
    result is registered, a failure when closed without one), with the sum of their expected
    probabilities (risk-adjusted) and of p(1 - p)."""

    judged: int = 0
    successes: int = 0
    expected: float = 0.0
    variance: float = 0.0

    def lower(self, z: float) -> float:
        """The lower limit of the expected successes (normal approximation, sum of Bernoullis)."""
        return self.expected - z * math.sqrt(max(self.variance, 0.0))


@dataclass(frozen=True)
class SoftStep:
    state: SoftState  # the proposed state
    move: SoftMove
    memory: SoftMemory  # what next month starts from, unless a person overrides
    ok_run: int = 0  # `ok` months in a row up to this one, before a step down resets the count


def _shift(state: SoftState, steps: int) -> SoftState:
    index = SOFT_ORDER.index(state) + steps
    return SOFT_ORDER[max(0, min(index, len(SOFT_ORDER) - 1))]


def warnings_capped(state: SoftState, warning_up_to: SoftState) -> bool:
    """Whether `warning` evidence can no longer step a provider in `state` up (warning_up_to)."""
    return SOFT_ORDER.index(state) >= SOFT_ORDER.index(warning_up_to)


def _below(memory: SoftMemory, evidence: Evidence, warning_up_to: SoftState) -> SoftStep:
    below = memory.below_streak + 1
    counted = SoftMemory(memory.state, ok_streak=0, below_streak=below, evidence=evidence)
    if memory.state == SOFT_ORDER[-1]:
        return SoftStep(memory.state, SoftMove.HOLD_TOP, counted)
    if evidence == Evidence.WARNING and warnings_capped(memory.state, warning_up_to):
        # before the first-month wait: no number of months below goes further from here
        return SoftStep(memory.state, SoftMove.WARNING_CAPPED, counted)
    if evidence == Evidence.WARNING and below < 2:
        return SoftStep(memory.state, SoftMove.FIRST_WARNING, counted)
    up = _shift(memory.state, +1)
    return SoftStep(up, SoftMove.ESCALATE, replace(counted, state=up))


def _ok(memory: SoftMemory, recover_months: int) -> SoftStep:
    ok = memory.ok_streak + 1
    counted = SoftMemory(memory.state, ok_streak=ok, below_streak=0, evidence=Evidence.OK)
    if memory.state == SOFT_ORDER[0]:
        return SoftStep(memory.state, SoftMove.OK_NORMAL, counted, ok)
    if ok < recover_months:
        return SoftStep(memory.state, SoftMove.OK_COUNTING, counted, ok)
    down = _shift(memory.state, -1)
    return SoftStep(down, SoftMove.RECOVER, replace(counted, state=down, ok_streak=0), ok)


def _signal(memory: SoftMemory, evidence: Evidence) -> SoftStep | None:
    """The early-warning chart signalled: GREEN goes to YELLOW (closer follow-up and an action
    plan, intake unchanged); an `ok` month elsewhere does not count towards a step down. It
    never moves a provider to ORANGE or RED: only the funnel's evidence does."""
    if memory.state == SoftState.GREEN:
        below = memory.below_streak if evidence == Evidence.INSUFFICIENT else 0
        moved = SoftMemory(SoftState.YELLOW, ok_streak=0, below_streak=below, evidence=evidence)
        return SoftStep(SoftState.YELLOW, SoftMove.EARLY_WARNING, moved)
    if evidence == Evidence.OK:
        held = SoftMemory(memory.state, ok_streak=0, below_streak=0, evidence=evidence, since=memory.since)
        return SoftStep(memory.state, SoftMove.OK_SIGNAL, held)
    return None


def _signal_below(step: SoftStep) -> SoftStep:
    """A first month below the warning limit, on which the funnel alone waits a month, with a
    signal of the chart: the signal moves GREEN to YELLOW now, as it would in an `ok` month
    (decisions.md: "even when the funnel says ok"), and the month stays counted below, so a
    second one escalates on the funnel's evidence. Without this the signal of the month is lost,
    and the chart restarts at 0 after signalling."""
    if step.move != SoftMove.FIRST_WARNING or step.state != SoftState.GREEN:
        return step
    moved = replace(step.memory, state=SoftState.YELLOW)
    return SoftStep(SoftState.YELLOW, SoftMove.EARLY_WARNING_BELOW, moved)


def soft_step(
    memory: SoftMemory,
    evidence: Evidence,
    recover_months: int,
    signal: bool = False,
    warning_up_to: SoftState = SOFT_ORDER[-1],
) -> SoftStep:
    """The proposed state for this month given last month's memory, this month's evidence and
    whether the early-warning chart (CUSUM) signalled in the month; `warning` evidence steps up
    no further than warning_up_to (rules.yaml; RED, the last state, is decisions.md's rule)."""
    if evidence in (Evidence.ALARM, Evidence.WARNING):
        step = _below(memory, evidence, warning_up_to)
        return _signal_below(step) if signal else step
    if signal and (step := _signal(memory, evidence)) is not None:
        return step
    if evidence == Evidence.OK:
        return _ok(memory, recover_months)
    if evidence == Evidence.INSUFFICIENT:
        return SoftStep(memory.state, SoftMove.INSUFFICIENT, replace(memory, evidence=evidence))
    raise ValueError(f"Model B does not judge on evidence {evidence!r}")


def state_cohort_step(
    step: SoftStep, cohort: StateCohort, min_judged: int, z: float, months_in_state: int, review_months: int
) -> SoftStep:
    """An insufficient month in ORANGE or RED judged on the state cohort: one step down when at
    least min_judged are judged and the successes are not below the lower limit (z) of the
    expected; otherwise the state stays, and after review_months in RED it goes to the meeting."""
    if step.move != SoftMove.INSUFFICIENT or step.state not in COHORT_STATES:
        return step
    if cohort.judged >= min_judged and cohort.successes >= cohort.lower(z) - 1e-9:
        down = _shift(step.state, -1)
        memory = replace(step.memory, state=down, ok_streak=0, below_streak=0)
        return SoftStep(down, SoftMove.COHORT_RECOVER, memory)
    if step.state == SOFT_ORDER[-1] and months_in_state >= review_months:
        return SoftStep(step.state, SoftMove.REVIEW, step.memory)
    return SoftStep(step.state, SoftMove.COHORT_HOLD, step.memory)


def soft_decided(step: SoftStep, decided: SoftState | None) -> SoftMemory:
    """Next month's memory when a person decided `decided` (None: the proposal stands).

    Next month starts from the decided state; a changed state starts the recovery count
    afresh, as a proposed change does. The months below the limit stay counted: they are
    facts about the provider's results, not about the state."""
    if decided is None or decided == step.state:
        return step.memory
    return replace(step.memory, state=SoftState(decided), ok_streak=0)
