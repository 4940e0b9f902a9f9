"""YELLOW's action plan (decisions.md): the decision row says whether the state in force needs a
written action plan (handlingsplan), as rules.yaml's states say, also when a person decided it."""

from datetime import date

from pipeline.decisions import Model, ProviderMemory, SoftMemory, SoftState, make_override
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
