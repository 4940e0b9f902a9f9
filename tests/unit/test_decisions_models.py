"""The two decision models on hand-made evidence: Model B's state machine, Model A's stop and
lift, the evidence classes against scipy's normal quantiles and an independently computed
funnel limit, and the lift cohort against a plain-Python count."""

import math
import random
from datetime import date

import pytest
from scipy.stats import norm

from pipeline.decisions.evidence import (
    Basis,
    Evidence,
    Gap,
    hard_evidence,
    soft_evidence,
)
from pipeline.decisions.hard import HardMemory, HardMove, LiftCohort, hard_decided, hard_step
from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.rules import HardState, SoftState, load_rules
from pipeline.decisions.soft import SoftMemory, SoftMove, soft_decided, soft_step
from pipeline.stats import classify_evidence, load_stats_config

# Hand-made labels (a build takes them from dim_measures).
RULES = load_rules(measure_labels={"has_result": "Resultatandel", "fit_within_6m": "Andel raskmeldt"})
AREA = RULES.area(1)
FUNNEL = load_stats_config().funnel  # the statistics step's classification, upstream of the decisions
# Evidence and states in one or two letters, so a sequence reads as a line of a table.
A, W, OK, NA = Evidence.ALARM, Evidence.WARNING, Evidence.OK, Evidence.INSUFFICIENT
G, Y, OR, R = SoftState.GREEN, SoftState.YELLOW, SoftState.ORANGE, SoftState.RED


def run_soft(evidence: list[Evidence], recover_months: int = 2, start: SoftState = G) -> list[SoftState]:
    memory, states = SoftMemory(state=start), []
    for e in evidence:
        step = soft_step(memory, e, recover_months)
        memory = step.memory
        states.append(step.state)
    return states


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        # alarm escalates one step every month, and RED is the last step
        ([A, A, A, A, A], [Y, OR, R, R, R]),
        # one warning waits; the second month running escalates, and so does each one after it
        ([W, W, W, W], [G, Y, OR, R]),
        # a warning with an ok in between is a first warning again
        ([W, OK, W, OK, W], [G, G, G, G, G]),
        # alarm then warning: the alarm month was below the 95 % limit too, so two months running
        ([A, W], [Y, OR]),
        # recovery: one step down after two ok in a row, counted afresh after each change
        ([A, A, OK, OK, OK, OK], [Y, OR, OR, Y, Y, G]),
        ([A, OK, W, OK, OK], [Y, Y, Y, Y, G]),
        # insufficient keeps the state and the running counts: warning, gap, warning escalates
        ([W, NA, W], [G, G, Y]),
        ([A, OK, NA, OK], [Y, Y, Y, G]),
        ([NA, NA, NA], [G, G, G]),
    ],
)
def test_soft_state_machine_on_hand_made_sequences(
    evidence: list[Evidence], expected: list[SoftState]
) -> None:
    assert run_soft(evidence) == expected


@pytest.mark.parametrize(
    ("up_to", "expected"),
    [
        # decisions.md's rule: warnings alone step all the way to a booking stop
        (R, [G, Y, OR, R, R, OR]),
        # warnings stop at YELLOW or ORANGE; an alarm still escalates, a step down is as before
        (Y, [G, Y, Y, Y, OR, Y]),
        (OR, [G, Y, OR, OR, R, OR]),
    ],
)
def test_warnings_step_up_no_further_than_warning_up_to(up_to: SoftState, expected: list[SoftState]) -> None:
    memory, states, moves = SoftMemory(), [], []
    for e in [W, W, W, W, A, OK]:
        step = soft_step(memory, e, 1, warning_up_to=up_to)
        memory = step.memory
        states.append(step.state)
        moves.append(step.move)
    assert states == expected
    assert (SoftMove.WARNING_CAPPED in moves) == (up_to != R)
    # at the cap even a first month below waits for nothing: no number of them goes further
    assert soft_step(SoftMemory(state=up_to), W, 1, warning_up_to=up_to).move == (
        SoftMove.HOLD_TOP if up_to == R else SoftMove.WARNING_CAPPED
    )


def test_recover_months_is_a_parameter() -> None:
    assert run_soft([OK, OK, OK, OK, OK, OK], recover_months=3, start=OR) == [OR, OR, Y, Y, Y, G]
    assert run_soft([OK, OK], recover_months=1, start=R) == [OR, Y]


def test_soft_moves_name_what_happened() -> None:
    memory = SoftMemory()
    moves = []
    for e in [W, W, OK, OK, NA, A]:
        step = soft_step(memory, e, 2)
        moves.append(step.move)
        memory = step.memory
    assert moves == [
        SoftMove.FIRST_WARNING,
        SoftMove.ESCALATE,
        SoftMove.OK_COUNTING,
        SoftMove.RECOVER,
        SoftMove.INSUFFICIENT,
        SoftMove.ESCALATE,
    ]
    assert soft_step(SoftMemory(state=R), W, 2).move == SoftMove.HOLD_TOP
    assert soft_step(SoftMemory(), OK, 2).move == SoftMove.OK_NORMAL


