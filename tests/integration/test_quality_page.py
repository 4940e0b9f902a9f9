"""The data-quality page, the follow-up report's "Datakvalitet" section, and that nothing provmon
writes loads anything from the network (issue 14, items 7 and 10).

One copy of the small warehouse is validated (deliveries and marts), decided, reported for one
tender area and back-tested; expected values come from meta.loads, quarantine.rows and
quality.yaml, not from the page's own code."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from bs4 import BeautifulSoup, Tag
from plotly.offline import get_plotlyjs

from pipeline.contract import load_contract
from pipeline.decisions.service import decide, run_backtest
from pipeline.quality import validate, validate_marts
from pipeline.quality.config import load_config as load_quality_config
from pipeline.reports.execute import Job, run_job
from pipeline.reports.index import write_index
from pipeline.reports.present import PLOTLY_FILE
from pipeline.reports.report import FOLLOWUP_NOTEBOOK
from pipeline.settings import Settings
from tests.conftest import SmallReports

pytestmark = pytest.mark.integration

PAGE_HEADERS = ["Tabel", "Kontrol", "Leverance", "Alvor", "Resultat", "Observeret værdi", "Tærskel"]


@pytest.fixture(scope="module")
def checked(warehouse_copy: Callable[[str], Settings], small_reports: SmallReports) -> Settings:
    """A copy validated before and after the build, decided, with area 1's follow-up report
    (written into <out_dir>/<month>/ as `provmon report` would) and a short back-test."""
    settings = warehouse_copy("quality_page")
    validate(settings)
    validate_marts(settings)
    decide(settings)
    folder = settings.out_dir / small_reports.month
    parameters = {
        "month": small_reports.month,
        "marts_dir": str(settings.marts_dir.resolve()),
        "warehouse": str(settings.warehouse.resolve()),
        "quality_file": "",
        "tender_area": 1,
    }
    run_job(Job(FOLLOWUP_NOTEBOOK, parameters, folder / "opfoelgning-omraade-1.html", "Område 1", "area"))
    month = dt.date.fromisoformat(f"{small_reports.month}-01")
    run_backtest(settings, month, month)
    return settings


def _page(settings: Settings) -> BeautifulSoup:
    path = settings.out_dir / "quality" / "index.html"
    assert path.is_file(), "validate writes the data-quality page"
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _cell_parts(cell: Tag) -> tuple[str, str]:
    """(the Danish text, the technical name in small print) of a cell."""
    tech = cell.find(class_="provmon-tech")
    technical = tech.get_text(strip=True) if tech else ""
    if tech:
        tech.extract()
    return cell.get_text(" ", strip=True), technical


def _rows(table: Tag) -> list[dict[str, tuple[str, str]]]:
    headers = [th.get_text(strip=True) for th in table.find("thead").find_all("th")]
    return [
        dict(zip(headers, (_cell_parts(td) for td in tr.find_all("td")), strict=True))
        for tr in table.find("tbody").find_all("tr")
    ]


def _danish_number(text: str) -> float:
    """The first number of a Danish text ("5,36 %" -> 5.36, "1.103" -> 1103)."""
    match = re.search(r"-?\d[\d.]*(,\d+)?", text)
    assert match, text
    return float(match.group(0).replace(".", "").replace(",", "."))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _loads(settings: Settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("select * from meta.loads where status = 'loaded'").df()


# --- the data-quality page ----------------------------------------------------------------------


def test_the_quality_page_is_danish_plain_html_with_every_column(checked: Settings) -> None:
    page = _page(checked)
    assert page.html["lang"] == "da"
    assert not page.find_all("script") and not page.find_all("link")
    sections = [h.get_text(strip=True) for h in page.find_all("h2")]
    assert len(sections) == 2 and "leverancerne" in sections[0] and "beregnede" in sections[1]
    for table in page.find_all("table"):
        assert [th.get_text(strip=True) for th in table.find_all("th")] == PAGE_HEADERS
    for tech in page.find_all(class_="provmon-tech"):
        tech.extract()  # technical names (`schema.unexpected_columns`) are allowed
    text = page.get_text(" ")
    for english in ("expected", "rows as expected", "Data Docs", "observed", "between"):
        assert english not in text


def test_the_reports_index_and_the_follow_up_report_link_the_quality_page(
    checked: Settings, small_reports: SmallReports
) -> None:
    index = BeautifulSoup(write_index(checked.out_dir).read_text(encoding="utf-8"), "html.parser")
    assert "quality/index.html" in [a["href"] for a in index.find_all("a")]
    report = checked.out_dir / small_reports.month / "opfoelgning-omraade-1.html"
    links = [
        a["href"] for a in BeautifulSoup(report.read_text(encoding="utf-8"), "html.parser").find_all("a")
    ]
    assert "../quality/index.html" in links
    assert (report.parent / "../quality/index.html").resolve().is_file()


def test_the_quality_page_lists_every_quarantine_share_breach(checked: Settings) -> None:
    """Deliveries whose quarantined share exceeds quality.yaml's bound, from meta.loads, are
    exactly the page's quarantine_share breaches, with the share and the bound in Danish."""
    bound = load_quality_config().landing.quarantine_share
    loads = _loads(checked)
    share = loads["rows_quarantined"] / loads["rows_read"]
    expected = {
        f: ("kritisk" if s > bound.critical_above else "advarsel", s)
        for f, s in zip(loads["file"], share, strict=True)
        if s > bound.warning_above
    }
    assert expected, "the small data set has deliveries with much quarantine"
    breaches = _page(checked).find("h3", string="Brud").find_next("table")
    shown = {r["Leverance"][0]: r for r in _rows(breaches) if r["Kontrol"][1] == "quarantine_share"}
    assert set(shown) == set(expected)
    contract = load_contract().extracts
    for file, (severity, value) in expected.items():
        row = shown[file]
        extract = file.rsplit("_", 1)[0]
        assert row["Tabel"] == (_capitalised(contract[extract].danish), f"landing.{extract}")
        assert row["Alvor"][0] == severity and row["Resultat"][0] == "brud"
        assert row["Observeret værdi"][0].split(" (")[0].endswith("%")
        # shown to one decimal (two below 10 %): 12,1 % for 12.12 %
        assert _danish_number(row["Observeret værdi"][0]) == pytest.approx(100 * value, abs=0.05)
        limit = bound.critical_above if severity == "kritisk" else bound.warning_above
        assert row["Tærskel"][0].startswith("højst ")
        assert _danish_number(row["Tærskel"][0]) == pytest.approx(100 * limit)


