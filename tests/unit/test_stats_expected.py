"""fct_referral_expected's library (pipeline/stats/expected.py): each referral's expected
probability from the model of the month its measure matured, checked against a logistic
regression over single referrals (statsmodels, no patterns), against compare_providers'
expected successes, and for the fallback to the area rate."""

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from threadpoolctl import threadpool_limits

from pipeline.stats import load_stats_config, pattern_counts, risk_adjust
from pipeline.stats.compare import _GroupedPatterns, area_models
from pipeline.stats.expected import EXPECTED_COLUMNS, referral_expected, risk_adjust_and_expected
from pipeline.stats.patterns import band_labels
from tests.unit.test_stats_compare import CONFIG, PLANTED, _base

JUNE, JULY = pd.Timestamp("2024-06-01"), pd.Timestamp("2024-07-01")


def _two_months() -> pd.DataFrame:
    """June's base matures in June; July's base holds June's referrals again (still in the
    rolling base) and July's own, which matured in July."""
    june = _base(31, PLANTED, "2024-06-01").assign(window_end_month=JUNE)
    july_own = _base(32, PLANTED, "2024-07-01").assign(window_end_month=JULY)
    june = june.assign(referral_id=[f"J{i}" for i in range(len(june))])
    july_own = july_own.assign(referral_id=[f"K{i}" for i in range(len(july_own))])
    return pd.concat([june, june.assign(as_of_month=JULY), july_own], ignore_index=True)


@pytest.fixture(scope="module")
def expected() -> tuple[pd.DataFrame, pd.DataFrame]:
    base = _two_months()
    return base, referral_expected(base, CONFIG)


def test_one_row_per_referral_and_measure_from_its_matured_month(expected) -> None:
    base, out = expected
    assert list(out.columns) == list(EXPECTED_COLUMNS)
    assert out["referral_id"].is_unique
    assert len(out) == base["referral_id"].nunique()
    months = out.set_index("referral_id")["as_of_month"].astype(str)
    assert set(months[months.index.str.startswith("J")]) == {"2024-06-01"}
    assert set(months[months.index.str.startswith("K")]) == {"2024-07-01"}
    assert set(out["adjustment"]) == {"risk_adjusted"}


def _levels(frame: pd.DataFrame) -> pd.DataFrame:
    """Each referral's covariate levels as the design names them (banded as stats.yaml says)."""
    levels = {}
    for name, covariate in CONFIG.covariates.items():
        values = frame[name]
        if covariate.bands is not None:
            values = pd.cut(values, [-np.inf, *covariate.bands, np.inf], right=False,
                            labels=band_labels(covariate.bands))  # fmt: skip
        levels[name] = values.astype(str).fillna("missing")  # a missing value is a level of its own
    return pd.DataFrame(levels, index=frame.index)


def _dummies(frame: pd.DataFrame) -> pd.DataFrame:
    """The design of a logistic regression over single referrals: banded covariates as
    categories, the most frequent level of each as reference (as the pattern model does)."""
    columns = {}
    for name, values in _levels(frame).items():
        reference = values.value_counts().idxmax()
        for level in sorted(set(values) - {reference}):
            columns[f"{name}={level}"] = (values == level).astype(float)
    return sm.add_constant(pd.DataFrame(columns, index=frame.index))


def test_june_probabilities_equal_a_logit_over_single_referrals(expected) -> None:
    base, out = expected
    june = base[base["as_of_month"] == JUNE].set_index("referral_id")
    fit = sm.Logit(june["outcome"].astype(float), _dummies(june)).fit(disp=False)
    got = out.set_index("referral_id").loc[june.index, "expected_p"]
    np.testing.assert_allclose(got.to_numpy(), np.asarray(fit.predict()), rtol=1e-6)


