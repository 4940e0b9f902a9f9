"""Compare the outputs of two `provmon run`s: the Parquet marts and decision tables row for row
and bit for bit (in the order of each mart's grain), the reports as text without what differs
between runs (run number, times, the folders' paths), the workbooks cell for cell.

    .venv/bin/python scripts/compare_outputs.py BEFORE AFTER

BEFORE and AFTER are the folders holding each run's outputs (the warehouse's folder with its
`marts/`, and the reports' `--out-dir` inside it). Prints one line per difference and a summary;
exit 0 when equal, 1 when not, 2 when a folder is missing. The logic is pipeline/equivalence.py."""

import sys

from pipeline.equivalence import main

if __name__ == "__main__":
    sys.exit(main())
