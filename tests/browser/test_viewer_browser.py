"""The viewer in a real browser: headless Debian Chromium driven by Playwright (the
system's chromium; no browser download). Opens the index, searches, opens a feature,
reads heatmap cells and a score, opens an investigation, and saves screenshots under
tests/artifacts/. Skipped only when no `chromium` is installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mechanic.agent.viewer import viewer_services
from mechanic.web.server import Viewer, make_server
from support import serving
from synthetic_store import build_viewer_store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="no chromium on PATH (apt-get install chromium; `make setup` does it)"),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, subject):
    path = tmp_path_factory.mktemp("browser") / "viewer.db"
    ids = build_viewer_store(path, lambda t: subject.tokenizer(t, add_special_tokens=False)["input_ids"],
                             n_features=30, window=64)
    httpd = make_server(Viewer(path, viewer_services(subjects={"tiny:llama": subject})), port=0, quiet=True)
    for url in serving(httpd):
        yield url, ids


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        yield browser
        browser.close()


def test_index_search_feature_heatmap_score_and_investigation(browser, base_url):
    base, ids = base_url
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(base) else None)

    page.goto(base + "/")
    assert page.locator("a.feature").count() == 30
    page.fill("#keyword", "month")
    page.click("#go")
    page.wait_for_url("**q=month**")
    texts = page.locator("a.explanation").all_inner_texts()
    assert texts and all("month" in t for t in texts)
    page.screenshot(path=str(ARTIFACTS / "viewer-index.png"), full_page=True)

    page.locator("a.feature").first.click()
    page.wait_for_url("**/feature/**")
    cells = page.locator("span[data-act]")
    assert cells.count() > 100
    cell = cells.nth(5)
    value = cell.get_attribute("data-act")
    float(value)  # a number
    cell.hover()
    assert page.locator("#hover").inner_text() == f"activation {value}"
    score = page.locator("td.score-sim a").first
    assert -1.0 <= float(score.inner_text()) <= 1.0
    score.click()
    page.wait_for_url("**/explanation/**")
    assert page.locator("#score-sim").count() == 1

    page.goto(base + f"/feature/{ids['hostile_window_feature']}")  # hostile corpus text stays text
    assert "<script>alert(1)</script>" in page.locator("div.ex[data-window='0']").inner_text()
    page.screenshot(path=str(ARTIFACTS / "viewer-feature.png"), full_page=True)

    page.click("nav >> text=investigations")
    page.locator(f"a[href='/agent/{ids['investigations'][0]}']").first.click()
    page.wait_for_url("**/agent/**")
    assert page.locator("text=Hypotheses").count() == 1 and page.locator("div.experiment").count() == 3
    assert page.locator(".verdict-supported").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "viewer-investigation.png"), full_page=True)

    assert dialogs == []  # no injected script ran
    assert remote == []  # nothing loaded from anywhere else
    page.close()
