"""The fair comparison of providers (issue 5): risk adjustment, O/E, z-scores and evidence.

Input (from `pattern_counts`): one row per tender_area × measure × as_of_month × provider_id ×
covariate pattern, with the covariates of stats.yaml as levels, n and successes.
Output: one row per tender_area × measure × as_of_month × provider_id, ready to be joined to
mart_provider_results (OUTPUT_COLUMNS, described in docs below each name).

Per tender area × measure × as-of month, one logistic model over all the area's providers
without a provider term gives each referral its expected probability; a provider's expected
successes are their sum. Where the model cannot be fitted, the comparison falls back to the
unadjusted one, expected = n × area rate, and every row says so (`adjustment`, `model_status`):
never a silent or made-up number."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from pipeline.stats.config import StatsConfig, load_stats_config
from pipeline.stats.funnel import classify_evidence, estimate_overdispersion, limits_for
from pipeline.stats.intervals import oe_interval
from pipeline.stats.model import (
    ADJUSTED,
    FIT_FAILED,
    SEPARATION,
    SINGLE_PROVIDER,
    TOO_FEW_EVENTS,
    PatternCounts,
    design_within_budget,
    fit_grouped_logit,
    grouped_auc,
    single_threaded_blas,
)
from pipeline.stats.patterns import (
    GROUP_KEYS,
    MISSING,
    PROVIDER,
    StatsInputError,
    area_measures,
    as_relation,
    count_patterns,
    require_columns,
)

RISK_ADJUSTED = "risk_adjusted"
UNADJUSTED = "unadjusted"

# What each output column holds; the order is the output's column order. The funnel columns are
# named after the levels of stats.yaml (funnel_95_low ... for the default 0.95 and 0.998).
_COLUMNS_BEFORE_FUNNEL: dict[str, str] = {
    "tender_area": "udbudsområde",
    "measure": "the binary measure (a column of fct_referral_outcomes)",
    "as_of_month": "the as-of month of the base",
    "provider_id": "leverandør",
    "n": "referrals of the provider in the base (mature, in the measure's population)",
    "observed": "successes of the provider",
    "expected": "expected successes: Σ fitted probabilities, or n × area_rate when unadjusted",
    "expected_variance": "Σ p(1 − p) over the provider's referrals (the z-score's variance)",
    "o_e": "observed / expected",
    "o_e_low": "lower end of the interval for O/E (normal, binomial variance, × φ if applied)",
    "o_e_high": "upper end of that interval",
    "area_rate": "the tender area's rate over the same base: model_events / model_n",
    "risk_adjusted_rate": "O/E × area_rate (the provider's raw rate when unadjusted)",
    "risk_adjusted_rate_low": "o_e_low × area_rate",
    "risk_adjusted_rate_high": "o_e_high × area_rate",
    "z_score": "the funnel z-score that gives the evidence: z_score_raw / sqrt(φ) when overdispersion "
    "is applied, else z_score_raw",
    "z_score_raw": "(observed − expected) / sqrt(expected_variance), before any overdispersion correction",
}
_COLUMNS_AFTER_FUNNEL: dict[str, str] = {
    "funnel_method": "exact (interpolated binomial) or normal (always normal when φ is applied)",
    "evidence": "alarm (below 99.8 % limit), warning (below 95 %), ok, insufficient (n < min_n)",
    "adjustment": "risk_adjusted, or unadjusted when the model fell back",
    "adjustment_status": "adjusted, too_few_events, separation, single_provider or fit_failed",
    "adjustment_message": "why the model fell back (English, for the analyst); empty when adjusted",
    "auc": "the model's AUC (discrimination, from grouped data); NaN without a model",
    "model_n": "referrals of the tender area in the base: what the model is fitted on",
    "model_events": "successes among them",
    "model_parameters": "coefficients in the fitted model, intercept included",
    "model_folded_levels": "covariate levels too rare for their own coefficient, folded in",
    "model_aliased_columns": "design columns dropped as linear combinations of others",
    "model_coefficients": "the fitted coefficients by design column (JSON; empty without a model): "
    "the warm start of the next month in an incremental build",
    "overdispersion_phi": "φ estimated from the area's z-scores (NaN: too few providers)",
    "overdispersion_p_value": "p-value of the χ² test for overdispersion",
    "overdispersion": "applied, not_needed, too_few_providers or disabled",
    "overdispersion_corrected": "whether z_score, the O/E interval and the funnel limits carry φ",
    "overdispersion_providers": "providers with n ≥ min_n that the φ estimate used",
}


def output_columns(config: StatsConfig | None = None) -> dict[str, str]:
    """The output columns of compare_providers under `config`, in order, with what they hold."""
    config = config or load_stats_config()
    funnel = {
        f"funnel_{label}_{side}": f"{side} {level:.1%} funnel limit around area_rate at the provider's n"
        for label, level in config.funnel.levels.items()
        for side in ("low", "high")
    }
    return {**_COLUMNS_BEFORE_FUNNEL, **funnel, **_COLUMNS_AFTER_FUNNEL}


OUTPUT_COLUMNS = output_columns()

# Danish wording for reports and decision reasons (what a provider or analyst reads).
MODEL_STATUS_DA = {
    ADJUSTED: "Risikojusteret for borgersammensætning",
    TOO_FEW_EVENTS: "Ikke risikojusteret: for få resultater i udbudsområdet til en model",
    SEPARATION: "Ikke risikojusteret: modellen kunne ikke estimeres (perfekt adskillelse)",
    SINGLE_PROVIDER: "Ikke risikojusteret: kun én leverandør i udbudsområdet",
    FIT_FAILED: "Ikke risikojusteret: modellen kunne ikke estimeres",
}
OVERDISPERSION_DA = {
    "applied": "Grænserne er udvidet for overspredning",
    "not_needed": "Ingen overspredning påvist; grænserne er ikke udvidet",
    "too_few_providers": "For få leverandører til at vurdere overspredning",
    "disabled": "Korrektion for overspredning er slået fra",
}


@dataclass(frozen=True)
class AreaModel:
    """The case-mix model of one area × measure × month, or the reason there is none."""

    status: str
    fitted: NDArray[np.float64] | None = None
    params: dict[str, float] = field(default_factory=dict)
    auc: float = float("nan")
    parameters: int = 0
    folded_levels: int = 0
    aliased_columns: int = 0
    message: str = ""


@dataclass(frozen=True)
class _Patterns:
    """The rows of one area × measure × month as arrays: rows are provider × pattern cells."""

    provider: NDArray[np.intp]  # local provider index per row
    pattern: NDArray[np.intp]  # local pattern index per row
    n: NDArray[np.float64]
    successes: NDArray[np.float64]
    pattern_codes: list[NDArray[np.intp]]  # per covariate: the level code of each pattern


def risk_adjust(
    base: pd.DataFrame | duckdb.DuckDBPyRelation,
    config: StatsConfig | None = None,
    after: Mapping[tuple[Any, Any], Any] | None = None,
    start: Mapping[tuple[Any, Any], Mapping[str, float] | None] | None = None,
) -> pd.DataFrame:
    """The whole statistics step of a build: pattern counts of the risk base and the comparison,
    one tender area × measure at a time, so that memory stays bounded at national scale (the
    provider × pattern counts of all groups at once would be tens of millions of rows).

    `base`: the per-referral risk base (see pattern_counts), a DuckDB relation or a DataFrame.
    `after` and `start` (an incremental build, pipeline/stats/incremental.py): per tender area ×
    measure, only the months after after[pair] are computed, the first warm-started from
    start[pair].
    Returns output_columns(config), one row per tender_area × measure × as_of_month × provider."""
    config = config or load_stats_config()
    after, start = after or {}, start or {}
    with as_relation(base) as relation:
        pairs = area_measures(relation)
        chunks = _prefetched(pairs, lambda pair: count_patterns(relation, config, *pair, after.get(pair)))
        pieces = [compare_providers(patterns, config, start) for patterns in chunks]
    return pd.concat(pieces, ignore_index=True) if pieces else _empty(config)


def _prefetched(items: list[Any], fetch: Callable[[Any], pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """fetch(item) for each item, the next one computed in a background thread while the caller
    works on the current one: DuckDB counts the next tender area × measure (releasing the GIL)
    while Python fits this one, so the two halves of the work overlap on two cores."""
    if not items:  # e.g. an incremental build that keeps every month
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stats-count") as pool:
        pending = pool.submit(fetch, items[0])
        for following in [*items[1:], None]:
            current = pending.result()
            pending = pool.submit(fetch, following) if following is not None else None
            yield current


def _empty(config: StatsConfig) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in output_columns(config)})


def compare_providers(
    patterns: pd.DataFrame,
    config: StatsConfig | None = None,
    start: Mapping[tuple[Any, Any], Mapping[str, float] | None] | None = None,
) -> pd.DataFrame:
    """Risk-adjusted comparison of every provider in every tender area × measure × as-of month.

    `patterns` has the columns tender_area, measure, as_of_month, provider_id, the covariates of
    the configuration, n and successes (one row per covariate pattern, see `pattern_counts`).
    `start`: per (tender_area, measure), the coefficients the first month's fit starts from.
    Returns OUTPUT_COLUMNS, one row per tender_area × measure × as_of_month × provider_id."""
    config = config or load_stats_config()
    covariates = list(config.covariates)
    require_columns(patterns.columns, [*GROUP_KEYS, PROVIDER, *covariates, "n", "successes"], "the patterns")
    data = _checked(patterns)
    if data.empty:
        return _empty(config)
    groups = _GroupedPatterns(data, covariates)
    pieces = [
        provider_piece(key, provider_ids, cell, model, config)
        for key, provider_ids, cell, model in area_models(groups, config, (start or {}).get)
    ]
    return _assemble(pieces, data, config)


def provider_piece(
    key: tuple[Any, ...], provider_ids: NDArray[Any], cell: _Patterns, model: AreaModel, config: StatsConfig
) -> dict[str, Any]:
    """The output rows of one tender area × measure × as-of month as arrays (for _assemble)."""
    piece = _provider_rows(cell, model, config)
    for name, value in zip(GROUP_KEYS, key, strict=True):
        piece[name] = np.repeat(np.array([value], dtype=object), len(provider_ids))
    piece[PROVIDER] = provider_ids
    return piece


def area_models(
    groups: _GroupedPatterns,
    config: StatsConfig,
    start: Callable[[tuple[Any, Any]], Mapping[str, float] | None],
) -> Iterator[tuple[tuple[Any, ...], NDArray[Any], _Patterns, AreaModel]]:
    """(group key, provider ids, cells, model) per tender area × measure × as-of month, in key
    order: the one place the case-mix models are fitted (the expected probabilities per
    referral, pipeline/stats/expected.py, read the coefficients these fits store). Each
    month starts from the last adjusted fit of the same area × measure, the first from
    start(pair) (an incremental build's stored coefficients; None: the area rate)."""
    covariates = list(config.covariates)
    previous: dict[tuple[Any, ...], Mapping[str, float]] = {}  # the last coefficients per pair
    with single_threaded_blas():
        for key, provider_ids, cell in groups:
            pair = key[:2]
            first = previous.get(pair) or start(pair)
            model = _fit_area_model(cell, groups.labels, covariates, config, first)
            if model.status == ADJUSTED:
                previous[pair] = model.params
            yield key, provider_ids, cell, model


class _GroupedPatterns:
    """The pattern rows split by tender area × measure × as-of month, as integer arrays sorted by
    group: the factorising is done once for all groups, and each group is a contiguous slice."""

    def __init__(self, data: pd.DataFrame, covariates: list[str]) -> None:
        key_codes = [pd.factorize(data[k], sort=True, use_na_sentinel=False) for k in GROUP_KEYS]
        group_id = _pattern_ids([codes for codes, _ in key_codes], [len(u) for _, u in key_codes])
        provider_code, provider_ids = pd.factorize(data[PROVIDER], sort=True)
        factorized = [_levels(data[c]) for c in covariates]
        self.labels = [names for _, names in factorized]
        pattern_id = _pattern_ids([codes for codes, _ in factorized], [len(names) for names in self.labels])
        # Rows in a fixed order (group, provider, pattern) rather than the order DuckDB emitted
        # them: the sums over a provider's patterns then add in the same order in every build,
        # and two builds of the same data give the same numbers to the last bit.
        order = np.lexsort((pattern_id, provider_code, group_id))
        self.group_id = group_id[order]
        self.key_codes = [(codes[order], uniques) for codes, uniques in key_codes]
        self.provider_code, self.provider_ids = provider_code[order], np.asarray(provider_ids)
        self.codes = [codes[order] for codes, _ in factorized]
        self.pattern_id = pattern_id[order]
        self.n = data["n"].to_numpy(float)[order]
        self.successes = data["successes"].to_numpy(float)[order]

    def __iter__(self) -> Iterator[tuple[tuple[Any, ...], NDArray[Any], _Patterns]]:
        """(group key, provider ids, cells) per group, in key order, so that a month follows
        the month before it of the same area and measure (for the warm start)."""
        starts = np.flatnonzero(np.r_[True, self.group_id[1:] != self.group_id[:-1]])
        for start, stop in zip(starts, [*starts[1:], len(self.group_id)], strict=True):
            rows = slice(start, stop)
            providers, provider_local = np.unique(self.provider_code[rows], return_inverse=True)
            _, first, pattern_local = np.unique(self.pattern_id[rows], return_index=True, return_inverse=True)
            cell = _Patterns(
                provider_local,
                pattern_local,
                self.n[rows],
                self.successes[rows],
                [codes[rows][first] for codes in self.codes],
            )
            key = tuple(uniques[codes[start]] for codes, uniques in self.key_codes)
            yield key, self.provider_ids[providers], cell


def _levels(values: pd.Series) -> tuple[NDArray[np.intp], list[str]]:
    """Integer level codes and level names of a covariate column (NaN as the level 'missing').

    Levels in sorted order, whatever the input: pattern_counts hands over categoricals whose
    categories come in the order DuckDB's parallel aggregate happened to emit them, and the
    design (reference level on ties, which of two collinear columns is dropped) depends on level
    order, so an unsorted order made two builds of the same data give different results."""
    categorical = values.astype("category")
    categorical = categorical.cat.reorder_categories(sorted(categorical.cat.categories, key=str))
    if categorical.isna().any():
        categorical = categorical.cat.add_categories([MISSING]).fillna(MISSING)
    names = [str(level) for level in categorical.cat.categories]
    return categorical.cat.codes.to_numpy(np.intp), names


def _pattern_ids(codes: list[NDArray[np.intp]], sizes: list[int]) -> NDArray[np.int64]:
    """One integer per covariate pattern (mixed radix over the level codes): a cheap key for
    finding each fit's distinct patterns."""
    if float(np.prod(np.asarray(sizes, dtype=float))) >= 2.0**62:  # too many combinations for int64
        return np.unique(np.column_stack(codes), axis=0, return_inverse=True)[1].astype(np.int64).ravel()
    key = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
    for code, size in zip(codes, sizes, strict=True):
        key = key * size + code
    return key


def _checked(patterns: pd.DataFrame) -> pd.DataFrame:
    """The pattern rows with n > 0, after checking that counts are counts."""
    n = pd.to_numeric(patterns["n"], errors="coerce")
    s = pd.to_numeric(patterns["successes"], errors="coerce")
    bad = n.isna() | s.isna() | (n < 0) | (s < 0) | (s > n) | (n % 1 != 0) | (s % 1 != 0)
    if bad.any():
        first = patterns.loc[bad].iloc[0]
        where = ", ".join(f"{k}={first[k]}" for k in (*GROUP_KEYS, PROVIDER))
        raise StatsInputError(
            f"{int(bad.sum())} pattern row(s) have n and successes that are not counts with "
            f"0 <= successes <= n (first: {where}, n={first['n']}, successes={first['successes']}); "
            "check that the outcome column of the risk base is 0/1 or boolean"
        )
    return patterns.assign(n=n, successes=s).loc[n > 0].reset_index(drop=True)


def _fit_area_model(
    cell: _Patterns,
    labels: list[list[str]],
    covariates: list[str],
    config: StatsConfig,
    start: Mapping[str, float] | None = None,
) -> AreaModel:
    """The case-mix model of one area × measure × month, after the checks that make a fallback
    honest: one provider only, too few events or non-events, no covariate level the events can
    carry (design_within_budget coarsens the model before giving up)."""
    pattern_n = np.bincount(cell.pattern, weights=cell.n)
    pattern_s = np.bincount(cell.pattern, weights=cell.successes)
    events, total = int(pattern_s.sum()), int(pattern_n.sum())
    need = config.model
    if cell.provider.max() == 0:
        return AreaModel(SINGLE_PROVIDER, message="only one provider in the area: nothing to compare with")
    if events < need.min_events or total - events < need.min_non_events:
        return AreaModel(
            TOO_FEW_EVENTS,
            message=f"{events} events and {total - events} non-events; the model needs "
            f"{need.min_events} and {need.min_non_events}",
        )
    design = design_within_budget(
        PatternCounts(covariates, cell.pattern_codes, labels, pattern_n, pattern_s), need
    )
    if len(design.names) == 1:
        return AreaModel(
            TOO_FEW_EVENTS,
            message=f"{min(events, total - events)} events or non-events: no covariate level has enough "
            f"for its own coefficient at {need.min_events_per_parameter:g} per parameter",
            parameters=1,
            folded_levels=design.folded_levels,
        )
    fit = fit_grouped_logit(design, pattern_n, pattern_s, need, start)
    auc = grouped_auc(pattern_s, pattern_n, fit.fitted) if fit.fitted is not None else float("nan")
    return AreaModel(
        fit.status,
        fit.fitted,
        fit.params,
        auc,
        len(design.names),
        design.folded_levels,
        design.aliased_columns,
        fit.message,
    )


def _provider_rows(cell: _Patterns, model: AreaModel, config: StatsConfig) -> dict[str, Any]:
    """Observed, expected, O/E with its interval, z-scores and evidence of each provider."""
    model_n, model_events = cell.n.sum(), cell.successes.sum()
    area_rate = model_events / model_n
    p = model.fitted[cell.pattern] if model.fitted is not None else np.full(len(cell.n), area_rate)
    per_referral = {
        "n": cell.n,
        "observed": cell.successes,
        "expected": cell.n * p,
        "expected_variance": cell.n * p * (1 - p),
    }
    out = {name: np.bincount(cell.provider, weights=values) for name, values in per_referral.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (out["observed"] - out["expected"]) / np.sqrt(out["expected_variance"])
        oe = out["observed"] / out["expected"]
    od = estimate_overdispersion(z[out["n"] >= config.funnel.min_n], config.overdispersion)
    z_adjusted = z / np.sqrt(od.factor)
    low, high = oe_interval(
        out["observed"],
        out["expected"],
        out["expected_variance"],
        config.comparison.interval_level,
        od.factor,
    )
    out.update(
        o_e=oe,
        o_e_low=low,
        o_e_high=high,
        risk_adjusted_rate=oe * area_rate,
        risk_adjusted_rate_low=low * area_rate,
        risk_adjusted_rate_high=high * area_rate,
        z_score=z_adjusted,
        z_score_raw=z,
        evidence=classify_evidence(z_adjusted, out["n"], config.funnel),
    )
    per_area = {
        "area_rate": area_rate,
        "adjustment": RISK_ADJUSTED if model.status == ADJUSTED else UNADJUSTED,
        "adjustment_status": model.status,
        "adjustment_message": model.message,
        "auc": model.auc,
        "model_n": model_n,
        "model_events": model_events,
        "model_parameters": model.parameters,
        "model_folded_levels": model.folded_levels,
        "model_aliased_columns": model.aliased_columns,
        "model_coefficients": json.dumps(model.params) if model.status == ADJUSTED else "",
        "overdispersion_phi": od.phi,
        "overdispersion_p_value": od.p_value,
        "overdispersion": od.status,
        "overdispersion_corrected": od.applied,
        "overdispersion_providers": od.providers,
        "_phi_factor": od.factor,
    }
    out.update({name: np.full(len(z), value, dtype=object) for name, value in per_area.items()})
    return out


_INT_COLUMNS = ("n", "observed", "model_n", "model_events", "model_parameters", "model_folded_levels",
                "model_aliased_columns", "overdispersion_providers")  # fmt: skip
_FLOAT_COLUMNS = ("area_rate", "auc", "overdispersion_phi", "overdispersion_p_value", "_phi_factor")
_TEXT_COLUMNS = ("evidence", "adjustment", "adjustment_status", "adjustment_message", "overdispersion",
                 "model_coefficients")  # fmt: skip


def _assemble(pieces: list[dict[str, Any]], data: pd.DataFrame, config: StatsConfig) -> pd.DataFrame:
    """One DataFrame from the per-group arrays, with the key columns in their input dtypes and
    the funnel limits at each provider's n, computed for all groups at once."""
    names = [*_COLUMNS_BEFORE_FUNNEL, *_COLUMNS_AFTER_FUNNEL, "_phi_factor"]
    frame = pd.DataFrame(
        {name: np.concatenate([p[name] for p in pieces]) for name in names if name in pieces[0]}
    )
    for key in (*GROUP_KEYS, PROVIDER):
        dtype = data[key].dtype
        frame[key] = frame[key].astype(
            dtype.categories.dtype if isinstance(dtype, pd.CategoricalDtype) else dtype
        )
    frame = frame.astype(
        {
            **dict.fromkeys(_INT_COLUMNS, "int64"),
            **dict.fromkeys(_FLOAT_COLUMNS, float),
            **dict.fromkeys(_TEXT_COLUMNS, str),
            "overdispersion_corrected": bool,
        }
    )
    limits, method = limits_for(frame["area_rate"], frame["n"], frame.pop("_phi_factor"), config.funnel)
    frame = pd.concat([frame, limits.drop(columns=["n", "target"]).set_axis(frame.index)], axis=1)
    frame["funnel_method"] = method
    return frame[list(output_columns(config))]


def funnel_curves(results: pd.DataFrame, config: StatsConfig | None = None, points: int = 60) -> pd.DataFrame:
    """The funnel of each tender area × measure × as-of month, for drawing: limits around the
    area rate at about `points` values of n from 1 to 1.1 × the largest provider's n.

    The method is the one the providers' rows state (exact by default; normal widened by φ where
    overdispersion is applied). Providers are drawn at (n, risk_adjusted_rate). For an unadjusted
    comparison with normal limits the evidence class and the drawn limits agree exactly; in
    general the class follows the z-score, whose variance reflects the provider's case mix, so a
    point near a drawn limit may sit on either side of it."""
    config = config or load_stats_config()
    first = results.groupby(list(GROUP_KEYS), sort=True, dropna=False).agg(
        n_max=("n", "max"),
        target=("area_rate", "first"),
        phi=("overdispersion_phi", "first"),
        overdispersion=("overdispersion", "first"),
    )
    grids = [np.unique(np.round(np.geomspace(1, max(1.1 * top, 2), points))) for top in first["n_max"]]
    rows = np.repeat(np.arange(len(first)), [len(g) for g in grids])
    phi = np.where(first["overdispersion"] == "applied", first["phi"], 1.0)[rows]
    limits, method = limits_for(first["target"].to_numpy()[rows], np.concatenate(grids), phi, config.funnel)
    keys = first.index.to_frame(index=False).iloc[rows].reset_index(drop=True)
    return pd.concat([keys, limits.reset_index(drop=True)], axis=1).assign(funnel_method=method)
