"""`provmon report --year` on the small synthetic warehouse (2023-01 to 2024-12): the annual
experience report's workbook and HTML against numbers computed here with pandas straight from
the Parquet marts (mart_provider_results, mart_booking_decisions, fct_referral_outcomes), not
read from the report code."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from pipeline import cli, danish
from pipeline.reports.config import load_config
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

YEAR = 2024
# An override whose reason starts like a formula: it must reach the workbook as text.
OVERRIDE = {"month": dt.date(2024, 7, 1), "provider": "P02", "area": 1, "state": "YELLOW"}
REASON = '=HYPERLINK("x") mødet vil se resultaterne for efteråret først'
RULE = load_config().disclosure


@dataclass(frozen=True)
class Annual:
    settings: Settings
    marts: dict[str, pd.DataFrame]
    summary: str

    @property
    def folder(self) -> Path:
        return self.settings.out_dir / str(YEAR)

    def sheet(self, name: str) -> pd.DataFrame:
        """A sheet as a frame of the raw cell values (header row = first row with 'Udbudsområde'
        or 'Måned' in column A)."""
        book = openpyxl.load_workbook(self.folder / f"erfaringsopsamling-{YEAR}.xlsx")
        rows = list(book[name].iter_rows(values_only=True))
        top = next(i for i, r in enumerate(rows) if r[0] in ("Udbudsområde", "Måned"))
        return pd.DataFrame(rows[top + 1 :], columns=rows[top])


@pytest.fixture(scope="module")
def annual(warehouse_copy: Callable[[str], Settings]) -> Annual:
    from pipeline.decisions.service import decide, record_override

    settings = warehouse_copy("annual")
    decide(settings)
    record_override(
        settings,
        month=OVERRIDE["month"],
        provider_id=OVERRIDE["provider"],
        tender_area=OVERRIDE["area"],
        state=OVERRIDE["state"],
        reason=REASON,
        decided_by="test",
    )
    common = ["--warehouse", str(settings.warehouse), "--out-dir", str(settings.out_dir)]
    # the verb through the CLI, as a user runs it (marts beside the warehouse copy)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["report", "--year", str(YEAR), *common]) == 0
    marts = {p.stem: pd.read_parquet(p) for p in settings.marts_dir.glob("*.parquet")}
    return Annual(settings, marts, out.getvalue())


def _small(count: float | None) -> bool:
    return count is not None and not pd.isna(count) and RULE.is_small(count)


def _blank(cell: object) -> bool:
    """An empty cell (openpyxl's None, NaN once pandas holds the column)."""
    return cell is None or (isinstance(cell, float) and pd.isna(cell))


def _close(cell: object, expected: float) -> bool:
    return isinstance(cell, (int, float)) and abs(float(cell) - float(expected)) < 1e-5


def test_results_sheet_matches_the_december_rows_of_the_mart(annual: Annual) -> None:
    results = annual.marts["mart_provider_results"]
    months = pd.to_datetime(results["as_of_month"])
    now = results[months == pd.Timestamp(YEAR, 12, 1)].set_index(["tender_area", "provider_id", "measure"])
    then = results[months == pd.Timestamp(YEAR - 1, 12, 1)].set_index(
        ["tender_area", "provider_id", "measure"]
    )
    sheet = annual.sheet("Resultater")
    assert len(sheet) == len(now)  # every provider x area x measure of December, once
    checked = small_seen = 0
    for _, cell in sheet.iterrows():
        key = (int(cell["Udbudsområde"]), cell["Leverandør-id"], cell["Mål-id"])
        mart = now.loc[key]
        for year, row in ((YEAR, mart), (YEAR - 1, then.loc[key] if key in then.index else None)):
            n_cell, rate_cell = cell[f"Forløb {year}"], cell[f"Andel {year}"]
            if row is None:
                assert _blank(n_cell) and _blank(rate_cell)
                continue
            if _small(row["n"]):
                small_seen += 1
                assert n_cell == "<5", key
            else:
                assert _close(n_cell, row["n"]), key
            hidden = _small(row["n"]) or _small(row["successes"])
            if hidden or pd.isna(row["rate"]) or row["measure_kind"] != "binary":
                assert _blank(rate_cell), (key, year, rate_cell)
            else:
                assert _close(rate_cell, row["rate"]), (key, year)
                assert _close(cell[f"Andel {year}, 95 %-interval, nedre"], row["rate_low"])
                assert _close(cell[f"Andel {year}, 95 %-interval, øvre"], row["rate_high"])
                checked += 1
        hidden = _small(mart["n"]) or _small(mart["successes"])
        for header, column in (
            ("Risikojusteret andel", "risk_adjusted_rate"),
            ("Risikojusteret, 95 %-interval, nedre", "risk_adjusted_rate_low"),
            ("Observeret/forventet", "o_e"),
            ("O/F, 95 %-interval, øvre", "o_e_high"),
        ):
            if hidden or pd.isna(mart[column]):
                assert _blank(cell[header]), (key, header)
            else:
                assert _close(cell[header], mart[column]), (key, header)
        if pd.isna(mart["area_rate"]) or _small(mart["area_n"]) or _small(mart["area_successes"]):
            assert _blank(cell[f"Områdets andel {YEAR}"]), key
        else:
            assert _close(cell[f"Områdets andel {YEAR}"], mart["area_rate"]), key
    assert checked > 50
    print(f"results rows {len(sheet)}, rates checked {checked}, small counts {small_seen}")


def test_volume_and_cost_are_referrals_started_in_the_year(annual: Annual) -> None:
    fct = annual.marts["fct_referral_outcomes"]
    started = pd.to_datetime(fct["start_date"]).dt.year
    expected = fct[started == YEAR].groupby(["tender_area", "provider_id"])["cost_dkk"].agg(["size", "sum"])
    sheet = annual.sheet("Volumen og pris").set_index(["Udbudsområde", "Leverandør-id"])
    assert len(sheet) > 0
    for (area, pid), cell in sheet.iterrows():
        size, cost = expected.loc[(area, pid)] if (area, pid) in expected.index else (0, 0.0)
        if _small(size):
            assert cell[f"Henvisninger startet {YEAR}"] == "<5"
            assert _blank(cell[f"Samlet pris {YEAR}"])
        else:
            assert cell[f"Henvisninger startet {YEAR}"] == size, (area, pid)
            assert abs(cell[f"Samlet pris {YEAR}"] - cost) < 0.01, (area, pid)


def test_booking_states_of_every_month_and_the_override_with_its_reason(annual: Annual) -> None:
    decisions = annual.marts["mart_booking_decisions"]
    months = pd.to_datetime(decisions["month"])
    year_rows = decisions[months.dt.year == YEAR]
    sheet = annual.sheet("Bookingtilstande")
    assert len(sheet) == len(year_rows)
    # one row per month of a valid agreement: a whole year, or the months before or after the
    # tender change of 1 July for providers that left or entered
    pairs = year_rows.groupby(["provider_id", "tender_area", "model"])["month"]
    months_per_pair = pairs.agg(["size", "nunique"])
    assert (months_per_pair["size"] == months_per_pair["nunique"]).all()
    assert (months_per_pair["size"] <= 12).all() and (months_per_pair["size"] == 12).any()
    assert (months_per_pair["size"] < 12).any(), "the tender change ends and starts agreements mid-year"
    shown = {
        (m, int(a), p, model): state
        for m, a, p, model, state in zip(
            sheet["Måned"],
            sheet["Udbudsområde"],
            sheet["Leverandør-id"],
            sheet["Model"],
            sheet["Gældende tilstand"],
            strict=True,
        )
    }
    names = {"soft": "Blid overgang", "hard": "Bookingstop (i dag)"}
    for r in year_rows.itertuples():
        key = (danish.format_month(r.month), int(r.tender_area), r.provider_id, names[r.model])
        assert shown[key] == r.state_label
    override = sheet[sheet["Mødets begrundelse"] == REASON]
    assert len(override) == 1
    assert override.iloc[0]["Måned"] == "juli 2024" and override.iloc[0]["Leverandør-id"] == "P02"
    assert override.iloc[0]["Gældende tilstand"] == "Skærpet opfølgning"
    page = (annual.folder / "erfaringsopsamling-omraade-1.html").read_text(encoding="utf-8")
    assert REASON in BeautifulSoup(page, "html.parser").get_text()


def test_workbook_holds_no_formula_and_no_person_level_data(annual: Annual) -> None:
    book = openpyxl.load_workbook(annual.folder / f"erfaringsopsamling-{YEAR}.xlsx")
    keys = set(annual.marts["fct_referral_outcomes"]["person_key"])
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    reason = [c for c in cells if c.value == REASON]
    assert reason and all(c.data_type == "s" for c in reason)
    assert not keys & {c.value for c in cells}
    assert not any(isinstance(c.value, str) and re.fullmatch(r"[0-9a-f]{64}", c.value) for c in cells)


def test_html_is_offline_danish_and_linked_from_the_index(annual: Annual) -> None:
    areas = sorted(annual.sheet("Resultater")["Udbudsområde"].unique())
    index = (annual.settings.out_dir / "index.html").read_text(encoding="utf-8")
    assert (annual.folder / "plotly.min.js").stat().st_size > 1_000_000
    keys = set(annual.marts["fct_referral_outcomes"]["person_key"])
    for area in areas:
        name = f"erfaringsopsamling-omraade-{area}.html"
        assert f'href="{YEAR}/{name}"' in index
        text = (annual.folder / name).read_text(encoding="utf-8")
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", text), name
        assert '<script src="plotly.min.js">' in text and 'lang="da"' in text
        shown = BeautifulSoup(text, "html.parser").get_text(" ")
        assert "grundlaget for december 2024" in shown and "december 2023" in shown
        assert re.search(r"\d+,\d %", shown) and not re.search(r"\d+\.\d %", shown)
        assert not any(k in text for k in keys)
    assert f'href="{YEAR}/erfaringsopsamling-{YEAR}.xlsx"' in index
    assert "erfaringsopsamling 2024" in annual.summary


def test_a_year_outside_the_marts_is_one_line_and_exit_2(annual: Annual, capsys) -> None:
    common = ["--warehouse", str(annual.settings.warehouse), "--out-dir", str(annual.settings.out_dir)]
    assert cli.main(["report", "--year", "2031", *common]) == 2
    err = capsys.readouterr().err.strip()
    assert "no results for 2031" in err and "2023-01 to 2024-12" in err and "\n" not in err
    assert cli.main(["report", "--year", "24x", *common]) == 2
    assert cli.main(["report", "--year", "2024", "--month", "2024-12", *common]) == 2


def test_model_as_threshold_is_labelled_an_assumption_in_the_annual_outputs(annual: Annual) -> None:
    """Issue 17: the annual report shows model A's states month by month, so it says, like the
    monthly outputs, that model A's threshold (stop_ratio of rules.yaml, read here from the
    file) is an assumption the administration sets, also for areas whose reason sentences
    never quote the threshold."""
    import yaml

    from pipeline.decisions.rules import RULES_FILE

    raw = yaml.safe_load(Path(RULES_FILE).read_text(encoding="utf-8"))
    default = raw["defaults"]["hard"]["stop_ratio"]
    areas = raw["areas"].items()
    ratio = {int(a): (spec or {}).get("hard", {}).get("stop_ratio", default) for a, spec in areas}
    phrase = "antaget tærskel, som forvaltningen fastsætter"
    for area in sorted(annual.sheet("Resultater")["Udbudsområde"].unique()):
        page = (annual.folder / f"erfaringsopsamling-omraade-{area}.html").read_text(encoding="utf-8")
        shown = BeautifulSoup(page, "html.parser").get_text(" ")
        assert phrase in shown, area
        assert f"under {ratio[int(area)] * 100:.0f} % af områdets andel" in shown, area
    book = openpyxl.load_workbook(annual.folder / f"erfaringsopsamling-{YEAR}.xlsx")
    notes = [c.value for c in book["Bookingtilstande"]["A"][:5] if isinstance(c.value, str)]
    assert any(phrase in n for n in notes)
