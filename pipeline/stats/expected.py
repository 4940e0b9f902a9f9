"""Each referral's expected probability per binary measure (table fct_referral_expected).

metrics.md keeps, for the early-warning CUSUM and the risk-adjusted intervals of the reports,
the expected probability of every referral for every binary measure from the model of the
as-of month in which its measure matured: a referral enters a CUSUM once, in the month its
outcome became known, and must be judged by what was expected then, not by a later model.

The models are the ones of `compare_providers` (same pattern counts, same fits, same warm
start from the month before), so a referral's expected_p summed over a provider's referrals
of one month's base is that month's expected successes. Where the model of a month fell back
(too few events, separation, one provider), expected_p is the area's rate over that month's
base and `adjustment` says `unadjusted`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from pipeline.sql import literal
from pipeline.stats.compare import (
    RISK_ADJUSTED,
    UNADJUSTED,
    _checked,
    _fit_area_model,
    _GroupedPatterns,
)
from pipeline.stats.config import StatsConfig, load_stats_config
from pipeline.stats.model import ADJUSTED, single_threaded_blas
from pipeline.stats.patterns import (
    GROUP_KEYS,
    OUTCOME,
    StatsInputError,
    area_measures,
    as_relation,
    count_patterns,
    covariate_sql,
    require_columns,
)

# The interface with dbt: the risk base must say in which month each row's measure matured.
MATURED_MONTH = "window_end_month"
EXPECTED_COLUMNS = ("referral_id", "measure", "as_of_month", "expected_p", "tender_area", "adjustment")


def referral_expected(
    base: pd.DataFrame | duckdb.DuckDBPyRelation,
    config: StatsConfig | None = None,
    after: Mapping[tuple[Any, Any], Any] | None = None,
    start: Mapping[tuple[Any, Any], Mapping[str, float] | None] | None = None,
) -> pd.DataFrame:
    """One row per referral × binary measure of the risk base: its expected probability from
    the model of the as-of month equal to the month its measure matured (EXPECTED_COLUMNS).

    `base`: the risk base of `risk_adjust`, with referral_id and window_end_month besides.
    `after`, `start`: as for risk_adjust (an incremental build computes only the months after
    after[pair], warm-started from start[pair])."""
    config = config or load_stats_config()
    after, start = after or {}, start or {}
    with as_relation(base) as relation:
        require_columns(relation.columns, ["referral_id", MATURED_MONTH], "the risk base")
        pieces = [
            _expected_of(relation, config, pair, after.get(pair), start.get(pair))
            for pair in area_measures(relation)
        ]
    pieces = [piece for piece in pieces if not piece.empty]
    if not pieces:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in EXPECTED_COLUMNS})
    return pd.concat(pieces, ignore_index=True)[list(EXPECTED_COLUMNS)]


def _expected_of(
    relation: duckdb.DuckDBPyRelation,
    config: StatsConfig,
    pair: tuple[Any, Any],
    after: Any = None,
    start: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The referrals of one tender area × measure with their expected probabilities (of the
    months after `after` only, if given)."""
    tender_area, measure = pair
    fitted = fitted_patterns(count_patterns(relation, config, tender_area, measure, after), config, start)
    matured = _matured_rows(relation, config, tender_area, measure, after)
    keys = [*GROUP_KEYS, *config.covariates]
    for frame in (fitted, matured):  # one text form of every key, whatever each side's dtype
        frame["as_of_month"] = pd.to_datetime(frame["as_of_month"]).dt.strftime("%Y-%m-%d")
        for key in keys:
            frame[key] = frame[key].astype(str)
    joined = matured.merge(fitted, on=keys, how="left", validate="many_to_one")
    if joined["expected_p"].isna().any():  # every matured row is in its month's base
        raise StatsInputError(
            f"{int(joined['expected_p'].isna().sum())} referral(s) of tender area {tender_area}, "
            f"measure {measure} have no fitted covariate pattern in the month their measure matured"
        )
    joined["tender_area"] = tender_area
    joined["as_of_month"] = pd.to_datetime(joined["as_of_month"]).dt.date
    return joined


def _matured_rows(
    relation: duckdb.DuckDBPyRelation, config: StatsConfig, tender_area: Any, measure: Any, after: Any = None
) -> pd.DataFrame:
    """The rows of the base whose as-of month is the month their measure matured, with the
    covariates banded as for the pattern counts."""
    bands = ",\n    ".join(covariate_sql(name, cov) for name, cov in config.covariates.items())
    query = (
        f"select referral_id, tender_area, measure, as_of_month,\n    {bands}\n"
        f"from base where {OUTCOME} is not null and as_of_month = {MATURED_MONTH}"
        f" and tender_area = $area and measure = $measure"
        + (f" and as_of_month > {literal(after)}" if after is not None else "")
    )
    query = query.replace("$area", literal(tender_area)).replace("$measure", literal(measure))
    return relation.query("base", query).df()


def fitted_patterns(
    patterns: pd.DataFrame,
    config: StatsConfig | None = None,
    start: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Per tender area × measure × as-of month × covariate pattern: the fitted probability of
    that month's model (or the area rate where it fell back), fitted exactly as
    `compare_providers` fits them. `patterns` holds one tender area × measure; `start`: the
    coefficients its first month's fit starts from (an incremental build)."""
    config = config or load_stats_config()
    covariates = list(config.covariates)
    data = _checked(patterns)
    columns = [*GROUP_KEYS, *covariates, "expected_p", "adjustment"]
    if data.empty:
        return pd.DataFrame(columns=columns)
    groups = _GroupedPatterns(data, covariates)
    previous: dict[tuple[Any, ...], Mapping[str, float]] = {}
    pieces: list[pd.DataFrame] = []
    # One BLAS thread, as compare_providers fits. BLAS's thread count is the process's: these fits
    # got one or two threads depending on whether the risk adjustment (which holds it to one) ran
    # beside them in the build, two threads add a fit's sums in another order, and expected_p
    # differed in the last bit between builds of the same data (city scale: 10 % of the rows).
    with single_threaded_blas():
        for key, _, cell in groups:
            model = _fit_area_model(cell, groups.labels, covariates, config, previous.get(key[:2], start))
            n_patterns = len(cell.pattern_codes[0]) if cell.pattern_codes else 1
            if model.status == ADJUSTED and model.fitted is not None:
                previous[key[:2]] = model.params
                p, adjustment = np.asarray(model.fitted, dtype=float), RISK_ADJUSTED
            else:
                p, adjustment = np.full(n_patterns, cell.successes.sum() / cell.n.sum()), UNADJUSTED
            piece = {
                name: [labels[code] for code in codes]
                for name, labels, codes in zip(covariates, groups.labels, cell.pattern_codes, strict=True)
            }
            piece.update({name: [value] * n_patterns for name, value in zip(GROUP_KEYS, key, strict=True)})
            piece.update(expected_p=p, adjustment=[adjustment] * n_patterns)
            pieces.append(pd.DataFrame(piece))
    return pd.concat(pieces, ignore_index=True)[columns]
