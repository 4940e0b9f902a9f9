"""Pseudonymisation at ingestion: every distinct CPR value of a run is keyed once.

Two tables in the in-memory connection make up the cache: `cpr_values` (each distinct CPR
text as delivered -> person id, or why it is not a CPR) and `persons` (person id ->
person_key, birth_date, sex). Checking and loading are then joins in SQL on a small integer,
and the HMAC, the only step in Python, runs once per person instead of once per register
row. `cpr_values` holds clear CPR numbers and therefore never leaves the in-memory
connection; `persons` holds none.

The key itself is checked before anything is keyed: the published demo key and short keys
only for folders `provmon generate` wrote (resolve_key), and always the key the warehouse was
filled with (require_same_key)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import logging
import os
from datetime import date
from itertools import count
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline import cpr
from pipeline.errors import ConfigError
from pipeline.ingest.marker import unverified
from pipeline.sql import literal
from pipeline.warehouse import KEY_FINGERPRINT, qualified

log = logging.getLogger(__name__)

CPR_TABLE = "cpr_values"
_BATCH = 100_000
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


# A key for real data: long enough that it cannot be guessed from a person_key and a CPR.
MIN_KEY_CHARS = 32
_NEW_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def resolve_key(raw_dir: Path) -> bytes:
    """The pseudonymisation key for the deliveries in raw_dir, from the environment.

    Real data needs the administration's own key of at least MIN_KEY_CHARS characters. The
    published demo key (the default when none is set) and shorter keys are accepted only for
    a folder that `provmon generate` wrote, as its marker proves (pipeline.ingest.marker)."""
    key = os.environ.get(cpr.KEY_ENV, "")
    if key and key != cpr.DEMO_KEY and len(key) >= MIN_KEY_CHARS:
        return key.encode("utf-8")
    problem = unverified(raw_dir)
    if problem is None:
        if not key or key == cpr.DEMO_KEY:
            log.warning(
                "using the published demo pseudonymisation key (%s is %s): acceptable only for the "
                "synthetic data of `provmon generate`.",
                cpr.KEY_ENV,
                "the demo key" if key else "not set",
            )
            return cpr.DEMO_KEY.encode("utf-8")
        return key.encode("utf-8")
    if not key:
        problem_with_key = f"{cpr.KEY_ENV} is not set"
    elif key == cpr.DEMO_KEY:
        problem_with_key = f"{cpr.KEY_ENV} is the published demo key, with which anyone can recover the CPRs"
    else:
        problem_with_key = f"{cpr.KEY_ENV} has {len(key)} characters, too few to be safe from guessing"
    raise ConfigError(
        f"{problem_with_key}: export {cpr.KEY_ENV}='<the administration's secret key>' (at least "
        f"{MIN_KEY_CHARS} characters; make one with {_NEW_KEY}) before ingesting real deliveries. The demo "
        f"key and shorter keys are only for a folder `provmon generate` wrote, and {problem}"
    )


def require_same_key(con: duckdb.DuckDBPyConnection, catalog: str, key: bytes, warehouse: Path) -> None:
    """Refuse a key other than the one the warehouse was filled with, and record the key's
    fingerprint (never the key) at the first load: under a new key every citizen would get
    a second person_key, and histories would silently split in two."""
    table = qualified(catalog, "meta", KEY_FINGERPRINT)
    mine = cpr.key_fingerprint(key)
    known = [row[0] for row in con.execute(f"SELECT fingerprint FROM {table}").fetchall()]
    if not known:
        con.execute(f"INSERT INTO {table} VALUES (?, current_localtimestamp())", [mine])
        return
    if mine not in known:
        raise ConfigError(
            f"{cpr.KEY_ENV} is not the key the warehouse {warehouse} was filled with (fingerprint "
            f"{known[0][:12]}, this key's {mine[:12]}); under another key every citizen would get a second "
            "person_key. Use the warehouse's key; to rotate the key, ingest every delivery again into a new "
            "warehouse (--warehouse NEW_FILE) with the new key and use that one from then on"
        )


def cpr_problem(raw: str) -> str | None:
    """Why a value is not a valid CPR, in words a person can act on; None when it is one."""
    if cpr.parse(raw) is not None:
        return None
    digits = cpr.normalise(raw)
    if digits is None:
        count = sum(ch.isdigit() for ch in raw)
        if count == 9 and raw.strip().isdigit():
            return (
                "it has 9 digits: a CPR number stored as a number has lost its leading zero; "
                "store the column as text (DDMMYY-SSSS)"
            )
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
    """The CPR values seen so far in this run, keyed; grows file by file.

    A national run keys millions of distinct values, so the common one (ten ASCII digits, with
    or without the hyphen, a real birth date) takes a short path: its birth date is looked up
    by its first seven digits, its mask is its first six, and the HMAC starts from a copy of
    the keyed one. Every other value goes through pipeline.cpr as before; both give the same
    rows (tests/unit/test_ingest_files.py)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, key: bytes) -> None:
        self._con = con
        self._key = key
        # HMAC keyed once and copied per person: hmac.new would pad and hash the key again
        # for each of millions of persons.
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
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

    def _person_key(self, digits: str) -> str:
        """cpr.person_key of ten digits, from a copy of the keyed HMAC."""
        mac = self._keyed.copy()
        mac.update(digits.encode("ascii"))
        return mac.hexdigest()

    def add(self, values_sql: str) -> int:
        """Key the values of `values_sql` (a query of distinct trimmed CPR texts, column v)
        that are not in the cache yet; returns how many were new. DuckDB picks out the ten
        digits of the values written plainly (see _add_plain); the others go through
        pipeline.cpr one by one."""
        new = self._con.execute(
            f"SELECT new.v, CASE WHEN regexp_full_match(new.v, {literal(_PLAIN_CPR)}) "
            f"THEN replace(new.v, '-', '') END FROM ({values_sql}) new "
            f"ANTI JOIN {CPR_TABLE} known ON known.raw = new.v WHERE new.v IS NOT NULL"
        ).fetchall()
        born: dict[str, date | None] = {}  # first seven digits -> birth date (None: no date)
        for start in range(0, len(new), _BATCH):
            values: dict[str, list[object]] = {name: [] for name in _CPR_SCHEMA.names}
            persons: dict[str, list[object]] = {name: [] for name in _PERSON_SCHEMA.names}
            for raw in self._add_plain(new[start : start + _BATCH], born, values, persons):
                self._add_value(raw, values, persons)
            self._append(CPR_TABLE, values, _CPR_SCHEMA)
            self._append(PERSONS_TABLE, persons, _PERSON_SCHEMA)
        return len(new)

    def _add_plain(
        self,
        rows: list[tuple[str, str | None]],
        born: dict[str, date | None],
        values: dict[str, list[object]],
        persons: dict[str, list[object]],
    ) -> list[str]:
        """_add_value of the valid CPRs written as ten ASCII digits (a hyphen after the sixth
        allowed), given as (raw, digits), in one tight loop without pipeline.cpr's regular
        expressions; returns the other raw values. Their birth date depends on the first
        seven digits only, so it is worked out once per seven."""
        pid_of, pids, others, keyed = self._pid_by_digits, self._pids, [], []
        raws, raw_pids, person_pids, births = (
            values["raw"],
            values["pid"],
            persons["pid"],
            persons["birth_date"],
        )
        for raw, digits in rows:
            if digits is None:
                others.append(raw)
                continue
            head = digits[:7]
            birth = born[head] if head in born else born.setdefault(head, _birth_date(head))
            if birth is None:
                others.append(raw)
                continue
            pid = pid_of.get(digits)
            if pid is None:
                pid = pid_of[digits] = next(pids)
                keyed.append(digits)
                person_pids.append(pid)
                births.append(birth)
            raws.append(raw)
            raw_pids.append(pid)
        values["problem"] += [None] * len(raws)
        values["masked"] += [f"{raw[:6]}-****" for raw in raws]
        persons["person_key"] += [self._person_key(digits) for digits in keyed]
        persons["sex"] += ["M" if digits[9] in "13579" else "F" for digits in keyed]
        persons["masked"] += [f"{digits[:6]}-****" for digits in keyed]
        return others

    def _add_value(self, raw: str, values: dict[str, list[object]], persons: dict[str, list[object]]) -> None:
        """The cache row of one CPR text; a person seen for the first time is keyed and added
        to `persons`. A malformed value is its own person, keyed as written."""
        info = cpr.parse(raw)
        pid = self._pid_by_digits.get(info.digits) if info else None
        if pid is None:
            pid = next(self._pids)
            if info:
                self._pid_by_digits[info.digits] = pid
            persons["pid"].append(pid)
            persons["person_key"].append(cpr.person_key(info.digits if info else raw, self._key))
            persons["birth_date"].append(info.birth_date if info else None)
            persons["sex"].append(info.sex if info else None)
            persons["masked"].append(cpr.mask(raw))
        values["raw"].append(raw)
        values["pid"].append(pid)
        values["problem"].append(cpr_problem(raw) if info is None else None)
        values["masked"].append(cpr.mask(raw))

    def _append(self, table: str, columns: dict[str, list[object]], schema: pa.Schema) -> None:
        if not columns[schema.names[0]]:
            return
        self._con.register("pseudonym_batch", pa.Table.from_pydict(columns, schema=schema))
        try:
            self._con.execute(f"INSERT INTO {table} SELECT * FROM pseudonym_batch")
        finally:
            self._con.unregister("pseudonym_batch")


_PLAIN_CPR = "[0-9]{6}-?[0-9]{4}"  # RE2: ASCII digits only


def _birth_date(head: str) -> date | None:
    """The birth date cpr.parse gives a CPR starting with these seven digits (None when they
    are no date): the day, month, year and the century digit."""
    info = cpr.parse(head + "000")
    return info.birth_date if info else None
