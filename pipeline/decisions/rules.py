"""The decision rules (rules.yaml) as validated, immutable models.

The state machines of decisions.md (steps, shares, recover months, stop ratio, lift, labels)
are data in a versioned file, so a threshold changes without a code change and every decision
can name the exact rules that produced it (`rule_version`, a short hash of the file's bytes).
A bad file must stop `provmon decide` before any decision is written, with one line that names
the file, the key path and the problem.

The measure and evidence parameters (min_n, funnel levels, primary measure per area, booking
volume months) are not here: they are dbt vars (pipeline/parameters.py), and load_rules lays
the values of the build being decided (its dim_parameters) over every area's rules, so the
decision's reasons quote the same min_n and levels that classified the evidence."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.contract import load_contract
from pipeline.errors import ConfigError
from pipeline.parameters import MeasureParameters, measure_parameters

RULES_FILE = Path(__file__).with_name("rules.yaml")
# The reason sentences (reasons.py): the words a decision row carries are part of what produced
# it, so their bytes are in the rule version too.
REASONS_FILE = Path(__file__).with_name("reasons.yaml")
VERSION_DIGITS = 12


class SoftState(StrEnum):
    """Model B states (blid overgang), declared in escalation order."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    ORANGE = "ORANGE"
    RED = "RED"


class HardState(StrEnum):
    """Model A states (today's bookingstop)."""

    OPEN = "OPEN"
    STOP = "STOP"


class Model(StrEnum):
    SOFT = "soft"
    HARD = "hard"


SOFT_ORDER: tuple[SoftState, ...] = tuple(SoftState)

Share = Annotated[float, Field(ge=0, le=1)]
Level = Annotated[float, Field(gt=0, lt=1)]
Count = Annotated[int, Field(ge=1)]
Label = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    """Unknown keys and silently converted types are errors: a typo in a threshold name
    must not fall back to a default, and `min_n: "20"` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class StateRule(_Strict):
    label: Label
    share: Share
    action_plan: bool = False


class SoftStates(_Strict):
    GREEN: StateRule
    YELLOW: StateRule
    ORANGE: StateRule
    RED: StateRule

    @model_validator(mode="after")
    def _shares_fall_with_escalation(self) -> SoftStates:
        shares = [self[s].share for s in SOFT_ORDER]
        if any(later > earlier for earlier, later in pairwise(shares)):
            raise ValueError(f"shares must not rise from GREEN to RED, got {shares}")
        return self

    def __getitem__(self, state: SoftState) -> StateRule:
        return getattr(self, SoftState(state).value)


class HardStates(_Strict):
    OPEN: StateRule
    STOP: StateRule

    def __getitem__(self, state: HardState) -> StateRule:
        return getattr(self, HardState(state).value)


class EvidenceRule(_Strict):
    warning_level: Level
    alarm_level: Level

    @model_validator(mode="after")
    def _alarm_is_stricter(self) -> EvidenceRule:
        if self.alarm_level <= self.warning_level:
            raise ValueError(
                f"alarm_level ({self.alarm_level}) must be above warning_level ({self.warning_level})"
            )
        return self


class SoftRule(_Strict):
    recover_months: Count
    review_months: Count
    # The last state `warning` evidence alone steps up to; past it only `alarm` escalates.
    warning_up_to: Literal["YELLOW", "ORANGE", "RED"]
    states: SoftStates


class HardRule(_Strict):
    stop_ratio: Annotated[float, Field(gt=0, le=1)]
    min_lift_n: Count
    states: HardStates


class AllocationRule(_Strict):
    volume_months: Count


class _AreaSection(_Strict):
    """What rules.yaml says about one tender area, defaults merged in."""

    name: Label
    soft: SoftRule
    hard: HardRule


class AreaRules(_AreaSection):
    """Every parameter for one tender area: its rules.yaml section with the measure parameters
    of the build (dbt vars) laid over it."""

    primary_measure: Label
    min_n: Count
    evidence: EvidenceRule
    allocation: AllocationRule

    def label(self, model: Model, state: str) -> str:
        return self.states(model)[state].label

    def share(self, model: Model, state: str) -> float:
        return self.states(model)[state].share

    def action_plan(self, model: Model, state: str) -> bool:
        """Does the state require a written action plan (handlingsplan)? YELLOW by default."""
        return self.states(model)[state].action_plan

    def states(self, model: Model) -> SoftStates | HardStates:
        return self.soft.states if model == Model.SOFT else self.hard.states


def _area_parameters(parameters: MeasureParameters, area: int) -> dict[str, Any]:
    """The measure parameters of one tender area as AreaRules fields."""
    return {
        "primary_measure": parameters.primary_measures.get(area, ""),
        "min_n": parameters.min_n,
        "evidence": EvidenceRule(
            warning_level=parameters.funnel_warning_level, alarm_level=parameters.funnel_alarm_level
        ),
        "allocation": AllocationRule(volume_months=parameters.booking_volume_months),
    }


class ModelNames(_Strict):
    """The one Danish name of each booking model (soft = Model B, hard = Model A), which the
    decisions' messages, every report, workbook and the back-test report use."""

    soft: Label
    hard: Label

    def of(self, model: Model | str) -> str:
        """The name of a model given by its code (soft or hard)."""
        return str(getattr(self, Model(model).value))


class _RulesFile(_Strict):
    version: Count
    model_names: ModelNames
    defaults: dict[str, Any]
    areas: dict[int, dict[str, Any]]


