"""A month of decisions end to end (both models, reason sentences, overrides, carried memory),
the mart rows the decision reads, and the back-test driver's as-of discipline and metrics."""

import math
from collections import Counter
from dataclasses import replace
from datetime import date, datetime

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from pipeline.decisions import (
    DECISION_COLUMNS,
    DecisionInputError,
    HardMemory,
    HardState,
    LiftCohort,
    Model,
    MonthInput,
    Override,
    OverrideError,
    ProviderMemory,
    ProviderMonth,
    SoftMemory,
    SoftState,
    backtest,
    decide_month,
    decisions_frame,
    load_rules,
    load_templates,
    make_override,
    memory_from_frame,
    overrides_frame,
    overrides_from_frame,
    primary_rows,
    primary_rows_by_month,
)
from pipeline.decisions.evidence import Evidence
from pipeline.errors import ConfigError
from pipeline.stats import classify_evidence, load_stats_config

# Hand-made labels (a build takes them from dim_measures).
RULES = load_rules(measure_labels={"has_result": "Resultatandel", "fit_within_6m": "Andel raskmeldt"})
TEMPLATES = load_templates()
FUNNEL = load_stats_config().funnel
JAN, FEB, MAR, APR = (date(2024, m, 1) for m in (1, 2, 3, 4))


def pm(
    month: date, provider: str, n: int, successes: int, area_rate: float = 0.31, **kw: object
) -> ProviderMonth:
    """A provider row of area 1 with its Wilson interval as the mart computes it (statsmodels)."""
    low, high = proportion_confint(successes, n, method="wilson") if n else (None, None)
    values = {
        "area_rate": area_rate,
        "area_rate_excl_provider": area_rate,
        "wilson_low": low,
        "wilson_high": high,
    }
    values |= kw
    if "z_score" not in values and n and area_rate is not None:
        values["z_score"] = (successes - n * area_rate) / math.sqrt(n * area_rate * (1 - area_rate))
    if "evidence" not in values:  # as the statistics step classifies it, upstream of the decisions
        z = values.get("z_score")
        values["evidence"] = str(classify_evidence([math.nan if z is None else z], [n], FUNNEL)[0])
    return ProviderMonth(
        month, provider, 1, "has_result", n, successes, successes / n if n else None, **values
    )  # type: ignore[arg-type]


def decide(month: date, rows: list[ProviderMonth], memory: dict | None = None, **kw: object):
    return decide_month(MonthInput(month, rows, **kw), memory or {}, RULES, TEMPLATES)  # type: ignore[arg-type]


def by_model(rows: list, model: Model):
    return next(r for r in rows if r.model == model.value)


def test_the_soft_reason_sentence_shows_the_numbers() -> None:
    memory = {
        ("P01", 1): ProviderMemory(SoftMemory(SoftState.GREEN, below_streak=1, evidence=Evidence.WARNING))
    }
    soft = by_model(decide(FEB, [pm(FEB, "P01", 88, 16)], memory).rows, Model.SOFT)
    assert (soft.previous_state, soft.proposed_state, soft.evidence) == ("GREEN", "YELLOW", "warning")
    # 16/88 = 18.18 %, Wilson 11.51-27.51 %, z = (16 - 88 x 0.31) / sqrt(88 x 0.31 x 0.69) = -2.60:
    # below the 95 % limit (z = -1.96), not the 99.8 % one; the funnel moved the state
    assert soft.reason == (
        "Tragtplot: Resultatandel 18,2 % (95 %-interval 11,5–27,5 %) mod områdets 31,0 % uden "
        "leverandøren, n = 88, z = -2,60: under 95 %-grænsen (z = -1,96) for anden måned i træk – "
        "skærpet opfølgning (var normal)."
    )
    assert soft.rule_version == RULES.rule_version
    assert soft.share == 1.0 and soft.state_label == "Skærpet opfølgning"


def test_the_adjusted_sentence_names_the_risk_adjusted_rate() -> None:
    row = pm(JAN, "P01", 120, 20, z_score=-3.5, adjustment_status="adjusted", risk_adjusted_rate=0.201)
    soft = by_model(decide(JAN, [row]).rows, Model.SOFT)
    assert (soft.evidence, soft.evidence_basis, soft.state) == ("alarm", "adjusted", "YELLOW")
    assert "risikojusteret 20,1 %" in soft.reason
    assert soft.reason.startswith("Tragtplot: ")
    assert (
        "n = 120, z = -3,50: under 99,8 %-grænsen (z = -3,09) – skærpet opfølgning (var normal)."
        in soft.reason
    )


class RecordingCohorts:
    """A cohort source that answers from a table and records what it was asked."""

    def __init__(self, cohorts: dict[tuple[str, int, date], LiftCohort]) -> None:
        self.cohorts, self.asked = cohorts, []

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        self.asked.append((provider_id, tender_area, stop_month, measure))
        return self.cohorts.get((provider_id, tender_area, stop_month), LiftCohort())


