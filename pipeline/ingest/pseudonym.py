"""Pseudonymisation at ingestion: every distinct CPR value of a run is keyed once.

Two tables in the in-memory connection make up the cache: `cpr_values` (each distinct CPR
text as delivered -> person id, or why it is not a CPR) and `persons` (person id ->
person_key, birth_date, sex). Checking and loading are then joins in SQL on a small integer,
and the HMAC, the only step in Python, runs once per person instead of once per register
row. `cpr_values` holds clear CPR numbers and therefore never leaves the in-memory
connection; `persons` holds none."""

from __future__ import annotations

import calendar
from itertools import count

import duckdb
import pyarrow as pa

from pipeline import cpr

CPR_TABLE = "cpr_values"
PERSONS_TABLE = "persons"
_CPR_SCHEMA = pa.schema(
    [("raw", pa.string()), ("pid", pa.int32()), ("problem", pa.string()), ("masked", pa.string())]
)
_PERSON_SCHEMA = pa.schema(
    [
        ("pid", pa.int32()),
        ("person_key", pa.string()),
        ("birth_date", pa.date32()),
        ("sex", pa.string()),
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
        self._pid_by_digits: dict[str, int] = {}
        self._pids = count(1)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {CPR_TABLE} "
            "(raw VARCHAR, pid INTEGER, problem VARCHAR, masked VARCHAR)"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {PERSONS_TABLE} "
            "(pid INTEGER, person_key VARCHAR, birth_date DATE, sex VARCHAR, masked VARCHAR)"
        )

    def add(self, values_sql: str) -> int:
        """Key the values of `values_sql` (a query of distinct trimmed CPR texts, column v)
        that are not in the cache yet; returns how many were new."""
        new = self._con.execute(
            f"SELECT v FROM ({values_sql}) WHERE v IS NOT NULL AND v NOT IN (SELECT raw FROM {CPR_TABLE})"
        ).fetchall()
        values: list[dict[str, object]] = []
        persons: list[dict[str, object]] = []
        for (raw,) in new:
            values.append(self._value(raw, persons))
        self._append(CPR_TABLE, values, _CPR_SCHEMA)
        self._append(PERSONS_TABLE, persons, _PERSON_SCHEMA)
        return len(values)

    def _value(self, raw: str, persons: list[dict[str, object]]) -> dict[str, object]:
        """The cache row of one CPR text; a person seen for the first time is keyed and
        added to `persons`. A malformed value is its own person, keyed as written."""
        info = cpr.parse(raw)
        pid = self._pid_by_digits.get(info.digits) if info else None
        if pid is None:
            pid = next(self._pids)
            if info:
                self._pid_by_digits[info.digits] = pid
            persons.append(
                {
                    "pid": pid,
                    "person_key": cpr.person_key(info.digits if info else raw, self._key),
                    "birth_date": info.birth_date if info else None,
                    "sex": info.sex if info else None,
                    "masked": cpr.mask(raw),
                }
            )
        return {
            "raw": raw,
            "pid": pid,
            "problem": cpr_problem(raw) if info is None else None,
            "masked": cpr.mask(raw),
        }

    def _append(self, table: str, rows: list[dict[str, object]], schema: pa.Schema) -> None:
        if not rows:
            return
        batch = pa.Table.from_pylist(rows, schema=schema)
        self._con.register("pseudonym_batch", batch)
        try:
            self._con.execute(f"INSERT INTO {table} SELECT * FROM pseudonym_batch")
        finally:
            self._con.unregister("pseudonym_batch")
