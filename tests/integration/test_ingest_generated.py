"""Ingestion of the generator's small-scale data against the ground truth it writes beside
the files: every file's rows, and exactly the rows it planted to break the contract (plus
its planted duplicates) in quarantine. The generator plants them independently of the
ingestion code, so this checks the quarantine rules from the other side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.generate import generate
from pipeline.ingest import ingest_paths
from pipeline.settings import GROUND_TRUTH_FILE
from tests.fixtures.raw_fixtures import KEY, query


@pytest.mark.integration
def test_every_generated_file_loads_its_rows_and_quarantines_what_was_planted(tmp_path: Path) -> None:
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    generate(scale="small", seed=3, out=raw_dir)
    truth = json.loads((raw_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))["files"]
    summary = ingest_paths(warehouse, raw_dir, KEY)
    assert summary.refused == []
    loads = {
        f"{extract}/{file}": (rows_read, quarantined)
        for extract, file, rows_read, quarantined in query(
            warehouse, "SELECT extract, file, rows_read, rows_quarantined FROM meta.loads"
        )
    }
    expected = {
        name: (f["rows"], f["rows_breaking_contract"] + f["planted"].get("duplicate", 0))
        for name, f in truth.items()
    }
    assert sum(q for _, q in expected.values()) > 0
    assert loads == expected


# The kind of planted dirt a quarantine reason names (pipeline/generate/dirt.py plants each
# bad row with one kind; a duplicate copies a clean row).
_REASON_KIND = {
    "invalid_cpr": r"^invalid CPR ",
    "bad_date": r" is not a (date|week|month) ",
    "unknown_code": r"^unknown ",
    "end_before_start": r" is before ",
    "negative_hours": r" is below the minimum ",
    "duplicate": r"^exact duplicate of row ",
}


@pytest.mark.integration
def test_quarantine_reasons_of_each_file_are_the_kinds_of_dirt_planted_in_it(tmp_path: Path) -> None:
    """Per file and kind of dirt, as many quarantined rows as the generator planted: not only
    the number of bad rows but which rule caught them, so that a faster ingestion cannot trade
    one reason for another unnoticed."""
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    generate(scale="small", seed=4, out=raw_dir)
    truth = json.loads((raw_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))["files"]
    ingest_paths(warehouse, raw_dir, KEY)
    kind = "CASE " + " ".join(
        f"WHEN regexp_matches(reason, '{pattern}') THEN '{name}'" for name, pattern in _REASON_KIND.items()
    )
    found = {
        (f"{extract}/{file}", reason_kind): count
        for extract, file, reason_kind, count in query(
            warehouse,
            f"SELECT extract, file, {kind} ELSE reason END, count(*) FROM quarantine.rows GROUP BY ALL",
        )
    }
    planted = {(name, k): n for name, f in truth.items() for k, n in f["planted"].items() if n}
    assert len({k for _, k in planted}) == len(_REASON_KIND)
    assert found == planted
