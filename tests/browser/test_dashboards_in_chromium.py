"""The exported reports open in headless Chromium (Debian's `chromium` and `chromium-driver`
packages, driven by Selenium over the DevTools log): every Plotly chart renders, the page makes
no network request and logs no JavaScript error.

Without Chromium the test is skipped with the reason, except in CI (CI=true), where a missing
browser is a broken set-up and fails."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SmallReports

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Flags without which Chromium phones home (and is refused by a closed network).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1300,900",
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
RENDER_TIMEOUT = 60


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install selenium)"
    for path, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install -y {package})"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    problem = _missing()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"headless Chromium is required in CI: {problem}")
        pytest.skip(f"headless Chromium not available: {problem}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="provmon-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver, path: Path) -> tuple[int, int, list[str], list[str]]:
    """Load the page; return (plotly divs, rendered charts, network requests, JS errors)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    driver.get_log("performance")  # drop what the start page did
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())
    count = "return document.querySelectorAll('.plotly-graph-div').length"
    drawn = (
        "return document.querySelectorAll('.plotly-graph-div .main-svg').length > 0 ? "
        "document.querySelectorAll('.plotly-graph-div.js-plotly-plot').length : 0"
    )
    divs = driver.execute_script(count)
    WebDriverWait(driver, RENDER_TIMEOUT).until(lambda d: d.execute_script(drawn) >= divs)
    rendered = driver.execute_script(drawn)
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not url.startswith(LOCAL_SCHEMES):
                requests.append(url)
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return divs, rendered, requests, errors


def test_dashboards_render_offline_without_errors(browser, small_reports: SmallReports) -> None:
    pages = [
        small_reports.files("opfoelgning-omraade-*.html")[0],
        small_reports.files("leverandoer-*.html")[0],
    ]
    for page in pages:
        divs, rendered, requests, errors = _open(browser, page)
        assert divs >= 5, page.name
        assert rendered == divs, f"{page.name}: {rendered} of {divs} charts rendered"
        assert requests == [], f"{page.name} made network requests: {requests[:5]}"
        assert errors == [], f"{page.name} logged JavaScript errors: {errors[:5]}"


def test_the_index_opens_without_requests(browser, small_reports: SmallReports) -> None:
    from selenium.webdriver.common.by import By

    index = small_reports.settings.out_dir / "index.html"
    browser.get("about:blank")
    browser.get_log("performance")
    browser.get(index.resolve().as_uri())
    links = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    assert links and all(link.startswith("file:") for link in links)
    for link in links:
        assert Path(link.removeprefix("file://")).exists(), link


