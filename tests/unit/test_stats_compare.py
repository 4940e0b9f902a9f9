"""The provider comparison end to end: per-referral risk base -> DuckDB pattern counts ->
compare_providers, on simulated areas with planted provider effects, against pandas sums and
the fallbacks the issue asks for."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, norm

from pipeline.errors import ConfigError
from pipeline.stats import (
    OUTPUT_COLUMNS,
    StatsConfig,
    StatsInputError,
    compare_providers,
    funnel_curves,
    load_stats_config,
    pattern_counts,
    risk_adjust,
)
from pipeline.stats.benchmark import Scale
from pipeline.stats.benchmark import run as run_benchmark
from pipeline.stats.patterns import band_labels

# A small model for the tests: two banded covariates and one coded one.
CONFIG = StatsConfig.model_validate(
    {
        "covariates": {
            "age_at_start": {"bands": [25, 30, 40, 50, 60]},
            "benefit_weeks_52": {"bands": [13, 26, 40]},
            "sex": {},
        }
    }
)
AGES = np.array([22, 27, 35, 45, 55, 62])  # one value per age band: the bands fit the truth exactly
WEEKS = np.array([5, 20, 33, 46])


def _referrals(rng: np.random.Generator, provider: str, size: int, effect: float, hard: bool) -> pd.DataFrame:
    """Referrals of one provider; `hard` case mix = older, longer on benefits (lower chances)."""
    age_p = [0.02, 0.03, 0.05, 0.1, 0.4, 0.4] if hard else [1 / 6] * 6
    weeks_p = [0.05, 0.05, 0.2, 0.7] if hard else [0.25] * 4
    age = rng.choice(AGES, size, p=age_p)
    weeks = rng.choice(WEEKS, size, p=weeks_p)
    logit = 0.2 - 0.05 * (age - 40) - 0.06 * (weeks - 26) + effect
    return pd.DataFrame(
        {
            "provider_id": provider,
            "age_at_start": age,
            "benefit_weeks_52": weeks,
            "sex": rng.choice(["M", "F"], size),
            "outcome": rng.random(size) < 1 / (1 + np.exp(-logit)),
        }
    )


def _base(
    seed: int, providers: dict[str, tuple[int, float, bool]], month: str = "2024-06-01"
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = [_referrals(rng, p, size, effect, hard) for p, (size, effect, hard) in providers.items()]
    base = pd.concat(frames, ignore_index=True)
    return base.assign(tender_area=1, measure="has_result", as_of_month=pd.Timestamp(month))


PLANTED = {
    "P_WORSE": (900, -0.8, False),  # truly worse, average case mix
    "P_HARD": (900, 0.0, True),  # no effect, hard case mix
    **{f"P{i}": (900, 0.0, False) for i in range(6)},
}


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    base = _base(21, PLANTED)
    return base, compare_providers(pattern_counts(base, CONFIG), CONFIG)


def test_planted_effect_is_found_and_hard_case_mix_is_not_punished(planted) -> None:
    base, result = planted
    result = result.set_index("provider_id")
    worse, hard = result.loc["P_WORSE"], result.loc["P_HARD"]
    assert (result["adjustment_status"] == "adjusted").all() and (
        result["adjustment"] == "risk_adjusted"
    ).all()
    assert worse["o_e_high"] < 1
    assert worse["evidence"] in ("alarm", "warning")
    assert hard["o_e_low"] <= 1 <= hard["o_e_high"]
    assert hard["evidence"] == "ok"
    # Without the adjustment the hard case mix would look far worse than the area:
    raw_rate = base.loc[base["provider_id"] == "P_HARD", "outcome"].mean()
    area_rate = base["outcome"].mean()
    raw_z = (raw_rate - area_rate) / np.sqrt(area_rate * (1 - area_rate) / 900)
    assert raw_z < -3.09


def test_counts_match_the_risk_base_and_expected_sums_to_observed(planted) -> None:
    base, result = planted
    result = result.set_index("provider_id")
    counts = base.groupby("provider_id")["outcome"].agg(["size", "sum"])
    np.testing.assert_array_equal(result.loc[counts.index, "n"], counts["size"])
    np.testing.assert_array_equal(result.loc[counts.index, "observed"], counts["sum"])
    assert result["expected"].sum() == pytest.approx(result["observed"].sum(), rel=1e-8)
    assert (result["model_events"] == base["outcome"].sum()).all()
    assert result["area_rate"].iloc[0] == pytest.approx(base["outcome"].mean())


def test_output_columns_and_derived_values_hang_together(planted) -> None:
    _, result = planted
    assert list(result.columns) == list(OUTPUT_COLUMNS)
    np.testing.assert_allclose(result["o_e"], result["observed"] / result["expected"])
    np.testing.assert_allclose(result["risk_adjusted_rate"], result["o_e"] * result["area_rate"])
    z = (result["observed"] - result["expected"]) / np.sqrt(result["expected_variance"])
    np.testing.assert_allclose(result["z_score_raw"], z)
    assert (result["overdispersion_corrected"] == (result["overdispersion"] == "applied")).all()
    factor = np.where(result["overdispersion_corrected"], result["overdispersion_phi"], 1.0)
    np.testing.assert_allclose(result["z_score"], z / np.sqrt(factor))
    assert result["auc"].between(0.6, 0.9).all()


@pytest.mark.parametrize(("seed", "effects_sd", "applied"), [(50, 0.0, False), (51, 0.6, True)])
def test_funnel_limits_at_each_providers_n_are_binomial_or_phi_widened_normal(
    seed: int, effects_sd: float, applied: bool
) -> None:
    rng = np.random.default_rng(seed)
    effects, sizes = rng.normal(0, effects_sd, 12), rng.integers(60, 700, 12)
    providers = {f"P{i:02d}": (int(sizes[i]), effects[i], False) for i in range(12)}
    result = compare_providers(pattern_counts(_base(seed, providers), CONFIG), CONFIG)
    p0, n = result["area_rate"], result["n"]
    assert (result["overdispersion"] == "applied").all() == applied
    if applied:
        assert (result["funnel_method"] == "normal").all()
        se = np.sqrt(result["overdispersion_phi"] * p0 * (1 - p0) / n)
        # Limits stay inside [0, 1].
        np.testing.assert_allclose(result["funnel_998_low"], np.clip(p0 - norm.ppf(0.999) * se, 0, 1))
        np.testing.assert_allclose(result["funnel_95_high"], np.clip(p0 + norm.ppf(0.975) * se, 0, 1))
    else:
        assert (result["funnel_method"] == "exact").all()
        np.testing.assert_array_equal(np.ceil(result["funnel_95_low"] * n - 1e-9), binom.ppf(0.025, n, p0))
        np.testing.assert_array_equal(np.ceil(result["funnel_998_high"] * n - 1e-9), binom.ppf(0.999, n, p0))
    assert ((result["funnel_998_low"] < result["funnel_95_low"]) & (result["funnel_95_low"] < p0)).all()


def test_one_row_per_area_measure_month_and_provider_with_warm_started_months() -> None:
    months = [_base(30 + i, PLANTED, month=f"2024-0{i + 1}-01") for i in range(3)]
    base = pd.concat([*months, months[0].assign(measure="progressed")], ignore_index=True)
    result = compare_providers(pattern_counts(base, CONFIG), CONFIG)
    keys = ["tender_area", "measure", "as_of_month", "provider_id"]
    assert len(result) == len(base.drop_duplicates(keys)) and not result.duplicated(keys).any()
    # The third month, fitted after two others (warm start), equals the month fitted alone.
    alone = compare_providers(pattern_counts(months[2], CONFIG), CONFIG)
    third = result[result["as_of_month"] == pd.Timestamp("2024-03-01")]
    np.testing.assert_allclose(third["expected"].to_numpy(), alone["expected"].to_numpy(), rtol=1e-9)


def test_risk_adjust_per_area_and_measure_equals_one_comparison_of_everything() -> None:
    one = _base(60, PLANTED)
    two = _base(61, {"X": (500, 0.0, False), "Y": (500, -0.5, True), "Z": (300, 0.0, False)}).assign(
        tender_area=2
    )
    base = pd.concat([one, two, one.assign(measure="it's_quoted")], ignore_index=True)
    chunked = risk_adjust(base, CONFIG)
    whole = compare_providers(pattern_counts(base, CONFIG), CONFIG)
    keys = ["tender_area", "measure", "as_of_month", "provider_id"]
    chunked, whole = (frame.sort_values(keys).reset_index(drop=True) for frame in (chunked, whole))
    pd.testing.assert_frame_equal(chunked, whole, check_dtype=False)
    assert len(chunked) == len(base.drop_duplicates(keys))


def test_the_benchmark_runs_every_fit_of_its_synthetic_base() -> None:
    scale = Scale(referrals=8000, months=14, areas=2, providers_per_area=4, measures=2)
    report = run_benchmark(scale)
    assert report["fits"] == scale.areas * scale.measures * scale.months
    assert report["result_rows"] == report["fits"] * scale.providers_per_area
    assert report["adjusted_fits"] > 0


def _assert_unadjusted(result: pd.DataFrame, base: pd.DataFrame, status: str) -> None:
    rate = base["outcome"].mean()
    n = base.groupby("provider_id").size().loc[result["provider_id"]].to_numpy()
    assert (result["adjustment_status"] == status).all() and (result["adjustment"] == "unadjusted").all()
    np.testing.assert_allclose(result["expected"], n * rate)
    np.testing.assert_allclose(result["expected_variance"], n * rate * (1 - rate))
    assert result["auc"].isna().all() and (result["adjustment_message"] != "").all()


def test_too_few_events_falls_back_to_the_unadjusted_comparison() -> None:
    base = _base(40, {"A": (60, -3.0, False), "B": (60, -3.0, False)})
    assert base["outcome"].sum() < 20
    result = compare_providers(pattern_counts(base, CONFIG), CONFIG)
    _assert_unadjusted(result, base, "too_few_events")


def test_a_single_provider_falls_back_and_compares_with_itself() -> None:
    base = _base(41, {"ONLY": (500, 0.0, False)})
    result = compare_providers(pattern_counts(base, CONFIG), CONFIG)
    _assert_unadjusted(result, base, "single_provider")
    assert result["z_score"].iloc[0] == pytest.approx(0.0) and result["evidence"].iloc[0] == "ok"


def test_separation_falls_back_per_group_and_other_groups_still_fit() -> None:
    strict = CONFIG.model_copy(update={"model": CONFIG.model.model_copy(update={"min_level_events": 0})})
    good = _base(42, {"A": (400, 0.0, False), "B": (400, 0.0, False)})
    separated = good.assign(measure="separated")
    separated.loc[separated["age_at_start"] == 22, "outcome"] = True  # the youngest always succeed
    result = compare_providers(pattern_counts(pd.concat([good, separated]), strict), strict)
    status = result.groupby("measure")["adjustment_status"].first()
    assert status["has_result"] == "adjusted" and status["separated"] == "separation"
    _assert_unadjusted(result[result["measure"] == "separated"], separated, "separation")


def test_overdispersed_providers_get_phi_applied() -> None:
    rng = np.random.default_rng(43)
    effects = rng.normal(0, 0.5, 30)
    base = _base(43, {f"P{i:02d}": (400, effects[i], False) for i in range(30)})
    result = compare_providers(pattern_counts(base, CONFIG), CONFIG)
    assert (result["overdispersion"] == "applied").all() and result["overdispersion_phi"].iloc[0] > 2
    np.testing.assert_allclose(
        result["z_score"], result["z_score_raw"] / np.sqrt(result["overdispersion_phi"])
    )


def test_pattern_counts_band_like_pandas_cut_and_keep_missing_values() -> None:
    rng = np.random.default_rng(44)
    size = 3000
    base = pd.DataFrame(
        {
            "tender_area": rng.integers(1, 3, size),
            "measure": "has_result",
            "as_of_month": pd.Timestamp("2024-06-01"),
            "provider_id": rng.choice(["A", "B", "C"], size),
            "age_at_start": rng.choice([18.0, 24.9, 25.0, 29.0, 30.0, 59.0, 60.0, 70.0, np.nan], size),
            "benefit_weeks_52": rng.integers(0, 53, size).astype(float),
            "sex": rng.choice(["M", "F", None], size),
            "outcome": rng.choice([True, False, None], size),
        }
    )
    got = pattern_counts(base, CONFIG)
    expected = base.dropna(subset=["outcome"]).copy()
    for column, bands in (("age_at_start", [25, 30, 40, 50, 60]), ("benefit_weeks_52", [13, 26, 40])):
        cut = pd.cut(expected[column], [-np.inf, *bands, np.inf], right=False, labels=band_labels(bands))
        expected[column] = cut.astype(object).where(cut.notna(), "missing")
    expected["sex"] = expected["sex"].fillna("missing")
    keys = ["tender_area", "measure", "as_of_month", "provider_id", "age_at_start", "benefit_weeks_52", "sex"]
    expected = expected.groupby(keys).agg(n=("outcome", "size"), successes=("outcome", "sum")).reset_index()
    merged = expected.merge(got.astype({k: object for k in keys[3:]}), on=keys, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    np.testing.assert_array_equal(merged["n_x"], merged["n_y"])
    np.testing.assert_array_equal(merged["successes_x"], merged["successes_y"])


def test_funnel_curves_surround_the_area_rate_for_each_group(planted) -> None:
    _, result = planted
    curves = funnel_curves(result, CONFIG, points=40)
    assert curves["n"].max() >= result["n"].max()
    assert (curves["target"] == result["area_rate"].iloc[0]).all()
    assert (
        (curves["funnel_998_low"] <= curves["funnel_95_low"]) & (curves["funnel_95_low"] <= curves["target"])
    ).all()
    expected_method = "normal" if result["overdispersion"].iloc[0] == "applied" else "exact"
    assert (curves["funnel_method"] == expected_method).all()


def test_bad_counts_and_missing_columns_are_clear_errors(planted) -> None:
    base, _ = planted
    with pytest.raises(StatsInputError, match="benefit_weeks_52"):
        pattern_counts(base.drop(columns="benefit_weeks_52"), CONFIG)
    patterns = pattern_counts(base, CONFIG)
    patterns.loc[0, "successes"] = patterns.loc[0, "n"] + 1
    with pytest.raises(StatsInputError, match="0 <= successes <= n"):
        compare_providers(patterns, CONFIG)


def test_empty_input_gives_an_empty_result_with_the_output_columns() -> None:
    patterns = pattern_counts(_base(45, {"A": (10, 0.0, False)}).iloc[:0], CONFIG)
    assert list(compare_providers(patterns, CONFIG).columns) == list(OUTPUT_COLUMNS)


def test_an_empty_risk_base_gives_an_empty_result() -> None:
    """An incremental build whose every month is kept hands risk_adjust no rows to refit (a
    rebuild of unchanged data, e.g. after a killed build): that is an empty result, not a crash."""
    result = risk_adjust(_base(45, {"A": (10, 0.0, False)}).iloc[:0], CONFIG)
    assert result.empty and list(result.columns) == list(OUTPUT_COLUMNS)


def test_the_shipped_configuration_loads() -> None:
    config = load_stats_config()
    assert "paid_hours_baseline" in config.covariates and config.funnel.levels == {"95": 0.95, "998": 0.998}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("covariates: {age: {bands: [30, 20]}}\n", "covariates.age.bands"),
        ("covariates: {age: {}}\nfunnel: {warning_level: 0.99, alarm_level: 0.95}\n", "alarm_level"),
        ("covariates: {age: {}}\nmodel: {min_events: 20, min_evnts: 3}\n", "min_evnts"),
        ("covariates: {Age Band: {}}\n", "lower-case identifiers"),
        ("covariates: {}\n", "at least one"),
        ("covariates: [age\n", "not valid YAML"),
    ],
)
def test_an_invalid_configuration_names_the_file_and_the_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "stats.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as error:
        load_stats_config(path)
    assert str(path) in str(error.value)


def test_the_result_does_not_depend_on_the_order_of_rows_or_categories(planted) -> None:
    """pattern_counts hands over rows and categoricals in the order DuckDB's parallel aggregate
    emitted them. Two equally frequent levels (a tie for the reference) and a rare level folded
    into the reference make the level order matter, and the row order decides the order of the
    sums; two builds of the same data must still agree to the last bit."""
    base = planted[0].copy()
    base["sex"] = np.where(np.arange(len(base)) % 2 == 0, "M", "F")  # exactly as many of each
    rare = base.iloc[:4].assign(sex="X")  # too few events: folded into the reference level
    patterns = pattern_counts(pd.concat([base, rare], ignore_index=True), CONFIG)
    shuffled = patterns.sample(frac=1.0, random_state=7).reset_index(drop=True)
    inputs = [(patterns, ["F", "M", "X"]), (shuffled, ["X", "M", "F"])]
    results = [
        compare_providers(rows.assign(sex=pd.Categorical(rows["sex"], categories=order)), CONFIG)
        for rows, order in inputs
    ]
    numbers = [r.sort_values("provider_id").select_dtypes("number").reset_index(drop=True) for r in results]
    pd.testing.assert_frame_equal(numbers[0], numbers[1], check_exact=True)