def test_referrals_with_missing_covariates_find_their_fitted_pattern() -> None:
    """The matured referrals meet their month's fitted pattern on the covariate levels as text
    (a join in DuckDB): a missing value (level 'missing', banded or not) must find its pattern
    like any other level. Against a logit over single referrals with the missing values as a
    level of their own."""
    june = _base(34, PLANTED, "2024-06-01").assign(window_end_month=JUNE)
    june = june.assign(referral_id=[f"M{i}" for i in range(len(june))])
    june["sex"] = june["sex"].where(june.index % 4 != 0, None)
    june["age_at_start"] = june["age_at_start"].astype(float).where(june.index % 5 != 1)
    out = referral_expected(june, CONFIG).set_index("referral_id")
    assert len(out) == len(june) and set(out["adjustment"]) == {"risk_adjusted"}
    june = june.set_index("referral_id")
    fit = sm.Logit(june["outcome"].astype(float), _dummies(june)).fit(disp=False)
    np.testing.assert_allclose(out.loc[june.index, "expected_p"], np.asarray(fit.predict()), rtol=1e-6)


def test_sums_equal_the_expected_successes_of_compare_providers() -> None:
    """With a base in which every referral is in one month only, a provider's Σ expected_p is
    the expected successes of the same month's comparison."""
    base = _two_months()
    base = base[base["as_of_month"] == base["window_end_month"]]
    out = referral_expected(base, CONFIG).merge(base[["referral_id", "provider_id"]], on="referral_id")
    sums = out.groupby(["as_of_month", "provider_id"])["expected_p"].sum()
    results = risk_adjust(base, CONFIG)
    results["as_of_month"] = pd.to_datetime(results["as_of_month"]).dt.date
    reference = results.set_index(["as_of_month", "provider_id"])["expected"]
    sums = sums.sort_index()
    np.testing.assert_allclose(sums.to_numpy(), reference.loc[sums.index].to_numpy())


def test_the_probabilities_are_the_coefficients_the_risk_adjustment_stored() -> None:
    """The models are fitted once per build, by the risk adjustment: a referral's probability is
    the inverse logit of the intercept plus its levels' coefficients as the risk adjustment's
    rows store them (a level without a coefficient adds nothing). Coefficients changed in those
    rows move expected_p exactly as a hand computation from them says, and a month whose stored
    model fell back gives its stored area rate."""
    base = _two_months()
    results = risk_adjust(base, CONFIG)
    june = pd.to_datetime(results["as_of_month"]) == JUNE
    stored = json.loads(results.loc[june, "model_coefficients"].iloc[0])
    changed = {name: stored[name] + 0.25 * i for i, name in enumerate(sorted(stored))}
    results.loc[june, "model_coefficients"] = json.dumps(changed)
    july = ~june
    results.loc[july, ["adjustment", "model_coefficients", "area_rate"]] = ["unadjusted", "", 0.375]

    out = referral_expected(base, CONFIG, results).set_index("referral_id")

    matured = base[base["as_of_month"] == base["window_end_month"]].set_index("referral_id")
    levels = _levels(matured[matured["as_of_month"] == JUNE])
    eta = changed["intercept"] + sum(
        levels[name].map(lambda level, name=name: changed.get(f"{name}={level}", 0.0))
        for name in CONFIG.covariates
    )
    np.testing.assert_allclose(out.loc[levels.index, "expected_p"], 1 / (1 + np.exp(-eta)), rtol=1e-12)
    later = matured.index[matured["as_of_month"] == JULY]
    assert (out.loc[later, "expected_p"] == 0.375).all()
    assert set(out.loc[later, "adjustment"]) == {"unadjusted"}
    assert set(out.loc[levels.index, "adjustment"]) == {"risk_adjusted"}


def test_a_month_without_a_model_gives_the_area_rate() -> None:
    base = _base(33, {"P_ONLY": (300, 0.0, False)}).assign(window_end_month=JUNE)
    base = base.assign(referral_id=[f"S{i}" for i in range(len(base))])
    out = referral_expected(base, CONFIG)
    assert set(out["adjustment"]) == {"unadjusted"}
    np.testing.assert_allclose(out["expected_p"], base["outcome"].mean())


