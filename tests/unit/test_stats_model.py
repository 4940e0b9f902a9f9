"""The grouped case-mix model against references: statsmodels Logit on the expanded referrals,
a brute-force pairwise AUC, the score equations of the logistic MLE, and honest failure."""

import threading

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from threadpoolctl import threadpool_info, threadpool_limits

from pipeline.stats import PatternCounts, build_design, design_within_budget, fit_grouped_logit, grouped_auc
from pipeline.stats.config import ModelConfig
from pipeline.stats.model import ADJUSTED, FIT_FAILED, SEPARATION, Design, single_threaded_blas


def _patterns(rng: np.random.Generator, sizes: dict[str, int], rows: int = 60) -> pd.DataFrame:
    """Random covariate patterns (levels as text) with n and successes from a logistic model."""
    frame = pd.DataFrame({c: rng.integers(0, k, rows) for c, k in sizes.items()})
    frame = frame.drop_duplicates().reset_index(drop=True)
    logit = -0.4 + sum(0.5 * frame[c] * (1 if i % 2 else -1) for i, c in enumerate(sizes))
    frame["n"] = rng.integers(1, 40, len(frame))
    frame["successes"] = rng.binomial(frame["n"], 1 / (1 + np.exp(-logit)))
    for c in sizes:
        frame[c] = "L" + frame[c].astype(str)
    return frame


def _expand(patterns: pd.DataFrame) -> pd.DataFrame:
    """One row per referral, y = 1 for the successes and 0 for the failures of each pattern."""
    ones = patterns.loc[patterns.index.repeat(patterns["successes"])].assign(y=1)
    zeros = patterns.loc[patterns.index.repeat(patterns["n"] - patterns["successes"])].assign(y=0)
    return pd.concat([ones, zeros], ignore_index=True)


def _counts(patterns: pd.DataFrame, covariates: list[str]) -> PatternCounts:
    factorized = [pd.factorize(patterns[c]) for c in covariates]
    return PatternCounts(
        covariates,
        [codes for codes, _ in factorized],
        [list(uniques) for _, uniques in factorized],
        patterns["n"].to_numpy(float),
        patterns["successes"].to_numpy(float),
    )


def _design(patterns: pd.DataFrame, covariates: list[str], min_level_events: int = 0) -> Design:
    return build_design(_counts(patterns, covariates), min_level_events)


def _fit(patterns: pd.DataFrame, design: Design, **config: object):
    n, s = patterns["n"].to_numpy(float), patterns["successes"].to_numpy(float)
    return fit_grouped_logit(design, n, s, ModelConfig(**config))


def test_grouped_coefficients_equal_logit_on_the_expanded_referrals() -> None:
    rng = np.random.default_rng(1)
    patterns = _patterns(rng, {"a": 3, "b": 4, "c": 2})
    # The same dummy design built independently, applied to single referrals.
    dummies = pd.get_dummies(patterns[["a", "b", "c"]], drop_first=True).astype(float)
    design = Design(sm.add_constant(dummies).to_numpy(), ["intercept", *dummies.columns])
    grouped = _fit(patterns, design)
    rows = _expand(patterns.join(dummies.add_prefix("d_")))
    reference = sm.Logit(rows["y"], sm.add_constant(rows.filter(like="d_"))).fit(disp=0)
    assert grouped.status == ADJUSTED
    np.testing.assert_allclose(list(grouped.params.values()), reference.params.to_numpy(), atol=1e-7)


def test_built_design_gives_the_fitted_probabilities_of_a_formula_logit() -> None:
    rng = np.random.default_rng(2)
    patterns = _patterns(rng, {"a": 4, "b": 3, "c": 3}, rows=80)
    fit = _fit(patterns, _design(patterns, ["a", "b", "c"]))
    reference = smf.logit("y ~ C(a) + C(b) + C(c)", data=_expand(patterns)).fit(disp=0)
    np.testing.assert_allclose(fit.fitted, reference.predict(patterns), atol=1e-7)


