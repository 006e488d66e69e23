"""The ``fennec serve`` web page in a real headless Chromium (Debian's chromium and
chromium-driver, which .ci/run installs; Selenium drives it): describe a task, rank, read the
table and the chart, and compare them with the JSON API's answer."""

from __future__ import annotations

import shutil

import pytest
from conftest import require
from test_serve import run_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("headless Chromium unavailable: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run does)")
    return browser, driver


@pytest.fixture
def browser():
    binary, driver_path = _chromium()
    require("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1200,1600"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_ranks_a_described_task(browser):
    require("onnxruntime")
    httpx = require("httpx")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    text = "photos of people holding yoga poses"
    with run_server("--zoo", "pytorchcv105", "--zoo", "hf-nlp") as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 120)  # a guard for a stuck page, not a speed check
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        zoo = Select(browser.find_element(By.ID, "zoo"))
        assert {o.get_attribute("value") for o in zoo.options} == {"pytorchcv105", "hf-nlp"}
        assert zoo.first_selected_option.get_attribute("value") == "pytorchcv105"
        browser.find_element(By.ID, "description").send_keys(text)
        top = browser.find_element(By.ID, "top")
        top.clear()
        top.send_keys("7")
        browser.find_element(By.ID, "rank-button").click()
        wait.until(ec.visibility_of_element_located((By.ID, "result")))
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in browser.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")]
        bars = browser.find_elements(By.CSS_SELECTOR, "#chart svg rect.bar")
        notes = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#notes li")]
        status = browser.find_element(By.ID, "status").text
        want = httpx.post(f"{url}/rank", json={"zoo": "pytorchcv105", "description": text, "top": 7,
                                               "explore": False}, timeout=120).json()
        severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]

    assert status == "ranked 105 models"
    assert [r[0] for r in rows] == [str(i) for i in range(1, 8)]
    assert [r[1] for r in rows] == [m["model"] for m in want["models"]]
    assert [float(r[2]) for r in rows] == pytest.approx([m["predicted"] for m in want["models"]], rel=1e-3)
    for row, model in zip(rows, want["models"], strict=True):  # the 90% interval column
        if model.get("low") is not None:
            low, high = (float(x) for x in row[3].strip("[]").split(","))
            assert (low, high) == pytest.approx((model["low"], model["high"]), rel=1e-3)
    assert len(bars) == 7
    assert any("description" in n for n in notes)
    assert severe == []  # no script error, nothing blocked by the page's Content-Security-Policy


def test_the_page_says_what_is_wrong_with_pasted_results(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with run_server("--zoo", "pytorchcv105") as url:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 120)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        browser.find_element(By.ID, "mode-known").click()
        browser.find_element(By.ID, "known").send_keys("model,score\nresnet18,0.8\nno-such-model,0.7")
        browser.find_element(By.ID, "rank-button").click()
        wait.until(lambda d: "unknown model" in d.find_element(By.ID, "status").text)
        assert "no-such-model" in browser.find_element(By.ID, "status").text
        known = browser.find_element(By.ID, "known")
        known.clear()
        known.send_keys("resnet18,0.8\nalexnet,0.6")
        browser.find_element(By.ID, "rank-button").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text == "ranked 105 models")
        rows = browser.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")
        observed = {tr.find_elements(By.TAG_NAME, "td")[1].text: tr.find_elements(By.TAG_NAME, "td")[5].text
                    for tr in rows}
    assert len(rows) == 10
    assert all(v == "-" for m, v in observed.items() if m not in ("resnet18", "alexnet"))
