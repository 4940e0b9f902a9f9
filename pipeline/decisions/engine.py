"""One month of booking decisions for every provider and tender area, both models.

decide_month is pure: the month's provider rows, lift cohorts and overrides plus what was
carried over from last month go in; decision rows and next month's memory come out. The CLI
(`provmon decide`) reads these inputs from the warehouse and writes the rows to
mart_booking_decisions; the back-test calls the same function month after month."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from functools import partial

import pandas as pd

from pipeline.decisions.cohort import CohortSource, NoCohorts
from pipeline.decisions.errors import DecisionInputError, OverrideError
from pipeline.decisions.evidence import (
    Evidence,
    Gap,
    Judgement,
    hard_evidence,
    soft_evidence,
    stop_threshold,
)
from pipeline.decisions.hard import HardMemory, HardMove, HardState, LiftCohort, hard_decided, hard_step
from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.overrides import Override, index_overrides
from pipeline.decisions.reasons import NEW_PROVIDER, NO_COMPARATOR, ReasonFacts, Templates, render
from pipeline.decisions.rules import SOFT_ORDER, AreaRules, Model, Rules, SoftState
from pipeline.decisions.soft import (
    COHORT_STATES,
    SoftMemory,
    SoftMove,
    SoftStep,
    StateCohort,
    soft_decided,
    soft_step,
    state_cohort_step,
    warnings_capped,
)
from pipeline.months import month_start, months_between, next_month
from pipeline.stats.config import two_sided_z

Key = tuple[str, int]  # (provider_id, tender_area)
# Moves whose sentence says what another month below the warning limit would give (or, where
# warnings step no further, what an alarm would give).
_WAITING_MOVES = frozenset({SoftMove.FIRST_WARNING, SoftMove.WARNING_CAPPED, SoftMove.EARLY_WARNING_BELOW})
_COHORT_MOVES = frozenset(
    {SoftMove.COHORT_RECOVER, SoftMove.COHORT_HOLD, SoftMove.REVIEW, HardMove.STOP_REVIEW}
)


@dataclass(frozen=True)
class ProviderMemory:
    """What both models carry over for one provider in one tender area."""

    soft: SoftMemory = field(default_factory=SoftMemory)
    hard: HardMemory = field(default_factory=HardMemory)
    # Still "ny leverandør": first seen with no mature referral and none since.
    new: bool = False
    # Per model: the day the action plan of the state in force was received (overrides).
    plans: Mapping[str, date] = field(default_factory=dict)


Memory = Mapping[Key, ProviderMemory]


@dataclass(frozen=True)
class MonthInput:
    """Everything one month's decisions may use, all known at that month's as-of date."""

    month: date
    rows: Sequence[ProviderMonth]
    cohorts: CohortSource = field(default_factory=NoCohorts)
    overrides: Sequence[Override] = ()
    # For the allocation in the back-test: expected referrals per month per area and
    # capacity_per_month per (provider_id, tender_area); see allocation.py.
    volumes: Mapping[int, float] = field(default_factory=dict)
    capacity: Mapping[Key, float | None] = field(default_factory=dict)
    # Model B's state cohorts per (provider_id, tender_area), by the month the state was entered.
    state_cohorts: Mapping[Key, Mapping[date, StateCohort]] = field(default_factory=dict)


@dataclass(frozen=True)
class DecisionRow:
    """One row of mart_booking_decisions: month x provider x tender area x model."""

    month: date
    provider_id: str
    tender_area: int
    model: str
    measure: str
    state: str  # the state in force: the override's if a person decided, else the proposal
    proposed_state: str
    previous_state: str | None
    state_label: str
    share: float
    # The state in force requires a written action plan (handlingsplan; rules.yaml action_plan).
    action_plan_required: bool
    # The day that plan was received, recorded by an override and kept while the state stays.
    action_plan_received: date | None
    evidence: str
    previous_evidence: str | None
    evidence_basis: str | None
    z_score: float | None
    n: int
    successes: int
    rate: float | None
    wilson_low: float | None
    wilson_high: float | None
    area_rate: float | None
    area_rate_excl_provider: float | None
    threshold: float | None
    ok_streak: int | None
    below_streak: int | None
    stop_month: date | None
    cohort_ongoing_at_stop: int | None
    cohort_closed: int | None
    cohort_with_result: int | None
    agreement_ends_in_month: bool
    # The data cannot move the state any more: the reason says "til revurdering på mødet".
    review_required: bool
    # Model B: the month the state was entered, and its state cohort where it was judged on it.
    state_since: date | None
    state_cohort_judged: int | None
    state_cohort_successes: int | None
    state_cohort_expected: float | None
    state_cohort_lower: float | None
    # The early-warning chart of the month (fct_decision_inputs): S at the month's end, h, signal.
    cusum_s: float | None
    cusum_h: float | None
    cusum_signal: bool
    reason_code: str
    reason: str
    override_state: str | None
    override_by: str | None
    override_at: datetime | None
    override_reason: str | None
    rule_version: str


DECISION_COLUMNS = tuple(DecisionRow.__dataclass_fields__)


@dataclass(frozen=True)
class MonthDecisions:
    rows: list[DecisionRow]
    memory: dict[Key, ProviderMemory]


def _row_or_empty(rows: Mapping[Key, ProviderMonth], key: Key, month: date, rules: Rules) -> ProviderMonth:
    """A provider decided before but absent from this month's mart has nothing to judge on."""
    if key in rows:
        return rows[key]
    return ProviderMonth.empty(month, key[0], key[1], rules.area(key[1]).primary_measure)


