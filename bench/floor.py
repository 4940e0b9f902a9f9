"""The floor: the time DuckDB takes to read every raw delivery once.

    python bench/floor.py --raw-dir bench/cache/city/raw

One aggregate over every column of each file (count and max of each), so that every value is
read and split, with nothing else done: no typing, no checks, no pseudonymisation, no writes.
No build can read the data in less, so the benchmark states the build's time as a multiple of
this. The few workbooks are read with openpyxl: DuckDB's excel extension would need a download."""

from __future__ import annotations

import argparse
import codecs
import time
from pathlib import Path

import duckdb
from openpyxl import load_workbook

from pipeline.sql import literal

FORMATS = (".csv", ".parquet", ".xlsx")


def delivery_files(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.glob("*/*") if p.suffix.lower() in FORMATS)


def read_once(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Rows of one file, every value touched once by an aggregate."""
    quoted = literal(path)
    if path.suffix.lower() == ".parquet":
        source = f"read_parquet({quoted})"
    elif path.suffix.lower() == ".xlsx":
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            return sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True)) - 1
        finally:
            workbook.close()
    else:
        source = f"read_csv({quoted}, all_varchar = true, encoding = '{_encoding(path)}')"
    (rows,) = con.execute(f"select count(*), max(columns(*)) from {source}").fetchone()[:1]
    return int(rows)


def _encoding(path: Path) -> str:
    """utf-8 when the bytes are UTF-8, else latin-1 (which reads Windows-1252 bytes just as fast)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "latin-1"
    return "utf-8"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    files = delivery_files(args.raw_dir)
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        rows = sum(read_once(con, path) for path in files)
    print(f"floor: {len(files)} files, {rows:,} rows read once in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
