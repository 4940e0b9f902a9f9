"""From the per-referral risk base to covariate patterns: banding and counting, in DuckDB.

The risk base (built by dbt) has one row per as-of month × measure × referral in that month's
base (mature, in the measure's population), with the outcome and the case-mix covariates. Its
national size (about 10^8 rows) rules out pandas, so the banding of stats.yaml is turned into
SQL and DuckDB counts n and successes per tender area × measure × as-of month × provider ×
covariate pattern; that table, a few orders of magnitude smaller, is what the models fit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import pairwise

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import ProvmonError
from pipeline.sql import literal
from pipeline.stats.config import Covariate, StatsConfig, load_stats_config

# The columns of the interface with dbt (docs in the module docstring of compare.py).
GROUP_KEYS = ("tender_area", "measure", "as_of_month")
PROVIDER = "provider_id"
OUTCOME = "outcome"
MISSING = "missing"


class StatsInputError(ProvmonError):
    """The data handed to the statistics does not have the shape they need."""


def require_columns(columns: Iterable[str], needed: Iterable[str], what: str) -> None:
    """Raise StatsInputError naming every missing column, so one run shows the whole fix."""
    missing = [c for c in needed if c not in set(columns)]
    if missing:
        raise StatsInputError(
            f"{what} lacks the column(s) {', '.join(missing)}; add them, or remove the covariates "
            "from pipeline/stats/stats.yaml"
        )


def band_labels(bands: Iterable[float]) -> list[str]:
    """Labels of the half-open bands at these lower bounds: [25, 30] -> <25, 25-<30, >=30."""
    bounds = [f"{b:g}" for b in bands]
    middle = [f"{low}-<{high}" for low, high in pairwise(bounds)]
    return [f"<{bounds[0]}", *middle, f">={bounds[-1]}"]


def covariate_sql(name: str, covariate: Covariate) -> str:
    """The SQL expression giving a covariate's level as text ('missing' for NULL)."""
    if covariate.bands is None:
        return f"coalesce(cast({name} as varchar), '{MISSING}') as {name}"
    labels = band_labels(covariate.bands)
    # Rounded before banding: a mean like (h1 + h2 + h3) / 3 that is exactly on a band edge comes
    # out a few ulps either side depending on the summation order of a parallel aggregate, and
    # must not change band between two builds of the same data.
    value = f"round(cast({name} as double), 9)"
    whens = " ".join(
        f"when {value} < {bound!r} then '{label}'"
        for bound, label in zip(covariate.bands, labels, strict=False)
    )
    return f"case when {name} is null then '{MISSING}' {whens} else '{labels[-1]}' end as {name}"


def pattern_sql(config: StatsConfig, relation: str = "base", where: str = "") -> str:
    """The query counting n and successes per group, provider and covariate pattern."""
    keys = ", ".join([*GROUP_KEYS, PROVIDER])
    bands = ",\n    ".join(covariate_sql(name, cov) for name, cov in config.covariates.items())
    return (
        f"select {keys},\n    {bands},\n"
        f"    count(*) as n,\n    cast(sum(cast({OUTCOME} as integer)) as bigint) as successes\n"
        f"from {relation}\nwhere {OUTCOME} is not null {where}\ngroup by all"
    )


@contextmanager
def as_relation(base: pd.DataFrame | duckdb.DuckDBPyRelation) -> Iterator[duckdb.DuckDBPyRelation]:
    """The risk base as a DuckDB relation: a DataFrame goes into a private in-memory DuckDB."""
    if isinstance(base, pd.DataFrame):
        with duckdb.connect() as con:
            yield con.from_df(base)
    else:
        yield base


def pattern_counts(
    base: pd.DataFrame | duckdb.DuckDBPyRelation, config: StatsConfig | None = None
) -> pd.DataFrame:
    """Covariate-pattern counts of the risk base, the input of `compare_providers`.

    `base` is a DataFrame or a DuckDB relation (what a dbt-duckdb Python model gets from
    `dbt.ref`), with the columns tender_area, measure, as_of_month, provider_id, outcome
    (boolean or 0/1) and the covariates of stats.yaml."""
    config = config or load_stats_config()
    with as_relation(base) as relation:
        return count_patterns(relation, config)


def area_measures(relation: duckdb.DuckDBPyRelation) -> list[tuple[object, object]]:
    """The (tender_area, measure) pairs present in the risk base, in order."""
    query = f"select distinct tender_area, measure from base where {OUTCOME} is not null order by all"
    return [tuple(row) for row in relation.query("base", query).fetchall()]


def count_patterns(
    relation: duckdb.DuckDBPyRelation,
    config: StatsConfig,
    tender_area: object = None,
    measure: object = None,
    after: object = None,
) -> pd.DataFrame:
    """Pattern counts of the whole base, or of one tender area and measure, and only of the
    as-of months after `after` if given (an incremental build: the filters reach into the
    risk-base view, so only that part of it is computed)."""
    require_columns(relation.columns, [*GROUP_KEYS, PROVIDER, OUTCOME, *config.covariates], "the risk base")
    where = "".join(
        f" and {column} = {literal(value)}"
        for column, value in (("tender_area", tender_area), ("measure", measure))
        if value is not None
    ) + (f" and as_of_month > {literal(after)}" if after is not None else "")
    table = relation.query("base", pattern_sql(config, where=where)).arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    # Text columns as categoricals: millions of repeated strings are the slow part of going to
    # pandas, and the fits need integer level codes anyway.
    text = [
        i
        for i, f in enumerate(table.schema)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    for i in text:
        table = table.set_column(i, table.field(i).name, pc.dictionary_encode(table.column(i)))
    return table.to_pandas()
