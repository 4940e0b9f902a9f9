"""scorecard.xlsx: text from data is text (never a formula or a link), number columns hold
only numbers (a small count is an empty cell with a flag), the risk-adjusted rate comes with
its interval. The workbook is read back with openpyxl, as Excel would open it."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipeline.decisions.rules import load_rules
from pipeline.reports.config import load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.excel import write_scorecard
from tests.unit.test_reports_views import MONTH, NAMES, SIZES, marts  # noqa: F401  (fixture)

# A provider name, or a reason, that a spreadsheet would run: formulas, DDE-style prefixes, and
# the tab / carriage return some spreadsheets skip before the "=".
PAYLOADS = {
    "P1": '=HYPERLINK("http://x","click")',
    "P2": "+1+cmd|' /C calc'!A0",
    "P3": "-2+3",
}
MORE = ["@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "http://example.invalid/"]


def _marts_with(names: dict[str, str], reasons: list[str], source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    results = pd.read_parquet(target / "mart_provider_results.parquet")
    results["provider_name"] = results["provider_id"].map(names)
    results["risk_adjusted_rate"] = results["rate"] * 0.9
    results["risk_adjusted_rate_low"] = results["rate"] * 0.9 - 0.08
    results["risk_adjusted_rate_high"] = results["rate"] * 0.9 + 0.07
    results.to_parquet(target / "mart_provider_results.parquet")
    pd.DataFrame({"provider_id": list(names), "provider_name": list(names.values())}).to_parquet(
        target / "dim_providers.parquet"
    )
    decisions = pd.read_parquet(target / "mart_booking_decisions.parquet")
    within_month = decisions.groupby("month").cumcount()
    decisions["reason"] = [reasons[i % len(reasons)] for i in within_month]
    decisions["override_state"] = "Normal"
    decisions["override_reason"] = reasons[0]
    decisions.to_parquet(target / "mart_booking_decisions.parquet")
    return target


def _book(folder: Path, tmp_path: Path) -> openpyxl.Workbook:
    config = load_config()
    data = load_report_data(folder, MONTH.strftime("%Y-%m"), config)
    return openpyxl.load_workbook(write_scorecard(data, load_rules(), config, tmp_path / "s.xlsx"))


def _table(sheet) -> list[dict[str, object]]:
    header = [c.value for c in sheet[4]]
    return [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=5, values_only=True)]


def test_names_and_reasons_that_look_like_formulas_stay_text(marts, tmp_path: Path) -> None:  # noqa: F811
    folder = _marts_with(PAYLOADS, [*MORE, *PAYLOADS.values()], marts, tmp_path / "marts")
    book = _book(folder, tmp_path)
    # OOXML stores a carriage return as _x000D_ (Excel reads it back; openpyxl leaves it)
    texts = {t.replace("\r", "_x000D_") for t in (*PAYLOADS.values(), *MORE)}
    found = set()
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                assert cell.hyperlink is None, (sheet.title, cell.coordinate)
                if isinstance(cell.value, str) and cell.value in texts:
                    assert cell.data_type == "s"
                    found.add(cell.value)
    # every payload reached the workbook, unchanged, as a string
    assert found == texts


def test_a_small_count_is_an_empty_cell_with_a_flag(marts, tmp_path: Path) -> None:  # noqa: F811
    book = _book(marts, tmp_path)
    rows = {r["Leverandør"]: r for r in _table(book["Område 1 Udsatte ledige"])}
    gamma = rows[NAMES["P3"]]  # 3 referrals
    assert gamma["Forløb i grundlaget"] is None and gamma["Andel"] is None
    assert "<5" in gamma["Skjult (under 5)"]
    alfa = rows[NAMES["P1"]]
    assert alfa["Skjult (under 5)"] in (None, "")
    for row in rows.values():
        for column in ("Forløb i grundlaget", "Med resultat", "Andel", "Områdets andel"):
            assert row[column] is None or isinstance(row[column], (int, float)), (column, row[column])
    assert SIZES["P3"] < 5


def test_the_risk_adjusted_rate_has_its_interval(marts, tmp_path: Path) -> None:  # noqa: F811
    folder = _marts_with(NAMES, ["Begrundelse."], marts, tmp_path / "marts")
    book = _book(folder, tmp_path)
    results = pd.read_parquet(folder / "mart_provider_results.parquet")
    now = results[pd.to_datetime(results["as_of_month"]) == pd.Timestamp(MONTH)].set_index("provider_id")
    rows = {r["Leverandør"]: r for r in _table(book["Område 1 Udsatte ledige"])}
    alfa = rows[NAMES["P1"]]
    assert alfa["Risikojusteret, 95 %-interval, nedre"] == pytest.approx(
        now.loc["P1", "rate"] * 0.9 - 0.08, abs=1e-6
    )
    assert alfa["Risikojusteret, 95 %-interval, øvre"] == pytest.approx(
        now.loc["P1", "rate"] * 0.9 + 0.07, abs=1e-6
    )
    assert rows[NAMES["P3"]]["Risikojusteret, 95 %-interval, nedre"] is None  # 3 referrals


def test_model_as_threshold_is_labelled_an_assumption_where_its_proposals_are_shown(
    marts,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Issue 17: every output that shows model A says that its threshold (stop_ratio of the
    area's rate, rules.yaml) is an assumption the administration sets, even where no reason
    sentence quotes it (here the reasons say nothing about a threshold)."""
    book = _book(marts, tmp_path)
    sheet = book["Beslutninger"]
    rows = _table(sheet)
    hard = [r for r in rows if r["Model"] == load_rules().model_name("hard")]
    assert hard and not any("antaget" in str(r["Begrundelse"]) for r in hard)
    ratio = f"{load_rules().area(1).hard.stop_ratio * 100:.0f} %"
    assert "antaget tærskel" in sheet["A2"].value and f"under {ratio} af områdets andel" in sheet["A2"].value


def test_the_area_view_labels_model_as_threshold_an_assumption(marts) -> None:  # noqa: F811
    from pipeline.reports.views import AreaView

    config = load_config()
    data = load_report_data(marts, MONTH.strftime("%Y-%m"), config)
    note = AreaView(data, 1, config, load_rules(), data.provider_names()).assumed_threshold_note()
    assert (
        note.startswith("Bookingstop (i dag): ") and "antaget tærskel, som forvaltningen fastsætter" in note
    )