def test_the_quality_page_has_a_row_per_delivery_of_a_delivery_check(checked: Settings) -> None:
    loads = _loads(checked)
    every = _page(checked).find("details").find("table")
    rows = [r for r in _rows(every) if r["Kontrol"][1] == "keys_unique"]
    for extract, files in loads.groupby("extract")["file"]:
        mine = [r for r in rows if r["Tabel"][1] == f"landing.{extract}"]
        assert sorted(r["Leverance"][0] for r in mine) == sorted(files), extract
        assert all(r["Tærskel"][0] == "højst 0" and r["Alvor"][0] == "kritisk" for r in mine)


# --- nothing provmon writes loads from the network ----------------------------------------------

REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
CSS_REMOTE = re.compile(
    r"""(?:url\(\s*['"]?|@import\s+(?:url\(\s*)?['"]?)\s*((?:https?:)?//[^'")\s]+)""", re.I
)
TEXT_REMOTE = re.compile(r"""(?:src|href)\s*=\s*\\?["']\s*((?:https?:)?//[^"'\\\s]+)""", re.I)


def remote_references(path: Path) -> list[str]:
    """Every http(s) (or protocol-relative) URL a file refers to as an element attribute, a CSS
    url() or @import, or a src/href in a text file. Inline scripts are not read as markup: the
    bundled plotly.js carries attribution links of map features the reports never draw."""
    if path.suffix.lower() in (".xlsx", ".parquet", ".duckdb", ".png", ".otf", ".woff", ".woff2"):
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() not in (".html", ".htm"):
        return CSS_REMOTE.findall(text) + TEXT_REMOTE.findall(text)
    soup = BeautifulSoup(text, "html.parser")
    found = []
    for tag in soup.find_all(True):
        for attr, value in tag.attrs.items():
            for item in value if isinstance(value, list) else [value]:
                if attr == "style":
                    found += CSS_REMOTE.findall(str(item))
                elif REMOTE.match(str(item)) and attr != "xmlns" and not attr.startswith("xmlns:"):
                    found.append(f"<{tag.name} {attr}={item}>")
    for style in soup.find_all("style"):
        found += CSS_REMOTE.findall(style.get_text())
    return found


