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
