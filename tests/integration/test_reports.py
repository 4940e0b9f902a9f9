"""`provmon report` on the small synthetic warehouse: every notebook runs top to bottom, every
report is in Danish, offline and free of person keys and small counts. Expected numbers are
computed here with pandas from the Parquet marts, following metrics.md, not read from the code."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import jupytext
import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup

from pipeline import danish
from pipeline.build import PROJECT_DIR
from pipeline.decisions.rules import load_rules
from pipeline.reports import quality
from pipeline.reports.config import load_config
from pipeline.reports.data import ReportInputError, load_report_data
from pipeline.reports.disclosure import provider_labels
from pipeline.reports.excel import write_scorecard
from pipeline.reports.execute import NOTEBOOKS_DIR, Job, run_job
from pipeline.reports.report import DIALOGUE_NOTEBOOK, FOLLOWUP_NOTEBOOK, report
from tests.conftest import SmallReports, copy_settings

pytestmark = pytest.mark.integration

# Table headers and Excel columns that hold counts of referrals. The data-quality section's row
# counts (quarantine, deliveries) are technical and shown exactly (tests/integration/test_quality_page.py).
COUNT_HEADERS = {
    "Forløb i grundlaget",
    "Med resultat",
    "Resultater",
    "Afsluttede forløb",
    "Antal",
    "Fleksjob",
    "Førtidspension",
    "Ressourceforløb",
}
COUNT_TEXT = re.compile(r"^(<5|–|0|[1-9]\d{0,2}(\.\d{3})*)$")
# Counts quoted inside hover texts and sentences: "n = 12", "(7 forløb)", "… i gang: 9".
QUOTED_COUNT = re.compile(r"(?:n = |\()(\d[\d.]*)(?=\)|,| forløb|$)|: (\d[\d.]*)$")
NEWPLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]+",\s*')


def _number(text: str) -> int:
    return int(text.replace(".", ""))


def _is_safe(count: float) -> bool:
    return count == 0 or count >= 5


def _values(array: object) -> list[float]:
    """A Plotly array as numbers: a list, or the typed array ({dtype, bdata}) Plotly writes
    for numpy data."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return [v for v in (array or []) if isinstance(v, (int, float))]


def figures(html_text: str) -> list[dict]:
    """The Plotly figures (data and layout) of an exported report."""
    decoder = json.JSONDecoder()
    out = []
    for match in NEWPLOT.finditer(html_text):
        data, end = decoder.raw_decode(html_text, match.end())
        layout, _ = decoder.raw_decode(html_text, html_text.index("{", end))
        out.append({"data": data, "layout": layout})
    return out