def _override_fields(o: Override | None) -> dict[str, object]:
    if o is None:
        return {"override_state": None, "override_by": None, "override_at": None, "override_reason": None}
    return {
        "override_state": o.state,
        "override_by": o.decided_by,
        "override_at": o.decided_at,
        "override_reason": o.reason,
    }


@dataclass(frozen=True)
class _Proposal:
    """One model's proposal for one provider-month, before it becomes a row."""

    model: Model
    judgement: Judgement
    proposed: str
    code: str
    facts: ReasonFacts
    before: SoftMemory | HardMemory  # what the month started from
    extra: dict[str, object]  # the model's own columns


@dataclass(frozen=True)
class _Context:
    """What both models' rows of one provider-month share."""

    row: ProviderMonth
    area: AreaRules
    rules: Rules
    templates: Templates
    new: bool = False  # a provider new in the area with no mature referral yet
    plans: Mapping[str, date] = field(default_factory=dict)  # ProviderMemory.plans

    def plan_received(self, p: _Proposal, o: Override | None, state: str) -> date | None:
        """The state's action plan as received: recorded by this month's override, else
        carried from last month while the state in force is the same (a state entered again
        needs a new plan)."""
        if not self.area.action_plan(p.model, state):
            return None
        if o is not None and o.action_plan_received is not None:
            return o.action_plan_received
        if p.before.evidence is not None and str(p.before.state) == state:
            return self.plans.get(p.model.value)
        return None

    def facts(self, model: Model, state: str, **extra: object) -> ReasonFacts:
        return ReasonFacts(
            row=self.row,
            measure_label=self.rules.measure_label(self.row.measure),
            min_n=self.area.min_n,
            state_label=self.area.label(model, state),
            next_month=next_month(self.row.month),
            **extra,  # type: ignore[arg-type]
        )

    def code(self, move: str, judgement: Judgement) -> str:
        """The reason's code: a new provider says so, an insufficient month says why."""
        if self.new:
            return NEW_PROVIDER
        if move in _COHORT_MOVES:  # judged on a cohort, whatever the base lacks
            return move
        return NO_COMPARATOR if judgement.gap == Gap.NO_COMPARATOR else move

    def decision_row(self, p: _Proposal, o: Override | None) -> DecisionRow:
        r, state = self.row, o.state if o else p.proposed
        return DecisionRow(
            month=r.month,
            provider_id=r.provider_id,
            tender_area=r.tender_area,
            model=p.model.value,
            measure=r.measure,
            state=state,
            proposed_state=p.proposed,
            # None for a provider seen for the first time
            previous_state=None if p.before.evidence is None else str(p.before.state),
            state_label=self.area.label(p.model, state),
            share=self.area.share(p.model, state),
            action_plan_required=self.area.action_plan(p.model, state),
            action_plan_received=self.plan_received(p, o, state),
            evidence=p.judgement.evidence.value,
            previous_evidence=p.before.evidence.value if p.before.evidence else None,
            evidence_basis=p.judgement.basis.value if p.judgement.basis else None,
            z_score=p.judgement.z,
            n=r.n,
            successes=r.successes,
            rate=r.observed_rate,
            wilson_low=r.wilson_low,
            wilson_high=r.wilson_high,
            area_rate=r.area_rate,
            area_rate_excl_provider=r.area_rate_excl_provider,
            agreement_ends_in_month=r.agreement_ends_in_month,
            cusum_s=r.cusum_s,
            cusum_h=r.cusum_h,
            cusum_signal=r.cusum_signal,
            reason_code=p.code,
            reason=render(self.templates, p.model, p.code, p.facts),
            rule_version=self.rules.rule_version,
            **p.extra,  # type: ignore[arg-type]
            **_override_fields(o),  # type: ignore[arg-type]
        )


