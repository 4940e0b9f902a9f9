"""Each referral's expected probability per binary measure (table fct_referral_expected).

metrics.md keeps, for the early-warning CUSUM and the risk-adjusted intervals of the reports,
the expected probability of every referral for every binary measure from the model of the
as-of month in which its measure matured: a referral enters a CUSUM once, in the month its
outcome became known, and must be judged by what was expected then, not by a later model.

The models are the risk adjustment's (`risk_adjust`, int_provider_results_risk_adjusted): its
rows carry each month's fitted coefficients by design column, and a referral's probability is
the inverse logit of the intercept plus the coefficients of its covariate levels (a level folded
into the reference or dropped as aliased has none). So the case-mix models are fitted once per
build, for the comparison, and a referral's expected_p summed over a provider's referrals of one
month's base is that month's expected successes. Where the model of a month fell back (too few
events, separation, one provider), expected_p is the area's rate over that month's base and
`adjustment` says `unadjusted`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from pipeline.sql import ident, literal
from pipeline.stats.compare import RISK_ADJUSTED, UNADJUSTED, risk_adjust
from pipeline.stats.config import StatsConfig, load_stats_config
from pipeline.stats.model import INTERCEPT
from pipeline.stats.patterns import (
    OUTCOME,
    StatsInputError,
    as_relation,
    covariate_sql,
    require_columns,
)

# The interface with dbt: the risk base must say in which month each row's measure matured.
MATURED_MONTH = "window_end_month"
MONTH_KEY = "as_of_month"
EXPECTED_COLUMNS = ("referral_id", "measure", "as_of_month", "expected_p", "tender_area", "adjustment")
# The columns of the risk adjustment's rows that describe a month's model (one value per
# tender area × measure × as-of month, repeated on each provider's row).
MODEL_COLUMNS = ("tender_area", "measure", MONTH_KEY, "adjustment", "area_rate", "model_coefficients")


def referral_expected(
    base: pd.DataFrame | duckdb.DuckDBPyRelation,
    config: StatsConfig | None = None,
    results: pd.DataFrame | duckdb.DuckDBPyRelation | None = None,
) -> pd.DataFrame:
    """One row per referral × binary measure of the risk base: its expected probability from
    the model of the as-of month equal to the month its measure matured (EXPECTED_COLUMNS).

    `base`: the risk base of `risk_adjust`, with referral_id and window_end_month besides.
    `results`: risk_adjust's rows for that base (int_provider_results_risk_adjusted), whose
    coefficients give the probabilities; None fits them here."""
    config = config or load_stats_config()
    with as_relation(base) as relation:
        if results is None:
            results = risk_adjust(relation, config)
        models = month_models(results)
        with matured_rows(relation, config) as matured:
            pieces = [_matured_expected(matured, pair, models) for pair in matured.area_measures()]
    return _expected_frame(pieces)


def risk_adjust_and_expected(
    base: pd.DataFrame | duckdb.DuckDBPyRelation, config: StatsConfig | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(risk_adjust(base, config), referral_expected(base, config)) from one fit per tender
    area × measure × as-of month: for a caller that needs both of one base (provmon simulate,
    every simulated month)."""
    config = config or load_stats_config()
    with as_relation(base) as relation:
        results = risk_adjust(relation, config)
        return results, referral_expected(relation, config, results)


def _expected_frame(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    """EXPECTED_COLUMNS of the non-empty pieces, one per tender area × measure."""
    pieces = [piece for piece in pieces if not piece.empty]
    if not pieces:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in EXPECTED_COLUMNS})
    return pd.concat(pieces, ignore_index=True)[list(EXPECTED_COLUMNS)]


@dataclass(frozen=True)
class MonthModel:
    """The model of one tender area × measure × as-of month as the risk adjustment stored it:
    the coefficients by design column (`covariate=level`, and the intercept) when adjusted,
    else None and the area rate."""

    area_rate: float
    coefficients: dict[str, float] | None

    @property
    def adjusted(self) -> bool:
        return self.coefficients is not None


def month_models(
    results: pd.DataFrame | duckdb.DuckDBPyRelation,
) -> dict[tuple[Any, Any, pd.Timestamp], MonthModel]:
    """Per (tender_area, measure, as_of_month) of the risk adjustment's rows, its model."""
    require_columns(results.columns, MODEL_COLUMNS, "the risk adjustment's results")
    if isinstance(results, pd.DataFrame):
        frame = results[list(MODEL_COLUMNS)].drop_duplicates()
    else:
        names = ", ".join(map(ident, MODEL_COLUMNS))
        frame = results.query("results", f"select distinct {names} from results").df()
    models = {}
    for area, measure, month, adjustment, rate, coefficients in frame.itertuples(index=False):
        adjusted = adjustment == RISK_ADJUSTED and bool(coefficients)
        key = (area, measure, pd.Timestamp(month))
        if key in models:
            raise StatsInputError(
                f"the risk adjustment's results hold two models for tender area {area}, measure "
                f"{measure}, as-of month {pd.Timestamp(month):%Y-%m}"
            )
        models[key] = MonthModel(float(rate), json.loads(coefficients) if adjusted else None)
    return models