def test_the_hard_model_stops_then_holds_then_lifts_with_its_reasons() -> None:
    jan = decide(JAN, [pm(JAN, "P01", 50, 10)])  # 20 % < 0.8 x 31 % = 24.8 %
    hard = by_model(jan.rows, Model.HARD)
    assert (hard.state, hard.share, hard.stop_month) == ("STOP", 0.0, JAN)
    assert hard.reason.endswith(
        "under 80 % af områdets niveau (grænse 24,8 %; antaget tærskel) – bookingstop."
    )
    cohorts = RecordingCohorts({("P01", 1, JAN): LiftCohort(30, 8, 4)})
    feb = decide(FEB, [pm(FEB, "P01", 50, 20)], jan.memory, cohorts=cohorts)
    hard = by_model(feb.rows, Model.HARD)
    assert cohorts.asked == [("P01", 1, JAN, "has_result")]
    assert (hard.state, hard.cohort_ongoing_at_stop, hard.cohort_closed, hard.cohort_with_result) == (
        "STOP",
        30,
        8,
        4,
    )
    assert hard.reason == (
        "Bookingstop siden januar 2024: af de 30 forløb, der var i gang ved stoppet, har 4 fået registreret "
        "et resultat, og 4 er afsluttet uden (50,0 %); ophævelse kræver mindst 10 vurderede og en "
        "resultatandel på mindst 24,8 % (antaget tærskel: 80 % af områdets niveau) – fortsat bookingstop."
    )
    mar = decide(
        MAR,
        [pm(MAR, "P01", 50, 20)],
        feb.memory,
        cohorts=RecordingCohorts({("P01", 1, JAN): LiftCohort(30, 12, 4)}),
    )
    hard = by_model(mar.rows, Model.HARD)
    assert (hard.previous_state, hard.state, hard.reason_code, hard.stop_month) == (
        "STOP",
        "OPEN",
        "stop_lift",
        None,
    )
    assert (
        "har 4 fået registreret et resultat, og 8 er afsluttet uden (33,3 %, grænse 24,8 %; antaget "
        "tærskel: 80 % af områdets niveau) – bookingstoppet ophæves, åben." in hard.reason
    )


def test_insufficient_and_no_comparator_say_so() -> None:
    rows = decide(JAN, [pm(JAN, "P01", 12, 0), pm(JAN, "P02", 40, 10, area_rate=None)]).rows
    assert {(r.provider_id, r.model): r.reason_code for r in rows} == {
        ("P01", "soft"): "insufficient",
        ("P01", "hard"): "insufficient",
        ("P02", "soft"): "no_comparator",
        ("P02", "hard"): "no_comparator",
    }
    p01 = by_model(rows, Model.SOFT)
    assert p01.reason == (
        "For få forløb i grundlaget til en vurdering af resultatandel (n = 12, mindst 20) – uændret normal."
    )


def test_a_provider_without_a_row_this_month_keeps_its_state() -> None:
    memory = {
        ("P02", 1): ProviderMemory(
            SoftMemory(SoftState.ORANGE, evidence=Evidence.ALARM),
            HardMemory(HardState.STOP, JAN, Evidence.BELOW),
        )
    }
    rows = decide(FEB, [pm(FEB, "P01", 50, 15)], memory).rows
    p02 = [r for r in rows if r.provider_id == "P02"]
    assert [(r.model, r.state, r.evidence, r.n) for r in p02] == [
        ("soft", "ORANGE", "insufficient", 0),
        ("hard", "STOP", "insufficient", 0),
    ]


def _override(state: str, month: date = JAN, provider: str = "P01", model: str | None = None) -> Override:
    return make_override(
        month=month,
        provider_id=provider,
        tender_area=1,
        state=state,
        model=model,
        decided_by="AB",
        decided_at=datetime(2024, 2, 5, 10, 0),
        reason="Handlingsplan aftalt på mødet",
        area=RULES.area(1),
    )


def test_an_override_is_kept_beside_the_proposal_and_next_month_starts_from_it() -> None:
    rows = [pm(JAN, "P01", 100, 15)]  # an alarm: soft proposes YELLOW, hard proposes STOP
    jan = decide(JAN, rows, overrides=[_override("green"), _override("Åben")])
    soft, hard = by_model(jan.rows, Model.SOFT), by_model(jan.rows, Model.HARD)
    assert (soft.proposed_state, soft.state, soft.share, soft.override_state) == (
        "YELLOW",
        "GREEN",
        1.0,
        "GREEN",
    )
    assert (soft.override_by, soft.override_at, soft.override_reason) == (
        "AB",
        datetime(2024, 2, 5, 10, 0),
        "Handlingsplan aftalt på mødet",
    )
    assert (hard.proposed_state, hard.state, hard.stop_month) == ("STOP", "OPEN", None)
    feb = decide(FEB, [pm(FEB, "P01", 100, 30)], jan.memory)
    assert [(r.previous_state, r.state) for r in feb.rows] == [("GREEN", "GREEN"), ("OPEN", "OPEN")]