def _soft_limit(judgement: Judgement, area: AreaRules) -> float | None:
    """The funnel limit the reason quotes: the one the provider fell below, or for an `ok`
    month the warning limit it stayed within."""
    if judgement.evidence == Evidence.ALARM:
        return area.evidence.alarm_level
    if judgement.evidence in (Evidence.WARNING, Evidence.OK):
        return area.evidence.warning_level
    return None


_NO_SOFT_COLUMNS: dict[str, object] = {
    "state_since": None,
    "state_cohort_judged": None,
    "state_cohort_successes": None,
    "state_cohort_expected": None,
    "state_cohort_lower": None,
}
_NO_HARD_COLUMNS: dict[str, object] = {
    "threshold": None,
    "stop_month": None,
    "cohort_ongoing_at_stop": None,
    "cohort_closed": None,
    "cohort_with_result": None,
}


def _state_cohort(
    ctx: _Context, step: SoftStep, memory: SoftMemory, cohorts: Mapping[date, StateCohort]
) -> tuple[SoftStep, StateCohort | None, int | None]:
    """An insufficient month in ORANGE or RED judged on the state cohort (soft.state_cohort_step);
    the step unchanged otherwise. Also returns the cohort and the months in the state."""
    if step.move != SoftMove.INSUFFICIENT or step.state not in COHORT_STATES or ctx.new:
        return step, None, None
    since = memory.since
    cohort = cohorts.get(since, StateCohort()) if since else StateCohort()
    months = months_between(since, ctx.row.month) if since else 0
    area = ctx.area
    z = two_sided_z(area.evidence.warning_level)
    judged = state_cohort_step(step, cohort, area.hard.min_lift_n, z, months, area.soft.review_months)
    return judged, cohort, months


