"""The small pandas frames Great Expectations judges, one per landing suite and run, each
covering every landing table (a row names its extract):

* schema:     one row per landing column (column_key = extract.column, its DuckDB type)
* deliveries: one row per delivery: rows, load log, quarantine, volume against the previous
              deliveries, freshness against the reference date, duplicate keys, the share of
              ended rows without an end reason, orphans against the parents loaded so far
* columns:    one row per delivery x contract column: empty values, fill against the previous
              deliveries, date and number bounds
* codes:      one row per delivery x code column x value, with its row count

Why long frames over all tables instead of a frame per table: GX spends ~20 ms per expectation
and ~0.1 s per validation, whatever the frame's size; a check whose bound is the same for many
columns and tables is then one expectation (with a row condition naming the columns), which
keeps a city-scale validation within its 15 s.

Column names of the frames are the constants and helpers below, which the suites use too."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from pipeline.cpr import scrub
from pipeline.quality.config import Landing, Volume
from pipeline.quality.layout import BIRTH_DATE, LandingTable
from pipeline.quality.profile import DeliveryProfile
from pipeline.sql import ident

# Longest code value shown in a result: an unknown code is free text that could hold anything.
_SHOWN_CHARS = 40
DELIVERY_KEYS = ["extract", "load_id", "file"]
SCHEMA_COLUMNS = ["extract", "column_name", "column_key", "data_type", "key_type"]
COLUMN_FRAME = [
    *DELIVERY_KEYS,
    "column_key",
    "rows",
    "nulls",
    "fill_share",
    "fill_previous",
    "fill_ratio",
    "earliest",
    "days_after_delivery",
    "oldest_age",
    "minimum",
    "maximum",
]
CODES_FRAME = [*DELIVERY_KEYS, "column_key", "value", "rows"]


def column_key(extract: str, column: str) -> str:
    """`extract.column`: how a frame row and a suite's row condition name a landing column."""
    return f"{extract}.{column}"


def key_type(key: str, sql_type: str) -> str:
    """`extract.column TYPE`: a column with its type, as the schema suite lists them."""
    return f"{key} {sql_type}"


def orphan_col(column: str) -> str:
    return f"orphan_share_{column}"


def orphan_count_col(column: str) -> str:
    return f"orphans_{column}"


def orphan_critical_col(column: str) -> str:
    """The share the critical bound judges: empty below the configured number of orphan rows."""
    return f"orphan_share_{column}_critical"


def delivery_frame_columns(reference_columns: list[str]) -> list[str]:
    return [
        *DELIVERY_KEYS,
        "delivery_date",
        "rows",
        "rows_logged",
        "quarantine_share",
        "previous_median",
        "volume_ratio_newest",
        "volume_ratio_earlier",
        "days_since_delivery",
        "duplicate_key_rows",
        "ended",
        "end_reason_missing_share",
        "under_min_age_rows",
        *[
            name
            for c in reference_columns
            for name in (orphan_col(c), orphan_count_col(c), orphan_critical_col(c))
        ],
    ]


def schema_frame(con: duckdb.DuckDBPyConnection, extracts: list[str]) -> pd.DataFrame:
    """Every column of the landing tables with its DuckDB type."""
    frame = con.execute(
        "SELECT table_name AS extract, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'landing' AND list_contains(?, table_name) "
        "ORDER BY table_name, ordinal_position",
        [extracts],
    ).df()
    frame["column_key"] = [
        column_key(e, c) for e, c in zip(frame["extract"], frame["column_name"], strict=True)
    ]
    frame["key_type"] = [key_type(k, t) for k, t in zip(frame["column_key"], frame["data_type"], strict=True)]
    return frame[SCHEMA_COLUMNS]


def present_columns(schema: pd.DataFrame, extract: str) -> set[str]:
    return set(schema.loc[schema["extract"] == extract, "column_name"])


@dataclass(frozen=True)
class Delivery:
    """A delivery of an extract as meta.loads and landing know it."""

    load_id: int
    file: str
    delivery_date: date
    file_hash: str | None
    rows: int
    rows_logged: int | None
    rows_read: int | None
    rows_quarantined: int | None


