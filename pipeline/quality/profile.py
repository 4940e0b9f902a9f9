"""Per-delivery profiles: the few numbers per delivery that the landing checks judge, computed
by DuckDB and cached in meta.quality_profiles.

Why profiles instead of handing the landing rows to Great Expectations: at national scale
landing holds ~100 M rows, which pandas cannot hold in the time budget, and GX 1.24 has no
working DuckDB path. Every landing check is a statement about a whole delivery that a small
aggregate decides exactly:

* codes in the vocabulary    <=> every distinct value of the delivery is in it (value counts)
* no key twice in a delivery  <=> rows - distinct keys = 0 (duplicate_key_rows)
* dates/numbers in bounds     <=> min and max of the delivery are in bounds
* required column never empty <=> its null count is 0
* ended without end reason    <=> a share of two counts

A delivery's rows never change (landing is append-only), so its profile is computed once and
reused by every later run; only the judging (GX, with the current suites) runs every time.
The cache key holds the load id, the file hash, the delivery's row count in landing and a
version of everything the profile depends on (the contract and the end-reason rule), so a
changed contract re-profiles. (Rows edited in place, which ingestion never does, would need
`DELETE FROM meta.quality_profiles`.)

No person-level value is in a profile: counts, bounds of dates, code values."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from pipeline.contract import CONTRACT_FILE
from pipeline.quality.config import EndReasonMissing, MinAge
from pipeline.quality.layout import LandingTable
from pipeline.sql import ident, literal

# Bump when the profile's content or SQL changes meaning.
PROFILE_FORMAT = 1
PROFILES = "meta.quality_profiles"
PROFILES_DDL = f"""CREATE TABLE IF NOT EXISTS {PROFILES} (
    load_id BIGINT NOT NULL,
    extract VARCHAR NOT NULL,
    file_hash VARCHAR,
    rows BIGINT NOT NULL,
    profile_version VARCHAR NOT NULL,
    profile VARCHAR NOT NULL,
    profiled_at TIMESTAMP NOT NULL
)"""


@dataclass
class DeliveryProfile:
    """What the checks need from one delivery's landing rows."""

    duplicate_key_rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    minimum: dict[str, Any] = field(default_factory=dict)
    maximum: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, int]] = field(default_factory=dict)
    ended: int | None = None
    ended_without_reason: int | None = None
    under_min_age: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=_iso)

    @classmethod
    def from_json(cls, text: str) -> DeliveryProfile:
        return cls(**json.loads(text))


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a profile")


def profile_version(rule: EndReasonMissing, young: MinAge | None = None) -> str:
    """Changes when anything a cached profile depends on changes."""
    parts = [str(PROFILE_FORMAT), CONTRACT_FILE.read_text(encoding="utf-8"), rule.model_dump_json()]
    parts += [young.model_dump_json()] if young else []
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