def test_the_check_sees_a_request_and_an_error(browser, tmp_path: Path) -> None:
    """The control: a page that fetches from the network and throws is caught by _open."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><div class="plotly-graph-div js-plotly-plot"><svg class="main-svg"></svg></div>'
        '<img src="http://example.invalid/x.png"><script>throw new Error("kaput")</script></body></html>',
        encoding="utf-8",
    )
    divs, rendered, requests, errors = _open(browser, page)
    assert (divs, rendered) == (1, 1)
    assert requests == ["http://example.invalid/x.png"]
    assert any("kaput" in e for e in errors)


# --- what the charts look like once drawn (issue 14, items 1 and 2) -----------------------------

# Per chart: its title, the boxes of its title and y-axis title, of every text label drawn in a
# scatter trace, of every bar (per bar trace) and every marker (per scatter trace), the traces'
# names and types in drawing order, and the legend's texts. Boxes are [left, top, right, bottom]
# in page pixels, null when the element is not drawn (an empty bar).
LAYOUT = """
const box = el => {
  if (!el) return null;
  const r = el.getBoundingClientRect();
  // a line-shaped mark has no height, an empty bar neither width nor height
  return r.width > 0 || r.height > 0 ? [r.left, r.top, r.right, r.bottom] : null;
};
return [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
  title: (gd.layout.title && gd.layout.title.text) || '',
  titleBox: box(gd.querySelector('.g-gtitle text')),
  ytitleBox: box(gd.querySelector('.g-ytitle text')),
  texts: [...gd.querySelectorAll('.scatterlayer .textpoint text')].map(box).filter(Boolean),
  bars: [...gd.querySelectorAll('.barlayer .trace')]
    .map(t => [...t.querySelectorAll('.point path')].map(box)),
  marks: [...gd.querySelectorAll('.scatterlayer .trace')]
    .map(t => [...t.querySelectorAll('.points path')].map(box)),
  traces: gd._fullData.map(t => ({type: t.type, name: t.name})),
  legend: [...gd.querySelectorAll('.legend .traces .legendtext')].map(e => e.textContent),
}));
"""


def _charts(driver, path: Path) -> list[dict]:
    _open(driver, path)
    return driver.execute_script(LAYOUT)


def _overlap(a: list[float], b: list[float], slack: float = 1.0) -> bool:
    return a[0] < b[2] - slack and b[0] < a[2] - slack and a[1] < b[3] - slack and b[1] < a[3] - slack


def collisions(charts: list[dict]) -> list[str]:
    """Chart titles run into by their y-axis title, and text labels drawn over each other."""
    found = []
    for chart in charts:
        if chart["titleBox"] and chart["ytitleBox"] and _overlap(chart["titleBox"], chart["ytitleBox"]):
            found.append(f"{chart['title']}: the y-axis title runs into the title")
        texts = chart["texts"]
        for i, a in enumerate(texts):
            if any(_overlap(a, b) for b in texts[i + 1 :]):
                found.append(f"{chart['title']}: text labels overlap")
                break
    return found


def misplaced_area_marks(chart: dict) -> list[str]:
    """Each area mark must be drawn on a bar of its own measure (never on another measure's
    bar), and named in the legend."""
    bar_names = [t["name"] for t in chart["traces"] if t["type"] == "bar"]
    mark_names = [t["name"] for t in chart["traces"] if t["type"] == "scatter"]
    problems = []
    on_own = 0
    for name, marks in zip(mark_names, chart["marks"], strict=True):
        measure = next((b for b in bar_names if name.endswith(b)), None)
        if measure is None:
            problems.append(f"{chart['title']}: area mark '{name}' names no measure")
            continue
        for mark in filter(None, marks):
            centre = (mark[0] + mark[2]) / 2
            under = {
                bar_names[j]
                for j, bars in enumerate(chart["bars"])
                for b in bars
                if b and b[0] <= centre <= b[2]
            }
            if under - {measure}:
                problems.append(f"{chart['title']}: '{name}' is drawn on the bar of {sorted(under)}")
            on_own += under == {measure}
        if name not in chart["legend"]:
            problems.append(f"{chart['title']}: '{name}' has no legend entry")
    if not on_own:
        problems.append(f"{chart['title']}: no area mark sits on a bar")
    return problems


def test_area_marks_sit_on_their_own_bars(browser, small_reports: SmallReports) -> None:
    pages = [
        small_reports.folder / "opfoelgning-omraade-2.html",
        small_reports.files("leverandoer-*.html")[0],
    ]
    checked = 0
    for page in pages:
        for chart in _charts(browser, page):
            if chart["title"].startswith(("Bæredygtighed", "Raskmeldinger")):
                assert len([t for t in chart["traces"] if t["type"] == "bar"]) >= 2, chart["title"]
                assert misplaced_area_marks(chart) == [], page.name
                checked += 1
    assert checked >= 3  # sustainability in both, raskmeldinger in area 2


def test_titles_and_labels_do_not_collide(browser, small_reports: SmallReports) -> None:
    pages = [
        *small_reports.files("opfoelgning-omraade-*.html")[:2],
        *small_reports.files("leverandoer-*.html")[:2],
    ]
    for page in pages:
        charts = _charts(browser, page)
        assert any(c["title"].startswith("Udvikling") for c in charts) and any(
            c["title"].startswith("Tragtplot") for c in charts
        )
        assert collisions(charts) == [], page.name


def test_the_layout_checks_see_a_collision_and_a_misplaced_mark(browser, tmp_path: Path) -> None:
    """The control: a chart with a long y-axis title, overlapping labels and an area mark at
    the category's centre is caught."""
    from plotly.offline import get_plotlyjs

    long_title = "Registreret resultat (afsluttede forløb) inden for 30 dage efter afslutning"
    script = f"""
    Plotly.newPlot('a', [{{type: 'scatter', x: [0, 50, 50.5, 100], y: [0, 50, 50.5, 100],
        mode: 'markers+text', text: ['', 'Leverandør A', 'Leverandør B', '']}}],
      {{title: {{text: 'Udvikling', x: 0}}, height: 420, margin: {{t: 60}},
        yaxis: {{title: {{text: '{long_title}'}}}}}});
    Plotly.newPlot('b', [
      {{type: 'bar', x: ['P', 'Q'], y: [50, 60], name: '3 mdr.'}},
      {{type: 'bar', x: ['P', 'Q'], y: [40, 50], name: '6 mdr.'}},
      {{type: 'bar', x: ['P', 'Q'], y: [30, 40], name: '12 mdr.'}},
      {{type: 'scatter', mode: 'markers', x: ['P', 'Q'], y: [55, 55], name: 'Området: 3 mdr.',
        showlegend: false}},
      {{type: 'scatter', mode: 'markers', x: ['P', 'Q'], y: [45, 45], name: 'Området: 6 mdr.'}}],
      {{title: {{text: 'Bæredygtighed'}}, barmode: 'group', height: 420}});
    """
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><head><meta charset="utf-8"></head><body><div id="a"></div><div id="b"></div>'
        f"<script>{get_plotlyjs()}</script>"
        f"<script>{script}</script></body></html>",
        encoding="utf-8",
    )
    charts = _charts(browser, page)
    found = collisions(charts)
    assert any("y-axis title" in f for f in found) and any("overlap" in f for f in found)
    misplaced = misplaced_area_marks(charts[1])
    assert any("3 mdr." in p and "bar of" in p for p in misplaced)
    assert any("no legend entry" in p for p in misplaced)