def _soft(
    ctx: _Context, memory: SoftMemory, o: Override | None, cohorts: Mapping[date, StateCohort]
) -> tuple[DecisionRow, SoftMemory]:
    area, label = ctx.area, partial(ctx.area.label, Model.SOFT)
    judgement = soft_evidence(ctx.row, area)
    cap = SoftState(area.soft.warning_up_to)
    step = soft_step(memory, judgement.evidence, area.soft.recover_months, ctx.row.cusum_signal, cap)
    step, cohort, months = _state_cohort(ctx, step, memory, cohorts)
    lower = cohort.lower(two_sided_z(area.evidence.warning_level)) if cohort else None
    following = SOFT_ORDER[min(SOFT_ORDER.index(step.state) + 1, len(SOFT_ORDER) - 1)]
    facts = ctx.facts(
        Model.SOFT,
        step.state,
        basis=judgement.basis,
        limit=_soft_limit(judgement, area),
        z=judgement.z,
        from_label=label(memory.state) if step.state != memory.state else None,
        to_label=label(step.state),
        next_label=label(following) if step.move in _WAITING_MOVES else None,
        alarm_limit=area.evidence.alarm_level,
        warning_capped=step.move in _WAITING_MOVES and warnings_capped(step.state, cap),
        below_streak=step.memory.below_streak,
        ok_streak=step.ok_run,
        recover_months=area.soft.recover_months,
        min_lift_n=area.hard.min_lift_n,
        state_since=memory.since,
        state_cohort=cohort,
        state_cohort_lower=lower,
        months_in_state=months,
    )
    decided = soft_decided(step, SoftState(o.state) if o else None)
    # the state cohort of a new state starts with the month it was entered
    decided = replace(decided, since=ctx.row.month if decided.state != memory.state else memory.since)
    extra = {
        "ok_streak": decided.ok_streak,
        "below_streak": decided.below_streak,
        "review_required": step.move == SoftMove.REVIEW,
        "state_since": decided.since,
        "state_cohort_judged": cohort.judged if cohort else None,
        "state_cohort_successes": cohort.successes if cohort else None,
        "state_cohort_expected": cohort.expected if cohort else None,
        "state_cohort_lower": lower,
    } | _NO_HARD_COLUMNS
    code = ctx.code(step.move, judgement)
    proposal = _Proposal(Model.SOFT, judgement, step.state.value, code, facts, memory, extra)
    return ctx.decision_row(proposal, o), decided


def _hard(
    ctx: _Context, memory: HardMemory, cohorts: CohortSource, o: Override | None
) -> tuple[DecisionRow, HardMemory]:
    area, row = ctx.area, ctx.row
    judgement = hard_evidence(row, area)
    threshold = stop_threshold(area, row.area_rate_excl_provider)
    stop_month = memory.stop_month if memory.state == HardState.STOP else None
    cohort = None
    if stop_month is not None:
        cohort = cohorts.cohort(row.provider_id, row.tender_area, stop_month, row.measure)
    step = hard_step(memory, judgement.evidence, row.month, threshold, cohort or LiftCohort(), area.hard)
    facts = ctx.facts(
        Model.HARD,
        step.state,
        to_label=area.label(Model.HARD, step.state),
        stop_ratio=area.hard.stop_ratio,
        threshold=threshold,
        stop_month=stop_month,
        cohort=cohort,
        min_lift_n=area.hard.min_lift_n,
    )
    decided = hard_decided(step, HardState(o.state) if o else None, row.month)
    extra = {
        "threshold": threshold,
        "ok_streak": None,
        "below_streak": None,
        "stop_month": decided.stop_month,
        "cohort_ongoing_at_stop": cohort.ongoing_at_stop if cohort else None,
        "cohort_closed": cohort.closed if cohort else None,
        "cohort_with_result": cohort.with_result if cohort else None,
        "review_required": step.move == HardMove.STOP_REVIEW,
    } | _NO_SOFT_COLUMNS
    code = ctx.code(step.move, judgement)
    proposal = _Proposal(Model.HARD, judgement, step.state.value, code, facts, memory, extra)
    return ctx.decision_row(proposal, o), decided