class Rules(BaseModel):
    """The loaded rule file: per-area rules plus where they came from."""

    model_config = ConfigDict(frozen=True)

    file: Path
    version: int
    # Short sha256 of the file's bytes, the build's decision parameters (parameters_text) and
    # the reason sentences (reasons.yaml), recorded on every decision row: a changed threshold
    # here, a build with another min_n or funnel level, or a reworded reason gives a new version.
    rule_version: str
    parameters_text: str  # the decision parameters the version covers, as canonical JSON
    model_names: ModelNames
    areas: dict[int, AreaRules]
    # Danish label of each measure, from the build's dim_measures (their one home); empty when
    # the rules are loaded without a build.
    measures: dict[str, str]

    def area(self, tender_area: int) -> AreaRules:
        try:
            return self.areas[int(tender_area)]
        except KeyError:
            raise ConfigError(
                f"{self.file}: no rules for tender area {tender_area} (areas: {sorted(self.areas)})"
            ) from None

    def measure_label(self, measure: str) -> str:
        try:
            return self.measures[measure]
        except KeyError:
            raise ConfigError(f"dim_measures has no Danish label for the measure {measure!r}") from None

    def model_name(self, model: Model | str) -> str:
        """The model's one Danish name (rules.yaml model_names)."""
        return self.model_names.of(model)


def _merged(defaults: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """defaults with override laid over it, nested mappings merged key by key."""
    out = copy.deepcopy(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _problem(err: Any, prefix: tuple[str | int, ...]) -> str:
    """One pydantic error as 'key.path: what is wrong (got X)'."""
    loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
    where = f"{loc}: " if loc else ""
    if err["type"] == "extra_forbidden":
        return f"{where}unknown key"
    if err["type"] == "missing":
        return f"{where}required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = "" if err["type"] == "value_error" else f" (got {err['input']!r})"
    return f"{where}{msg}{got}"


def validated(model: type[BaseModel], data: Any, file: Path, prefix: tuple[str | int, ...] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(e, prefix) for e in exc.errors())
        raise ConfigError(f"{file}: {problems}") from None


def read_yaml(file: Path) -> tuple[bytes, Any]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the rule file ({exc.strerror})") from None
    try:
        return raw, yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{file}: not valid YAML{line}: {getattr(exc, 'problem', exc)}") from None


def _contract_areas() -> set[int]:
    """The tender areas the input contract allows (agreements.tender_area)."""
    column = load_contract().extracts["agreements"].column("tender_area")
    return set(range(int(column.min or 1), int(column.max or 1) + 1))


def parameters_text(parameters: MeasureParameters) -> str:
    """The decision parameters as canonical JSON (sorted keys, typed values), so the same
    values give the same text whether they came from dbt_project.yml or a build's
    dim_parameters."""
    return json.dumps(parameters.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def rule_version(raw: bytes, parameters: str, reasons: bytes = b"") -> str:
    """The version of the rules a decision used: the rule file's bytes, the parameters and the
    reason sentences' bytes (a row's reason changes with them, so its version must too)."""
    digest = hashlib.sha256(raw)
    digest.update(b"\0")
    digest.update(parameters.encode("utf-8"))
    digest.update(b"\0")
    digest.update(reasons)
    return digest.hexdigest()[:VERSION_DIGITS]


@cache
def model_names(file: Path = RULES_FILE) -> ModelNames:
    """The models' one Danish name each (rules.yaml model_names), for the reports and the
    back-test report, which name the models without deciding."""
    return load_rules(file).model_names


def load_rules(
    file: Path = RULES_FILE,
    parameters: MeasureParameters | None = None,
    measure_labels: Mapping[str, str] | None = None,
) -> Rules:
    """Read and validate a rule file; raise ConfigError with one clear line if it is bad.

    parameters: the measure parameters of the build being decided (dim_parameters); default
    the dbt vars of dbt_project.yml. measure_labels: the build's dim_measures labels, which the
    reasons quote (each area's primary measure must have one)."""
    file = Path(file)
    parameters = parameters or measure_parameters()
    labels = dict(measure_labels or {})
    raw, data = read_yaml(file)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping with version, model_names, defaults and areas")
    parsed: _RulesFile = validated(_RulesFile, data, file)
    validated(_AreaSection, {"name": "defaults", **parsed.defaults}, file, ("defaults",))
    sections = {
        area: validated(_AreaSection, _merged(parsed.defaults, section), file, ("areas", area))
        for area, section in parsed.areas.items()
    }
    areas = {
        area: AreaRules(**dict(section), **_area_parameters(parameters, area))
        for area, section in sections.items()
    }
    expected = _contract_areas()
    if set(areas) != expected:
        raise ConfigError(
            f"{file}: areas: expected a section for each tender area {sorted(expected)}, got {sorted(areas)}"
        )
    for area, rules in areas.items():
        if labels and rules.primary_measure not in labels:
            raise ConfigError(
                f"primary_measures.{area} (dbt var): {rules.primary_measure or 'missing'!r} is not a "
                f"measure of dim_measures (known: {', '.join(labels)})"
            )
    text = parameters_text(parameters)
    return Rules(
        file=file,
        version=parsed.version,
        rule_version=rule_version(raw, text, REASONS_FILE.read_bytes()),
        parameters_text=text,
        model_names=parsed.model_names,
        areas=areas,
        measures=labels,
    )
