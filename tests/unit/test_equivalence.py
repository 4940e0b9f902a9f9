"""The comparison of two output trees (pipeline/equivalence.py) on small real files: Parquet
written by pyarrow, HTML and a workbook. The comparison of two real runs is in
tests/integration/test_compare_outputs.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from pipeline.build import PROJECT_DIR
from pipeline.equivalence import CompareError, compare_trees, model_grains

RATES = pa.table(
    {
        "provider_id": ["P1", "P1", "P2"],
        "measure": ["has_result", "progressed", "has_result"],
        "rate": [0.25, float("nan"), 0.0],
    }
)
GRAIN = {"rates": ["provider_id", "measure"]}


PAGE = '<div id="cell-id=0b1c2d3e"><p>Kørsel 3: 12 kontroller</p>'


def tree(root: Path, table: pa.Table = RATES, page: str = PAGE) -> Path:
    (root / "marts").mkdir(parents=True)
    (root / "reports").mkdir()
    pq.write_table(table, root / "marts" / "rates.parquet")
    (root / "reports" / "index.html").write_text(page, encoding="utf-8")
    book = Workbook()
    book.active["A1"] = "Andel med resultat"
    book.active["B1"] = 0.25
    book.save(root / "reports" / "scorecard.xlsx")
    (root / "warehouse.duckdb").write_bytes(b"not compared")
    return root


def differences(before: Path, after: Path) -> list[str]:
    return [str(d) for d in compare_trees(before, after, GRAIN)]


def with_rate(values: list[float]) -> pa.Table:
    return RATES.set_column(2, "rate", pa.array(values))


def test_the_same_rows_in_another_order_are_equal(tmp_path: Path) -> None:
    before = tree(tmp_path / "a")
    page = '<div id="cell-id=9f3a0c1e"><p>Kørsel 17: 12 kontroller</p>'
    after = tree(tmp_path / "b", RATES.take([2, 0, 1]), page=page)
    (after / "warehouse.duckdb").write_bytes(b"another warehouse")
    assert differences(before, after) == []


def test_the_time_a_decision_was_computed_is_not_a_difference(tmp_path: Path) -> None:
    def stamped(hour: int) -> pa.Table:
        return RATES.append_column("computed_at", pa.array([dt.datetime(2024, 6, 1, hour)] * 3))

    assert differences(tree(tmp_path / "a", stamped(7)), tree(tmp_path / "b", stamped(9))) == []


@pytest.mark.parametrize(
    ("rates", "shown"),
    [
        ([0.25, float("nan"), -0.0], "0.0 -> -0.0"),  # the sign bit only
        ([0.25 + 2**-54, float("nan"), 0.0], "0.25 -> 0.25000000000000006"),  # one ulp
        ([0.25, 0.5, 0.0], "nan -> 0.5"),
    ],
)
def test_a_value_changed_in_its_last_bit_is_found_by_its_key(
    tmp_path: Path, rates: list[float], shown: str
) -> None:
    found = differences(tree(tmp_path / "a"), tree(tmp_path / "b", with_rate(rates)))
    assert len(found) == 1
    assert found[0].startswith("marts/rates.parquet: rate at provider_id=")
    assert found[0].endswith(shown)


def test_a_changed_column_type_row_count_text_and_cell_are_found(tmp_path: Path) -> None:
    before = tree(tmp_path / "a")
    after = tree(
        tmp_path / "b",
        RATES.set_column(2, "rate", pa.array([0.25, None, 0.0], pa.float32())).slice(0, 2),
        page='<div id="cell-id=0b1c2d3e"><p>Kørsel 3: 13 kontroller</p>',
    )
    book = Workbook()
    book.active["A1"] = "Andel med resultat"
    book.active["B1"] = 0.5
    book.save(after / "reports" / "scorecard.xlsx")
    (after / "reports" / "extra.html").write_text("", encoding="utf-8")
    found = differences(before, after)
    assert found == [
        f"reports/extra.html: only in {after}",
        "marts/rates.parquet: columns differ: rate double -> float",
        'reports/index.html: - <div id="cell-id=<id>"><p>Kørsel <kørsel>: 12 kontroller</p>',
        'reports/index.html: + <div id="cell-id=<id>"><p>Kørsel <kørsel>: 13 kontroller</p>',
        "reports/scorecard.xlsx: Sheet!B1: '0.25' -> '0.5'",
    ]


def test_fewer_rows_are_found(tmp_path: Path) -> None:
    found = differences(tree(tmp_path / "a"), tree(tmp_path / "b", RATES.slice(0, 2)))
    assert found == ["marts/rates.parquet: 3 rows -> 2 rows"]


def test_a_missing_tree_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="no such folder"):
        differences(tree(tmp_path / "a"), tmp_path / "missing")


def test_grains_come_from_the_dbt_project() -> None:
    grains = model_grains(PROJECT_DIR)
    assert grains["fct_referral_outcomes"] == ["referral_id"]
    assert grains["mart_provider_results"] == ["as_of_month", "provider_id", "tender_area", "measure"]
    assert grains["int_as_of_resolved"] == []
