"""The rule file (rules.yaml) and the sentence templates (reasons.yaml): the shipped files carry
decisions.md's defaults, and a bad file fails with one line naming the file and the key."""

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.decisions import MonthInput, ProviderMonth, decide_month, decisions_frame, memory_from_frame
from pipeline.decisions.reasons import TEMPLATES_FILE, load_templates
from pipeline.decisions.rules import RULES_FILE, Model, load_rules
from pipeline.errors import ConfigError
from pipeline.parameters import dbt_var_defaults, measure_parameters

# Hand-made labels (a build takes them from dim_measures).
LABELS = {"has_result": "Resultatandel", "fit_within_6m": "Andel raskmeldt"}


def test_shipped_rules_carry_the_defaults_of_decisions_md() -> None:
    rules = load_rules()
    assert {a: r.primary_measure for a, r in rules.areas.items()} == {
        1: "has_result",
        2: "fit_within_6m",
        3: "has_result",
        4: "has_result",
    }
    for area in rules.areas.values():
        assert area.min_n == 20
        assert area.hard.stop_ratio == 0.8
        assert area.hard.min_lift_n == 10
        assert area.soft.recover_months == 2
        assert area.soft.warning_up_to == "RED"  # warnings alone can reach a booking stop
        assert (area.evidence.warning_level, area.evidence.alarm_level) == (0.95, 0.998)
        soft = {
            s: (area.label(Model.SOFT, s), area.share(Model.SOFT, s))
            for s in ("GREEN", "YELLOW", "ORANGE", "RED")
        }
        assert soft == {
            "GREEN": ("Normal", 1.0),
            "YELLOW": ("Skærpet opfølgning", 1.0),
            "ORANGE": ("Reduceret booking", 0.5),
            "RED": ("Bookingstop", 0.0),
        }
        assert area.soft.states.YELLOW.action_plan
        assert (area.share(Model.HARD, "OPEN"), area.share(Model.HARD, "STOP")) == (1.0, 0.0)


def test_rule_version_is_a_short_sha256_of_the_file_bytes_the_parameters_and_the_reasons(
    tmp_path: Path,
) -> None:
    """sha256 over the file's bytes, a NUL, the parameters as sorted JSON, a NUL and the reason
    sentences' bytes (reasons.yaml), computed here."""
    text = RULES_FILE.read_bytes()
    defaults = dbt_var_defaults()
    names = ("min_n", "funnel_warning_level", "funnel_alarm_level", "funnel_limits", "overdispersion")
    params = {n: defaults[n] for n in names} | {
        "comparison_interval_level": defaults["comparison_interval_level"],
        "primary_measures": {str(k): v for k, v in defaults["primary_measures"].items()},
        "booking_volume_months": defaults["booking_volume_months"],
    }
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":")).encode()
    reasons = TEMPLATES_FILE.read_bytes()
    expected = hashlib.sha256(text + b"\0" + canonical + b"\0" + reasons).hexdigest()[:12]
    assert load_rules().rule_version == expected
    edited = tmp_path / "rules.yaml"
    edited.write_bytes(text + b"\n# a comment is an edit too\n")
    assert load_rules(edited).rule_version != load_rules().rule_version


@pytest.mark.parametrize(
    "change", [{"min_n": 30}, {"funnel_warning_level": 0.9}, {"funnel_alarm_level": 0.999}]
)
def test_a_build_with_other_decision_parameters_has_another_rule_version(change: dict[str, Any]) -> None:
    """The same rule file decided on a build with another min_n or funnel level decides
    differently, so its decisions must not carry the same version."""
    shipped = load_rules()
    other = load_rules(parameters=measure_parameters({**dbt_var_defaults(), **change}))
    assert other.rule_version != shipped.rule_version
    assert json.loads(other.parameters_text)[next(iter(change))] == next(iter(change.values()))
    # the same values as text (dim_parameters' rows) give the same version as typed values
    as_text = {**dbt_var_defaults(), **{k: str(v) for k, v in change.items()}}
    assert load_rules(parameters=measure_parameters(as_text)).rule_version == other.rule_version


def test_the_rule_file_names_the_models_and_not_the_measures() -> None:
    """The models' one Danish name is in rules.yaml; the measures' labels are dim_measures'."""
    shipped = _shipped()
    assert "measures" not in shipped
    rules = load_rules()
    assert (rules.model_name(Model.SOFT), rules.model_name("hard")) == (
        shipped["model_names"]["soft"],
        shipped["model_names"]["hard"],
    )
    with pytest.raises(ConfigError, match="no Danish label for the measure 'has_result'"):
        rules.measure_label("has_result")
    labelled = load_rules(measure_labels={"has_result": "Registreret resultat", "fit_within_6m": "Rask"})
    assert labelled.measure_label("has_result") == "Registreret resultat"