def reference_soft(evidence: list[Evidence], recover_months: int) -> list[SoftState]:
    """decisions.md read literally, over the whole history instead of a carried memory: the
    judged months (insufficient ones dropped), escalation on alarm or on a warning whose
    previous judged month was below the warning limit, recovery once the judged months since
    the last change end in recover_months ok."""
    order = [G, Y, OR, R]
    level, judged, since_change, states = 0, [], [], []
    for e in evidence:
        if e != NA:
            judged.append(e)
            since_change.append(e)
            previous_below = len(judged) >= 2 and judged[-2] in (A, W)
            if e == A or (e == W and previous_below):
                if level < 3:
                    level, since_change = level + 1, []
            elif e == OK and level > 0 and since_change[-recover_months:] == [OK] * recover_months:
                level, since_change = level - 1, []
        states.append(order[level])
    return states


def test_soft_agrees_with_a_literal_reading_on_random_sequences() -> None:
    rng = random.Random(11)
    for _ in range(500):
        evidence = rng.choices([A, W, OK, NA], weights=[1, 2, 4, 1], k=rng.randint(1, 30))
        recover = rng.randint(1, 4)
        states = run_soft(evidence, recover)
        assert states == reference_soft(evidence, recover), (evidence, recover)
        order = [G, Y, OR, R]
        steps = [abs(order.index(b) - order.index(a)) for a, b in zip([G, *states], states, strict=False)]
        assert max(steps) <= 1  # never more than one step in a month


def test_soft_override_is_where_next_month_starts() -> None:
    step = soft_step(SoftMemory(G, below_streak=1), W, 2)  # second warning: proposes YELLOW
    assert step.state == Y
    decided = soft_decided(step, G)  # the meeting keeps GREEN
    assert decided.state == G
    assert soft_step(decided, OK, 2).state == G
    assert soft_decided(step, None) == step.memory
    # an override upwards: recovery counts from the decided state
    up = soft_decided(soft_step(SoftMemory(Y, ok_streak=1), OK, 2), OR)
    assert [soft_step(up, OK, 2).state, soft_step(soft_step(up, OK, 2).memory, OK, 2).state] == [OR, Y]


ALONE = object()  # marks a provider with no rate without it: alone in its area


def row(
    n: int, successes: int, area_rate: float | None, excl: object = None, **extra: object
) -> ProviderMonth:
    """A provider row as fct_decision_inputs gives it: the area rate without the provider is the
    area rate unless given; z-score and evidence as the statistics step classifies them (its
    classify_evidence on the binomial z) unless given."""
    rate = successes / n if n else None
    without = None if excl is ALONE else area_rate if excl is None else excl
    if "z_score" not in extra and area_rate is not None and 0 < area_rate < 1:
        extra["z_score"] = (successes - n * area_rate) / (n * area_rate * (1 - area_rate)) ** 0.5
    if "evidence" not in extra:
        z = extra.get("z_score")
        extra["evidence"] = str(classify_evidence([math.nan if z is None else z], [n], FUNNEL)[0])
    return ProviderMonth(
        date(2024, 5, 1), "P01", 1, "has_result", n, successes, rate, None, None, area_rate, without, **extra
    )  # type: ignore[arg-type]


def test_the_evidence_is_the_statistics_steps_class() -> None:
    """Model B does not classify again: whatever the row's z, its evidence is the mart's."""
    for evidence in (A, W, OK):
        judged = soft_evidence(row(100, 15, 0.31, z_score=-1.0, evidence=evidence.value), AREA)
        assert (judged.evidence, judged.z) == (evidence, -1.0)


def test_unadjusted_evidence_matches_the_funnel_limits() -> None:
    """Below the funnel's lower limit p0 - z sqrt(p0 (1 - p0) / n), computed here independently."""
    p0 = 0.31
    for n in (20, 35, 88, 150, 400):
        lower95 = p0 - norm.ppf(0.975) * (p0 * (1 - p0) / n) ** 0.5
        lower998 = p0 - norm.ppf(0.999) * (p0 * (1 - p0) / n) ** 0.5
        for successes in range(n + 1):
            rate = successes / n
            expected = A if rate < lower998 else W if rate < lower95 else OK
            judgement = soft_evidence(row(n, successes, p0), AREA)
            assert judgement.evidence == expected, (n, successes)
            assert judgement.basis == Basis.UNADJUSTED


