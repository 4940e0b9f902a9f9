"""The only coupling of the simulation to the decision engine and the allocation: one month's
decisions (pipeline.decisions.engine.decide_month) and the shares of new referrals they give
(pipeline.decisions.allocation.allocate, capacity caps included)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

import pandas as pd

from pipeline.decisions.allocation import allocate
from pipeline.decisions.engine import DecisionRow, Key, MonthInput, ProviderMemory, decide_month
from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.reasons import Templates
from pipeline.decisions.rules import Model
from pipeline.decisions.soft import COHORT_STATES, StateCohort
from pipeline.simulate.measures import Measures, SimCohorts
from pipeline.simulate.policies import Policy


def decide(
    policy: Policy,
    month: int,
    rows: Sequence[ProviderMonth],
    measures: Measures,
    memory: Mapping[Key, ProviderMemory],
    templates: Templates,
) -> tuple[list[DecisionRow], dict[Key, ProviderMemory]]:
    """The policy's decision rows of the month and the memory the next month starts from."""
    if not policy.early_warning:
        rows = [replace(r, cusum_signal=False) for r in rows]
    month_input = MonthInput(
        month=rows[0].month if rows else _first_day(month),
        rows=rows,
        cohorts=SimCohorts(measures, month),
        state_cohorts=_state_cohorts(measures, month, memory) if policy.model == Model.SOFT else {},
    )
    decided = decide_month(month_input, memory, policy.rules, templates)
    mine = [r for r in decided.rows if policy.model is not None and r.model == policy.model.value]
    return mine, decided.memory


def _first_day(month: int) -> date:
    from pipeline.simulate.measures import month_date

    return month_date(month)


def _state_cohorts(
    measures: Measures, month: int, memory: Mapping[Key, ProviderMemory]
) -> dict[Key, dict[date, StateCohort]]:
    """The state cohort of every provider in ORANGE or RED, for the month it entered the state
    (the one entry the engine reads; the dbt model lists every possible entry month)."""
    out: dict[Key, dict[date, StateCohort]] = {}
    for key, mem in memory.items():
        if mem.soft.state in COHORT_STATES and mem.soft.since is not None:
            out[key] = {mem.soft.since: measures.state_cohort(key[0], key[1], mem.soft.since, month)}
    return out


def booking_weights(
    shares: Mapping[Key, float], volumes: Mapping[int, float], capacity: Mapping[Key, float | None]
) -> dict[Key, float]:
    """Each provider's expected referrals in its area from the allocation (capped by capacity)."""
    if not shares:
        return {}
    frame = pd.DataFrame([{"provider_id": p, "tender_area": a, "share": s} for (p, a), s in shares.items()])
    providers = allocate(frame, volumes, capacity).providers
    return {
        (str(p), int(a)): float(e)
        for p, a, e in providers[["provider_id", "tender_area", "expected_referrals"]].itertuples(index=False)
    }