def test_every_model_needs_its_one_name(tmp_path: Path) -> None:
    data = _shipped()
    data["model_names"].pop("hard")
    with pytest.raises(ConfigError, match=r"model_names\.hard"):
        load_rules(_write(tmp_path, data))


def _shipped() -> dict[str, Any]:
    return yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_an_area_section_overrides_only_what_it_names(tmp_path: Path) -> None:
    data = _shipped()
    data["areas"][3]["soft"] = {"states": {"ORANGE": {"share": 0.25}}}
    rules = load_rules(_write(tmp_path, data))
    assert rules.area(3).share(Model.SOFT, "ORANGE") == 0.25
    assert rules.area(3).label(Model.SOFT, "ORANGE") == "Reduceret booking"  # merged, not replaced
    assert rules.area(3).soft.recover_months == 2
    assert rules.area(1).min_n == 20 and rules.area(1).share(Model.SOFT, "ORANGE") == 0.5


def _warning_month(month: date, **kw: Any) -> ProviderMonth:
    """Area 1's P01 below the 95 % limit (z = -2,60), not the 99,8 % one."""
    values: dict[str, Any] = {"area_rate": 0.31, "area_rate_excl_provider": 0.31, "z_score": -2.6}
    values |= {"evidence": "warning"} | kw
    return ProviderMonth(month, "P01", 1, "has_result", 88, 16, 16 / 88, **values)


def _soft_rows(rules, months: list[ProviderMonth]) -> list:
    """Model B's rows month by month, each month deciding from the stored rows of the last."""
    templates, stored, soft = load_templates(), {}, []
    for row in months:
        decided = decide_month(MonthInput(row.month, [row]), stored, rules, templates).rows
        stored = memory_from_frame(decisions_frame(decided))
        soft += [r for r in decided if r.model == Model.SOFT.value]
    return soft


CAPPED_TAIL = (
    "flere måneder under 95 %-grænsen fører ikke videre end skærpet opfølgning; først en måned "
    "under 99,8 %-grænsen giver reduceret booking."
)


def test_warning_up_to_is_read_per_area_and_decides_through_the_stored_rows(tmp_path: Path) -> None:
    """An area set to `warning_up_to: YELLOW` keeps a provider below the warning limit month
    after month in YELLOW, with a sentence that says only a month below the alarm limit goes
    further; the other areas keep decisions.md's rule."""
    data = _shipped()
    data["areas"][1]["soft"] = {"warning_up_to": "YELLOW"}
    rules = load_rules(_write(tmp_path, data), measure_labels=LABELS)
    assert (rules.area(1).soft.warning_up_to, rules.area(2).soft.warning_up_to) == ("YELLOW", "RED")
    soft = _soft_rows(rules, [_warning_month(date(2024, m, 1)) for m in range(1, 5)])
    assert [r.proposed_state for r in soft] == ["GREEN", "YELLOW", "YELLOW", "YELLOW"]
    assert [r.reason_code for r in soft][2:] == ["warning_capped"] * 2
    assert soft[3].reason.endswith(
        "under 95 %-grænsen (z = -1,96) for fjerde måned i træk – uændret skærpet opfølgning; " + CAPPED_TAIL
    )
    with pytest.raises(ConfigError, match=r"areas\.1\.soft\.warning_up_to"):
        data["areas"][1]["soft"] = {"warning_up_to": "GREEN"}
        load_rules(_write(tmp_path, data), measure_labels=LABELS)


