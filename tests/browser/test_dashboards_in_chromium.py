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
