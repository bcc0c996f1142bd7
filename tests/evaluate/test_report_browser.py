"""The HTML report in a real browser: headless Chromium (Debian's package) driven by selenium through chromedriver.

Skipped when Chromium or its driver is missing, except under CI (``CI=true``), where ``make install`` provides them
and a missing browser must fail loudly instead of silently testing nothing.
"""

import os
import shutil

import pytest

from iclkit.evaluate.html_report import write_report
from iclkit.evaluate.records import scan_predictions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _browser_or_skip():
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = (f"the HTML report's browser test needs {', '.join(missing)}: run `make install` "
                   "(apt-get install chromium chromium-driver; pip install selenium)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def browser():
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: selenium-manager never tries to download one
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _visible_rows(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "#examples-table tbody tr.example-row")


def _screenshot_without_js_errors(browser, shot):
    """Save the example browser's screenshot into the test output (path printed) and check the console is clean."""
    browser.execute_script("document.getElementById('examples').scrollIntoView()")
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []  # no JavaScript errors


def test_report_in_chromium(browser, experiment_dir, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = write_report([experiment_dir], tmp_path / "report.html")
    browser.get(page.resolve().as_uri())
    assert browser.title.startswith("iclkit report")

    # tables and figures are there, and every figure decoded (naturalWidth > 0 only for a loaded image)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#overview-table tbody tr")) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#calibration-table tbody tr")) == 3
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 18
    assert all(browser.execute_script("return arguments[0].naturalWidth", img) > 100 for img in images)
    assert browser.find_element(By.CSS_SELECTOR, "tr.collapsed .badge").text == "label collapse"

    # the browser starts on the first run (zero-shot, every prediction "positive"); pick bm25-2 instead
    Select(browser.find_element(By.ID, "run-select")).select_by_visible_text("bm25-2")
    records = scan_predictions(experiment_dir / "bm25-2")
    assert len(_visible_rows(browser)) == len(records) == 30

    errors = [r for r in records if r.prediction != r.gold]
    browser.find_element(By.ID, "errors-only").click()
    rows = _visible_rows(browser)
    assert 0 < len(rows) == len(errors) < 30
    assert {r.get_attribute("data-id") for r in rows} == {r.example_id for r in errors}
    browser.find_element(By.ID, "errors-only").click()

    browser.find_element(By.ID, "search").send_keys("awful movie number 1")  # ids 1, 11, 13, ... below 30
    expected = {r.example_id for r in records if "awful movie number 1" in r.prompt.rsplit("\n\n", 1)[-1]}
    assert {r.get_attribute("data-id") for r in _visible_rows(browser)} == expected and 0 < len(expected) < 30
    assert browser.find_element(By.ID, "row-count").text.startswith(f"showing 1–{len(expected)} of {len(expected)}")

    Select(browser.find_element(By.ID, "gold-filter")).select_by_value("positive")
    assert _visible_rows(browser) == []  # "awful" examples are all negative
    Select(browser.find_element(By.ID, "gold-filter")).select_by_value("")

    _visible_rows(browser)[0].click()  # expand: prompt parts with the demonstrations, then the scores
    parts = browser.find_elements(By.CSS_SELECTOR, "tr.detail .prompt-part")
    assert [p.get_attribute("class") for p in parts] == ["prompt-part demo"] * 2 + ["prompt-part query"]
    assert "awful movie number 1" in parts[-1].text
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.detail table.scores tr")) == 3  # header + 2 labels

    _screenshot_without_js_errors(browser, tmp_path / "report.png")


def test_large_runs_are_paginated(browser, experiment_dir, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By

    from iclkit.evaluate import html_report

    monkeypatch.setattr(html_report, "PAGE_SIZE", 7)  # 30 examples -> pages of 7, 7, 7, 7, 2
    page = write_report([experiment_dir / "bm25-2"], tmp_path / "report.html")
    browser.get(page.resolve().as_uri())
    sizes = []
    for _ in range(5):
        sizes.append(len(_visible_rows(browser)))
        browser.find_element(By.ID, "next-page").click()
    assert sizes == [7, 7, 7, 7, 2]
    assert browser.find_element(By.ID, "page-info").text == "page 5 of 5"
    assert not browser.find_element(By.ID, "next-page").is_enabled()
    browser.find_element(By.ID, "errors-only").click()  # a new filter starts again on page 1
    assert browser.find_element(By.ID, "page-info").text.startswith("page 1 of")
    _screenshot_without_js_errors(browser, tmp_path / "paginated.png")


def test_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    import sys

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "CHROMIUM", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs chromium"):
        _browser_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make install"):
        _browser_or_skip()