def test_no_sentence_promises_a_step_that_warnings_cannot_make(tmp_path: Path) -> None:
    """With warnings capped at YELLOW, a first month below the limit in YELLOW (after an early
    warning, or a step down from ORANGE) and an early-warning signal in a first month below
    the limit both say that only an alarm goes further, not "one more month below"."""
    data = _shipped()
    data["areas"][1]["soft"] = {"warning_up_to": "YELLOW"}
    rules = load_rules(_write(tmp_path, data), measure_labels=LABELS)
    jan, feb, mar = (date(2024, m, 1) for m in (1, 2, 3))
    signal = {"cusum_signal": True, "cusum_s": 0.4, "cusum_h": 4.1}
    ok = {"evidence": "ok", "z_score": -1.0}
    months = [_warning_month(jan, **signal), _warning_month(feb, **ok), _warning_month(mar)]
    soft = _soft_rows(rules, months)
    assert [(r.proposed_state, r.reason_code) for r in soft] == [
        ("YELLOW", "early_warning_below"),
        ("YELLOW", "ok_counting"),
        ("YELLOW", "warning_capped"),
    ]
    for r in (soft[0], soft[2]):
        assert r.reason.endswith(CAPPED_TAIL), r.reason
        assert "endnu en måned" not in r.reason
    assert "for første måned; flere måneder" in soft[0].reason
    assert "(z = -1,96) – uændret skærpet opfølgning; flere" in soft[2].reason  # no "i træk"
    # decisions.md's rule (the shipped file): the same months wait one month for ORANGE
    shipped = _soft_rows(load_rules(measure_labels=LABELS), months)
    assert [r.reason_code for r in shipped] == ["early_warning_below", "ok_counting", "first_warning"]
    for r in (shipped[0], shipped[2]):
        assert r.reason.endswith("endnu en måned under grænsen giver reduceret booking."), r.reason


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    for p in parents:
        data = data.setdefault(p, {})
    data[last] = value


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("defaults.min_nn", 20, r"defaults\.min_nn: unknown key"),
        ("areas.2.soft.recover_month", 3, r"areas\.2\.soft\.recover_month: unknown key"),
        ("stop_ratio", 0.8, r"stop_ratio: unknown key"),
        (
            "defaults.soft.states.ORANGE.share",
            1.5,
            r"defaults\.soft\.states\.ORANGE\.share: .*less than or equal to 1.*1\.5",
        ),
        (
            "areas.4.soft.states.RED.share",
            -0.1,
            r"areas\.4\.soft\.states\.RED\.share: .*greater than or equal to 0",
        ),
        # The measure parameters are dbt vars (dbt_project.yml), no longer rule-file keys.
        ("defaults.min_n", 20, r"defaults\.min_n: unknown key"),
        ("areas.1.primary_measure", "has_result", r"areas\.1\.primary_measure: unknown key"),
        ("defaults.evidence.alarm_level", 0.998, r"defaults\.evidence: unknown key"),
        ("defaults.hard.stop_ratio", "0.8", r"defaults\.hard\.stop_ratio: .*valid number"),
        ("defaults.soft.states.RED.share", 0.7, r"defaults\.soft\.states: shares must not rise"),
    ],
)
def test_a_bad_rule_file_names_the_file_and_the_key(
    tmp_path: Path, path: str, value: Any, expected: str
) -> None:
    data = _shipped()
    _set(data, path, value)
    file = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_rules(file)
    message = str(caught.value)
    assert message.startswith(f"{file}: ")
    assert "\n" not in message


def test_a_missing_area_or_key_is_named(tmp_path: Path) -> None:
    data = _shipped()
    del data["areas"][4]
    with pytest.raises(ConfigError, match=r"areas: expected a section for each tender area \[1, 2, 3, 4\]"):
        load_rules(_write(tmp_path, data))
    data = _shipped()
    del data["defaults"]["hard"]["min_lift_n"]
    with pytest.raises(ConfigError, match=r"defaults\.hard\.min_lift_n: required key is missing"):
        load_rules(_write(tmp_path, data))


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the rule file"):
        load_rules(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ndefaults: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML at line \d"):
        load_rules(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_rules(listing)


def test_shipped_templates_load() -> None:
    templates = load_templates()
    assert "{measure_part}" in templates.soft["escalate"]


def _templates() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATES_FILE.read_text(encoding="utf-8"))


def test_templates_with_an_unknown_placeholder_or_a_missing_sentence_fail(tmp_path: Path) -> None:
    path = tmp_path / "reasons.yaml"
    data = _templates()
    data["soft"]["recover"] = "Nu {rate_pct} – {to_label}."
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"soft\.recover: unknown placeholder\(s\) \['rate_pct'\]"):
        load_templates(path)
    data = _templates()
    del data["hard"]["stop_lift"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hard: sentences missing \['stop_lift'\]"):
        load_templates(path)
    data = _templates()
    data["measure"] = "{measure_part} igen"  # the measure part cannot contain itself
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="measure: unknown placeholder"):
        load_templates(path)


def test_the_measure_parameters_come_from_the_dbt_vars() -> None:
    """min_n, the levels and the primary measures are dbt vars; a build's values (dim_parameters,
    text) lay over every area, and a bad one fails with one line naming the var."""
    values = {**dbt_var_defaults(), "min_n": "30", "funnel_warning_level": "0.9"}
    rules = load_rules(parameters=measure_parameters(values))
    assert {a.min_n for a in rules.areas.values()} == {30}
    assert {a.evidence.warning_level for a in rules.areas.values()} == {0.9}
    wrong = {**dbt_var_defaults(), "primary_measures": {1: "has_result", 2: "fit_in_6m", 3: "x", 4: "x"}}
    with pytest.raises(ConfigError, match=r"primary_measures\.2 \(dbt var\): 'fit_in_6m' is not a measure"):
        load_rules(parameters=measure_parameters(wrong), measure_labels={"has_result": "Resultat"})
    with pytest.raises(ConfigError, match=r"funnel_alarm_level \(0\.9\) must be above"):
        measure_parameters({**dbt_var_defaults(), "funnel_alarm_level": 0.9})