def test_a_stop_decided_by_a_person_starts_its_lift_cohort_that_month() -> None:
    jan = decide(JAN, [pm(JAN, "P01", 100, 30)], overrides=[_override("STOP")])
    assert by_model(jan.rows, Model.HARD).state == "STOP"
    cohorts = RecordingCohorts({})
    feb = decide(FEB, [pm(FEB, "P01", 100, 30)], jan.memory, cohorts=cohorts)
    assert by_model(feb.rows, Model.HARD).state == "STOP"
    assert cohorts.asked == [("P01", 1, JAN, "has_result")]


def test_override_mistakes_are_refused_with_a_reason() -> None:
    with pytest.raises(OverrideError, match="needs a reason"):
        make_override(
            month=JAN,
            provider_id="P01",
            tender_area=1,
            state="RED",
            decided_by="AB",
            reason=" ",
            area=RULES.area(1),
        )
    with pytest.raises(OverrideError, match=r"unknown state 'purple'; use one of: GREEN \(Normal\)"):
        _override("purple")
    with pytest.raises(OverrideError, match="ambiguous"):
        _override("Bookingstop")
    assert (_override("Bookingstop", model="hard").model, _override("Bookingstop", model="hard").state) == (
        Model.HARD,
        "STOP",
    )
    assert (_override("reduceret booking").model, _override("reduceret booking").state) == (
        Model.SOFT,
        "ORANGE",
    )
    with pytest.raises(OverrideError, match=r"no decision in 2024-01 for provider/area \[\('P09', 1\)\]"):
        decide(JAN, [pm(JAN, "P01", 100, 30)], overrides=[_override("RED", provider="P09")])
    with pytest.raises(OverrideError, match="two overrides"):
        decide(JAN, [pm(JAN, "P01", 100, 30)], overrides=[_override("RED"), _override("ORANGE")])


def test_overrides_round_trip_through_their_table_and_the_latest_wins() -> None:
    first, second = _override("ORANGE"), replace(_override("RED"), decided_at=datetime(2024, 2, 6, 9, 0))
    frame = overrides_frame([second, first])
    assert set(frame.columns) == set(Override.__dataclass_fields__)  # every field is stored
    assert overrides_from_frame(frame) == [second]


def _six_months() -> list[MonthInput]:
    """Two providers over six months: P01 slides and recovers, P02 is steady, P03 arrives late."""
    counts = {
        "P01": [30, 15, 16, 14, 31, 33],
        "P02": [30, 31, 29, 30, 32, 30],
        "P03": [None, None, 5, 18, 30, 40],
    }
    months = [date(2024, m, 1) for m in range(1, 7)]
    inputs = []
    for i, month in enumerate(months):
        rows = [pm(month, p, 100, c[i]) for p, c in counts.items() if c[i] is not None]
        inputs.append(MonthInput(month, rows, volumes={1: 20.0}))
    return inputs


def test_memory_rebuilt_from_the_stored_rows_gives_the_same_decisions() -> None:
    direct = backtest(_six_months(), RULES, TEMPLATES).decisions
    stored, frames = {}, []
    for month_input in _six_months():
        rows = decisions_frame(decide_month(month_input, stored, RULES, TEMPLATES).rows)
        frames.append(rows)
        stored = memory_from_frame(rows)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), direct)
    assert backtest(_six_months(), RULES, TEMPLATES).memory == memory_from_frame(frames[-1])
    assert list(direct.columns) == list(DECISION_COLUMNS)


def test_the_back_test_never_lets_a_later_month_change_an_earlier_decision() -> None:
    inputs = _six_months()
    before = backtest(inputs, RULES, TEMPLATES).decisions
    changed = inputs[:3] + [replace(m, rows=[replace(r, successes=0) for r in m.rows]) for m in inputs[3:]]
    after = backtest(changed, RULES, TEMPLATES).decisions
    early = before["month"] < date(2024, 4, 1)
    pd.testing.assert_frame_equal(after[after["month"] < date(2024, 4, 1)], before[early])
    assert not after[~early].equals(
        before[~early].reset_index(drop=True)
    )  # the change did reach later months


