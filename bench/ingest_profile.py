"""Where ingest's time goes: every DuckDB statement of `provmon ingest` timed, summed per step
(the ingest method that ran it) and per extract, plus the Python time outside DuckDB.

    python bench/ingest_profile.py --raw-dir bench/cache/national/raw --warehouse /tmp/w.duckdb

The warehouse must not exist yet (a full ingest, as the benchmark's ingest stage does). Not
a benchmark (use its numbers for the totals): this one says which statement of which extract
took them; `--cprofile` adds Python's profile, which slows the Python parts down. `--explain
DIR` writes DuckDB's profile (the EXPLAIN ANALYZE tree) of the first statement of each kind
into DIR."""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeline.ingest import ingest_paths
from pipeline.ingest import load as load_module
from pipeline.ingest.pseudonym import resolve_key

_SHOWN_STATEMENTS = 25


class TimedConnection:
    """A DuckDB connection whose execute and executemany are timed, keyed by the calling
    function and the extract the session is working on."""

    def __init__(
        self,
        con: Any,
        times: dict[tuple[str, str], list[float]],
        state: dict[str, str],
        explain: Path | None = None,
    ) -> None:
        self._con = con
        self._times = times
        self._state = state
        self._explain = explain
        self._explained: set[tuple[str, str, str]] = set()
        self.statements: list[tuple[float, str, str, str]] = []

    def _profile_to(self, caller: str, extract: str, sql: str) -> Path | None:
        """The file for DuckDB's profile of this statement: the first statement of each kind
        (caller, extract, its first words) that creates a table or inserts, when asked."""
        words = " ".join(str(sql).split()[:6])
        kind = (caller, extract, re.sub(r'"?[bf][0-9]+_', "", words))
        if self._explain is None or kind in self._explained:
            return None
        if not (words.startswith("CREATE OR REPLACE TEMP TABLE") or words.startswith("INSERT INTO")):
            return None
        self._explained.add(kind)
        self._explain.mkdir(parents=True, exist_ok=True)
        return self._explain / f"{len(self._explained):03d}-{extract}-{caller}.txt"

    def _timed(self, method: str, sql: str, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(2).f_code.co_name
        extract = self._state.get("extract", "-")
        profile = self._profile_to(caller, extract, sql) if method == "execute" else None
        if profile:
            self._con.execute(f"SET profiling_output = '{profile}'")
            self._con.execute("SET enable_profiling = 'query_tree'")
        started = time.perf_counter()
        result = getattr(self._con, method)(sql, *args, **kwargs)
        seconds = time.perf_counter() - started
        if profile:
            self._con.execute("PRAGMA disable_profiling")
        entry = self._times[(caller, extract)]
        entry[0] += seconds
        entry[1] += 1
        self.statements.append((seconds, caller, extract, " ".join(str(sql).split())[:300]))
        return result

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed("execute", sql, *args, **kwargs)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        return self._timed("executemany", sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _instrument(
    times: dict[tuple[str, str], list[float]], state: dict[str, str], explain: Path | None
) -> list[TimedConnection]:
    """Patch IngestSession so that its connection is timed and knows the current extract."""
    cls = load_module.IngestSession
    made: list[TimedConnection] = []
    enter, read, check, write_batch = cls.__enter__, cls._read, cls._check, cls._write_batch

    def __enter__(self: Any) -> Any:
        session = enter(self)
        session.con = TimedConnection(session.con, times, state, explain)
        session.cache._con = session.con
        made.append(session.con)
        return session

    def _read(self: Any, job: Any) -> None:
        state["extract"] = job.delivery.extract
        started = time.perf_counter()
        read(self, job)
        _add(times, ("_read (whole, with Python)", job.delivery.extract), time.perf_counter() - started)

    def _check(self: Any, extract: Any, jobs: list[Any]) -> Any:
        state["extract"] = extract.name
        started = time.perf_counter()
        result = check(self, extract, jobs)
        _add(times, ("_check (whole, with Python)", extract.name), time.perf_counter() - started)
        return result

    def _write_batch(self: Any, batch: Any) -> Any:
        state["extract"] = batch.queries.extract.name
        started = time.perf_counter()
        result = write_batch(self, batch)
        _add(times, ("_write_batch (whole)", batch.queries.extract.name), time.perf_counter() - started)
        return result

    cls.__enter__, cls._read, cls._check, cls._write_batch = __enter__, _read, _check, _write_batch  # type: ignore[method-assign]
    return made


def _add(times: dict[tuple[str, str], list[float]], key: tuple[str, str], seconds: float) -> None:
    times[key][0] += seconds
    times[key][1] += 1


def statement_kind(sql: str) -> str:
    """A statement without its batch's names, cut to the words that tell what it does."""
    words = re.sub(r'"?\b[bf][0-9]+_', "", sql).replace('"', "").split()
    return " ".join(words[:9])[:100]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--cprofile", action="store_true", help="also run cProfile (slows Python down)")
    parser.add_argument("--explain", type=Path, help="folder for DuckDB's profile of each kind of statement")
    args = parser.parse_args(argv)
    if args.warehouse.exists():
        parser.error(f"{args.warehouse} exists: profile a full ingest into a new warehouse")
    times: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    state: dict[str, str] = {}
    made = _instrument(times, state, args.explain)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    key = resolve_key(args.raw_dir)
    after_key = time.perf_counter()
    if args.cprofile:
        profiler.enable()
    summary = ingest_paths(args.warehouse, args.raw_dir, key)
    profiler.disable()
    total = time.perf_counter() - started
    print(summary)
    print(f"total {total:.1f} s; resolve_key (marker hashes) {after_key - started:.1f} s")
    print("\nseconds  calls  step  extract")
    for (step, extract), (seconds, calls) in sorted(times.items(), key=lambda kv: -kv[1][0]):
        if seconds >= 0.05:
            print(f"{seconds:7.1f} {calls:6d}  {step}  {extract}")
    statements = sorted((s for con in made for s in con.statements), reverse=True)
    kinds: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for seconds, _caller, extract, sql in statements:
        _add(kinds, (extract, statement_kind(sql)), seconds)
    print("\nseconds  calls  extract  statement kind")
    for (extract, kind), (seconds, calls) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[:40]:
        print(f"{seconds:7.1f} {calls:6d}  {extract}  {kind}")
    print("\nslowest statements")
    for seconds, caller, extract, sql in statements[:_SHOWN_STATEMENTS]:
        print(f"{seconds:7.1f}  {caller}  {extract}  {sql[:200]}")
    if args.cprofile:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(25)
        print("\ncProfile (tottime: time in the function itself, DuckDB calls included)")
        print(stream.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