def deliveries(con: duckdb.DuckDBPyConnection, table: LandingTable) -> list[Delivery]:
    """Every delivery of the extract, in delivery order: the loads meta.loads records as loaded,
    and any load that has landing rows without a record (which the load-log check reports)."""
    rows = con.execute(
        f"""
        WITH landed AS (
            SELECT _load_id AS load_id, any_value(_file) AS file, any_value(_delivery_date) AS delivery_date,
                   count(*) AS rows
            FROM landing.{ident(table.name)} GROUP BY _load_id
        ), logged AS (
            SELECT load_id, file, delivery_date, file_hash, rows_read, rows_loaded, rows_quarantined
            FROM meta.loads WHERE status = 'loaded' AND extract = ?
        )
        SELECT coalesce(g.load_id, l.load_id), coalesce(g.file, l.file),
               coalesce(g.delivery_date, l.delivery_date),
               g.file_hash, coalesce(l.rows, 0), g.rows_loaded, g.rows_read, g.rows_quarantined
        FROM logged g FULL JOIN landed l ON g.load_id = l.load_id
        ORDER BY 3, 1
        """,
        [table.name],
    ).fetchall()
    return [Delivery(*row) for row in rows]


def orphan_counts(
    con: duckdb.DuckDBPyConnection, table: LandingTable, present: set[str]
) -> dict[str, dict[int, int]]:
    """Per reference column: rows per delivery whose parent key is in no delivery of the parent."""
    out: dict[str, dict[int, int]] = {}
    for ref in table.references:
        if ref.column not in present:
            continue
        col, parent = ident(ref.column), ident(ref.parent_column)
        rows = con.execute(
            f"""
            SELECT c._load_id, count(*) FILTER (WHERE c.{col} IS NOT NULL AND p.k IS NULL)
            FROM landing.{ident(table.name)} c
            LEFT JOIN (SELECT DISTINCT {parent} AS k FROM landing.{ident(ref.parent_extract)}) p
                ON c.{col} = p.k
            GROUP BY 1
            """
        ).fetchall()
        out[ref.column] = {int(load_id): int(n) for load_id, n in rows}
    return out


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _age(born: date | None, on: date) -> int | None:
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def relative(
    values: list[float | None], volume: Volume, floor: float = 0.0
) -> tuple[list[float | None], list[float | None]]:
    """Per delivery, in order: the median of the value over the previous deliveries (None with
    fewer than volume.min_previous of them, or when it is below `floor`) and value / median."""
    medians: list[float | None] = []
    for i in range(len(values)):
        previous = [v for v in values[max(0, i - volume.previous_deliveries) : i] if v is not None]
        median = statistics.median(previous) if len(previous) >= volume.min_previous else None
        medians.append(median if median is not None and median >= floor else None)
    return medians, [_ratio(v, m) for v, m in zip(values, medians, strict=True)]


