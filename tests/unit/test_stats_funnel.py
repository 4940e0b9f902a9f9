"""Funnel limits, overdispersion and evidence against scipy references and simulated data."""

import numpy as np
import pytest
from scipy.stats import binom, norm

from pipeline.stats import classify_evidence, estimate_overdispersion, exact_binomial_limit, funnel_limits
from pipeline.stats.config import FunnelConfig, OverdispersionConfig


@pytest.mark.parametrize("target", [0.05, 0.3, 0.62])
@pytest.mark.parametrize("quantile", [0.001, 0.025, 0.975, 0.999])
def test_exact_limit_is_the_binomial_quantile_interpolated_as_spiegelhalter(
    target: float, quantile: float
) -> None:
    n = np.array([20, 35, 50, 117, 400, 2500])
    limit = exact_binomial_limit(quantile, n, target)
    count = limit * n
    inside = (limit > 0) & (limit < 1)
    # The count r - alpha lies just below scipy's quantile r ...
    r = binom.ppf(quantile, n, target)
    np.testing.assert_array_equal(np.ceil(count - 1e-9)[inside], r[inside])
    # ... where the cdf, interpolated linearly between r - 1 and r, reaches the quantile.
    cdf_below, cdf_at = binom.cdf(r - 1, n, target), binom.cdf(r, n, target)
    interpolated = cdf_below + (count - (r - 1)) * (cdf_at - cdf_below)
    np.testing.assert_allclose(interpolated[inside], quantile, atol=1e-9)


def test_exact_limits_approach_the_normal_ones_for_large_n() -> None:
    exact = funnel_limits(0.3, [100_000], method="exact")
    normal = funnel_limits(0.3, [100_000], method="normal")
    for column in ("funnel_95_low", "funnel_95_high", "funnel_998_low", "funnel_998_high"):
        assert exact[column].iloc[0] == pytest.approx(normal[column].iloc[0], abs=2e-4)


def test_normal_limits_are_target_plus_minus_z_times_the_binomial_standard_error() -> None:
    limits = funnel_limits(0.3, [100, 400], method="normal", phi=2.0).set_index("n")
    se = np.sqrt(2.0 * 0.3 * 0.7 / np.array([100.0, 400.0]))
    np.testing.assert_allclose(limits["funnel_95_low"], 0.3 - norm.ppf(0.975) * se)
    np.testing.assert_allclose(limits["funnel_998_high"], 0.3 + norm.ppf(0.999) * se)


def test_limits_stay_within_0_and_1_and_widen_as_n_falls() -> None:
    limits = funnel_limits(0.08, [5, 20, 80, 320], method="exact")
    assert (limits.filter(like="_").to_numpy() >= 0).all() and (limits.filter(like="_").to_numpy() <= 1).all()
    assert limits["funnel_998_high"].is_monotonic_decreasing
    assert (limits["funnel_998_high"] >= limits["funnel_95_high"]).all()


def test_exact_limits_refuse_an_overdispersion_factor() -> None:
    with pytest.raises(ValueError, match="normal"):
        funnel_limits(0.3, [50], method="exact", phi=1.5)


def _z_scores(rng: np.random.Generator, providers: int, n: int, p0: float, rho: float) -> np.ndarray:
    """z-scores of providers whose true rates vary (beta-binomial, intra-class correlation rho):
    their variance is phi = 1 + (n - 1) rho times the binomial one."""
    if rho > 0:
        a = p0 * (1 - rho) / rho
        rates = rng.beta(a, a * (1 - p0) / p0, providers)
    else:
        rates = np.full(providers, p0)
    observed = rng.binomial(n, rates)
    return (observed - n * p0) / np.sqrt(n * p0 * (1 - p0))


def test_overdispersion_is_recovered_from_overdispersed_providers() -> None:
    rng = np.random.default_rng(5)
    rho, n = 0.01, 301
    true_phi = 1 + (n - 1) * rho  # 4
    result = estimate_overdispersion(_z_scores(rng, 400, n, 0.3, rho), OverdispersionConfig())
    # Winsorising at 10 % keeps E[min(max(Z, -c), c)^2] of a standard normal, c = z_0.9:
    c = norm.ppf(0.9)
    kept = (1 - 0.2) - 2 * c * norm.pdf(c) + 0.2 * c * c
    assert result.status == "applied"
    assert result.phi == pytest.approx(kept * true_phi, rel=0.15)


def test_overdispersion_is_rarely_applied_to_binomial_providers() -> None:
    rng = np.random.default_rng(6)
    applied = [
        estimate_overdispersion(_z_scores(rng, 12, 200, 0.3, 0.0), OverdispersionConfig()).applied
        for _ in range(400)
    ]
    assert np.mean(applied) <= 0.05


def test_overdispersion_needs_enough_providers_and_can_be_switched_off() -> None:
    z = np.array([-4.0, 3.0, 5.0, -6.0, 4.0, -3.0])
    assert estimate_overdispersion(z[:4], OverdispersionConfig(min_providers=5)).status == "too_few_providers"
    off = estimate_overdispersion(z, OverdispersionConfig(mode="never"))
    assert off.status == "disabled" and off.factor == 1.0 and off.phi > 1
    assert estimate_overdispersion(z, OverdispersionConfig(mode="always")).factor == off.phi


def test_evidence_classes_follow_the_lower_limits_and_min_n() -> None:
    z = np.array([-3.2, -3.0, -2.0, -1.9, 0.0, 4.0, -5.0, np.nan])
    n = np.array([100, 100, 100, 100, 100, 100, 19, 100])
    evidence = classify_evidence(z, n, FunnelConfig(min_n=20))
    assert list(evidence) == ["alarm", "warning", "warning", "ok", "ok", "ok", "insufficient", "insufficient"]
