"""Configuration of the risk adjustment and funnel plots, validated.

The model-fitting settings (covariates, minimum events, separation) are read from stats.yaml;
the thresholds that decide whether a provider is flagged (min_n, funnel levels and limit
method, overdispersion rule, interval level) are dbt vars (pipeline/parameters.py), so that a
build's --vars reach the risk model, the marts and the decisions alike. Both are data an analyst
can read and change in one reviewed place, never numbers buried in code."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy.stats import norm

from pipeline.errors import ConfigError
from pipeline.parameters import MeasureParameters, measure_parameters

STATS_CONFIG_FILE = Path(__file__).with_name("stats.yaml")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Covariate(_Strict):
    """A case-mix covariate; with `bands` a numeric one cut at those lower bounds."""

    bands: tuple[float, ...] | None = None

    @field_validator("bands")
    @classmethod
    def _increasing(cls, bands: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if bands is not None and (len(bands) == 0 or list(bands) != sorted(set(bands))):
            raise ValueError("bands must be a non-empty list of strictly increasing numbers")
        return bands


class Separation(_Strict):
    max_abs_coefficient: float = Field(10.0, gt=0)
    min_fitted_probability: float = Field(1e-6, gt=0, lt=0.5)


class ModelConfig(_Strict):
    min_events: int = Field(20, ge=1)
    min_non_events: int = Field(20, ge=1)
    min_events_per_parameter: float = Field(5.0, ge=0)
    min_level_events: int = Field(5, ge=0)
    max_iterations: int = Field(50, ge=1)
    separation: Separation = Separation()


class ComparisonConfig(_Strict):
    interval_level: float = Field(0.95, gt=0, lt=1)

    @property
    def z(self) -> float:
        """The two-sided normal quantile of the interval level (1.96 for 0.95)."""
        return two_sided_z(self.interval_level)


class FunnelConfig(_Strict):
    warning_level: float = Field(0.95, gt=0, lt=1)
    alarm_level: float = Field(0.998, gt=0, lt=1)
    min_n: int = Field(20, ge=1)
    limits: Literal["exact", "normal"] = "exact"

    @model_validator(mode="after")
    def _alarm_beyond_warning(self) -> FunnelConfig:
        if self.alarm_level <= self.warning_level:
            raise ValueError("alarm_level must be above warning_level (e.g. 0.998 and 0.95)")
        return self

    @property
    def levels(self) -> dict[str, float]:
        """The funnel's limit levels by column label: {'95': 0.95, '998': 0.998}."""
        return {level_label(lv): lv for lv in (self.warning_level, self.alarm_level)}


class OverdispersionConfig(_Strict):
    mode: Literal["auto", "always", "never"] = "auto"
    trigger_p: float = Field(0.05, gt=0, lt=1)
    winsorise: float = Field(0.10, ge=0, lt=0.5)
    min_providers: int = Field(5, ge=2)


class StatsConfig(_Strict):
    covariates: dict[str, Covariate]
    model: ModelConfig = ModelConfig()
    comparison: ComparisonConfig = ComparisonConfig()
    funnel: FunnelConfig = FunnelConfig()
    overdispersion: OverdispersionConfig = OverdispersionConfig()

    def with_parameters(self, parameters: MeasureParameters) -> StatsConfig:
        """This configuration judged by the measure parameters (the build's dbt vars)."""
        return self.model_copy(
            update={
                "comparison": ComparisonConfig(interval_level=parameters.comparison_interval_level),
                "funnel": FunnelConfig(
                    warning_level=parameters.funnel_warning_level,
                    alarm_level=parameters.funnel_alarm_level,
                    min_n=parameters.min_n,
                    limits=parameters.funnel_limits,
                ),
                "overdispersion": OverdispersionConfig(**parameters.overdispersion.model_dump()),
            }
        )

    @field_validator("covariates")
    @classmethod
    def _sql_safe_names(cls, covariates: dict[str, Covariate]) -> dict[str, Covariate]:
        # The names become SQL column references in the pattern query.
        if not covariates:
            raise ValueError("name at least one case-mix covariate (a model without any adjusts nothing)")
        bad = [name for name in covariates if not _IDENTIFIER.match(name)]
        if bad:
            raise ValueError(f"covariate names must be lower-case identifiers: {bad}")
        return covariates


def level_label(level: float) -> str:
    """Column label of a confidence level: 0.95 -> '95', 0.998 -> '998'."""
    return f"{level * 100:.10g}".replace(".", "")


@cache
def two_sided_z(level: float) -> float:
    """Normal quantile bounding the central `level` share: 1.96 for 0.95, 3.09 for 0.998."""
    return float(norm.ppf(0.5 + level / 2)) if 0 < level < 1 else math.nan


def load_stats_config(
    path: Path | str | None = None, parameters: Mapping[str, Any] | str | None = None
) -> StatsConfig:
    """The stats configuration: the model settings of `path` (default: stats.yaml beside this
    module) with the measure parameters `parameters` (dbt vars; default: dbt_project.yml's).

    A malformed file raises ConfigError naming the file and the offending field."""
    if path is None and parameters is None:
        return _default_config()
    config = _read(Path(path)) if path is not None else _read(STATS_CONFIG_FILE)
    return config.with_parameters(measure_parameters(parameters))


@cache
def _default_config() -> StatsConfig:
    return _read(STATS_CONFIG_FILE).with_parameters(measure_parameters())


def _read(path: Path) -> StatsConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the stats configuration {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return StatsConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: invalid stats configuration: {problems}") from exc
