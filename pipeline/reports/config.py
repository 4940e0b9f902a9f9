"""The report configuration (reports.yaml) as a validated, immutable model.

What the reports show and how strictly they suppress small counts is a decision of the
administration, not of the code: it lives in one reviewed file, validated on load so that a typo
in a threshold stops `provmon report` with one line instead of silently using a default."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pipeline.decisions.rules import read_yaml, validated
from pipeline.errors import ConfigError

CONFIG_FILE = Path(__file__).with_name("reports.yaml")

Measure = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Disclosure(_Strict):
    min_count: Annotated[int, Field(ge=1)]
    suppress_zero: bool

    @property
    def small_label(self) -> str:
        """How a suppressed count reads: "<5" for min_count 5."""
        return f"<{self.min_count}"

    def is_small(self, count: float | int | None) -> bool:
        """Is this count too small to show (and everything computed from it too)?"""
        if count is None or count != count:  # NaN: no count, nothing to protect
            return False
        if count == 0:
            return self.suppress_zero
        return 0 < count < self.min_count


class Providers(_Strict):
    anonymise_others: bool
    alias_prefix: Annotated[str, Field(min_length=1)]


class Months(_Strict):
    trend: Annotated[int, Field(ge=2, le=120)]


class Measures(_Strict):
    overview: list[Measure]
    sustainability: list[Measure]
    self_supporting: list[Measure]
    fit: list[Measure]
    rehab: list[Measure]
    progression: Measure
    cost: Measure
    purpose: Measure
    attendance: Measure
    mentor_attendance: Measure
    aftercare: Measure


class Sections(_Strict):
    fit_areas: list[int]
    rehab_areas: list[int]


class Execution(_Strict):
    workers: Annotated[int, Field(ge=1, le=16)]
    timeout_seconds: Annotated[int, Field(ge=10)]
    kernel: Annotated[str, Field(min_length=1)]


class ReportConfig(_Strict):
    version: Annotated[int, Field(ge=1)]
    disclosure: Disclosure
    providers: Providers
    months: Months
    measures: Measures
    sections: Sections
    state_colours: dict[str, str]
    execution: Execution


@cache
def load_config(file: Path = CONFIG_FILE) -> ReportConfig:
    """Read and validate reports.yaml; raise ConfigError with one clear line if it is bad."""
    file = Path(file)
    _, data = read_yaml(file)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping with disclosure, providers, measures, …")
    return validated(ReportConfig, data, file)