def test_expected_equals_observed_overall_and_within_every_level() -> None:
    # The score equations of a logistic MLE with an intercept and level dummies.
    rng = np.random.default_rng(3)
    patterns = _patterns(rng, {"a": 3, "b": 5})
    fit = _fit(patterns, _design(patterns, ["a", "b"]))
    expected = patterns.assign(e=patterns["n"] * fit.fitted)
    assert expected["e"].sum() == pytest.approx(expected["successes"].sum(), rel=1e-8)
    for covariate in ("a", "b"):
        by_level = expected.groupby(covariate)[["e", "successes"]].sum()
        np.testing.assert_allclose(by_level["e"], by_level["successes"], rtol=1e-7)


def _brute_force_auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y == 1], scores[y == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def test_grouped_auc_equals_pairwise_auc_on_the_expanded_referrals_with_ties() -> None:
    rng = np.random.default_rng(4)
    patterns = _patterns(rng, {"a": 3, "b": 3}, rows=30)
    score = rng.choice([0.1, 0.2, 0.35, 0.5], len(patterns))  # many ties across patterns too
    rows = _expand(patterns.assign(score=score))
    got = grouped_auc(patterns["successes"].to_numpy(float), patterns["n"].to_numpy(float), score)
    assert got == pytest.approx(_brute_force_auc(rows["score"].to_numpy(), rows["y"].to_numpy()), abs=1e-12)


def test_auc_of_a_fitted_model_matches_brute_force_and_is_informative() -> None:
    rng = np.random.default_rng(5)
    patterns = _patterns(rng, {"a": 4, "b": 4})
    fit = _fit(patterns, _design(patterns, ["a", "b"]))
    rows = _expand(patterns.assign(score=fit.fitted))
    brute = _brute_force_auc(rows["score"].to_numpy(), rows["y"].to_numpy())
    got = grouped_auc(patterns["successes"].to_numpy(float), patterns["n"].to_numpy(float), fit.fitted)
    assert got == pytest.approx(brute, abs=1e-12)
    assert got > 0.6


def test_auc_is_undefined_without_both_outcomes() -> None:
    assert np.isnan(grouped_auc(np.array([0.0, 0.0]), np.array([3.0, 4.0]), np.array([0.2, 0.4])))


def _separated() -> pd.DataFrame:
    """Level a=L2 has only successes: its coefficient runs to infinity."""
    return pd.DataFrame(
        {
            "a": ["L0", "L1", "L2", "L0", "L1", "L2"],
            "b": ["M0", "M0", "M0", "M1", "M1", "M1"],
            "n": [40, 40, 12, 40, 40, 10],
            "successes": [15, 22, 12, 11, 19, 10],
        }
    )


def test_separation_is_detected_and_not_passed_on() -> None:
    patterns = _separated()
    fit = _fit(patterns, _design(patterns, ["a", "b"], min_level_events=0))
    assert fit.status == SEPARATION
    assert fit.fitted is None and "perfect" in fit.message


def test_a_rare_separating_level_is_folded_and_the_model_fits() -> None:
    patterns = _separated()
    design = _design(patterns, ["a", "b"], min_level_events=5)
    fit = _fit(patterns, design)
    assert design.folded_levels == 1 and not any(name.startswith("a=L2") for name in design.names)
    assert fit.status == ADJUSTED
    assert (patterns["n"] * fit.fitted).sum() == pytest.approx(patterns["successes"].sum())


def test_no_convergence_is_a_failure_not_a_result() -> None:
    rng = np.random.default_rng(6)
    patterns = _patterns(rng, {"a": 3, "b": 3})
    fit = _fit(patterns, _design(patterns, ["a", "b"]), max_iterations=1)
    assert fit.status == FIT_FAILED and "convergence" in fit.message


def test_aliased_columns_are_dropped_and_predictions_unchanged() -> None:
    rng = np.random.default_rng(7)
    patterns = _patterns(rng, {"a": 3, "b": 3})
    patterns["twin"] = patterns["a"].map({"L0": "x", "L1": "y", "L2": "z"})  # the same grouping as a
    design = _design(patterns, ["a", "b", "twin"])
    assert design.aliased_columns == 2
    with_twin = _fit(patterns, design)
    without = _fit(patterns, _design(patterns, ["a", "b"]))
    np.testing.assert_allclose(with_twin.fitted, without.fitted, atol=1e-9)


def test_warm_start_reaches_the_same_fit() -> None:
    rng = np.random.default_rng(8)
    patterns = _patterns(rng, {"a": 3, "b": 4})
    design = _design(patterns, ["a", "b"])
    n, s = patterns["n"].to_numpy(float), patterns["successes"].to_numpy(float)
    cold = fit_grouped_logit(design, n, s, ModelConfig())
    start = {name: value + 0.3 for name, value in cold.params.items()} | {"a=unseen": 1.0}
    warm = fit_grouped_logit(design, n, s, ModelConfig(), start)
    np.testing.assert_allclose(warm.fitted, cold.fitted, atol=1e-9)


def test_pattern_keys_identify_patterns_also_beyond_int64_combinations() -> None:
    from pipeline.stats.compare import _pattern_ids

    rng = np.random.default_rng(9)
    codes = [rng.integers(0, 3, 500) for _ in range(4)]
    patterns = pd.Series(list(zip(*codes, strict=True)))
    reference = pd.factorize(patterns)[0]
    for sizes in ([3, 3, 3, 3], [2**20, 2**20, 2**20, 2**20]):  # the second overflows int64
        keys = _pattern_ids(codes, sizes)
        # The same partition of rows into patterns as the tuples themselves give.
        assert pd.crosstab(keys, reference).gt(0).sum(axis=1).eq(1).all()
        assert len(np.unique(keys)) == len(np.unique(reference))


def test_a_small_area_gets_a_coarser_model_within_the_events_per_parameter_budget() -> None:
    rng = np.random.default_rng(10)
    covariates = ["a", "b", "c", "d"]
    patterns = _patterns(rng, dict.fromkeys(covariates, 5), rows=120)
    patterns["successes"] = rng.binomial(patterns["n"], 0.03)  # few events for 17 parameters
    counts = _counts(patterns, covariates)
    fewer = min(counts.successes.sum(), (counts.n - counts.successes).sum())
    config = ModelConfig(min_events_per_parameter=5, min_level_events=5)
    full = build_design(counts, config.min_level_events)
    assert fewer < 5 * len(full.names)  # the usual model is too big for these events ...
    coarse = design_within_budget(counts, config)
    assert 1 < len(coarse.names) <= fewer / 5  # ... the coarser one fits the budget
    assert coarse.folded_levels > full.folded_levels
    assert _fit(patterns, coarse).status == ADJUSTED


def test_with_too_few_events_for_any_level_only_the_intercept_is_left() -> None:
    patterns = _separated().assign(successes=[1, 2, 1, 1, 1, 1])
    design = design_within_budget(_counts(patterns, ["a", "b"]), ModelConfig())
    assert design.names == ["intercept"]


def _blas_threads() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def test_blas_stays_at_one_thread_while_any_thread_fits() -> None:
    """BLAS's thread count is one setting for the whole process, and a build runs two fitting
    models at once, in dbt's worker threads (as the risk adjustment and fct_referral_expected did).
    The hold must work from a thread other than the one that last set a limit (threadpoolctl
    ignores such threads), the first holder's exit must not give the other's remaining fits two
    threads again, and the last exit must restore the count: two threads add in another order,
    so two builds of the same data differed in the last bit (issue 19)."""
    with threadpool_limits(2, user_api="blas"):
        if _blas_threads() != 2:
            pytest.skip("BLAS cannot be given two threads here")
        first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
        seen: dict[str, int] = {}

        def first() -> None:
            with single_threaded_blas():
                first_in.set()
                second_in.wait()
            first_out.set()

        def second() -> None:
            first_in.wait()
            with single_threaded_blas():
                second_in.set()
                first_out.wait()
                seen["second, after the first left"] = _blas_threads()
            seen["after both"] = _blas_threads()

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen == {"second, after the first left": 1, "after both": 2}
