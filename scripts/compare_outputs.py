"""Compare the outputs of two `provmon run`s: the Parquet marts and decision tables row for row
and bit for bit (in the order of each mart's grain), the reports as text without what differs
between runs (run number, time, the folders' paths), the workbooks cell for cell.

    .venv/bin/python scripts/compare_outputs.py BEFORE AFTER

BEFORE and AFTER are the folders holding each run's outputs (the warehouse's folder with its
`marts/`, and the reports' `--out-dir` inside it or beside it). Prints one line per difference
and a summary; exit 0 when equal, 1 when not, 2 when a folder is missing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.build import PROJECT_DIR
from pipeline.equivalence import CompareError, compare_trees, model_grains, output_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="outputs of the first run")
    parser.add_argument("after", type=Path, help="outputs of the second run")
    args = parser.parse_args(argv)
    try:
        differences = list(compare_trees(args.before, args.after, model_grains(PROJECT_DIR)))
    except CompareError as error:
        print(f"compare_outputs: error: {error}", file=sys.stderr)
        return 2
    for difference in differences:
        print(difference)
    files = len(output_files(args.before) | output_files(args.after))
    if differences:
        changed = len({d.path for d in differences})
        print(f"compare_outputs: {len(differences)} differences in {changed} of {files} files")
        return 1
    print(f"compare_outputs: equal ({files} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
