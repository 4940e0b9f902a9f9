"""The measure and evidence parameters: dbt vars of dbt_project.yml, their one home.

min_n, the funnel levels and limit method, the overdispersion rule, the interval level, each
tender area's primary measure and the booking-volume window decide what a provider's evidence
is and what the decisions read. They are dbt vars so that one `--vars '{min_n: 30}'` on a build
changes below_min_n, the evidence class (the risk model gets them from its yml config) and the
decisions (which read them back from the build's dim_parameters) together.

Python code outside a build (the stats library's defaults, the benchmark, the tests) reads the
defaults from dbt_project.yml; inside a build the values come from the build itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import ConfigError

PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"
# The nested vars, flattened in dim_parameters as `<var>.<key>` rows.
SEPARATOR = "."


class _Lax(BaseModel):
    """Values may arrive as text (dim_parameters, a rendered dbt config): "20" is 20."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Overdispersion(_Lax):
    mode: Literal["auto", "always", "never"]
    trigger_p: float = Field(gt=0, lt=1)
    winsorise: float = Field(ge=0, lt=0.5)
    min_providers: int = Field(ge=2)


class MeasureParameters(_Lax):
    """The dbt vars that judge a provider (names exactly as in dbt_project.yml)."""

    min_n: int = Field(ge=1)
    funnel_warning_level: float = Field(gt=0, lt=1)
    funnel_alarm_level: float = Field(gt=0, lt=1)
    funnel_limits: Literal["exact", "normal"]
    overdispersion: Overdispersion
    comparison_interval_level: float = Field(gt=0, lt=1)
    primary_measures: dict[int, str]
    booking_volume_months: int = Field(ge=1)

    @model_validator(mode="after")
    def _alarm_beyond_warning(self) -> MeasureParameters:
        if self.funnel_alarm_level <= self.funnel_warning_level:
            raise ValueError(
                f"funnel_alarm_level ({self.funnel_alarm_level}) must be above "
                f"funnel_warning_level ({self.funnel_warning_level})"
            )
        return self


@cache
def dbt_var_defaults() -> dict[str, Any]:
    """The vars of dbt_project.yml as written there (a build may override them with --vars)."""
    try:
        project = yaml.safe_load(PROJECT_FILE.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the dbt vars of {PROJECT_FILE}: {exc}") from None
    return dict(project["vars"])


def unflatten(rows: Mapping[str, Any]) -> dict[str, Any]:
    """dim_parameters' rows ({'overdispersion.mode': 'auto', ...}) as nested vars."""
    out: dict[str, Any] = {}
    for name, value in rows.items():
        head, _, key = name.partition(SEPARATOR)
        if key:
            out.setdefault(head, {})[key] = value
        else:
            out[head] = value
    return out


def measure_parameters(values: Mapping[str, Any] | str | None = None) -> MeasureParameters:
    """The measure parameters from `values` (dbt vars, dim_parameters rows, or their JSON as a
    dbt config passes them); without values, the defaults of dbt_project.yml."""
    if values is None:
        values = dbt_var_defaults()
    if isinstance(values, str):
        values = json.loads(values)
    try:
        return MeasureParameters.model_validate(unflatten(values))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(
            f"invalid measure parameters (dbt vars of {PROJECT_FILE.name}): {problems}"
        ) from None
