"""YELLOW's action plan in the area report and the scorecard (decisions.md: reports list the
providers that need one, and whether it was received). The marts are the hand-made ones of
test_reports_views, with the decisions of the report month changed here; what each provider
should show is written out by hand from those changes."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pandas as pd

from pipeline.decisions.rules import load_rules
from pipeline.reports.config import load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.excel import write_scorecard
from pipeline.reports.views import AreaView
from tests.unit.test_reports_views import MONTH, NAMES, marts  # noqa: F401  (fixture)

RECEIVED = dt.date(2024, 6, 12)


def _with_plans(source: Path, target: Path) -> Path:
    """P1 YELLOW with its plan received on 12 June, P2 YELLOW waiting for its plan, P3 GREEN;
    the hard model stays OPEN for all (no plan)."""
    shutil.copytree(source, target)
    decisions = pd.read_parquet(target / "mart_booking_decisions.parquet")
    now = (pd.to_datetime(decisions["month"]).dt.date == MONTH) & (decisions["model"] == "soft")
    yellow = now & decisions["provider_id"].isin(["P1", "P2"])
    decisions.loc[yellow, ["state", "state_label"]] = ["YELLOW", "Skærpet opfølgning"]
    decisions["action_plan_required"] = yellow
    decisions["action_plan_received"] = pd.NaT
    decisions.loc[yellow & (decisions["provider_id"] == "P1"), "action_plan_received"] = pd.Timestamp(
        RECEIVED
    )
    decisions.to_parquet(target / "mart_booking_decisions.parquet")
    return target


def test_the_area_report_lists_the_providers_that_need_an_action_plan(marts: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = _with_plans(marts, tmp_path / "marts")
    config = load_config()
    data = load_report_data(folder, MONTH.strftime("%Y-%m"), config)
    view = AreaView(data, 1, config, load_rules(), data.provider_names())
    table = view.action_plans()
    assert table["Leverandør"].tolist() == [NAMES["P1"], NAMES["P2"]]
    assert set(table["Tilstand"]) == {"Skærpet opfølgning"}
    assert table["Handlingsplan"].tolist() == ["modtaget 12. juni 2024", "afventer"]


def test_without_a_yellow_the_list_is_empty(marts: Path) -> None:  # noqa: F811
    config = load_config()
    data = load_report_data(marts, MONTH.strftime("%Y-%m"), config)
    assert AreaView(data, 1, config, load_rules(), data.provider_names()).action_plans().empty


def test_the_scorecard_says_which_plan_is_received_and_which_is_awaited(marts: Path, tmp_path: Path) -> None:  # noqa: F811
    folder = _with_plans(marts, tmp_path / "marts")
    config = load_config()
    data = load_report_data(folder, MONTH.strftime("%Y-%m"), config)
    book = openpyxl.load_workbook(write_scorecard(data, load_rules(), config, tmp_path / "s.xlsx"))
    sheet = book["Beslutninger"]
    header = [c.value for c in sheet[4]]
    rows = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=5, values_only=True)]
    shown = {(r["Leverandør"], r["Model"]): r["Handlingsplan"] for r in rows}
    assert shown[(NAMES["P1"], "Blid overgang")] == "modtaget 12. juni 2024"
    assert shown[(NAMES["P2"], "Blid overgang")] == "afventer"
    assert not shown[(NAMES["P3"], "Blid overgang")]  # no plan needed: an empty cell
    assert not any(v for (_, model), v in shown.items() if model != "Blid overgang")
