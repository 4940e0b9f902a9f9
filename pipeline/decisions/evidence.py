"""The month's evidence about a provider, as each model sees it.

Model B reads the funnel plot's evidence class as the statistics step classified it
(mart_provider_results.evidence, via fct_decision_inputs): the provider's z-score, risk-adjusted
where the area's model fitted and corrected for overdispersion where that applies, against the
limits of the build's dbt vars funnel_warning_level and funnel_alarm_level, with n < min_n
insufficient. It is classified once, there; this module only says why an insufficient month is
insufficient. Model A reads the raw rate against stop_ratio x the area's rate without the
provider, as today's practice does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.rules import AreaRules


class Evidence(StrEnum):
    ALARM = "alarm"  # Model B: below the alarm (99.8 %) limit
    WARNING = "warning"  # Model B: below the warning (95 %) limit
    BELOW = "below"  # Model A: rate below stop_ratio x area rate
    OK = "ok"
    INSUFFICIENT = "insufficient"  # n < min_n, or nothing to compare with


class Basis(StrEnum):
    ADJUSTED = "adjusted"  # risk-adjusted z-score of the statistics step
    UNADJUSTED = "unadjusted"  # the statistics step's z-score against the area rate (no model)


class Gap(StrEnum):
    """Why the evidence is insufficient."""

    TOO_FEW = "too_few"
    NO_COMPARATOR = "no_comparator"


@dataclass(frozen=True)
class Judgement:
    evidence: Evidence
    z: float | None = None
    basis: Basis | None = None
    gap: Gap | None = None


# A rate exactly at the bar is not below it, whatever the float rounding of 0.8 x 0.75.
TOLERANCE = 1e-9


def below_bar(rate: float, bar: float) -> bool:
    """Is the rate below the bar by more than float rounding?"""
    return rate < bar - TOLERANCE


def _gap(row: ProviderMonth, area: AreaRules, comparator: float | None) -> Gap | None:
    if row.n < area.min_n:
        return Gap.TOO_FEW
    return Gap.NO_COMPARATOR if comparator is None else None


def soft_evidence(row: ProviderMonth, area: AreaRules) -> Judgement:
    """Model B's evidence: the statistics step's class of the row, with its z-score.

    A provider alone in its area (no rate without it) has nothing to be compared with, and a row
    the statistics could not judge (no z-score, no variance) judges nothing: both are
    insufficient, with the reason."""
    gap = _gap(row, area, row.area_rate_excl_provider if row.area_rate is not None else None)
    if gap is not None:
        return Judgement(Evidence.INSUFFICIENT, gap=gap)
    basis = Basis.ADJUSTED if row.is_adjusted else Basis.UNADJUSTED
    evidence = Evidence(row.evidence) if row.evidence else Evidence.INSUFFICIENT
    z = row.z_score if row.z_score is not None and math.isfinite(row.z_score) else None
    if evidence == Evidence.INSUFFICIENT or z is None:
        return Judgement(Evidence.INSUFFICIENT, gap=Gap.NO_COMPARATOR, basis=basis)
    return Judgement(evidence, z=z, basis=basis)


def stop_threshold(area: AreaRules, comparator: float | None) -> float | None:
    """Model A's bar: stop_ratio x the area's rate without the provider."""
    return None if comparator is None else area.hard.stop_ratio * comparator


def hard_evidence(row: ProviderMonth, area: AreaRules) -> Judgement:
    """Model A's evidence: is the raw rate below stop_ratio x the area rate without it?"""
    gap = _gap(row, area, row.area_rate_excl_provider)
    if gap is not None:
        return Judgement(Evidence.INSUFFICIENT, gap=gap)
    threshold = stop_threshold(area, row.area_rate_excl_provider)
    below = below_bar(row.observed_rate, threshold)  # type: ignore[arg-type]
    return Judgement(Evidence.BELOW if below else Evidence.OK)