def test_back_test_metrics_equal_a_plain_count_of_the_rows() -> None:
    result = backtest(_six_months(), RULES, TEMPLATES)
    rows = result.decisions.to_dict("records")
    expected_states = Counter((r["model"], r["state"]) for r in rows)
    assert {
        (m, s): n for m, s, n in result.states[["model", "state", "provider_months"]].itertuples(index=False)
    } == expected_states
    for model in ("soft", "hard"):
        mine = [r for r in rows if r["model"] == model]
        changes = sum(1 for r in mine if pd.notna(r["previous_state"]) and r["previous_state"] != r["state"])
        summary = result.summary.set_index("model").loc[model]
        assert (summary["provider_months"], summary["state_changes"], summary["months"]) == (
            len(mine),
            changes,
            6,
        )
        assert changes > 0


def test_referrals_moved_by_hand() -> None:
    """Area 1, 10 referrals a month, two providers without capacity (equal weights). P01 goes
    ORANGE (share 0.5) in the soft model: it gets 0.5/1.5 x 10 = 3.33 instead of 5, so 1.67
    move; the hard model stops it: all 5 of its referrals move."""
    memory = {("P01", 1): ProviderMemory(SoftMemory(SoftState.YELLOW, evidence=Evidence.ALARM))}
    month = MonthInput(JAN, [pm(JAN, "P01", 100, 10), pm(JAN, "P02", 100, 31)], volumes={1: 10.0})
    summary = backtest([month], RULES, TEMPLATES, memory).summary.set_index("model")
    assert summary.loc["soft", "referrals_moved"] == pytest.approx(5 - 10 / 3)
    assert summary.loc["hard", "referrals_moved"] == pytest.approx(5.0)
    no_volume = backtest([replace(month, volumes={})], RULES, TEMPLATES, memory).summary
    assert no_volume["referrals_moved"].isna().all()  # unknown, not zero


def test_back_test_months_must_follow_each_other() -> None:
    inputs = _six_months()
    with pytest.raises(DecisionInputError, match="2024-04 came after 2024-02"):
        backtest([inputs[0], inputs[1], inputs[3]], RULES, TEMPLATES)
    with pytest.raises(DecisionInputError, match="no months"):
        backtest([], RULES, TEMPLATES)


def _mart() -> pd.DataFrame:
    rows = []
    for as_of in ("2024-01-31", "2024-02-29"):
        for area, measure in [
            (1, "has_result"),
            (1, "fit_within_6m"),
            (2, "has_result"),
            (2, "fit_within_6m"),
        ]:
            rows.append(
                {
                    "as_of_month": pd.Timestamp(as_of),
                    "provider_id": "P01",
                    "tender_area": area,
                    "measure": measure,
                    "n": 40,
                    "successes": 12,
                    "rate": 0.3,
                    "wilson_low": 0.18,
                    "wilson_high": 0.45,
                    "area_rate": 0.3,
                    "area_rate_excl_provider": 0.29,
                    "expected": float("nan"),
                    "z_score": float("nan"),
                    "adjustment_status": None,
                    "risk_adjusted_rate": float("nan"),
                }
            )
    return pd.DataFrame(rows)


def test_primary_rows_pick_each_areas_primary_measure_of_the_month() -> None:
    rows = primary_rows(_mart(), RULES, date(2024, 2, 1))
    assert sorted((r.tender_area, r.measure, r.month) for r in rows) == [
        (1, "has_result", date(2024, 2, 1)),
        (2, "fit_within_6m", date(2024, 2, 1)),
    ]
    assert all(r.z_score is None and r.expected is None for r in rows)  # NaN reads as missing
    assert isinstance(rows[0].n, int) and isinstance(rows[0].tender_area, int)


def test_primary_rows_refuse_an_incomplete_or_duplicated_mart() -> None:
    with pytest.raises(DecisionInputError, match=r"lacks the column.*area_rate_excl_provider"):
        primary_rows(_mart().drop(columns="area_rate_excl_provider"), RULES, date(2024, 2, 1))
    mart = _mart()
    february = mart[mart["as_of_month"] == pd.Timestamp("2024-02-29")]
    with pytest.raises(DecisionInputError, match="more than one row for 2024-02"):
        primary_rows(pd.concat([mart, february]), RULES, date(2024, 2, 1))
    with pytest.raises(ConfigError, match="no rules for tender area 5"):
        primary_rows(mart.assign(tender_area=5), RULES, date(2024, 2, 1))


def test_the_dbt_names_of_the_wilson_interval_are_understood() -> None:
    mart = _mart().rename(columns={"wilson_low": "rate_low", "wilson_high": "rate_high"})
    rows = primary_rows(mart, RULES, date(2024, 1, 1))
    assert {(r.wilson_low, r.wilson_high) for r in rows} == {(0.18, 0.45)}


def test_primary_rows_by_month_gives_every_month_once() -> None:
    by_month = primary_rows_by_month(_mart(), RULES)
    assert list(by_month) == [date(2024, 1, 1), date(2024, 2, 1)]
    assert [len(rows) for rows in by_month.values()] == [2, 2]
    assert primary_rows(_mart(), RULES, date(2024, 3, 1)) == []
