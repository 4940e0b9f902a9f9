"""The CUSUM thresholds alone (fct_cusum_thresholds' simulation, pipeline/stats/cusum.py
area_thresholds) on a built warehouse, opened read-only, with one or more worker threads.

    python bench/cusum_thresholds.py --warehouse bench/cache/city/work/warehouse.duckdb --workers 1 2

The model runs last in the build, alone on its critical path (issue 19); this times it without
dbt and checks that every worker count gives the same table, bit for bit."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `pipeline` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.sql import ident
from pipeline.stats.cusum import CusumParams, area_thresholds, chart_months, checked_referrals

BUILD_SCHEMA = re.compile(r"provmon_build_(\d+)$")


def newest_build_schema(con: duckdb.DuckDBPyConnection) -> str:
    """The newest build's schema that holds fct_cusum_referrals (the public names are views)."""
    rows = con.execute(
        "select table_schema from information_schema.tables where table_name = 'fct_cusum_referrals'"
    ).fetchall()
    numbered = [(int(m.group(1)), name) for (name,) in rows if (m := BUILD_SCHEMA.match(name))]
    if not numbered:
        raise SystemExit("no provmon_build_N schema with fct_cusum_referrals: build the warehouse first")
    return max(numbered)[1]


def chart_input(warehouse: Path, schema: str | None) -> tuple[pd.DataFrame, list[int]]:
    """The model's input: the checked referrals and the month indices the chart runs over."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        schema = schema or newest_build_schema(con)
        referrals = con.execute(f"select * from {ident(schema)}.fct_cusum_referrals").df()
        spined = ident(f"{schema}_intermediate")
        months = con.execute(f"select as_of_month from {spined}.int_as_of_months_spined").df()
    frame = checked_referrals(referrals)
    return frame, chart_months(frame, months["as_of_month"])[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--schema", help="the build's schema (default: the newest provmon_build_N)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    args = parser.parse_args(argv)
    frame, months = chart_input(args.warehouse, args.schema)
    print(f"{len(frame)} referrals, {frame['tender_area'].nunique()} areas, {len(months)} months")
    first = None
    for workers in args.workers:
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        table = area_thresholds(frame, months, CusumParams(), workers=workers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        same = "" if first is None else f", {'identical' if table.equals(first) else 'DIFFERENT'}"
        print(f"workers {workers}: {wall:.1f} s wall, {cpu:.1f} s CPU (load {load:.1f} before){same}")
        first = table if first is None else first
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