def test_the_basis_says_whether_the_risk_model_fitted() -> None:
    adjusted = row(100, 15, 0.31, z_score=-1.0, adjustment_status="adjusted")
    assert soft_evidence(adjusted, AREA).evidence == OK  # raw would be an alarm
    assert soft_evidence(adjusted, AREA).basis == Basis.ADJUSTED
    fallback = row(100, 15, 0.31, adjustment_status="too_few_events")
    assert soft_evidence(fallback, AREA).evidence == A
    assert soft_evidence(fallback, AREA).basis == Basis.UNADJUSTED


def test_insufficient_says_why() -> None:
    assert soft_evidence(row(19, 0, 0.3), AREA).gap == Gap.TOO_FEW
    assert soft_evidence(row(20, 0, None), AREA).gap == Gap.NO_COMPARATOR
    assert soft_evidence(row(40, 12, 0.3, ALONE), AREA).gap == Gap.NO_COMPARATOR  # alone in the area
    assert soft_evidence(row(40, 0, 0.0), AREA).gap == Gap.NO_COMPARATOR  # area rate 0: no variance
    nan_z = row(40, 12, 0.3, z_score=float("inf"), adjustment_status="adjusted")
    assert soft_evidence(nan_z, AREA).evidence == NA
    assert hard_evidence(row(19, 0, 0.3, 0.3), AREA).evidence == NA
    assert hard_evidence(row(40, 0, 0.3, ALONE), AREA).gap == Gap.NO_COMPARATOR


@pytest.mark.parametrize(
    ("n", "successes", "excl", "expected"),
    [
        (20, 4, 0.30, Evidence.BELOW),  # 20 % < 0.8 x 30 % = 24 %
        (19, 0, 0.30, NA),  # too few to judge, however bad
        (25, 6, 0.30, OK),  # 24 % is not below 24 %
        (20, 12, 0.75, OK),  # 60 % is not below 0.8 x 75 %, although 0.8 * 0.75 > 0.6 in floats
        (100, 23, 0.30, Evidence.BELOW),
    ],
)
def test_hard_evidence_compares_with_stop_ratio_times_area_rate_without_provider(
    n: int, successes: int, excl: float, expected: Evidence
) -> None:
    # the area rate with the provider is deliberately different: Model A must not use it
    assert hard_evidence(row(n, successes, 0.9, excl), AREA).evidence == expected


HARD = AREA.hard
MAY, JUNE = date(2024, 5, 1), date(2024, 6, 1)


def test_hard_stop_and_lift_only_by_the_cohort() -> None:
    stopped = hard_step(HardMemory(), Evidence.BELOW, MAY, 0.24, LiftCohort(), HARD)
    assert (stopped.state, stopped.move, stopped.memory.stop_month) == (HardState.STOP, HardMove.STOP, MAY)
    # the provider's own rate is fine again, but the cohort has shown nothing yet: still stopped
    held = hard_step(stopped.memory, OK, JUNE, 0.24, LiftCohort(30, 5, 5), HARD)
    assert (held.state, held.move) == (HardState.STOP, HardMove.STOP_HOLD)
    # 9 closed, all with results: fewer than min_lift_n closed
    assert hard_step(stopped.memory, OK, JUNE, 0.24, LiftCohort(30, 9, 9), HARD).state == HardState.STOP
    # 10 closed, 2 with results = 20 % < 24 %
    assert hard_step(stopped.memory, OK, JUNE, 0.24, LiftCohort(30, 10, 2), HARD).state == HardState.STOP
    # 25 closed, 6 with results = 24 %: reaches the bar, lifted
    lifted = hard_step(stopped.memory, Evidence.BELOW, JUNE, 0.24, LiftCohort(30, 25, 6), HARD)
    assert (lifted.state, lifted.move, lifted.memory.stop_month) == (HardState.OPEN, HardMove.STOP_LIFT, None)
    # exactly at the bar, in floats just under it: 12 of 20 = 0.6 against 0.8 x 0.75
    at_bar = hard_step(stopped.memory, OK, JUNE, HARD.stop_ratio * 0.75, LiftCohort(30, 20, 12), HARD)
    assert at_bar.state == HardState.OPEN
    # without an area rate there is no bar to reach
    assert hard_step(stopped.memory, NA, JUNE, None, LiftCohort(30, 25, 25), HARD).state == HardState.STOP


def test_hard_override_starts_or_ends_the_stop() -> None:
    open_step = hard_step(HardMemory(), OK, MAY, 0.24, LiftCohort(), HARD)
    stop = hard_decided(open_step, HardState.STOP, MAY)
    assert (stop.state, stop.stop_month) == (HardState.STOP, MAY)
    stop_step = hard_step(HardMemory(HardState.STOP, date(2024, 1, 1)), OK, MAY, 0.24, LiftCohort(), HARD)
    opened = hard_decided(stop_step, HardState.OPEN, MAY)
    assert (opened.state, opened.stop_month) == (HardState.OPEN, None)
    assert hard_step(opened, OK, JUNE, 0.24, LiftCohort(), HARD).state == HardState.OPEN
