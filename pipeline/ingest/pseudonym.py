"""Pseudonymisation at ingestion: every distinct CPR value of a run is keyed once.

The cache is a table in the in-memory connection (raw value -> person_key, birth_date, sex,
or the reason it is not a CPR), so that checking and loading are joins in SQL and the HMAC,
the only step in Python, runs once per person instead of once per register row. The table
holds clear CPR numbers and therefore never leaves the in-memory connection."""

from __future__ import annotations

import calendar

import duckdb
import pyarrow as pa

from pipeline import cpr

CACHE_TABLE = "cpr_cache"
_SCHEMA = pa.schema(
    [
        ("raw", pa.string()),
        ("person_key", pa.string()),
        ("birth_date", pa.date32()),
        ("sex", pa.string()),
        ("problem", pa.string()),
        ("masked", pa.string()),
    ]
)


def cpr_problem(raw: str) -> str | None:
    """Why a value is not a valid CPR, in words a person can act on; None when it is one."""
    if cpr.parse(raw) is not None:
        return None
    digits = cpr.normalise(raw)
    if digits is None:
        count = sum(ch.isdigit() for ch in raw)
        if count != 10:
            return f"it has {count} digits, a CPR number has 10 (DDMMYY-SSSS)"
        return "only digits and one hyphen after the 6th digit are allowed (DDMMYY-SSSS)"
    day, month, yy = digits[0:2], int(digits[2:4]), int(digits[4:6])
    if not 1 <= month <= 12:
        return f"month {digits[2:4]} is not a month"
    real_day = int(day) - 60 if int(day) > 60 else int(day)
    year = cpr.century(yy, int(digits[6])) + yy
    if 1 <= real_day <= 31:
        return f"day {day} does not exist in {calendar.month_name[month]} {year}"
    return f"day {day} is not a date"


class PseudonymCache:
    """The CPR values seen so far in this run, keyed; grows file by file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, key: bytes) -> None:
        self._con = con
        self._key = key
        self._by_digits: dict[str, str] = {}
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {CACHE_TABLE} (raw VARCHAR, person_key VARCHAR, "
            "birth_date DATE, sex VARCHAR, problem VARCHAR, masked VARCHAR)"
        )

    def add(self, values_sql: str) -> int:
        """Key the values of `values_sql` (a query with one text column `v`, trimmed) that are
        not in the cache yet; returns how many were new."""
        new = self._con.execute(
            f"SELECT DISTINCT v FROM ({values_sql}) WHERE v IS NOT NULL "
            f"AND v NOT IN (SELECT raw FROM {CACHE_TABLE})"
        ).fetchall()
        if not new:
            return 0
        rows = [self._entry(value) for (value,) in new]
        batch = pa.Table.from_pylist(rows, schema=_SCHEMA)
        self._con.register("cpr_batch", batch)
        try:
            self._con.execute(f"INSERT INTO {CACHE_TABLE} SELECT * FROM cpr_batch")
        finally:
            self._con.unregister("cpr_batch")
        return len(rows)

    def _entry(self, raw: str) -> dict[str, object]:
        info = cpr.parse(raw)
        if info is None:
            return {
                "raw": raw,
                "person_key": cpr.person_key(raw, self._key),
                "birth_date": None,
                "sex": None,
                "problem": cpr_problem(raw),
                "masked": cpr.mask(raw),
            }
        key = self._by_digits.get(info.digits)
        if key is None:
            key = self._by_digits[info.digits] = cpr.person_key(info.digits, self._key)
        return {
            "raw": raw,
            "person_key": key,
            "birth_date": info.birth_date,
            "sex": info.sex,
            "problem": None,
            "masked": cpr.mask(raw),
        }