@dataclass(frozen=True)
class TableFacts:
    """Everything the frames of one landing table are built from, gathered before."""

    table: LandingTable
    present: set[str]
    deliveries: list[Delivery]
    profiles: dict[int, DeliveryProfile]
    orphans: dict[str, dict[int, int]]
    reference_date: date
    config: Landing

    def _keys(self, d: Delivery) -> dict[str, object]:
        return {"extract": self.table.name, "load_id": d.load_id, "file": d.file}

    def delivery_records(self) -> list[dict[str, object]]:
        """One record per delivery (see the module docstring)."""
        items = self.deliveries
        volume = self.config.volume
        medians, ratios = relative([d.rows for d in items], volume, volume.min_median_rows)
        records = []
        for i, d in enumerate(items):
            newest = i == len(items) - 1
            profile = self.profiles.get(d.load_id)
            record: dict[str, object] = {
                **self._keys(d),
                "delivery_date": d.delivery_date,
                "rows": d.rows,
                "rows_logged": d.rows_logged,
                "quarantine_share": _ratio(d.rows_quarantined, d.rows_read),
                "previous_median": medians[i],
                "volume_ratio_newest": ratios[i] if newest else None,
                "volume_ratio_earlier": None if newest else ratios[i],
                "days_since_delivery": (self.reference_date - d.delivery_date).days if newest else None,
            }
            if profile is not None:
                record["duplicate_key_rows"] = profile.duplicate_key_rows
                record["ended"] = profile.ended
                record["end_reason_missing_share"] = _ratio(profile.ended_without_reason, profile.ended)
                record["under_min_age_rows"] = profile.under_min_age
            for column, counts in self.orphans.items():
                orphans = counts.get(d.load_id, 0)
                share = _ratio(orphans, d.rows)
                record[orphan_col(column)] = share
                record[orphan_count_col(column)] = orphans
                floor = self.config.orphans.critical_min_rows
                record[orphan_critical_col(column)] = share if orphans >= floor else None
            records.append(record)
        return records

    def column_records(self) -> list[dict[str, object]]:
        """One record per delivery and contract column of the landing table."""
        records = []
        fill = self._fill()
        for i, d in enumerate(self.deliveries):
            profile = self.profiles.get(d.load_id)
            if profile is None:
                continue
            for column in [c for c in self.table.required + self.table.optional if c in self.present]:
                record = {**self._keys(d), "column_key": column_key(self.table.name, column), "rows": d.rows}
                record["nulls"] = profile.nulls.get(column)
                if column in fill:
                    shares, previous, ratios = fill[column]
                    record.update(fill_share=shares[i], fill_previous=previous[i], fill_ratio=ratios[i])
                record.update(_bounds(self.table, column, profile, d.delivery_date))
                records.append(record)
        return records

    def _fill(self) -> dict[str, tuple[list, list, list]]:
        """Per optional column: fill shares, their median over the previous deliveries, the ratio."""
        out = {}
        exempt = set(self.config.column_fill.exempt)
        for column in self.table.optional:
            if column_key(self.table.name, column) in exempt:
                continue
            shares = []
            for d in self.deliveries:
                profile = self.profiles.get(d.load_id)
                nulls = profile.nulls.get(column) if profile else None
                shares.append(None if nulls is None or not d.rows else 1 - nulls / d.rows)
            floor = self.config.column_fill.min_previous_share
            previous, ratios = relative(shares, self.config.volume, floor)
            out[column] = (shares, previous, ratios)
        return out

    def code_records(self) -> list[dict[str, object]]:
        """One record per delivery, code column and value; values masked and cut."""
        return [
            {
                **self._keys(d),
                "column_key": column_key(self.table.name, column),
                "value": shown_value(value),
                "rows": n,
            }
            for d in self.deliveries
            if (profile := self.profiles.get(d.load_id)) is not None
            for column, counts in profile.codes.items()
            for value, n in counts.items()
        ]


def _bounds(table: LandingTable, column: str, profile: DeliveryProfile, delivered: date) -> dict[str, object]:
    """Date bounds (as earliest date, days after the delivery, or the oldest age for birth
    dates, so that no birth date is shown) and number bounds of one column in one delivery."""
    if column in table.dates:
        low, high = _as_date(profile.minimum.get(column)), _as_date(profile.maximum.get(column))
        out: dict[str, object] = {"days_after_delivery": (high - delivered).days if high else None}
        if column == BIRTH_DATE:
            out["oldest_age"] = _age(low, delivered)
        else:
            out["earliest"] = low
        return out
    if column in {c.name for c in table.bounded_numbers}:
        return {"minimum": profile.minimum.get(column), "maximum": profile.maximum.get(column)}
    return {}


def shown_value(value: str) -> str:
    """A code value as results and the quality page show it: CPR-like digits masked, long text cut."""
    text = scrub(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def landing_frames(
    facts: list[TableFacts], schema: pd.DataFrame, reference_columns: list[str]
) -> dict[str, pd.DataFrame]:
    """The four landing frames by suite kind."""
    return {
        "schema": schema,
        "deliveries": pd.DataFrame.from_records(
            [r for f in facts for r in f.delivery_records()],
            columns=delivery_frame_columns(reference_columns),
        ),
        "columns": pd.DataFrame.from_records(
            [r for f in facts for r in f.column_records()], columns=COLUMN_FRAME
        ),
        "codes": pd.DataFrame.from_records([r for f in facts for r in f.code_records()], columns=CODES_FRAME),
    }