class Profiler:
    """Profiles deliveries of one landing table with the columns it really has (a missing
    column is the schema check's finding; the other checks still run).

    Counts, bounds and code values come from one grouped query per table over all deliveries
    to profile; duplicate keys from one query per delivery, whose hash table is then bounded
    by the largest delivery instead of the whole table."""

    def __init__(
        self, table: LandingTable, present: set[str], rule: EndReasonMissing, young: MinAge | None = None
    ) -> None:
        self.table = table
        self.present = present
        self.rule = rule if rule.extract == table.name else None
        self.young = young if young and young.extract == table.name else None
        self.source = f"landing.{ident(table.name)}"

    def _has(self, *columns: str) -> bool:
        return all(c in self.present for c in columns)

    @staticmethod
    def _loads(load_ids: list[int]) -> str:
        return f"_load_id IN ({', '.join(str(int(i)) for i in load_ids)})"

    def aggregate_sql(self, load_ids: list[int]) -> str:
        """Per delivery: null counts, bounds, and the end-reason counts."""
        parts = ["_load_id"]
        for col in [*self.table.required, *self.table.optional]:
            if self._has(col):
                parts.append(f"count(*) FILTER (WHERE {ident(col)} IS NULL) AS {ident('null:' + col)}")
        for col in self.table.dates + [c.name for c in self.table.bounded_numbers]:
            if self._has(col):
                parts.append(f"min({ident(col)}) AS {ident('min:' + col)}")
                parts.append(f"max({ident(col)}) AS {ident('max:' + col)}")
        parts += self._end_reason_parts()
        parts += self._min_age_parts()
        return f"SELECT {', '.join(parts)} FROM {self.source} WHERE {self._loads(load_ids)} GROUP BY _load_id"

    def _end_reason_parts(self) -> list[str]:
        rule = self.rule
        if rule is None or not self._has(rule.reason_column, *rule.end_columns):
            return []
        end = f"coalesce({', '.join(ident(c) for c in rule.end_columns)})"
        ended = f"{end} < _delivery_date - INTERVAL ({int(rule.grace_days)}) DAY"
        reason = ident(rule.reason_column)
        return [
            f"count(*) FILTER (WHERE {ended}) AS ended",
            f"count(*) FILTER (WHERE {ended} AND {reason} IS NULL) AS ended_without_reason",
        ]

    def _min_age_parts(self) -> list[str]:
        """Rows of citizens younger than the target groups' minimum age at the date column."""
        young = self.young
        if young is None or not self._has(young.birth_column, young.date_column):
            return []
        birthday = f"{ident(young.birth_column)} + INTERVAL ({int(young.min_years)}) YEAR"
        return [f"count(*) FILTER (WHERE {birthday} > {ident(young.date_column)}) AS under_min_age"]

    def duplicates_sql(self) -> str | None:
        """Rows beyond the first of each business key within the delivery `$load_id` (exact)."""
        if not self._has(*self.table.key):
            return None
        key = ", ".join(ident(c) for c in self.table.key)
        return (
            f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {self.source} "
            f"WHERE _load_id = $load_id GROUP BY {key} HAVING count(*) > 1)"
        )

    def codes_sql(self, load_ids: list[int]) -> str | None:
        """Value counts of every code column per delivery (NULL is not a code)."""
        selects = [
            f"SELECT _load_id, {literal(col)} AS column_name, CAST({ident(col)} AS VARCHAR) AS value, "
            f"count(*) AS n FROM {self.source} WHERE {self._loads(load_ids)} AND {ident(col)} IS NOT NULL "
            f"GROUP BY _load_id, {ident(col)}"
            for col in self.table.codes
            if self._has(col)
        ]
        return " UNION ALL ".join(selects) or None

    def profile(self, con: duckdb.DuckDBPyConnection, load_ids: list[int]) -> dict[int, DeliveryProfile]:
        """Profiles of the given deliveries (a delivery without landing rows has an empty one)."""
        out = {load_id: DeliveryProfile() for load_id in load_ids}
        if not load_ids:
            return out
        cursor = con.execute(self.aggregate_sql(load_ids))
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            result = out[row.pop("_load_id")]
            result.ended, result.ended_without_reason = (
                row.pop("ended", None),
                row.pop("ended_without_reason", None),
            )
            result.under_min_age = row.pop("under_min_age", None)
            for name, value in row.items():
                kind, _, col = name.partition(":")
                {"null": result.nulls, "min": result.minimum, "max": result.maximum}[kind][col] = value
        if sql := self.codes_sql(load_ids):
            for load_id, column, value, n in con.execute(sql).fetchall():
                out[load_id].codes.setdefault(column, {})[value] = int(n)
        if sql := self.duplicates_sql():
            for load_id in load_ids:
                out[load_id].duplicate_key_rows = int(con.execute(sql, {"load_id": load_id}).fetchone()[0])
        return out


CacheKey = tuple[int, str | None, int]  # load_id, file_hash, rows in landing


def cached_profiles(
    con: duckdb.DuckDBPyConnection, extract: str, version: str
) -> dict[CacheKey, DeliveryProfile]:
    """Cached profiles of an extract for the current version."""
    rows = con.execute(
        f"SELECT load_id, file_hash, rows, profile FROM {PROFILES} WHERE extract = ? AND profile_version = ?",
        [extract, version],
    ).fetchall()
    return {(load_id, file_hash, n): DeliveryProfile.from_json(text) for load_id, file_hash, n, text in rows}


def store_profiles(
    con: duckdb.DuckDBPyConnection,
    extract: str,
    version: str,
    profiles: dict[CacheKey, DeliveryProfile],
) -> None:
    """Cache the profiles (replacing an older one of the same delivery and version)."""
    if not profiles:
        return
    keys = list(profiles)
    frame = pd.DataFrame(
        {
            "load_id": [k[0] for k in keys],
            "file_hash": [k[1] for k in keys],
            "rows": [k[2] for k in keys],
            "profile": [p.to_json() for p in profiles.values()],
        }
    )
    con.register("new_profiles", frame)
    try:
        con.execute(
            f"DELETE FROM {PROFILES} WHERE extract = ? AND profile_version = ? "
            "AND load_id IN (SELECT load_id FROM new_profiles)",
            [extract, version],
        )
        con.execute(
            f"INSERT INTO {PROFILES} SELECT load_id, ?, file_hash, rows, ?, profile, "
            "current_localtimestamp() FROM new_profiles",
            [extract, version],
        )
    finally:
        con.unregister("new_profiles")
