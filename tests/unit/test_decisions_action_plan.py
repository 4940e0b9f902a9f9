"""YELLOW's action plan (decisions.md): the decision row says whether the state in force needs a
written action plan (handlingsplan), as rules.yaml's states say, also when a person decided it."""

from datetime import date, datetime

import pytest

from pipeline.decisions import (
    Model,
    OverrideError,
    ProviderMemory,
    SoftMemory,
    SoftState,
    decisions_frame,
    make_override,
    memory_from_frame,
)
from pipeline.decisions.evidence import Evidence
from tests.unit.test_decisions_engine import RULES, by_model, decide, pm

FEB = date(2024, 2, 1)


def test_the_row_says_an_action_plan_is_required_exactly_in_the_states_the_rules_name() -> None:
    area = RULES.area(1)
    needs = {s.value for s in SoftState if area.states(Model.SOFT)[s.value].action_plan}
    assert needs == {"YELLOW"}
    seen = set()
    for state in SoftState:
        memory = {("P01", 1): ProviderMemory(SoftMemory(state, evidence=Evidence.OK))}
        rows = decide(FEB, [pm(FEB, "P01", 50, 15)], memory).rows  # ok: no step in one month
        soft, hard = by_model(rows, Model.SOFT), by_model(rows, Model.HARD)
        assert soft.action_plan_required == (soft.state in needs)
        assert not hard.action_plan_required
        seen.add((soft.state, soft.action_plan_required))
    assert ("YELLOW", True) in seen and ("GREEN", False) in seen


def test_a_yellow_decided_by_a_person_requires_the_plan() -> None:
    override = make_override(
        month=FEB,
        provider_id="P01",
        tender_area=1,
        state="YELLOW",
        decided_by="tester",
        reason="Aftalt på mødet",
        area=RULES.area(1),
    )
    rows = decide(FEB, [pm(FEB, "P01", 50, 15)], overrides=(override,)).rows
    soft = by_model(rows, Model.SOFT)
    assert (soft.proposed_state, soft.state, soft.action_plan_required) == ("GREEN", "YELLOW", True)


MAR, APR = date(2024, 3, 1), date(2024, 4, 1)


def _plan_override(state: str = "YELLOW", received: object = "2024-02-20", **kw: object):
    return make_override(
        month=FEB,
        provider_id="P01",
        tender_area=1,
        state=state,
        decided_by="tester",
        reason="Handlingsplanen er modtaget",
        area=RULES.area(1),
        action_plan_received=received,
        decided_at=kw.pop("decided_at", datetime(2024, 2, 28, 10, 0)),
        **kw,
    )


def test_an_override_records_the_day_the_action_plan_was_received() -> None:
    override = _plan_override()
    assert override.action_plan_received == date(2024, 2, 20)
    assert _plan_override(received=date(2024, 2, 28)).action_plan_received == date(2024, 2, 28)
    assert _plan_override(received=None).action_plan_received is None


@pytest.mark.parametrize(
    ("state", "received", "message"),
    [
        ("GREEN", "2024-02-20", "only a state that requires an action plan"),
        ("RED", "2024-02-20", "only a state that requires an action plan"),
        ("YELLOW", "20-02-2024", "YYYY-MM-DD"),
        ("YELLOW", "2024-02-30", "YYYY-MM-DD"),
        ("YELLOW", "2024-03-01", "after the override was decided"),
    ],
)
def test_a_received_action_plan_is_validated(state: str, received: str, message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        _plan_override(state=state, received=received)


def test_the_received_plan_is_on_the_row_and_carried_while_the_state_stays() -> None:
    """February: a person decides YELLOW and records the plan; March stays YELLOW (one ok month
    does not step down) and still shows the plan as received, also through the stored rows;
    when the state changes, the new state's plan is not received yet."""
    rows = decide(FEB, [pm(FEB, "P01", 50, 15)], overrides=(_plan_override(),))
    soft = by_model(rows.rows, Model.SOFT)
    assert (soft.state, soft.action_plan_received) == ("YELLOW", date(2024, 2, 20))
    assert by_model(rows.rows, Model.HARD).action_plan_received is None
    march = decide(MAR, [pm(MAR, "P01", 50, 15)], rows.memory)
    stored = memory_from_frame(decisions_frame(rows.rows))
    again = decide(MAR, [pm(MAR, "P01", 50, 15)], stored)
    for month in (march, again):
        soft = by_model(month.rows, Model.SOFT)
        assert (soft.state, soft.action_plan_received) == ("YELLOW", date(2024, 2, 20))
    april = decide(APR, [pm(APR, "P01", 50, 15)], march.memory)  # second ok month: GREEN
    soft = by_model(april.rows, Model.SOFT)
    assert soft.state == "GREEN" and soft.action_plan_received is None
    # a YELLOW entered again later needs a new plan
    memory = {("P01", 1): ProviderMemory(SoftMemory(SoftState.GREEN, evidence=Evidence.OK))}
    yellow = decide(FEB, [pm(FEB, "P01", 50, 15)], memory, overrides=(_plan_override(received=None),))
    assert by_model(yellow.rows, Model.SOFT).action_plan_received is None
