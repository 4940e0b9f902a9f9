"""The benchmark's settings and targets (targets.yaml), validated on load, and the verdict of
one measured row against its target."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from bench.measure import Caps

TARGETS_FILE = Path(__file__).with_name("targets.yaml")


class Target(BaseModel):
    """A bound on a row: its median seconds and peak memory, or a ratio's bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float | None = None
    peak_mb: float | None = None
    at_most: float | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _something(self) -> Target:
        if all(v is None for v in (self.seconds, self.peak_mb, self.at_most, self.at_least)):
            raise ValueError("a target needs seconds, peak_mb, at_most or at_least")
        return self

    def __str__(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"≤ {self.seconds:g} s")
        if self.peak_mb is not None:
            parts.append(f"≤ {self.peak_mb:g} MB")
        if self.at_most is not None:
            parts.append(f"≤ {self.at_most:g}×")
        if self.at_least is not None:
            parts.append(f"≥ {self.at_least:g}×")
        return ", ".join(parts)

    def verdict(
        self, seconds: float | None = None, peak_mb: float | None = None, ratio: float | None = None
    ) -> str:
        """'met' or 'MISSED (...)' naming what was over."""
        missed = []
        if self.seconds is not None and seconds is not None and seconds > self.seconds:
            missed.append(f"{seconds:.0f} s")
        if self.peak_mb is not None and peak_mb is not None and peak_mb > self.peak_mb:
            missed.append(f"{peak_mb:.0f} MB")
        if ratio is not None and (
            (self.at_most is not None and ratio > self.at_most)
            or (self.at_least is not None and ratio < self.at_least)
        ):
            missed.append(f"{ratio:.1f}×")
        return f"MISSED ({', '.join(missed)})" if missed else "met"


class CapSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_mb: float | None = None
    seconds: float | None = None
    machine_free_mb: float | None = None

    def caps(self) -> Caps:
        return Caps(self.memory_mb, self.seconds, self.machine_free_mb)


class BenchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    runs: int
    seed: int
    runs_per_stage: dict[str, dict[str, int]] = {}
    caps: dict[str, CapSettings] = {}
    targets: dict[str, dict[str, Target]]

    def runs_of(self, scale: str, stage: str, default: int | None = None) -> int:
        return self.runs_per_stage.get(scale, {}).get(stage, default or self.runs)

    def target(self, scale: str, row: str) -> Target | None:
        return self.targets.get(scale, {}).get(row) or self.targets.get("all", {}).get(row)


def load_config(path: Path = TARGETS_FILE) -> BenchConfig:
    return BenchConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
