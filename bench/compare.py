"""Does the plain pandas script give the same per-referral measures as fct_referral_outcomes?

    python bench/compare.py --raw-dir bench/cache/city/raw --warehouse bench/cache/city/warehouse.duckdb

Used by tests/integration/test_bench_pandas.py on the small data set (where a difference fails
the test) and by hand on a benchmark warehouse. Joined on referral_id; two values are equal when
both are missing or both are the same (amounts up to rounding in the last digits). Prints
counts and referral ids, never a person's data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

if __package__ in (None, ""):  # run as a script: make `bench` and `pipeline` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pandas_outcomes import load_params, referral_outcomes

FCT = "main.fct_referral_outcomes"
# Measures that are amounts rather than flags, codes, dates or counts.
CONTINUOUS = ("paid_hours_baseline", "paid_hours_followup", "paid_hours_progression", "cost_dkk",
              "attendance_rate")  # fmt: skip
# Two sums of the same doubles in another order agree to about 1e-15; these bounds leave room
# for that and are far below any difference a report could show.
AMOUNT_REL_TOL = 1e-9
AMOUNT_ABS_TOL = 1e-9


def read_fct(warehouse: Path) -> pd.DataFrame:
    """fct_referral_outcomes by referral_id, opened read-only (a build may hold the file)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(f"select * from {FCT}").df().set_index("referral_id")


def mismatches(
    actual: pd.DataFrame, expected: pd.DataFrame, column: str, rel_tol: float = 0.0, abs_tol: float = 0.0
) -> pd.DataFrame:
    """The referrals whose `column` differs: pandas value beside the dbt value. Amounts are
    equal within rel_tol (relative) or abs_tol; everything else must be identical."""
    ours = actual[column].reindex(expected.index)
    theirs = expected[column]
    both_missing = ours.isna().to_numpy() & theirs.isna().to_numpy()
    if column in CONTINUOUS:
        a, b = ours.astype("float64").to_numpy(), theirs.astype("float64").to_numpy()
        with np.errstate(invalid="ignore"):
            same = np.isclose(a, b, rtol=rel_tol, atol=abs_tol)
    else:
        if pd.api.types.is_datetime64_any_dtype(theirs):
            ours, theirs = pd.to_datetime(ours), pd.to_datetime(theirs)
        same = (ours.astype(object) == theirs.astype(object)).fillna(False).to_numpy(dtype=bool)
    differ = ~(same | both_missing)
    return pd.DataFrame({"pandas": ours[differ], "dbt": theirs[differ]})


def compared_columns(actual: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """Every measure both sides have (person_key, names of windows and ids aside)."""
    return [c for c in actual.columns if c in expected.columns]


def compare(
    actual: pd.DataFrame, expected: pd.DataFrame, rel_tol: float = 0.0, abs_tol: float = 0.0
) -> dict[str, pd.DataFrame]:
    """Column -> its mismatches, for every compared column with at least one."""
    columns = compared_columns(actual, expected)
    found = {c: mismatches(actual, expected, c, rel_tol, abs_tol) for c in columns}
    return {c: rows for c, rows in found.items() if len(rows)}


def _shown(value: object) -> str:
    if pd.isna(value):
        return "NULL"
    return repr(float(value)) if isinstance(value, float) else str(value)


def describe(column: str, rows: pd.DataFrame, shown: int = 5) -> str:
    """One line: how many referrals differ and the first few, with both values."""
    examples = "; ".join(
        f"{rid}: pandas {_shown(r.pandas)}, dbt {_shown(r.dbt)}" for rid, r in rows.head(shown).iterrows()
    )
    return f"{column}: {len(rows)} referrals differ ({examples})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args(argv)
    expected = read_fct(args.warehouse)
    as_of = expected["as_of"].iloc[0].date()
    actual = referral_outcomes(args.raw_dir, load_params(as_of=as_of))
    missing = expected.index.difference(actual.index)
    extra = actual.index.difference(expected.index)
    print(f"{len(expected):,} referrals in dbt, {len(actual):,} in pandas as of {as_of}; "
          f"{len(missing)} only in dbt, {len(extra)} only in pandas")  # fmt: skip
    differ = compare(actual, expected, AMOUNT_REL_TOL, AMOUNT_ABS_TOL)
    for column, rows in differ.items():
        print(describe(column, rows))
    print("equal: " + ", ".join(c for c in compared_columns(actual, expected) if c not in differ))
    return 1 if differ or len(missing) or len(extra) else 0


if __name__ == "__main__":
    raise SystemExit(main())
