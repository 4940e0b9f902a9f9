"""Only the dbt models fct_referral_outcomes needs, without tests, marts or risk adjustment:
the like-for-like of the pandas script, which computes that table and nothing else.

    python bench/build_fct.py --warehouse bench/cache/city/work/warehouse.duckdb

The full build also tests the data, rolls provider results up month by month and fits the risk
models; this measures what the per-referral measures alone cost in the warehouse."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `pipeline` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.build import dbt_args, run_dbt

SELECTION = ("run", "--select", "+fct_referral_outcomes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    outcome = run_dbt(args.warehouse.resolve(), dbt_args(None, SELECTION))
    seconds = time.perf_counter() - started
    print(f"fct_referral_outcomes and the {outcome.models - 1} models before it in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