@dataclass(frozen=True)
class Matured:
    """Where matured_rows put the matured rows: `table` on the connection of `relation`."""

    relation: duckdb.DuckDBPyRelation
    table: str
    covariates: tuple[str, ...]

    def area_measures(self) -> list[tuple[Any, Any]]:
        """The (tender_area, measure) pairs with matured rows, in order: read from the
        temporary table, not from the risk-base view, whose every query evaluates its join."""
        query = f"select distinct tender_area, measure from {self.table} order by all"
        return [tuple(row) for row in self.relation.query("base", query).fetchall()]


@contextmanager
def matured_rows(relation: duckdb.DuckDBPyRelation, config: StatsConfig) -> Iterator[Matured]:
    """The rows of the risk base whose as-of month is the month their measure matured, with the
    covariates banded as for the pattern counts (so their levels are the design's): read from
    the base once, into a temporary table of the base's connection (spilled to disk as DuckDB
    needs, dropped on exit).

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


def _matured_expected(
    matured: Matured, pair: tuple[Any, Any], models: dict[tuple[Any, Any, pd.Timestamp], MonthModel]
) -> pd.DataFrame:
    """The matured referrals of one tender area × measure, each with its probability under the
    model of its as-of month."""
    tender_area, measure = pair
    names = ", ".join(map(ident, matured.covariates))
    query = (
        f"select referral_id, measure, {MONTH_KEY}, {names} from {matured.table}\n"
        f"where tender_area = {literal(tender_area)} and measure = {literal(measure)}\n"
        f"order by {MONTH_KEY}, referral_id"
    )
    table = matured.relation.query("base", query).arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    months, month_index = np.unique(table.column(MONTH_KEY).to_numpy(), return_inverse=True)
    month_keys = [(tender_area, measure, pd.Timestamp(month)) for month in months]
    missing = [key for key in month_keys if key not in models]
    if missing:
        raise StatsInputError(
            f"the risk adjustment has no model for tender area {tender_area}, measure {measure} in "
            f"the as-of month(s) {', '.join(f'{key[2]:%Y-%m}' for key in missing)} in which "
            "referrals of the risk base matured"
        )
    used = [models[key] for key in month_keys]
    adjusted = np.array([model.adjusted for model in used], dtype=bool)[month_index]
    levels = [_level_codes(table.column(name)) for name in matured.covariates]
    p = _probabilities(used, month_index, adjusted, matured.covariates, levels)
    return pd.DataFrame(
        {
            "referral_id": table.column("referral_id").to_pandas(),
            "measure": table.column("measure").to_pandas(),
            MONTH_KEY: pd.to_datetime(table.column(MONTH_KEY).to_pandas()).dt.date,
            "expected_p": p,
            "tender_area": tender_area,
            "adjustment": np.where(adjusted, RISK_ADJUSTED, UNADJUSTED),
        }
    )


def _level_codes(column: pa.ChunkedArray) -> tuple[NDArray[np.intp], list[str]]:
    """The level code of every row and the level names of one banded covariate column."""
    encoded = column.combine_chunks().dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp), encoded.dictionary.to_pylist()


def _probabilities(
    models: list[MonthModel],
    month_index: NDArray[np.intp],
    adjusted: NDArray[np.bool_],
    covariates: tuple[str, ...],
    levels: list[tuple[NDArray[np.intp], list[str]]],
) -> NDArray[np.float64]:
    """Each row's probability under its month's model: the inverse logit of the intercept plus
    its levels' coefficients, added in the covariates' order (the same order in every build),
    or the month's area rate where the model fell back (`adjusted` false)."""
    eta = np.array([_coefficient(model, INTERCEPT) for model in models])[month_index]
    for covariate, (codes, names) in zip(covariates, levels, strict=True):
        by_month_and_level = np.array(
            [[_coefficient(model, f"{covariate}={name}") for name in names] for model in models]
        ).reshape(len(models), len(names))
        eta = eta + by_month_and_level[month_index, codes]
    with np.errstate(over="ignore"):
        p = 1.0 / (1.0 + np.exp(-eta))
    rate = np.array([model.area_rate for model in models])[month_index]
    return np.where(adjusted, p, rate)


def _coefficient(model: MonthModel, name: str) -> float:
    """A design column's coefficient; 0 for a level without one (the reference level, a folded
    or an aliased one) and for a month without a model."""
    return (model.coefficients or {}).get(name, 0.0)
