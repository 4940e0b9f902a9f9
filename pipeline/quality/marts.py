"""Frames of the mart suites (fct_referral_outcomes, mart_provider_results), checked after a
build on the Parquet marts or, where none were exported, on the warehouse opened read-only.

As for landing, DuckDB reduces a mart to one profile row (row count, duplicate keys, nulls,
bounds, rows where a <= b fails, values that are not pseudonyms) and to value counts of its
code columns, and Great Expectations judges those. That keeps person-level values (a
person_key, a referral id) out of the results and the data-quality page, and it scales with the mart."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.quality.config import Mart
from pipeline.quality.frames import shown_value
from pipeline.sql import ident, literal

PSEUDONYM_PATTERN = "^[0-9a-f]{64}$"
# Where dbt builds the public tables (dbt_project/profiles.yml: schema main).
WAREHOUSE_SCHEMA = "main"


def null_col(column: str) -> str:
    return f"null_{column}"


def min_col(column: str) -> str:
    return f"{column}_min"


def max_col(column: str) -> str:
    return f"{column}_max"


def not_pseudonym_col(column: str) -> str:
    return f"{column}_not_pseudonym"


def pair_col(low: str, high: str) -> str:
    return f"{low}_above_{high}"


@dataclass(frozen=True)
class MartFrames:
    """The checks of one mart as columns and SQL."""

    name: str
    mart: Mart

    @cached_property
    def codes(self) -> dict[str, list[str]]:
        """Mart columns that hold a contract code column, with its vocabulary."""
        out = {}
        for column in self.mart.contract_columns:
            source = self.mart.contract_column(column)
            if source.codes:
                out[column] = [c.lower() for c in source.codes]
        return out

    @cached_property
    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        """(lower, upper) per bounded column: contract bounds, non-negative columns, shares."""
        out: dict[str, tuple[float | None, float | None]] = {}
        for column in self.mart.contract_columns:
            source = self.mart.contract_column(column)
            if not source.codes and (source.min is not None or source.max is not None):
                out[column] = (source.min, source.max)
        out.update({c: (0.0, None) for c in self.mart.non_negative})
        tolerance = self.mart.tolerance
        out.update({c: (-tolerance, 1.0 + tolerance) for c in self.mart.shares})
        return out

    @property
    def checked_columns(self) -> list[str]:
        """Every column a check reads; the schema suite requires them, in a stable order."""
        columns = [*self.mart.key, *self.mart.pseudonym_columns, *self.mart.contract_columns, *self.bounds]
        columns += [c for pair in self.mart.not_above for c in pair]
        return list(dict.fromkeys(columns))

    def _profile_parts(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(frame column, SQL aggregate, mart columns it reads) of the profile row."""
        mart = self.mart
        key = ", ".join(ident(c) for c in mart.key)
        parts = [
            ("rows", "count(*)", ()),
            ("duplicate_key_rows", f"count(*) - count(DISTINCT ({key}))", tuple(mart.key)),
        ]
        parts += [(null_col(c), f"count(*) FILTER (WHERE {ident(c)} IS NULL)", (c,)) for c in mart.key]
        pattern = literal(PSEUDONYM_PATTERN)
        parts += [
            (
                not_pseudonym_col(c),
                f"count(*) FILTER (WHERE NOT regexp_full_match({ident(c)}, {pattern}))",
                (c,),
            )
            for c in mart.pseudonym_columns
        ]
        for c in self.bounds:
            parts += [(min_col(c), f"min({ident(c)})", (c,)), (max_col(c), f"max({ident(c)})", (c,))]
        tolerance = float(mart.tolerance)
        parts += [
            (
                pair_col(low, high),
                f"count(*) FILTER (WHERE {ident(low)} > {ident(high)} + {tolerance!r})",
                (low, high),
            )
            for low, high in mart.not_above
        ]
        return parts

    @property
    def profile_columns(self) -> list[str]:
        return [name for name, _, _ in self._profile_parts()]

    def empty_profile(self) -> pd.DataFrame:
        """The profile of a mart that does not exist: no rows, nothing else known."""
        return pd.DataFrame({"rows": [0]}).reindex(columns=self.profile_columns)

    def profile_frame(self, con: duckdb.DuckDBPyConnection, relation: str, present: set[str]) -> pd.DataFrame:
        """The one-row profile; an aggregate over a missing column stays empty (the schema suite
        reports the column), so the other checks still run."""
        parts = self._profile_parts()
        selects = [f"{sql} AS {ident(name)}" for name, sql, needs in parts if set(needs) <= present]
        frame = con.execute(f"SELECT {', '.join(selects)} FROM {relation}").df()
        return frame.reindex(columns=self.profile_columns)

    def codes_frame(self, con: duckdb.DuckDBPyConnection, relation: str, present: set[str]) -> pd.DataFrame:
        """Value counts of the code columns (column_name, value, rows)."""
        selects = [
            f"SELECT {literal(c)} AS column_name, CAST({ident(c)} AS VARCHAR) AS value, count(*) AS rows "
            f"FROM {relation} WHERE {ident(c)} IS NOT NULL GROUP BY {ident(c)}"
            for c in self.codes
            if c in present
        ]
        if not selects:
            return pd.DataFrame(columns=["column_name", "value", "rows"])
        frame = con.execute(" UNION ALL ".join(selects)).df()
        frame["value"] = frame["value"].map(shown_value)
        return frame


def parquet_source(marts_dir: Path, name: str) -> str | None:
    """The mart as exported Parquet (one file, or a folder of files), as a DuckDB relation."""
    single = marts_dir / f"{name}.parquet"
    if single.is_file():
        return f"read_parquet({literal(str(single))})"
    folder = marts_dir / name
    if folder.is_dir() and any(folder.rglob("*.parquet")):
        return f"read_parquet({literal(str(folder / '**' / '*.parquet'))})"
    return None
