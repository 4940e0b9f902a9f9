"""Confidence intervals for rates (Wilson) and for observed/expected ratios.

Both are vectorised over numpy arrays so that one call serves every provider of every fit."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pipeline.stats.config import two_sided_z

FloatArray = NDArray[np.float64]


def wilson_interval(successes: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for a proportion successes / n (metrics.md: "Proportions use the
    Wilson score interval"), because unlike the Wald interval it stays inside [0, 1] and keeps
    its coverage for small n and rates near 0 or 1. NaN where n is 0.

    Wilson (1927), J. Am. Stat. Assoc. 22:209; the same as statsmodels'
    proportion_confint(method="wilson")."""
    s = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = two_sided_z(level)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = n + z * z
        centre = (s + z * z / 2) / denom
        half = z / denom * np.sqrt(s * (n - s) / n + z * z / 4)
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def oe_interval(
    observed: ArrayLike,
    expected: ArrayLike,
    variance: ArrayLike,
    level: float = 0.95,
    phi: ArrayLike = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Interval for the ratio observed / expected of a binary measure.

    Uses the normal approximation with the binomial variance of the expected count,
    O/E ± z·sqrt(φ·Σ p_i(1 − p_i)) / E, the variance of indirect standardisation with
    fitted probabilities p_i (Breslow & Day 1987, "Statistical Methods in Cancer Research"
    vol. II, ch. 2; the variance Spiegelhalter 2005 uses for the funnel z-score). It is chosen
    over the Poisson (Byar) interval because the measures are binary with rates far from 0, where
    the Poisson variance E overstates Σ p(1 − p), and because then the interval excludes 1
    exactly when |z| exceeds the same quantile: the interval and the funnel never disagree.
    φ is the multiplicative overdispersion factor when it is applied, else 1. The lower end is
    cut at 0. NaN where E or the variance is 0."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    v = np.asarray(variance, dtype=float) * np.asarray(phi, dtype=float)
    z = two_sided_z(level)
    valid = (e > 0) & (v > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = o / e
        half = z * np.sqrt(v) / e
    low = np.where(valid, np.maximum(ratio - half, 0.0), np.nan)
    high = np.where(valid, ratio + half, np.nan)
    return low, high