def test_the_scan_finds_what_great_expectations_data_docs_load(tmp_path: Path) -> None:
    page = tmp_path / "docs.html"
    page.write_text(
        '<html><head><link href="https://maxcdn.bootstrapcdn.com/b.css" rel="stylesheet">'
        '<script src="//code.jquery.com/jquery.js"></script>'
        "<style>.logo { background: url('https://example.org/logo.png') }</style></head>"
        '<body><img src="https://example.org/l.png?dataContextId=1"><a href="https://greatexpectations.io">x</a>'
        "</body></html>",
        encoding="utf-8",
    )
    (tmp_path / "s.css").write_text("@import 'https://fonts.example/f.css';", encoding="utf-8")
    assert len(remote_references(page)) == 5
    assert remote_references(tmp_path / "s.css") == ["https://fonts.example/f.css"]


def test_no_file_provmon_writes_refers_to_the_network(checked: Settings, small_reports: SmallReports) -> None:
    """Every file under the out dirs of a validated, decided, reported and back-tested warehouse:
    the quality page, the validation results, the reports, the index, the back-test. No element
    of a page points to an http(s) URL, not even a plain link: the pages are read offline, on
    the administration's machines, and should not invite a click out of them either."""
    files = [
        p
        for root in (checked.out_dir, small_reports.settings.out_dir)
        for p in root.rglob("*")
        if p.is_file()
    ]
    kinds = {p.suffix for p in files}
    assert {".html", ".json", ".xlsx"} <= kinds, kinds
    names = {p.relative_to(checked.out_dir).as_posix() for p in files if checked.out_dir in p.parents}
    assert "quality/index.html" in names and any(n.startswith("backtest/") for n in names)
    assert not any("data_docs" in n for n in names)
    # plotly.js itself, byte for byte as plotly ships it: its attribution links belong to map
    # features the reports never draw (as for the bundle when it was inline)
    bundles = [p for p in files if p.name == PLOTLY_FILE]
    assert bundles and all(p.read_text(encoding="utf-8") == get_plotlyjs() for p in bundles)
    offending = {str(p): refs for p in files if p not in bundles and (refs := remote_references(p))}
    assert not offending, offending


# --- the "Datakvalitet" section of the follow-up report -----------------------------------------


def _section(settings: Settings, month: str) -> list[Tag]:
    html_text = (settings.out_dir / month / "opfoelgning-omraade-1.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html_text, "html.parser")
    heading = next(h for h in soup.find_all("h2") if h.get_text(strip=True).startswith("Datakvalitet"))
    return [t for t in heading.find_all_next(["table", "p", "h3"])]


def test_the_quality_section_names_extracts_in_danish_and_counts_rows_exactly(
    checked: Settings, small_reports: SmallReports
) -> None:
    """Quarantined rows per extract and column, counted in the warehouse, shown exactly (row
    counts are not citizens: no "<5"), the extract and column named in Danish with the
    technical name in small print."""
    with duckdb.connect(str(checked.warehouse), read_only=True) as con:
        counted = con.execute(
            "select extract, column_name, count(*) from quarantine.rows group by all"
        ).fetchall()
    tags = _section(checked, small_reports.month)
    table = next(t for t in tags if t.name == "table" and "Rækker i karantæne" in t.get_text())
    rows = _rows(table)
    contract = load_contract().extracts
    shown = {(r["Udtræk"][1], r["Kolonne"][1]): r for r in rows}
    assert set(shown) == {(e, c or "") for e, c, _ in counted}
    assert any(0 < n < 5 for *_, n in counted), "the small data set has small counts"
    for extract, column, n in counted:
        row = shown[(extract, column or "")]
        assert int(_danish_number(row["Rækker i karantæne"][0])) == n
        assert row["Udtræk"][0] == _capitalised(contract[extract].danish)
        assert row["Kolonne"][0] and row["Kolonne"][0] != column


def test_the_quality_section_says_what_ran_and_what_failed_in_danish(
    checked: Settings, small_reports: SmallReports
) -> None:
    tags = _section(checked, small_reports.month)
    technical = [t for tag in tags for t in tag.find_all(class_="provmon-tech")]
    small_print = " ".join(t.get_text(strip=True) for t in technical)
    assert "provmon validate-marts" in small_print
    for t in technical:
        t.extract()
    text = " ".join(t.get_text(" ", strip=True) for t in tags)
    for verb in ("validate-marts", "validate ", "ingest ", "decide "):
        assert f"{verb.strip()} gennemført" not in text
    assert "kontrol af leverancer" in text.lower()
    loads = _loads(checked)
    bound = load_quality_config().landing.quarantine_share.warning_above
    breached = loads.loc[loads["rows_quarantined"] / loads["rows_read"] > bound, "file"]
    assert len(breached)
    for file in breached:  # the deliveries' warnings, although the marts were checked after them
        assert file in small_print
