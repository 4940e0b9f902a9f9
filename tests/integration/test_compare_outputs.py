"""scripts/compare_outputs.py (pipeline.equivalence.main) on two real runs of the small data
set: the session's reported copy (build, decide, report) against a second build, decision and
report of the same warehouse. They are equal (a new run number, build schema and times are not
a difference); one value changed in its last bit, or a changed sentence, is found."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.build import build
from pipeline.equivalence import main
from pipeline.settings import Settings
from tests.conftest import SmallReports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def second_run(warehouse_copy: Callable[[str], Settings]) -> Settings:
    """Another build, decision and report of the small warehouse."""
    from pipeline.decisions.service import decide
    from pipeline.reports import report

    settings = warehouse_copy("second_run")
    build(settings)
    decide(settings)
    report(settings)
    return settings


def outputs(settings: Settings) -> Path:
    """The folder holding a run's warehouse, marts/ and reports/ (tests/conftest.py)."""
    return settings.warehouse.parent


def test_two_runs_of_the_same_data_are_equal(
    small_reports: SmallReports, second_run: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    first = outputs(small_reports.settings)
    assert (first / "marts" / "mart_booking_decisions.parquet").exists()
    assert list((first / "reports").rglob("*.html"))
    assert main([str(first), str(outputs(second_run))]) == 0
    assert "compare_outputs: equal" in capsys.readouterr().out


def test_a_value_changed_in_its_last_bit_and_a_sentence_are_found(
    small_reports: SmallReports, second_run: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(outputs(second_run), changed)
    mart = changed / "marts" / "mart_provider_results.parquet"
    table = pq.read_table(mart)
    row = pc.index(pc.is_valid(table["rate"]), True).as_py()
    rates = table["rate"].to_numpy(zero_copy_only=False).copy()
    rates[row] = np.nextafter(rates[row], 2.0)
    pq.write_table(table.set_column(table.schema.get_field_index("rate"), "rate", pa.array(rates)), mart)
    page = next((changed / "reports").rglob("opfoelgning-*.html"))
    page.write_text(page.read_text(encoding="utf-8").replace("</h1>", " ændret</h1>", 1), encoding="utf-8")

    assert main([str(outputs(small_reports.settings)), str(changed)]) == 1
    lines = capsys.readouterr().out.splitlines()
    key = ", ".join(
        f"{c}={table[c][row].as_py()!r}" for c in ("as_of_month", "provider_id", "tender_area", "measure")
    )
    assert lines[0] == (
        f"marts/mart_provider_results.parquet: rate at {key}: "
        f"{table['rate'][row].as_py()!r} -> {rates[row].item()!r}"
    )
    page_lines = lines[1:-1]
    assert page_lines and all(
        line.startswith(f"reports/{page.parent.name}/{page.name}: ") for line in page_lines
    )
    assert any("ændret</h1>" in line for line in page_lines)
    assert lines[-1].startswith("compare_outputs: ") and " in 2 of " in lines[-1]
