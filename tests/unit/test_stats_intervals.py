"""Intervals of pipeline.stats against references: statsmodels' Wilson interval, the z-score
the O/E interval must agree with, and its coverage on simulated providers."""

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from pipeline.stats import oe_interval, wilson_interval


@pytest.mark.parametrize("level", [0.95, 0.998, 0.80])
@pytest.mark.parametrize("n", [1, 2, 5, 13, 40, 100, 1000])
def test_wilson_equals_statsmodels_on_a_grid_including_0_and_n(n: int, level: float) -> None:
    successes = np.unique(np.r_[0, 1, n // 3, n // 2, n - 1, n, np.linspace(0, n, 15).astype(int)])
    low, high = wilson_interval(successes, np.full(successes.shape, n), level)
    ref_low, ref_high = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    np.testing.assert_allclose(low, ref_low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(high, ref_high, rtol=0, atol=1e-12)


def test_wilson_without_referrals_is_undefined() -> None:
    low, high = wilson_interval([0, 3], [0, 10])
    assert np.isnan(low[0]) and np.isnan(high[0])
    assert np.isfinite(low[1]) and np.isfinite(high[1])


def test_oe_interval_excludes_one_exactly_when_the_z_score_is_beyond_1_96() -> None:
    rng = np.random.default_rng(3)
    expected = rng.uniform(5, 300, 2000)
    variance = expected * rng.uniform(0.3, 0.95, 2000)
    observed = np.round(expected + rng.normal(0, 3, 2000) * np.sqrt(variance))
    z = (observed - expected) / np.sqrt(variance)
    low, high = oe_interval(observed, expected, variance, 0.95)
    excludes_one = (low > 1) | (high < 1)
    np.testing.assert_array_equal(excludes_one, np.abs(z) > norm.ppf(0.975))


def test_oe_interval_is_widened_by_sqrt_phi() -> None:
    low1, high1 = oe_interval([40], [50], [30], 0.95)
    low4, high4 = oe_interval([40], [50], [30], 0.95, phi=4.0)
    assert (high4 - 0.8)[0] == pytest.approx(2 * (high1 - 0.8)[0])
    assert (0.8 - low4)[0] == pytest.approx(min(2 * (0.8 - low1)[0], 0.8))


def test_oe_interval_covers_one_about_95_percent_of_the_time_for_providers_without_effect() -> None:
    # 4,000 simulated providers of 150 referrals with known, varying probabilities: O/E is
    # centred on 1, and the 95 % interval should contain 1 in about 95 % of them.
    rng = np.random.default_rng(11)
    p = rng.beta(2, 4, size=(4000, 150))
    observed = (rng.random(p.shape) < p).sum(axis=1)
    expected, variance = p.sum(axis=1), (p * (1 - p)).sum(axis=1)
    low, high = oe_interval(observed, expected, variance, 0.95)
    coverage = np.mean((low <= 1) & (high >= 1))
    assert 0.94 <= coverage <= 0.96


def test_oe_interval_is_undefined_without_expected_successes() -> None:
    low, high = oe_interval([0], [0.0], [0.0])
    assert np.isnan(low[0]) and np.isnan(high[0])
