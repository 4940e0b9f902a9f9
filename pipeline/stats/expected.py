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

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from pipeline.sql import ident, literal
from pipeline.stats.compare import (
    RISK_ADJUSTED,
    UNADJUSTED,
    AreaModel,
    _checked,
    _empty,
    _GroupedPatterns,
    _Patterns,
    area_models,
    compare_with,
)
from pipeline.stats.config import StatsConfig, load_stats_config
from pipeline.stats.model import ADJUSTED
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
MONTH_KEY = "as_of_month"
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
    with as_relation(base) as relation, matured_rows(relation, config) as matured:
        pieces = [
            _expected_of(relation, matured, config, pair, after.get(pair), start.get(pair))
            for pair in area_measures(relation)
        ]
    return _expected_frame(pieces)


def _expected_frame(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """EXPECTED_COLUMNS of the non-empty pieces, one per tender area × measure."""
    pieces = [piece for piece in pieces if not piece.empty]
    if not pieces:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in EXPECTED_COLUMNS})
    return pd.concat(pieces, ignore_index=True)[list(EXPECTED_COLUMNS)]


def risk_adjust_and_expected(
    base: pd.DataFrame | duckdb.DuckDBPyRelation, config: StatsConfig | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(risk_adjust(base, config), referral_expected(base, config)), the same to the last bit,
    from one pattern count and one model fit per tender area × measure × as-of month where the
    two calls make two of each: for a caller that needs both of one base (provmon simulate,
    every simulated month)."""
    config = config or load_stats_config()
    comparisons, expected = [], []
    with as_relation(base) as relation, matured_rows(relation, config) as matured:
        for pair in area_measures(relation):
            comparison, fitted = compare_with(
                count_patterns(relation, config, *pair), config, also=partial(fitted_piece, config=config)
            )
            comparisons.append(comparison)
            expected.append(_matured_expected(matured, pair, _fitted_frame(fitted, config)))
    return (
        pd.concat(comparisons, ignore_index=True) if comparisons else _empty(config),
        _expected_frame(expected),
    )


@dataclass(frozen=True)
class Matured:
    """Where matured_rows put the matured rows: `table` on the connection of `relation`."""

    relation: duckdb.DuckDBPyRelation
    table: str
    covariates: tuple[str, ...]


@contextmanager
def matured_rows(relation: duckdb.DuckDBPyRelation, config: StatsConfig) -> Iterator[Matured]:
    """The rows of the risk base whose as-of month is the month their measure matured, with the
    covariates banded as for the pattern counts: read from the base once, into a temporary table
    of the base's connection (spilled to disk as DuckDB needs, dropped on exit).

    Once, not per tender area × measure: the risk base is a view whose rolling-base join is
    evaluated again by every query of it, and the matured rows are one month of the rolling
    months of its rows (a twelfth)."""
    require_columns(relation.columns, ["referral_id", MATURED_MONTH], "the risk base")
    name = f"provmon_matured_{uuid.uuid4().hex}"
    bands = ",\n        ".join(covariate_sql(n, cov) for n, cov in config.covariates.items())
    relation.query(
        "base",
        f"create temp table {name} as\nselect tender_area, referral_id, measure, as_of_month,\n"
        f"        {bands}\nfrom base where {OUTCOME} is not null and as_of_month = {MATURED_MONTH}",
    )
    try:
        yield Matured(relation, name, tuple(config.covariates))
    finally:
        relation.query("base", f"drop table if exists {name}")


def _expected_of(
    relation: duckdb.DuckDBPyRelation,
    matured: Matured,
    config: StatsConfig,
    pair: tuple[Any, Any],
    after: Any = None,
    start: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The referrals of one tender area × measure with their expected probabilities (of the
    months after `after` only, if given)."""
    patterns = count_patterns(relation, config, *pair, after)
    return _matured_expected(matured, pair, fitted_patterns(patterns, config, start), after)


def _matured_expected(
    matured: Matured, pair: tuple[Any, Any], fitted: pa.Table, after: Any = None
) -> pd.DataFrame:
    """The matured referrals of one tender area × measure in an as-of month of `fitted`
    (fitted_patterns), each with its pattern's probability in that month.

    Joined inside DuckDB, on the month and the covariate levels as text (the banded levels of
    matured_rows on one side, the fitted levels on the other): millions of rows at national
    scale, too many to key by text in pandas."""
    tender_area, measure = pair
    joined = matured.relation.query("base", _matured_sql(matured, tender_area, measure, after)).df()
    if joined["expected_p"].isna().any():  # every matured row is in its month's base
        raise StatsInputError(
            f"{int(joined['expected_p'].isna().sum())} referral(s) of tender area {tender_area}, "
            f"measure {measure} have no fitted covariate pattern in the month their measure matured"
        )
    joined["tender_area"] = tender_area
    joined["as_of_month"] = pd.to_datetime(joined["as_of_month"]).dt.date
    return joined


# The name under which _matured_sql reads the fitted patterns: DuckDB finds the Arrow table
# `fitted` of _matured_expected's frame by it (a replacement scan), as no table of the
# warehouse is called so.
_FITTED = "fitted"


def _matured_sql(matured: Matured, tender_area: Any, measure: Any, after: Any = None) -> str:
    """One tender area × measure of the matured rows (of the months after `after`, if given),
    left-joined to their month's fitted pattern."""
    on = " and ".join(
        [f"f.{MONTH_KEY} = m.{MONTH_KEY}"]
        + [f"cast(f.{ident(name)} as varchar) = m.{ident(name)}" for name in matured.covariates]
    )
    where = f"m.tender_area = {literal(tender_area)} and m.measure = {literal(measure)}" + (
        f" and m.as_of_month > {literal(after)}" if after is not None else ""
    )
    return (
        f"select m.referral_id, m.measure, m.as_of_month, f.expected_p, f.adjustment\n"
        f"from {matured.table} as m left join {_FITTED} as f on {on}\n"
        f"where {where}\norder by m.as_of_month, m.referral_id"
    )


def fitted_patterns(
    patterns: pd.DataFrame,
    config: StatsConfig | None = None,
    start: Mapping[str, float] | None = None,
) -> pa.Table:
    """Per as-of month × covariate pattern of one tender area × measure: the fitted probability
    of that month's model (or the area rate where it fell back), fitted exactly as
    `compare_providers` fits them. `patterns` holds one tender area × measure; `start`: the
    coefficients its first month's fit starts from (an incremental build)."""
    config = config or load_stats_config()
    data = _checked(patterns)
    if data.empty:
        return _fitted_frame([], config)
    groups = _GroupedPatterns(data, list(config.covariates))
    pieces = [fitted_piece(key, cell, model, groups.labels, config) for key, _, cell, model in
              area_models(groups, config, lambda _: start)]  # fmt: skip
    return _fitted_frame(pieces, config)


@dataclass(frozen=True)
class FittedPiece:
    """The covariate patterns of one tender area × measure × as-of month with their fitted
    probabilities: level codes into `labels` (shared by every month of a tender area × measure,
    _GroupedPatterns), so that no text is made per pattern."""

    as_of_month: Any
    codes: list[NDArray[np.intp]]
    labels: list[list[str]]
    expected_p: NDArray[np.float64]
    adjustment: str


def _fitted_frame(pieces: list[FittedPiece], config: StatsConfig) -> pa.Table:
    """The fitted patterns of the groups as one Arrow table: as_of_month, the covariates (level
    names, dictionary-encoded), expected_p and adjustment."""
    if not pieces:
        text = pa.dictionary(pa.int32(), pa.string())
        return pa.table(
            {MONTH_KEY: pa.array([], pa.date32())}
            | {name: pa.array([], text) for name in config.covariates}
            | {"expected_p": pa.array([], pa.float64()), "adjustment": pa.array([], pa.string())}
        )
    sizes = [len(piece.expected_p) for piece in pieces]
    columns = {MONTH_KEY: pa.array(np.repeat([piece.as_of_month for piece in pieces], sizes), pa.date32())}
    for i, name in enumerate(config.covariates):
        codes = pa.array(np.concatenate([piece.codes[i] for piece in pieces]), pa.int32())
        columns[name] = pa.DictionaryArray.from_arrays(codes, pa.array(pieces[0].labels[i], pa.string()))
    columns["expected_p"] = pa.array(np.concatenate([piece.expected_p for piece in pieces]), pa.float64())
    columns["adjustment"] = pa.array(np.repeat([piece.adjustment for piece in pieces], sizes), pa.string())
    return pa.table(columns)


def fitted_piece(
    key: tuple[Any, ...], cell: _Patterns, model: AreaModel, labels: list[list[str]], config: StatsConfig
) -> FittedPiece:
    """The covariate patterns of one tender area × measure × as-of month with their fitted
    probability (the area rate where the model fell back)."""
    n_patterns = len(cell.pattern_codes[0]) if cell.pattern_codes else 1
    if model.status == ADJUSTED and model.fitted is not None:
        p, adjustment = np.asarray(model.fitted, dtype=float), RISK_ADJUSTED
    else:
        p, adjustment = np.full(n_patterns, cell.successes.sum() / cell.n.sum()), UNADJUSTED
    month = pd.Timestamp(key[GROUP_KEYS.index(MONTH_KEY)]).date()
    return FittedPiece(month, list(cell.pattern_codes), labels, p, adjustment)
