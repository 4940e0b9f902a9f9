"""Thresholds and severities of the data-quality checks (quality.yaml), validated on load.

A threshold decides whether the monthly run may go on, so it is reviewed data in one file,
never a number in code. The suites in expectations/ are generated from this file; a typo in a
key must fail loudly instead of silently falling back to a default."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.contract import Column, load_contract
from pipeline.errors import ConfigError
from pipeline.ingest.config import DuckDbResources
from pipeline.warehouse import landing_columns

CONFIG_FILE = Path(__file__).with_name("quality.yaml")

Share = Annotated[float, Field(ge=0, le=1)]
Ratio = Annotated[float, Field(ge=0)]
Days = Annotated[int, Field(ge=0)]


class Severity(StrEnum):
    """Great Expectations' own severity names: `critical` stops `provmon run`, `warning` is
    reported and the run goes on."""

    CRITICAL = "critical"
    WARNING = "warning"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """Bounds on a ratio: outside [critical_below, critical_above] is critical, outside
    [warning_below, warning_above] a warning. A missing bound is open."""

    critical_below: Ratio | None = None
    warning_below: Ratio | None = None
    warning_above: Ratio | None = None
    critical_above: Ratio | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        bounds = [self.critical_below, self.warning_below, self.warning_above, self.critical_above]
        given = [b for b in bounds if b is not None]
        if given != sorted(given):
            raise ValueError(
                "bounds must be ordered critical_below <= warning_below <= warning_above <= critical_above"
            )
        return self

    def limits(self, severity: Severity) -> tuple[float | None, float | None]:
        """(lower, upper) of the given severity; (None, None) when it has no bound."""
        if severity is Severity.CRITICAL:
            return self.critical_below, self.critical_above
        return self.warning_below, self.warning_above


class Volume(_Strict):
    previous_deliveries: int = Field(6, ge=1)
    min_previous: int = Field(3, ge=1)
    min_median_rows: int = Field(20, ge=0)
    newest: Band
    earlier: Band

    @model_validator(mode="after")
    def _enough_previous(self) -> Volume:
        if self.min_previous > self.previous_deliveries:
            raise ValueError("min_previous cannot exceed previous_deliveries")
        return self


class ColumnFill(Band):
    min_previous_share: Share = 0.05
    # `extract.column` keys of optional columns whose fill may fall legitimately (not judged)
    exempt: list[str] = []


class Freshness(_Strict):
    severity: Severity = Severity.CRITICAL
    max_days: Days
    max_days_per_extract: dict[str, Days] = {}

    def for_extract(self, extract: str) -> int:
        return self.max_days_per_extract.get(extract, self.max_days)


class DateBounds(_Strict):
    earliest: date | None = None
    max_days_after_delivery: int | None = None


class Dates(_Strict):
    severity: Severity = Severity.CRITICAL
    earliest: date
    max_days_after_delivery: int
    max_age_years: int = Field(110, ge=1)
    # key: `<extract>.<column>`, or a bare column name for every extract that has it
    columns: dict[str, DateBounds] = {}

    def for_column(self, extract: str, column: str) -> tuple[date, int]:
        """(earliest, max days after the delivery) of a date column: the most specific entry wins."""
        earliest, after = self.earliest, self.max_days_after_delivery
        for key in (column, f"{extract}.{column}"):
            bounds = self.columns.get(key)
            if bounds is not None:
                earliest = bounds.earliest or earliest
                after = (
                    bounds.max_days_after_delivery if bounds.max_days_after_delivery is not None else after
                )
        return earliest, after


class EndReasonMissing(Band):
    """Rows of `extract` whose end (the first set of `end_columns`) lies more than grace_days
    before the delivery date, without a `reason_column`."""

    extract: str
    reason_column: str
    end_columns: list[str] = Field(min_length=1)
    grace_days: Days = 0


class MinAge(_Strict):
    """Referrals of citizens younger than `min_years` at `date_column` (from `birth_column`,
    derived from the CPR number): outside the tender areas' target groups (over 30), worth a
    look but not wrong."""

    severity: Severity = Severity.WARNING
    extract: str
    birth_column: str
    date_column: str
    min_years: int = Field(ge=0, le=120)


class Orphans(Band):
    """The orphan share of a delivery; the critical bound counts only from critical_min_rows
    orphan rows up. A small delivery (a new provider's first month, a month of 20 results)
    reaches any share with one quarantined parent: 2 results of one referral are 10 %."""

    critical_min_rows: int = Field(0, ge=0)


class Landing(_Strict):
    schema_: Severity = Field(alias="schema")
    unexpected_columns: Severity
    has_deliveries: Severity
    load_log: Severity
    required_not_null: Severity
    keys_unique: Severity
    codes: Severity
    ranges: Severity
    volume: Volume
    column_fill: ColumnFill
    quarantine_share: Band
    freshness: Freshness
    dates: Dates
    end_reason_missing: EndReasonMissing
    min_age: MinAge
    orphans: Orphans


class Mart(_Strict):
    severity: Severity = Severity.CRITICAL
    key: list[str]
    forbidden_columns: list[str]
    pseudonym_columns: list[str] = []
    contract_columns: dict[str, str] = {}
    non_negative: list[str] = []
    shares: list[str] = []
    not_above: list[tuple[str, str]] = []
    # Rounding room for computed decimals: a Wilson bound of 1 - 1e-16 is not below the rate.
    tolerance: float = Field(1e-9, ge=0)

    def contract_column(self, column: str) -> Column:
        """The contract column (`extract.column`) whose codes or bounds a mart column keeps."""
        extract, name = self.contract_columns[column].split(".", 1)
        return load_contract().extracts[extract].column(name)


class QualityConfig(_Strict):
    duckdb: DuckDbResources = DuckDbResources()
    landing: Landing
    marts: dict[str, Mart]

    @model_validator(mode="after")
    def _names_exist(self) -> QualityConfig:
        extracts = load_contract().extracts
        for name in self.landing.freshness.max_days_per_extract:
            if name not in extracts:
                raise ValueError(f"landing.freshness.max_days_per_extract: unknown extract {name!r}")
        for key in self.landing.dates.columns:
            extract, _, column = key.rpartition(".")
            if extract and (extract not in extracts or column not in extracts[extract].columns):
                raise ValueError(f"landing.dates.columns: {key!r} is not a contract column")
        young = self.landing.min_age
        if young.extract not in extracts or not {young.birth_column, young.date_column} <= set(
            name for name, _ in landing_columns(extracts[young.extract])
        ):
            columns = f"{young.extract}.{young.birth_column}/{young.date_column}"
            raise ValueError(f"landing.min_age: {columns} is not a landing column")
        rule = self.landing.end_reason_missing
        if rule.extract not in extracts:
            raise ValueError(f"landing.end_reason_missing.extract: unknown extract {rule.extract!r}")
        for column in [rule.reason_column, *rule.end_columns]:
            if column not in extracts[rule.extract].columns:
                raise ValueError(f"landing.end_reason_missing: {column!r} is not a column of {rule.extract}")
        for mart_name, mart in self.marts.items():
            for column, ref in mart.contract_columns.items():
                extract, _, name = ref.partition(".")
                if extract not in extracts or name not in extracts[extract].columns:
                    raise ValueError(
                        f"marts.{mart_name}.contract_columns.{column}: {ref!r} is not a contract column"
                    )
        return self


@cache
def load_config(path: Path = CONFIG_FILE) -> QualityConfig:
    """The configuration, parsed once per process; a broken file is a ConfigError naming the key."""
    try:
        with open(path, encoding="utf-8") as fh:
            return QualityConfig.model_validate(yaml.safe_load(fh) or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
