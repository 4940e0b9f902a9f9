"""Funnel plots (tragtplot): control limits, overdispersion and the evidence class.

Follows Spiegelhalter, "Funnel plots for comparing institutional performance", Stat Med 2005
24:1185-1202 (limits, interpolated exact binomial quantiles, multiplicative overdispersion
from winsorised z-scores), as decisions.md asks: `alarm` below the 99.8 % limit, `warning`
below the 95 % limit, `ok` otherwise, `insufficient` when n < min_n."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binom, chi2, norm

from pipeline.stats.config import FunnelConfig, OverdispersionConfig, two_sided_z

DEFAULT_LEVELS: Mapping[str, float] = FunnelConfig().levels
EVIDENCE = ("alarm", "warning", "ok", "insufficient")


def exact_binomial_limit(quantile: float, n: ArrayLike, target: ArrayLike) -> NDArray[np.float64]:
    """The `quantile` limit for an observed proportion out of n when the true rate is `target`.

    Spiegelhalter 2005, appendix A.1.1: with r the smallest count whose binomial cdf reaches the
    quantile, the count is interpolated to r − α, α = (F(r) − q) / (F(r) − F(r − 1)), so that the
    limits are smooth in n instead of jumping; the limit is (r − α) / n, kept inside [0, 1].
    A target of 0 or 1 has no spread: the limit is the target."""
    n, target = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(target, dtype=float))
    degenerate = (target <= 0.0) | (target >= 1.0)
    p = np.where(degenerate, 0.5, target)
    r = binom.ppf(quantile, n, p)
    f_r = binom.cdf(r, n, p)
    f_below = binom.cdf(r - 1, n, p)
    limit = (r - (f_r - quantile) / (f_r - f_below)) / n
    return np.clip(np.where(degenerate, target, limit), 0.0, 1.0)


def normal_limit(
    quantile: float, n: ArrayLike, target: ArrayLike, phi: ArrayLike = 1.0
) -> NDArray[np.float64]:
    """The normal-approximation limit target + z_q·sqrt(φ·target(1 − target)/n), in [0, 1]."""
    n, target, phi = (np.asarray(x, dtype=float) for x in (n, target, phi))
    return np.clip(target + norm.ppf(quantile) * np.sqrt(phi * target * (1 - target) / n), 0.0, 1.0)


def funnel_limits(
    target: ArrayLike,
    n: ArrayLike,
    levels: Mapping[str, float] = DEFAULT_LEVELS,
    method: Literal["exact", "normal"] = "exact",
    phi: ArrayLike = 1.0,
) -> pd.DataFrame:
    """The funnel around `target` at each n: columns n, target, funnel_<label>_low and
    funnel_<label>_high per level (labels '95' and '998' by default), so a report can draw it.
    target, n and phi broadcast together (one funnel, or one point of many funnels per row).

    Exact limits have no place for an overdispersion factor; with φ ≠ 1 use method='normal'
    (Spiegelhalter 2005, section 3.4.1: limits target ± z·sqrt(φ·V))."""
    n, target, phi = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (n, target, phi)))
    if method == "exact" and np.any(phi != 1.0):
        raise ValueError("exact binomial limits cannot carry an overdispersion factor; use method='normal'")
    out = {"n": n, "target": target}
    for label, level in levels.items():
        for side, q in (("low", (1 - level) / 2), ("high", (1 + level) / 2)):
            if method == "exact":
                out[f"funnel_{label}_{side}"] = exact_binomial_limit(q, n, target)
            else:
                out[f"funnel_{label}_{side}"] = normal_limit(q, n, target, phi)
    return pd.DataFrame(out)


def limits_for(
    target: ArrayLike, n: ArrayLike, phi: ArrayLike, config: FunnelConfig
) -> tuple[pd.DataFrame, NDArray[np.str_]]:
    """Funnel limits row by row with the method each row calls for: the configured one (exact by
    default) where no overdispersion factor applies, normal limits widened by φ where one does.
    Returns the limits and the method used per row."""
    n, target, phi = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (n, target, phi)))
    method = np.where(phi == 1.0, config.limits, "normal")
    parts = []
    for name in ("exact", "normal"):
        rows = np.flatnonzero(method == name)
        if rows.size:
            part = funnel_limits(target[rows], n[rows], config.levels, name, phi[rows])
            parts.append(part.set_axis(rows))
    return pd.concat(parts).sort_index(), method


@dataclass(frozen=True)
class Overdispersion:
    """The multiplicative overdispersion factor φ of one area's comparison and whether it is used.

    status: `applied`, `not_needed` (the test did not trigger or φ ≤ 1), `too_few_providers`
    (φ not estimated), `disabled` (mode never; φ estimated for information)."""

    phi: float
    p_value: float
    providers: int
    status: str

    @property
    def applied(self) -> bool:
        return self.status == "applied"

    @property
    def factor(self) -> float:
        """The variance multiplier to use: φ when applied, else 1."""
        return self.phi if self.applied else 1.0


def estimate_overdispersion(z_scores: ArrayLike, config: OverdispersionConfig) -> Overdispersion:
    """φ from the providers' z-scores, as Spiegelhalter 2005 (section 3.4.1) describes.

    The z-scores beyond the `winsorise` and 1 − `winsorise` quantiles are pulled in to them, so
    that a few true outliers (the providers we want to find) do not inflate φ and hide
    themselves; φ = mean(z²) of the winsorised scores. Under no overdispersion I·φ follows
    roughly a χ² on I − 1 degrees of freedom (one lost to the target estimated from the same
    providers, as in Cochran's Q); `auto` applies φ when that test's p-value is below
    `trigger_p`. φ ≤ 1 is never applied (no shrinking of the limits). Winsorising shrinks the
    estimate (about 0.68 φ at 10 % for normal z), which errs towards flagging, not hiding."""
    z = np.asarray(z_scores, dtype=float)
    z = z[np.isfinite(z)]
    count = int(z.size)
    if count < config.min_providers:
        return Overdispersion(np.nan, np.nan, count, "too_few_providers")
    low, high = np.quantile(z, [config.winsorise, 1 - config.winsorise])
    phi = float(np.mean(np.clip(z, low, high) ** 2))
    p_value = float(chi2.sf(count * phi, count - 1))
    if config.mode == "never":
        status = "disabled"
    elif phi > 1 and (config.mode == "always" or p_value < config.trigger_p):
        status = "applied"
    else:
        status = "not_needed"
    return Overdispersion(phi, p_value, count, status)


def classify_evidence(z_adjusted: ArrayLike, n: ArrayLike, config: FunnelConfig) -> NDArray[np.str_]:
    """Evidence per provider from its (overdispersion-adjusted) z-score, low side only: a provider
    above the funnel is doing well, not a concern. No z-score (no variance, e.g. an area rate
    of 0) counts as `insufficient`, so the decision model keeps the state and says so."""
    z = np.asarray(z_adjusted, dtype=float)
    n = np.asarray(n, dtype=float)
    return np.select(
        [
            (n < config.min_n) | ~np.isfinite(z),
            z < -two_sided_z(config.alarm_level),
            z < -two_sided_z(config.warning_level),
        ],
        ["insufficient", "alarm", "warning"],
        default="ok",
    )