def tables(html_text: str) -> list[pd.DataFrame]:
    soup = BeautifulSoup(html_text, "html.parser")
    out = []
    for table in soup.find_all("table", class_="provmon-table"):
        header = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
        rows = [
            [td.get_text(strip=True) for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")
        ]
        out.append(pd.DataFrame(rows, columns=header))
    return out


def small_counts_in_html(html_text: str) -> list[str]:
    """Every count in a table, a hover text or a count chart that is between 1 and 4."""
    found = []
    for frame in tables(html_text):
        for column in set(frame.columns) & COUNT_HEADERS:
            for cell in frame[column]:
                if not COUNT_TEXT.match(cell) or (cell[0].isdigit() and not _is_safe(_number(cell))):
                    found.append(f"table {column}: {cell}")
    for fig in figures(html_text):
        count_axis = "Antal" in str(fig["layout"].get("yaxis", {}).get("title", {}).get("text", ""))
        for trace in fig["data"]:
            texts = [t for key in ("text", "hovertext") for t in (trace.get(key) or []) if isinstance(t, str)]
            for text in texts:
                for line in text.split("<br>"):
                    for match in QUOTED_COUNT.finditer(line):
                        value = match.group(1) or match.group(2)
                        if not _is_safe(_number(value)):
                            found.append(f"hover: {line}")
            if count_axis and trace.get("type") == "bar":
                found += [f"bar: {y}" for y in _values(trace.get("y")) if y == y and not _is_safe(y)]
    return found


def visible_text(html_text: str) -> str:
    """The report's text without scripts and styles (plotly.js itself is not the report)."""
    soup = BeautifulSoup(html_text, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup.get_text(" ")


@pytest.fixture(scope="module")
def marts(small_reports: SmallReports) -> dict[str, pd.DataFrame]:
    folder = small_reports.settings.marts_dir
    return {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}


@pytest.fixture(scope="module")
def month_end(small_reports: SmallReports) -> pd.Timestamp:
    return pd.Timestamp(f"{small_reports.month}-01") + pd.offsets.MonthEnd(0)


def test_every_area_and_provider_has_a_report(small_reports: SmallReports, marts, month_end) -> None:
    results = marts["mart_provider_results"]
    now = results[pd.to_datetime(results["as_of_month"]) == month_end.replace(day=1)]
    areas, providers = sorted(now["tender_area"].unique()), sorted(now["provider_id"].unique())
    expected = {f"opfoelgning-omraade-{a}.html" for a in areas} | {f"leverandoer-{p}.html" for p in providers}
    assert {p.name for p in small_reports.files("*.html")} == expected
    index = (small_reports.settings.out_dir / "index.html").read_text(encoding="utf-8")
    for name in [*expected, "scorecard.xlsx"]:
        assert f'href="{small_reports.month}/{name}"' in index
        assert (small_reports.folder / name).exists()
    print(f"report of the small data set: {small_reports.seconds:.1f} s")


def test_reports_hide_code_and_carry_plotly_once(small_reports: SmallReports) -> None:
    for path in small_reports.files("*.html"):
        text = path.read_text(encoding="utf-8")
        code_cells = re.findall(r'class="jp-Cell jp-CodeCell[^"]*"', text)
        assert code_cells and all("jp-mod-noInput" in c for c in code_cells), path.name
        assert not re.search(r'class="[^"]*(jp-CodeMirrorEditor|jp-InputPrompt)', text), path.name
        assert "import " not in visible_text(text), path.name
        assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?:", text), path.name
        assert len(figures(text)) >= 5, path.name
        assert 'lang="da"' in text


def test_overview_counts_and_rates_match_pandas(small_reports: SmallReports, marts, month_end) -> None:
    """Area 1's primary measure, has_result: closed courses (efterværn aside) whose result window
    (end + 30 days) ended in the 12 months up to the month, and those with a registered result."""
    fct = marts["fct_referral_outcomes"]
    names = marts["dim_providers"].set_index("provider_id")["provider_name"]
    window = pd.to_datetime(fct["result_window_end"])
    base = fct[
        (fct["tender_area"] == 1)
        & fct["is_closed"]
        & fct["has_result"].notna()  # not efterværn, not an earlier link of a course
        & (window <= month_end)
        & (window > month_end - pd.DateOffset(months=12))
    ]
    counts = base.groupby("provider_id")["has_result"].agg(["size", "sum"])
    html_text = (small_reports.folder / "opfoelgning-omraade-1.html").read_text(encoding="utf-8")
    overview = tables(html_text)[0].set_index("Leverandør")
    rule = load_config().disclosure
    label = next(c for c in overview.columns if c.startswith("Registreret resultat"))
    for pid, (n, successes) in counts.iterrows():
        row = overview.loc[names[pid]]
        assert row["Forløb i grundlaget"] == ("<5" if rule.is_small(n) else danish.format_int(n)), pid
        if rule.is_small(n) or rule.is_small(successes):
            assert row[label] == "–"
        else:
            assert row[label].startswith(danish.format_percent(successes / n) + " ("), pid


def test_reports_are_in_danish(small_reports: SmallReports) -> None:
    month_name = danish.format_month(f"{small_reports.month}-01")
    english = re.compile(r"\b(January|February|March|April|May|June|July|August|October|December)\b")
    for path in small_reports.files("*.html"):
        text = path.read_text(encoding="utf-8")
        shown = visible_text(text)
        assert month_name in shown, path.name
        assert re.search(r"\d+,\d %", shown), path.name
        assert not re.search(r"\d+\.\d %", shown), path.name  # no English decimal point
        for fig in figures(text):
            assert fig["layout"].get("separators") == ",."
            ticks = " ".join(fig["layout"].get("xaxis", {}).get("ticktext") or [])
            assert not english.search(ticks), path.name


def test_no_person_key_or_small_count_leaves_in_any_file(small_reports: SmallReports, marts) -> None:
    keys = set(marts["fct_referral_outcomes"]["person_key"])
    hexes = re.compile(r"[0-9a-f]{64}")
    scanned = 0
    for path in small_reports.settings.out_dir.rglob("*"):
        if not path.is_file():
            continue
        if path.name == "plotly.min.js":  # the library itself, exactly as plotly ships it
            from plotly.offline import get_plotlyjs

            assert path.read_text(encoding="utf-8") == get_plotlyjs()
            continue
        scanned += 1
        if path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            cells = [c for sheet in book for row in sheet.iter_rows(values_only=True) for c in row]
            text = " ".join(str(c) for c in cells if c is not None)
            for sheet in book:
                rows = list(sheet.iter_rows(values_only=True))
                header = next((i for i, r in enumerate(rows) if r and r[0] in ("Mål", "Udbudsområde")), None)
                if header is None:
                    continue
                for i, name in enumerate(rows[header]):
                    if name in COUNT_HEADERS:
                        values = [r[i] for r in rows[header + 1 :]]
                        bad = [v for v in values if isinstance(v, (int, float)) and not _is_safe(v)]
                        assert not bad, (path.name, sheet.title, name, bad)
        else:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".html":
                assert not small_counts_in_html(text), (path.name, small_counts_in_html(text)[:5])
        assert not set(hexes.findall(text)) & keys, path.name
        assert not re.search(r"\b\d{6}-?\d{4}\b", visible_text(text) if path.suffix == ".html" else text)
    assert scanned >= 4


def _add_tiny_provider(marts_dir: Path, target: Path) -> None:
    """A copy of the marts with provider P99 in area 1: 3 referrals, 1 with a result."""
    shutil.copytree(marts_dir, target)
    results = pd.read_parquet(target / "mart_provider_results.parquet")
    donor = sorted(results.loc[results["tender_area"] == 1, "provider_id"].unique())[0]
    tiny = results[results["provider_id"] == donor].copy()
    tiny["provider_id"], tiny["provider_name"] = "P99", "Lille Leverandør ApS"
    tiny["n"] = tiny["n"].clip(upper=3)
    tiny["successes"] = tiny["successes"].clip(upper=1).where(tiny["successes"].notna())
    tiny["rate"] = (tiny["successes"] / tiny["n"]).where(tiny["n"] > 0)
    for column in ("rate_low", "rate_high", "value_mean", "value_median", "risk_adjusted_rate", "z_score"):
        tiny[column] = tiny["rate"]
    pd.concat([results, tiny]).to_parquet(target / "mart_provider_results.parquet")
    providers = pd.read_parquet(target / "dim_providers.parquet")
    extra = pd.DataFrame({"provider_id": ["P99"], "provider_name": ["Lille Leverandør ApS"]})
    pd.concat([providers, extra]).to_parquet(target / "dim_providers.parquet")
    decisions = pd.read_parquet(target / "mart_booking_decisions.parquet")
    mine = decisions[(decisions["provider_id"] == donor) & (decisions["tender_area"] == 1)].copy()
    mine["provider_id"], mine["n"], mine["successes"] = "P99", 3, 1
    mine["reason"] = "For få forløb i grundlaget til en vurdering af resultatandel (n = 3, mindst 20)."
    pd.concat([decisions, mine]).to_parquet(target / "mart_booking_decisions.parquet")
    # its three referrals in the report marts: every count at most 3
    for name, counts in (
        ("mart_referral_flow", ("started", "ended", "ongoing", "ended_base")),
        ("mart_progression_bands", ("referrals",)),
        ("mart_rehab_grant_types", ("referrals",)),
    ):
        frame = pd.read_parquet(target / f"{name}.parquet")
        tiny = frame[(frame["provider_id"] == donor) & (frame["tender_area"] == 1)].copy()
        tiny["provider_id"] = "P99"
        for column in counts:
            tiny[column] = tiny[column].clip(upper=3)
        pd.concat([frame, tiny]).to_parquet(target / f"{name}.parquet")


def test_a_provider_with_three_referrals_shows_no_number(small_reports: SmallReports, tmp_path: Path) -> None:
    marts_dir = tmp_path / "marts"
    _add_tiny_provider(small_reports.settings.marts_dir, marts_dir)
    common = {"month": small_reports.month, "marts_dir": str(marts_dir), "warehouse": "", "quality_file": ""}
    area = run_job(
        Job(FOLLOWUP_NOTEBOOK, {**common, "tender_area": 1}, tmp_path / "area.html", "Område 1", "area")
    )
    dialogue = run_job(
        Job(DIALOGUE_NOTEBOOK, {**common, "provider": "P99"}, tmp_path / "p99.html", "P99", "provider")
    )
    overview = tables(area.read_text(encoding="utf-8"))[0].set_index("Leverandør")
    row = overview.loc["Lille Leverandør ApS"]
    assert row["Forløb i grundlaget"] == "<5"
    own = [k for k in row.index if k != "Forløb i grundlaget" and not k.startswith(("Områdets", "Forslag"))]
    assert own and all(row[k] == "–" for k in own), row
    measures = load_config().measures
    labels = pd.read_parquet(marts_dir / "dim_measures.parquet").set_index("measure")["label_da"]
    for measure in (measures.purpose, measures.attendance, measures.mentor_attendance, measures.aftercare):
        section = _section_table(area.read_text(encoding="utf-8"), labels[measure], 0)
        tiny = section.loc["Lille Leverandør ApS"]
        assert (tiny["Forløb i grundlaget"], tiny[labels[measure]]) in {("<5", "–"), ("0", "–")}, measure
    for path in (area, dialogue):
        text = path.read_text(encoding="utf-8")
        assert not small_counts_in_html(text), (path.name, small_counts_in_html(text)[:5])
        assert not re.search(r"n = 3(?![\d.])", text) and "Lille Leverandør ApS: 33,3 %" not in text
    own = tables(dialogue.read_text(encoding="utf-8"))[0]
    assert set(own["Leverandøren"]) == {"–"} and set(own["Forløb i grundlaget"]) <= {"<5", "0"}
    assert "Leverandør A" in visible_text(dialogue.read_text(encoding="utf-8"))  # others anonymised
    config = load_config()
    data = load_report_data(marts_dir, small_reports.month, config)
    book = openpyxl.load_workbook(write_scorecard(data, load_rules(), config, tmp_path / "s.xlsx"))
    for row_values in book.worksheets[0].iter_rows(min_row=5, values_only=True):
        if row_values[1] == "Lille Leverandør ApS":
            assert row_values[2] in (None, 0) and row_values[4] is None


def test_notebooks_are_stored_as_text_with_one_parameters_cell() -> None:
    sources = sorted(NOTEBOOKS_DIR.glob("*.py"))
    assert {p.name for p in sources} >= {FOLLOWUP_NOTEBOOK, DIALOGUE_NOTEBOOK}
    for stored in NOTEBOOKS_DIR.glob("*.ipynb"):  # a derived .ipynb may exist, but cleared
        nb = json.loads(stored.read_text(encoding="utf-8"))
        assert all(not c.get("outputs") for c in nb["cells"]), stored
    expected = {FOLLOWUP_NOTEBOOK: {"month", "tender_area"}, DIALOGUE_NOTEBOOK: {"month", "provider"}}
    for name, names in expected.items():
        nb = jupytext.read(NOTEBOOKS_DIR / name)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, name
        assigned = set(re.findall(r"^(\w+) =", tagged[0].source, flags=re.M))
        assert names <= assigned, name


HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def test_a_running_build_does_not_block_the_run_log_snapshot(
    small_reports: SmallReports, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(small_reports.settings.warehouse, warehouse)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        snap = quality.snapshot(warehouse, attempts=2, wait_seconds=0.1)
        assert snap == {"available": False, "note": quality.LOCKED}
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    snap = quality.snapshot(warehouse)
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        (quarantined,) = con.execute("select count(*) from quarantine.rows").fetchone()
    assert snap["available"] and sum(r["rows"] for r in snap["quarantine"]) == quarantined


def test_a_month_outside_the_marts_is_refused_before_any_notebook_runs(small_reports: SmallReports) -> None:
    with pytest.raises(ReportInputError, match="2031-01"):
        report(small_reports.settings, month=dt.date(2031, 1, 1))


def test_the_quality_box_counts_the_quarantine(small_reports: SmallReports) -> None:
    """The follow-up report's quarantine table against a count straight from the warehouse,
    exact (rows, not citizens); names in Danish with the technical one in small print."""
    import duckdb

    with duckdb.connect(str(small_reports.settings.warehouse), read_only=True) as con:
        counted = con.execute(
            "select extract, coalesce(column_name, ''), count(*) from quarantine.rows group by all"
        ).fetchall()
    html_text = (small_reports.folder / "opfoelgning-omraade-1.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html_text, "html.parser")
    table = next(t for t in soup.find_all("table") if "Rækker i karantæne" in t.get_text())
    shown = {}
    for tr in table.find("tbody").find_all("tr"):
        cells = tr.find_all("td")
        technical = [c.find(class_="provmon-tech") for c in cells[:2]]
        shown[tuple(t.get_text(strip=True) if t else "" for t in technical)] = cells[2].get_text(strip=True)
    assert counted and shown == {(extract, column): danish.format_int(n) for extract, column, n in counted}
    assert "Kørsler og kontroller" in visible_text(html_text)


# --- one month, one set of names, colours and letters (issue 14) ------------------------------


def test_a_month_shares_one_plotly_js_and_a_dashboard_stays_small(small_reports: SmallReports) -> None:
    shared = small_reports.folder / "plotly.min.js"
    assert shared.exists() and "plotly.js v" in shared.read_text(encoding="utf-8")[:2000]
    for path in small_reports.files("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "plotly.js v" not in text, path.name  # no bundle inline
        assert re.search(r'<script[^>]+src="plotly\.min\.js"', text), path.name
        assert path.stat().st_size <= 1_000_000, (path.name, path.stat().st_size)


def _trend_traces(path: Path) -> dict[str, tuple[tuple[float, ...], str]]:
    """Trace name -> (its rates, its colour) of every trend chart of a report."""
    out = {}
    for fig in figures(path.read_text(encoding="utf-8")):
        if not str(fig["layout"].get("title", {}).get("text", "")).startswith("Udvikling"):
            continue
        for trace in fig["data"]:
            if trace.get("name") != "Området i alt":
                rates = tuple(round(v, 6) for v in _values(trace.get("y")) if v == v)
                out[trace["name"]] = (rates, trace.get("line", {}).get("color"))
    return out


def test_a_letter_and_a_colour_are_one_provider_in_every_document(small_reports: SmallReports, marts) -> None:
    """The area reports name every provider; each dashboard's "Leverandør X" is identified by its
    trend (the same rates as a named provider's), and must be the same provider, drawn in the
    same colour, in every dashboard of the month."""
    ids = {
        name: pid for pid, name in marts["dim_providers"].set_index("provider_id")["provider_name"].items()
    }
    named: dict[tuple[float, ...], tuple[str, str]] = {}
    for path in small_reports.files("opfoelgning-omraade-*.html"):
        for name, (rates, colour) in _trend_traces(path).items():
            named[rates] = (ids[name], colour)
    letters: dict[str, set[str]] = {}
    checked = 0
    for path in small_reports.files("leverandoer-*.html"):
        for name, (rates, colour) in _trend_traces(path).items():
            pid, area_colour = named[rates]
            assert colour == area_colour, (path.name, name)
            if name.startswith("Leverandør "):
                letters.setdefault(name, set()).add(pid)
                checked += 1
    assert checked >= 10
    assert all(len(pids) == 1 for pids in letters.values()), letters
    assert len({next(iter(p)) for p in letters.values()}) == len(letters)


def _sort_orders(marts) -> dict[str, int]:
    measures = marts["dim_measures"]
    return dict(zip(measures["label_da"], measures["sort_order"], strict=True))


def test_measures_in_one_order_and_only_where_they_apply(small_reports: SmallReports, marts) -> None:
    order = _sort_orders(marts)
    config = load_config()
    labels = marts["dim_measures"].set_index("measure")["label_da"]
    fit = {labels[m] for m in config.measures.fit}
    for path in small_reports.files("leverandoer-*.html"):
        own = [t for t in tables(path.read_text(encoding="utf-8")) if "Leverandøren" in t.columns]
        assert own, path.name
        for table in own:
            shown = list(table["Mål"])
            assert [order[m] for m in shown] == sorted(order[m] for m in shown), (path.name, shown)
    area1 = (small_reports.folder / "leverandoer-P01.html").read_text(encoding="utf-8")
    shown = list(tables(area1)[0]["Mål"])
    assert not fit & set(shown), shown  # no raskmelding measure in area 1
    sustained = [i for i, m in enumerate(shown) if m.startswith("Fortsat i arbejde")]
    assert len(sustained) == 3 and sustained == list(range(sustained[0], sustained[0] + 3))
    overview = tables((small_reports.folder / "opfoelgning-omraade-1.html").read_text(encoding="utf-8"))[0]
    assert not fit & set(overview.columns)
    book = openpyxl.load_workbook(small_reports.folder / "scorecard.xlsx")
    sheet = next(s for s in book if s.title.startswith("Område 1"))
    measures = [r[0] for r in sheet.iter_rows(min_row=5, values_only=True) if r[0]]
    assert measures and not fit & set(measures)
    assert [order[m] for m in measures] == sorted(order[m] for m in measures)


def test_the_area_without_the_provider_is_never_one_other_provider(
    small_reports: SmallReports, marts
) -> None:
    results = marts["mart_provider_results"]
    month = pd.Timestamp(f"{small_reports.month}-01")
    now = results[pd.to_datetime(results["as_of_month"]) == month]
    rules = load_rules()
    pairs = now.groupby("tender_area")["provider_id"].unique()
    two = {int(a): sorted(p) for a, p in pairs.items() if len(p) == 2}
    assert two, "the small data set has areas with two providers"
    for area, providers in two.items():
        primary = now[(now["tender_area"] == area) & (now["measure"] == rules.area(area).primary_measure)]
        rate = primary.set_index("provider_id")["rate"]
        report_text = (small_reports.folder / f"opfoelgning-omraade-{area}.html").read_text(encoding="utf-8")
        overview = tables(report_text)[0]
        assert set(overview["Områdets andel uden leverandøren"]) == {"–"}, area
        for reader, other in (providers, providers[::-1]):
            text = (small_reports.folder / f"leverandoer-{reader}.html").read_text(encoding="utf-8")
            shown = visible_text(text)
            other_rate = danish.format_percent(rate[other])
            assert f"områdets {other_rate} uden leverandøren" not in shown, (reader, other_rate)
            # the reader's section of this area (a provider may serve an area with more providers)
            section = text.split(f"<h2>Udbudsområde {area}:", 1)[1].split("<h2>", 1)[0]
            own = [t for t in tables(section) if "Området uden leverandøren" in t.columns]
            assert own and all(set(t["Området uden leverandøren"]) == {"–"} for t in own if len(t)), reader


def test_the_risk_adjusted_rate_is_shown_with_its_interval(small_reports: SmallReports, marts) -> None:
    results = marts["mart_provider_results"]
    month = pd.Timestamp(f"{small_reports.month}-01")
    rules = load_rules()
    checked = 0
    for area in sorted(results["tender_area"].unique()):
        primary = rules.area(int(area)).primary_measure
        rows = results[
            (pd.to_datetime(results["as_of_month"]) == month)
            & (results["tender_area"] == area)
            & (results["measure"] == primary)
        ].set_index("provider_name")
        text = (small_reports.folder / f"opfoelgning-omraade-{area}.html").read_text(encoding="utf-8")
        overview = tables(text)[0].set_index("Leverandør")
        reasons = " ".join(visible_text(text).split())
        decisions = marts["mart_booking_decisions"]
        in_month = (pd.to_datetime(decisions["month"]) == month) & (decisions["tender_area"] == area)
        decided = set(decisions.loc[in_month, "provider_id"])
        for name, row in rows.iterrows():
            if row["successes"] < 5 or row["n"] < 5:
                continue
            interval = danish.format_percent_range(
                row["risk_adjusted_rate_low"], row["risk_adjusted_rate_high"]
            )
            adjusted = danish.format_percent(row["risk_adjusted_rate"])
            assert overview.loc[name, "Risikojusteret andel"] == f"{adjusted} ({interval})", name
            # the reason sentence is the decision's: only providers with an agreement that month
            if row["adjustment_status"] == "adjusted" and row["provider_id"] in decided:
                assert f"risikojusteret {adjusted} (95 %-interval {interval})" in reasons, name
            checked += 1
    assert checked >= 8


# --- purpose achievement, attendance and efterværn (issue 16) ----------------------------------


def _dbt_var(name: str) -> object:
    return yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"][name]


def _expected_sections(fct: pd.DataFrame, month_end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Per measure, per tender area and provider: n and successes (binary) or the mean
    (mentor attendance), counted here from fct_referral_outcomes the metrics.md way: efterværn
    in no base but retained_6m's, a base month being the window ends of the rolling months."""
    months = int(_dbt_var("rolling_months"))

    def in_base(column: str) -> pd.Series:
        window = pd.to_datetime(fct[column])
        return (window <= month_end) & (window > month_end - pd.DateOffset(months=months))

    aftercare = fct["is_aftercare"].fillna(False).astype(bool)
    ended = fct["end_date"].notna()
    mentor = fct["offer_code"].str.upper().isin([str(o).upper() for o in _dbt_var("mentor_offers")])
    bases = {
        "purpose_achieved": (
            ~aftercare & fct["purpose_achieved"].notna() & in_base("result_window_end"),
            "purpose_achieved",
        ),
        "stable_attendance": (
            ~aftercare & ended & fct["stable_attendance"].notna() & in_base("end_date"),
            "stable_attendance",
        ),
        "mentor_attendance_rate": (
            ~aftercare & ended & fct["attendance_rate"].notna() & mentor & in_base("end_date"),
            "attendance_rate",
        ),
        "retained_6m": (
            aftercare & fct["retained_6m"].notna() & in_base("retained_6m_window_end"),
            "retained_6m",
        ),
    }
    out = {}
    for measure, (mask, column) in bases.items():
        rows = fct[mask].assign(value=lambda f, c=column: f[c].astype(float))
        out[measure] = rows.groupby(["tender_area", "provider_id"])["value"].agg(["size", "sum", "mean"])
    return out


def _section_table(html_text: str, label: str, which: int) -> pd.DataFrame | None:
    """The which-th table of a measure (a dashboard has one per tender area of the provider)."""
    found = [t for t in tables(html_text) if label in t.columns and "Leverandør" in t.columns]
    return found[which].set_index("Leverandør") if len(found) > which else None


def _check_row(row: pd.Series, label: str, n: int, successes: float, mean: float, mart: pd.Series) -> bool:
    """One provider's row of a section against the independent count; True when disclosure
    control hid it (a count below 5)."""
    rule = load_config().disclosure
    assert int(mart["n"]) == n  # the mart counts what pandas counts
    assert row["Forløb i grundlaget"] == ("<5" if rule.is_small(n) else danish.format_int(n))
    continuous = mart["measure_kind"] == "continuous"
    if rule.is_small(n) or (not continuous and rule.is_small(successes)):
        assert row[label] == "–"
        return True
    if continuous:
        assert row[label] == danish.format_percent(mean)
    else:
        interval = danish.format_percent_range(mart["rate_low"], mart["rate_high"])
        assert row[label] == f"{danish.format_percent(successes / n)} ({interval})"
    return False


def _check_sections(
    path: Path,
    area: int,
    labels: Mapping[str, str],
    shown: Mapping[str, str],
    expected,
    mart: pd.DataFrame,
    before: Sequence[int] = (),
) -> tuple[int, int]:
    """Check the sections of one area in a report; `before`: the areas whose sections come
    first in it (a dashboard shows each tender area of its provider in turn)."""
    text = path.read_text(encoding="utf-8")
    checked = hidden = 0
    for measure, counts in expected.items():
        with_base = set(counts.index.get_level_values(0))
        table = _section_table(text, labels[measure], sum(a in with_base for a in before))
        here = counts.loc[area] if area in counts.index.get_level_values(0) else counts.iloc[:0]
        if here.empty:
            continue
        assert table is not None, (path.name, measure)
        for pid, (n, successes, mean) in here.iterrows():
            row = mart.loc[(area, pid, measure)]
            hidden += _check_row(table.loc[shown[pid]], labels[measure], int(n), successes, mean, row)
            checked += 1
        if measure != "mentor_attendance_rate":  # a rate's area column is the area's rate
            area_rate = danish.format_percent(here["sum"].sum() / here["size"].sum())
            assert set(table["Området"]) == {area_rate}, (path.name, measure)
    return checked, hidden


def test_purpose_attendance_and_aftercare_sections_match_pandas(
    small_reports: SmallReports, marts, month_end
) -> None:
    """Every area report and every dashboard has the sections Resultatmål opnået, Fremmøde and
    Efterværn, each provider's n, rate with Wilson interval (or mean) and the area's rate
    equal to an independent count of fct_referral_outcomes; a count below 5 reads "<5" with
    no rate, in the area report and in the dashboards where the others are letters."""
    fct = marts["fct_referral_outcomes"]
    expected = _expected_sections(fct, month_end)
    labels = marts["dim_measures"].set_index("measure")["label_da"].to_dict()
    results = marts["mart_provider_results"]
    mart = results[pd.to_datetime(results["as_of_month"]) == month_end.replace(day=1)].set_index(
        ["tender_area", "provider_id", "measure"]
    )
    names = marts["dim_providers"].set_index("provider_id")["provider_name"].to_dict()
    checked = hidden = 0
    for path in small_reports.files("opfoelgning-omraade-*.html"):
        area = int(path.stem.rsplit("-", 1)[1])
        shown = visible_text(path.read_text(encoding="utf-8"))
        assert all(h in shown for h in ("Resultatmål opnået", "Fremmøde", "Efterværn")), path.name
        c, h = _check_sections(path, area, labels, names, expected, mart)
        checked, hidden = checked + c, hidden + h
    letters = provider_labels(names, None, True, load_config().providers.alias_prefix)
    for path in small_reports.files("leverandoer-*.html"):
        own = path.stem.split("-", 1)[1]
        areas = sorted(mart.xs(own, level="provider_id").index.get_level_values(0).unique())
        for which, area in enumerate(areas):
            shown = {**letters, own: names[own]}
            c, h = _check_sections(path, int(area), labels, shown, expected, mart, areas[:which])
            checked, hidden = checked + c, hidden + h
    assert checked >= 100 and hidden >= 2, (checked, hidden)


def test_aftercare_is_its_own_line_and_in_no_other_base(
    small_reports: SmallReports, marts, month_end
) -> None:
    """The dashboard's own table has efterværn (retained_6m) on a line of its own, after every
    other measure, and the primary measure's base counts no aftercare referral."""
    fct = marts["fct_referral_outcomes"]
    labels = marts["dim_measures"].set_index("measure")["label_da"]
    aftercare_label = labels[load_config().measures.aftercare]
    assert "efterværn" in aftercare_label
    expected = _expected_sections(fct, month_end)["retained_6m"]
    window = pd.to_datetime(fct["result_window_end"])
    closed = fct[fct["is_closed"] & (window <= month_end) & (window > month_end - pd.DateOffset(months=12))]
    rule = load_config().disclosure
    text = (small_reports.folder / "leverandoer-P01.html").read_text(encoding="utf-8")
    own = tables(text)[0].set_index("Mål")
    assert list(own.index)[-1] == aftercare_label
    n = int(expected.loc[(1, "P01"), "size"])
    assert own.loc[aftercare_label, "Forløb i grundlaget"] == count_text_of(n, rule)
    primary = labels[load_rules().area(1).primary_measure]
    mine = closed[(closed["provider_id"] == "P01") & (closed["tender_area"] == 1)]
    assert mine["is_aftercare"].any(), "the small data set has closed efterværn referrals"
    without = int((~mine["is_aftercare"].astype(bool)).sum())
    assert own.loc[primary, "Forløb i grundlaget"] == count_text_of(without, rule)


def count_text_of(n: int, rule) -> str:
    return "<5" if rule.is_small(n) else danish.format_int(n)


def test_the_scorecard_lists_the_new_measures(small_reports: SmallReports, marts) -> None:
    labels = marts["dim_measures"].set_index("measure")["label_da"]
    measures = load_config().measures
    book = openpyxl.load_workbook(small_reports.folder / "scorecard.xlsx")
    sheet = next(s for s in book if s.title.startswith("Område 1"))
    shown = {r[0] for r in sheet.iter_rows(min_row=5, values_only=True) if r[0]}
    new = (measures.purpose, measures.attendance, measures.mentor_attendance, measures.aftercare)
    assert {labels[m] for m in new} <= shown


def decision_sheet(path: Path) -> list[dict[str, object]]:
    """The scorecard's Beslutninger sheet, one dict per row under its headers."""
    sheet = openpyxl.load_workbook(path)["Beslutninger"]
    header = [c.value for c in sheet[4]]
    return [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=5, values_only=True)]


def test_the_area_report_and_the_scorecard_list_the_action_plans(small_reports: SmallReports, marts) -> None:
    """Every provider whose state in force requires an action plan (mart_booking_decisions'
    action_plan_required, i.e. YELLOW) is listed under Handlingsplaner in its area report and
    marked in the scorecard; none is received here, since no override was recorded."""
    decisions = marts["mart_booking_decisions"]
    month = pd.Timestamp(f"{small_reports.month}-01")
    now = decisions[pd.to_datetime(decisions["month"]) == month]
    names = marts["dim_providers"].set_index("provider_id")["provider_name"]
    assert (now["action_plan_required"] == (now["state"] == "YELLOW")).all()
    needing = now[now["action_plan_required"]]
    for area in sorted(now["tender_area"].unique()):
        html_text = (small_reports.folder / f"opfoelgning-omraade-{area}.html").read_text(encoding="utf-8")
        assert "Handlingsplaner" in visible_text(html_text)
        listed = [t for t in tables(html_text) if "Handlingsplan" in t.columns]
        expected = sorted(names[p] for p in needing.loc[needing["tender_area"] == area, "provider_id"])
        if not expected:
            assert not listed and "skal aflevere en handlingsplan" in visible_text(html_text)
            continue
        assert sorted(listed[0]["Leverandør"]) == expected
        assert set(listed[0]["Handlingsplan"]) == {"afventer"}
    rows = decision_sheet(small_reports.folder / "scorecard.xlsx")
    marked = sorted(r["Leverandør"] for r in rows if r["Handlingsplan"])
    assert marked == sorted(names[p] for p in needing["provider_id"])
    assert {r["Handlingsplan"] for r in rows if r["Handlingsplan"]} <= {"afventer"}


def test_a_received_action_plan_reaches_the_area_report_and_the_scorecard(
    small_reports: SmallReports, marts, tmp_path: Path
) -> None:
    """The meeting sets two GREEN providers of area 1 to YELLOW, one with its plan received on
    the 3rd (provmon decide override --action-plan-received); the report shows the day for one
    and "afventer" for the other."""
    from pipeline.decisions.service import record_override

    settings = copy_settings(small_reports.settings, tmp_path / "plan")
    month = dt.date.fromisoformat(f"{small_reports.month}-01")
    decisions = marts["mart_booking_decisions"]
    green = decisions[
        (pd.to_datetime(decisions["month"]) == pd.Timestamp(month)) & (decisions["model"] == "soft")
        & (decisions["tender_area"] == 1) & (decisions["state"] == "GREEN")
    ]  # fmt: skip
    with_plan, without = sorted(green["provider_id"])[:2]
    received = month.replace(day=3)
    common = {"month": month, "tender_area": 1, "state": "YELLOW", "decided_by": "MLH"}
    record_override(
        settings, provider_id=with_plan, reason="Plan modtaget", action_plan_received=received, **common
    )
    record_override(settings, provider_id=without, reason="Skærpet opfølgning", **common)
    summary = report(settings, month=month)
    names = marts["dim_providers"].set_index("provider_id")["provider_name"]
    soft_area_1 = decisions[
        (pd.to_datetime(decisions["month"]) == pd.Timestamp(month)) & (decisions["model"] == "soft")
        & (decisions["tender_area"] == 1)
    ]  # fmt: skip
    # Providers the engine itself put in YELLOW wait for their plan too.
    yellow = soft_area_1.loc[soft_area_1["state"] == "YELLOW", "provider_id"]
    expected = {names[p]: "afventer" for p in yellow}
    expected[names[with_plan]] = f"modtaget 3. {danish.MONTH_NAMES[month.month - 1]} {month.year}"
    expected[names[without]] = "afventer"
    html_text = (summary.folder / "opfoelgning-omraade-1.html").read_text(encoding="utf-8")
    listed = next(t for t in tables(html_text) if "Handlingsplan" in t.columns)
    assert dict(zip(listed["Leverandør"], listed["Handlingsplan"], strict=True)) == expected
    rows = decision_sheet(summary.folder / "scorecard.xlsx")
    soft_month = decisions[
        (pd.to_datetime(decisions["month"]) == pd.Timestamp(month)) & (decisions["model"] == "soft")
    ]  # fmt: skip
    in_scorecard = {
        names[p]: "afventer" for p in soft_month.loc[soft_month["state"] == "YELLOW", "provider_id"]
    }
    in_scorecard.update(expected)  # the scorecard lists every area's YELLOW providers
    assert {r["Leverandør"]: r["Handlingsplan"] for r in rows if r["Handlingsplan"]} == in_scorecard


def _cusum_figures(html_text: str) -> list[dict]:
    return [
        f
        for f in figures(html_text)
        if "Tidlig varsling" in str(f["layout"].get("title", {}).get("text", ""))
    ]


def test_the_area_report_has_the_early_warning_and_a_dashboard_only_the_own_line(
    small_reports: SmallReports, marts
) -> None:
    """Issue 17 item 7: the area report's "Tidlig varsling" draws every provider's S with the
    area's h, ending at the report month's S of fct_provider_cusum; a provider's dashboard
    draws its own line and h in each of its areas, and no other provider's."""
    cusum = marts["fct_provider_cusum"]
    cusum = cusum.assign(
        as_of_month=pd.to_datetime(cusum["as_of_month"]), provider_id=cusum["provider_id"].astype(str)
    )
    month = pd.Timestamp(f"{small_reports.month}-01")
    now = cusum[cusum["as_of_month"] == month].set_index(["tender_area", "provider_id"])
    names = marts["dim_providers"].set_index("provider_id")["provider_name"]
    results = marts["mart_provider_results"]
    current = results[pd.to_datetime(results["as_of_month"]) == month]
    for area in sorted(current["tender_area"].unique()):
        html_text = (small_reports.folder / f"opfoelgning-omraade-{area}.html").read_text(encoding="utf-8")
        assert "Tidlig varsling" in visible_text(html_text)
        (fig,) = _cusum_figures(html_text)
        lines = {t["name"]: t for t in fig["data"]}
        drawn = {
            p for p in current.loc[current["tender_area"] == area, "provider_id"] if (area, p) in now.index
        }
        assert set(lines) == {names[p] for p in drawn} | {"Grænse h"}
        for pid in drawn:
            assert _values(lines[names[pid]]["y"])[-1] == pytest.approx(now.loc[(area, pid), "s"])
        h = now.xs(area, level="tender_area")["h"].iloc[0]
        assert _values(lines["Grænse h"]["y"])[-1] == pytest.approx(h)
    for pid in sorted(current["provider_id"].unique()):
        html_text = (small_reports.folder / f"leverandoer-{pid}.html").read_text(encoding="utf-8")
        charts_shown = _cusum_figures(html_text)
        areas = sorted(
            a
            for a in current.loc[current["provider_id"] == pid, "tender_area"].unique()
            if (a, pid) in now.index
        )
        assert len(charts_shown) == len(areas), pid
        for area, fig in zip(areas, charts_shown, strict=True):
            assert [t["name"] for t in fig["data"]] == [names[pid], "Grænse h"], pid
            assert _values(fig["data"][0]["y"])[-1] == pytest.approx(now.loc[(area, pid), "s"])