def decide_month(inputs: MonthInput, memory: Memory, rules: Rules, templates: Templates) -> MonthDecisions:
    """Both models' decisions for every provider-area with a row this month or a memory.

    Raises OverrideError for an override of a provider-area that has nothing to override."""
    month = month_start(inputs.month)
    rows = {r.key: r for r in inputs.rows}
    if len(rows) != len(inputs.rows):
        raise DecisionInputError(f"more than one row for the same provider and area in {month:%Y-%m}")
    stray = [r for r in inputs.rows if r.month != month]
    if stray:
        raise DecisionInputError(f"rows of {stray[0].month:%Y-%m} given for the decisions of {month:%Y-%m}")
    overrides = index_overrides(inputs.overrides, month)
    # A provider-area decided before or with a row this month, unless the row says it has no
    # valid agreement in the month (decisions.md: no state and no allocation without one).
    keys = sorted(
        {k for k in set(rows) | set(memory) if k not in rows or rows[k].has_agreement},
        key=lambda k: (k[1], k[0]),
    )
    unknown = sorted({(p, a) for p, a, _ in overrides} - set(keys))
    if unknown:
        raise OverrideError(f"no decision in {month:%Y-%m} for provider/area {unknown} to override")
    out: list[DecisionRow] = []
    carried: dict[Key, ProviderMemory] = {}
    for key in keys:
        before = memory.get(key, ProviderMemory(new=True))
        row = _row_or_empty(rows, key, month, rules)
        ctx = _Context(row, rules.area(key[1]), rules, templates, before.new and row.n == 0, before.plans)
        state_cohorts = inputs.state_cohorts.get(key, {})
        soft_row, soft_next = _soft(ctx, before.soft, overrides.get((*key, Model.SOFT)), state_cohorts)
        hard_row, hard_next = _hard(ctx, before.hard, inputs.cohorts, overrides.get((*key, Model.HARD)))
        out += [soft_row, hard_row]
        if not row.agreement_ends_in_month:  # from the month after, the provider is forgotten
            carried[key] = ProviderMemory(soft_next, hard_next, ctx.new, _plans(soft_row, hard_row))
    return MonthDecisions(out, carried)


def _plans(*rows: DecisionRow) -> dict[str, date]:
    return {r.model: r.action_plan_received for r in rows if r.action_plan_received is not None}


def decisions_frame(rows: Sequence[DecisionRow]) -> pd.DataFrame:
    """Decision rows as a DataFrame with the columns of mart_booking_decisions, in order."""
    return pd.DataFrame([asdict(r) for r in rows], columns=list(DECISION_COLUMNS))


def memory_from_frame(previous: pd.DataFrame) -> dict[Key, ProviderMemory]:
    """Rebuild the carried-over memory from last month's mart_booking_decisions rows, so that
    `provmon decide` for a month continues from the stored previous month (with its
    overrides already applied to `state`)."""
    missing = [
        c
        for c in ("model", "state", "evidence", "ok_streak", "below_streak", "stop_month")
        if c not in previous
    ]
    if missing:
        raise DecisionInputError(f"mart_booking_decisions lacks the column(s) {', '.join(missing)}")
    soft: dict[Key, SoftMemory] = {}
    hard: dict[Key, HardMemory] = {}
    new: set[Key] = set()
    ended: set[Key] = set()
    plans: dict[Key, dict[str, date]] = {}
    for r in previous.to_dict("records"):
        key = (str(r["provider_id"]), int(r["tender_area"]))
        received = r.get("action_plan_received")
        if received is not None and pd.notna(received):
            plans.setdefault(key, {})[str(r["model"])] = pd.Timestamp(received).date()
        evidence = Evidence(r["evidence"])
        if r.get("reason_code") == NEW_PROVIDER:
            new.add(key)
        ends = r.get("agreement_ends_in_month")
        if ends is not None and not pd.isna(ends) and bool(ends):
            ended.add(key)
        if r["model"] == Model.SOFT:
            since = r.get("state_since")
            soft[key] = SoftMemory(
                SoftState(r["state"]),
                int(r["ok_streak"]),
                int(r["below_streak"]),
                evidence,
                month_start(pd.Timestamp(since).date()) if since is not None and pd.notna(since) else None,
            )
        else:
            stop = r["stop_month"]
            stop_month = month_start(pd.Timestamp(stop).date()) if pd.notna(stop) else None
            hard[key] = HardMemory(HardState(r["state"]), stop_month, evidence)
    return {
        k: ProviderMemory(soft.get(k, SoftMemory()), hard.get(k, HardMemory()), k in new, plans.get(k, {}))
        for k in (soft.keys() | hard.keys()) - ended
    }