def test_one_fit_for_both_equals_the_two_calls() -> None:
    """risk_adjust_and_expected (one pattern count and one fit per area × measure × month, what
    provmon simulate calls every month) gives exactly what risk_adjust and referral_expected
    give separately: over two months (the warm start) and two areas, one of them falling back."""
    single = _base(33, {"P_ONLY": (300, 0.0, False)}).assign(tender_area=2, window_end_month=JUNE)
    base = pd.concat(
        [_two_months(), single.assign(referral_id=[f"S{i}" for i in range(len(single))])], ignore_index=True
    )
    results, expected = risk_adjust_and_expected(base, CONFIG)
    assert set(results["adjustment_status"]) == {"adjusted", "single_provider"}
    pd.testing.assert_frame_equal(results, risk_adjust(base, CONFIG), check_exact=True)
    pd.testing.assert_frame_equal(expected, referral_expected(base, CONFIG), check_exact=True)


def _varied_base(months: int = 3, per_month: int = 3000, seed: int = 1) -> pd.DataFrame:
    """A risk base whose every covariate varies, so each month's design is as wide as the real
    ones (about 1,000 patterns × 30 columns: wide enough for BLAS to split its sums)."""
    rng = np.random.default_rng(seed)
    n = months * per_month
    age = rng.integers(18, 65, n)
    month = np.repeat([pd.Timestamp(2024, m + 1, 1) for m in range(months)], per_month)
    pick = lambda options: np.asarray(options)[rng.integers(0, len(options), n)]  # noqa: E731
    return pd.DataFrame(
        {"as_of_month": month, "window_end_month": month, "tender_area": 1, "measure": "m",
         "provider_id": [f"P{i % 6}" for i in range(n)], "referral_id": [f"R{i}" for i in range(n)],
         "outcome": rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.03 * (age - 40)))),
         "age_at_start": age, "sex": pick(["M", "F"]),
         "benefit_at_start": pick(["kontant", "sygedagpenge", "ledighed"]),
         "benefit_weeks_52": rng.integers(0, 52, n),
         "paid_hours_baseline": rng.integers(0, 30, n).astype(float),
         "prior_referrals": rng.integers(0, 4, n), "offer_code": pick(list("ABCDE")),
         "purpose": pick(["job", "education", "clarification"]),
         "start_quarter": pick([pd.Timestamp(2024, q, 1) for q in (1, 4, 7, 10)])}
    )  # fmt: skip


def test_the_probabilities_do_not_depend_on_how_many_threads_blas_has() -> None:
    """BLAS's thread count is the process's, and in a build whatever Python model runs beside
    the fits may have set it: the fits (and the probabilities from their coefficients) must give
    the same bits either way, or two builds of the same data differ (issue 19's exactness)."""
    base = _varied_base()
    with threadpool_limits(2, user_api="blas"):
        two = referral_expected(base)
    with threadpool_limits(1, user_api="blas"):
        one = referral_expected(base)
    assert (one["adjustment"] == "risk_adjusted").all()
    pd.testing.assert_frame_equal(two, one, check_exact=True)


def _fitted(models: Iterator[tuple[Any, ...]]) -> list[np.ndarray]:
    return [model.fitted for _, _, _, model in models]


def test_fits_beside_other_fits_that_end_first_give_the_same_bits() -> None:
    """Two fitting loops at the same time (dbt's two threads: until 2026-12-06 the risk
    adjustment and fct_referral_expected both fitted), and the one that started first may end
    first. The other's remaining fits must give the bits
    they give alone: when its end gave BLAS back its two threads, two --full-refresh builds of
    the city data differed in 5,675 expected_p (one area × measure, the first both fit) by up to
    2.2e-16 (issue 19). Interleaved here as generators, so the order is fixed."""
    config = load_stats_config()  # every covariate: designs wide enough for BLAS to split
    groups = _GroupedPatterns(pattern_counts(_varied_base(), config), list(config.covariates))
    with threadpool_limits(2, user_api="blas"):
        alone = _fitted(area_models(groups, config, lambda _: None))
        other = area_models(groups, config, lambda _: None)
        next(other)  # started first: holds BLAS at one thread
        mine = area_models(groups, config, lambda _: None)
        beside = [next(mine)[3].fitted]
        other.close()  # ends first
        beside += _fitted(mine)
    assert len(beside) == len(alone) == 3
    for one, two in zip(alone, beside, strict=True):
        np.testing.assert_array_equal(one, two)
