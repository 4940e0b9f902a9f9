"""What the decision step reads: the row of fct_decision_inputs (the provider's row of
mart_provider_results for the primary measure of its tender area, with the statistics step's
evidence class) in one as-of month.

The step works on plain records rather than on the warehouse, so that the state machine can be
tested on hand-made months and replayed in a back-test without a database."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import pandas as pd

from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.rules import Rules
from pipeline.months import month_start

# adjustment_status of a row whose risk model fitted (pipeline/stats); anything else is a
# fallback and the decision uses the unadjusted comparison.
ADJUSTED = "adjusted"

# Columns of mart_provider_results the decision needs; the statistics columns may be absent
# or NULL until the risk adjustment is wired, and then the unadjusted comparison is used.
REQUIRED_COLUMNS = (
    "as_of_month",
    "provider_id",
    "tender_area",
    "measure",
    "n",
    "successes",
    "rate",
    "wilson_low",
    "wilson_high",
    "area_rate",
    "area_rate_excl_provider",
)
OPTIONAL_COLUMNS = (
    "expected",
    "risk_adjusted_rate",
    "risk_adjusted_rate_low",
    "risk_adjusted_rate_high",
    "z_score",
    "adjustment_status",
    "evidence",
    "has_agreement",
    "agreement_ends_in_month",
    "cusum_s",
    "cusum_h",
    "cusum_signal",
)
# Other names the mart may give the Wilson interval (the dbt project calls it rate_low/high).
ALIASES = {"rate_low": "wilson_low", "rate_high": "wilson_high"}


@dataclass(frozen=True)
class ProviderMonth:
    """One provider in one tender area in one as-of month, for the area's primary measure."""

    month: date  # first day of the as-of month
    provider_id: str
    tender_area: int
    measure: str
    n: int
    successes: int
    rate: float | None = None
    wilson_low: float | None = None
    wilson_high: float | None = None
    area_rate: float | None = None
    area_rate_excl_provider: float | None = None
    expected: float | None = None
    risk_adjusted_rate: float | None = None
    z_score: float | None = None
    adjustment_status: str | None = None
    risk_adjusted_rate_low: float | None = None  # its 95 % interval, shown with it in the reason
    risk_adjusted_rate_high: float | None = None
    # The statistics step's evidence class (alarm, warning, ok, insufficient): Model B's evidence.
    evidence: str | None = None
    # Agreement periods (fct_decision_inputs): a row without a valid agreement gets no decision;
    # a provider whose last agreement in the area ends this month is decided once more and then
    # forgotten ("aftale udløbet").
    has_agreement: bool = True
    agreement_ends_in_month: bool = False
    # The early-warning chart (risk-adjusted Bernoulli CUSUM) at the month's end: S, the area's
    # h, and whether it signalled in the month; absent until the chart is built.
    cusum_s: float | None = None
    cusum_h: float | None = None
    cusum_signal: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.provider_id, self.tender_area)

    @property
    def observed_rate(self) -> float | None:
        """The mart's rate, or successes / n when the mart left it empty."""
        if self.rate is not None:
            return self.rate
        return self.successes / self.n if self.n else None

    @property
    def is_adjusted(self) -> bool:
        return self.adjustment_status == ADJUSTED and self.z_score is not None

    @classmethod
    def empty(cls, month: date, provider_id: str, tender_area: int, measure: str) -> ProviderMonth:
        """A provider with no referrals in its base this month: nothing to judge on."""
        return cls(month_start(month), provider_id, tender_area, measure, n=0, successes=0)


def _clean(value: Any) -> Any:
    """pandas' missing values (NaN, NA, NaT) as None, numpy scalars as Python scalars."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _check_columns(frame: pd.DataFrame, required: Iterable[str], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DecisionInputError(
            f"{what} lacks the column(s) {', '.join(missing)}: rebuild the marts (provmon build)"
        )


def _record(raw: dict[str, Any]) -> ProviderMonth:
    # A column the relation lacks keeps the field's default (an agreement is assumed).
    values = {
        f.name: _clean(raw[f.name]) for f in fields(ProviderMonth) if f.name != "month" and f.name in raw
    }
    for flag in ("has_agreement", "agreement_ends_in_month", "cusum_signal"):
        if flag in values:
            values[flag] = bool(values[flag]) if values[flag] is not None else flag == "has_agreement"
    values["tender_area"] = int(values["tender_area"])
    values["n"] = int(values["n"] or 0)
    values["successes"] = int(values["successes"] or 0)
    return ProviderMonth(month=month_start(pd.Timestamp(raw["as_of_month"]).date()), **values)


def primary_rows_by_month(results: pd.DataFrame, rules: Rules) -> dict[date, list[ProviderMonth]]:
    """The rows of mart_provider_results that decisions read, per as-of month (first day):
    each tender area's primary measure (rules.yaml). One pass, for a back-test over many months."""
    renames = {old: new for old, new in ALIASES.items() if old in results and new not in results}
    results = results.rename(columns=renames)
    _check_columns(results, REQUIRED_COLUMNS, "mart_provider_results")
    for area in results["tender_area"].unique():
        rules.area(area)  # an area without rules is a clear ConfigError, not a silent skip
    primary = results["tender_area"].astype(int).map({a: r.primary_measure for a, r in rules.areas.items()})
    chosen = results[results["measure"] == primary]
    by_month: dict[date, list[ProviderMonth]] = {}
    for raw in chosen.to_dict("records"):
        record = _record(raw)
        by_month.setdefault(record.month, []).append(record)
    for month, rows in by_month.items():
        dupes = sorted(k for k, count in Counter(r.key for r in rows).items() if count > 1)
        if dupes:
            raise DecisionInputError(
                f"mart_provider_results has more than one row for {month:%Y-%m} and provider/area {dupes}"
            )
    return dict(sorted(by_month.items()))


def primary_rows(results: pd.DataFrame, rules: Rules, month: date) -> list[ProviderMonth]:
    """The rows of mart_provider_results that the decision for `month` reads."""
    return primary_rows_by_month(results, rules).get(month_start(month), [])
