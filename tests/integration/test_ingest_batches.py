"""Several deliveries of one extract in one run are checked together: every row, reason,
record and extra column must still belong to its own file, keys repeat only within a file,
and a file that fails only when read in full is refused alone."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.ingest import IngestSummary, ingest_paths
from tests.fixtures.raw_fixtures import KEY, delivery_path, landing_rows, plain_table, query, write_csv


@pytest.fixture(scope="module")
def three_months(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestSummary]:
    """January plain; February with an extra column `note`, a bad row and a repeated key;
    March with the columns reversed, another extra column and a bad CPR."""
    raw_dir = tmp_path_factory.mktemp("batches") / "raw"
    header, rows = plain_table("referrals")
    write_csv(delivery_path(raw_dir, "referrals", day="20240131"), header, rows)
    february = [[*row, f"feb {i}"] for i, row in enumerate(rows, 1)]
    february[1][header.index("end_reason")] = "fired"
    february.append(list(february[0]))  # an exact duplicate of row 1 of this file
    write_csv(delivery_path(raw_dir, "referrals", day="20240229"), [*header, "note"], february)
    march = [[*reversed(row), "x"] for row in rows[:3]]
    march[2][len(header) - 1 - header.index("cpr")] = "320150-5001"
    write_csv(delivery_path(raw_dir, "referrals", day="20240331"), [*reversed(header), "kommentar"], march)
    warehouse = raw_dir.parent / "warehouse.duckdb"
    return warehouse, ingest_paths(warehouse, raw_dir, KEY)


def test_each_file_keeps_its_rows_counts_and_extra_columns(three_months: tuple[Path, IngestSummary]) -> None:
    warehouse, summary = three_months
    assert [(f.path.name, f.rows_read, f.rows_loaded, f.rows_quarantined) for f in summary.files] == [
        ("referrals_20240131.csv", 5, 5, 0),
        ("referrals_20240229.csv", 6, 4, 2),
        ("referrals_20240331.csv", 3, 2, 1),
    ]
    rows = landing_rows(warehouse, "referrals", keep=("_file", "_row_number", "_extra"))
    loaded = [(r["_file"][10:18], r["referral_id"], r["_row_number"]) for r in rows]
    assert loaded == [
        *[("20240131", f"R00{i}", i) for i in range(1, 6)],
        ("20240229", "R001", 1), ("20240229", "R003", 3), ("20240229", "R004", 4), ("20240229", "R005", 5),
        ("20240331", "R001", 1), ("20240331", "R002", 2),
    ]  # fmt: skip
    extras = [(r["_file"][10:18], r["_extra"] and json.loads(r["_extra"])) for r in rows]
    assert extras[:5] == [("20240131", None)] * 5
    assert extras[5:] == [
        ("20240229", {"note": "feb 1"}), ("20240229", {"note": "feb 3"}), ("20240229", {"note": "feb 4"}),
        ("20240229", {"note": "feb 5"}), ("20240331", {"kommentar": "x"}), ("20240331", {"kommentar": "x"}),
    ]  # fmt: skip


def test_quarantined_rows_name_their_own_file_row_and_columns(
    three_months: tuple[Path, IngestSummary],
) -> None:
    warehouse, _ = three_months
    rows = query(
        warehouse,
        "SELECT q.file, q.row_number, q.line_number, q.column_name, q.reason, q.record, l.file "
        "FROM quarantine.rows q JOIN meta.loads l USING (load_id) ORDER BY q.load_id, q.row_number",
    )
    assert [r[:5] for r in rows] == [
        ("referrals_20240229.csv", 2, 3, "end_reason",
         "unknown end_reason 'fired' (allowed: completed, job, education, dropout, sick, moved, rebooked, "
         "other; or map it under extracts.referrals.codes.end_reason in the site mapping)"),
        ("referrals_20240229.csv", 6, 7, "referral_id", "exact duplicate of row 1"),
        ("referrals_20240331.csv", 3, 4, "cpr", "invalid CPR 320150-****: day 32 is not a date"),
    ]  # fmt: skip
    assert all(file == load_file for file, *_, load_file in rows)
    records = [json.loads(r[5]) for r in rows]
    assert "note" in records[0] and "kommentar" not in records[0]
    assert "kommentar" in records[2] and "note" not in records[2]
    header, _ = plain_table("referrals")
    assert list(records[2]) == [*reversed(header), "kommentar"]  # the file's own columns, in its order


def test_a_file_corrupt_inside_is_refused_alone_and_its_batch_still_loads(tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    header, rows = plain_table("referral_results")
    write_csv(delivery_path(raw_dir, "referral_results", day="20240131"), header, rows)
    table = pa.table({name: [row[i] for row in rows] * 500 for i, name in enumerate(header)})
    bad = delivery_path(raw_dir, "referral_results", "parquet", day="20240229")
    pq.write_table(table, bad, compression="none")
    damaged = bytearray(bad.read_bytes())
    damaged[200:400] = b"\xff" * 200  # the footer (columns) reads, the data does not
    bad.write_bytes(bytes(damaged))
    write_csv(delivery_path(raw_dir, "referral_results", day="20240331"), header, rows[:1])
    warehouse = tmp_path / "warehouse.duckdb"
    summary = ingest_paths(warehouse, raw_dir, KEY)
    assert [(f.path.name, f.status, f.rows_loaded) for f in summary.files] == [
        ("referral_results_20240131.csv", "loaded", 3),
        ("referral_results_20240229.parquet", "refused", 0),
        ("referral_results_20240331.csv", "loaded", 1),
    ]
    assert (summary.files[1].message or "").startswith("cannot be loaded: ")
    assert query(warehouse, "SELECT count(*) FROM landing.referral_results") == [(4,)]
