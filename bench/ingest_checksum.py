"""An order-independent checksum of what `provmon ingest` wrote: landing tables, quarantine
rows and the loads' counts, without the timestamps of the run.

    python bench/ingest_checksum.py --warehouse bench/cache/city/work/warehouse.duckdb

Two warehouses ingested from the same deliveries with the same key print the same lines
exactly when their rows are equal as multisets, whatever order they were written in: to
compare ingestion code before and after a change that should not alter its output."""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

# Columns that say when something ran, not what was loaded.
RUN_TIMES = {"quarantine.rows": ("quarantined_at",), "meta.loads": ("started_at", "finished_at")}


def tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The landing tables, quarantine.rows and meta.loads, as schema.table."""
    landing = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'landing' ORDER BY table_name"
    ).fetchall()
    return [f"landing.{name}" for (name,) in landing] + list(RUN_TIMES)


def checksum(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """(rows, sum of the rows' hashes): equal for equal multisets of rows."""
    excluded = RUN_TIMES.get(table, ())
    columns = f"* EXCLUDE ({', '.join(excluded)})" if excluded else "*"
    schema, name = table.split(".")
    source = f'(SELECT {columns} FROM "{schema}"."{name}") t'
    rows, total = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0)::HUGEINT FROM {source}").fetchone()
    return int(rows), int(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    args = parser.parse_args(argv)
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        for table in tables(con):
            rows, total = checksum(con, table)
            print(f"{table}: {rows} rows, checksum {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
