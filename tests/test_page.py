"""The page of `seq2seq serve` in a real browser: headless Chromium (Debian's chromium and
chromium-driver, which .ci/run installs; nothing is downloaded at test time) types a sentence,
translates it with Enter and with the button, and finds the API's translation, the unknown word
marked, the n-best list and a heatmap of one row per output token and one column per source token."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import start_server

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                                "chromium-driver; .ci/run installs them)")


def api(base: str, sentence: str) -> dict:
    """The API's answer for what the page asks (beam 5, five alternatives, attention)."""
    body = json.dumps({"text": [sentence], "beam": 5, "n_best": 5, "attention": True}).encode()
    request = urllib.request.Request(base + "/translate", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["results"][0]


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1000,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


def test_the_page_translates_marks_unknown_words_and_draws_the_heatmap(browser, served_checkpoint, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    proc, base, _ = start_server("--model", str(served_checkpoint))
    try:
        browser.get(base + "/")
        WebDriverWait(browser, 30).until(lambda d: "knows" in d.find_element(By.ID, "domain").text)
        assert "sentences of fewer than 6 words" in browser.find_element(By.ID, "domain").text
        box = browser.find_element(By.ID, "source")
        box.send_keys("Je suis ornithorynque.", Keys.ENTER)  # Enter submits
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "translation").text)
        expected = api(base, "Je suis ornithorynque.")
        assert browser.find_element(By.ID, "translation").text == expected["translation"]
        assert [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#read mark.unknown")] == ["ornithorynque"]
        items = browser.find_elements(By.CSS_SELECTOR, "#nbest li")
        assert len(items) == len(expected["alternatives"]) > 1
        assert items[0].text.startswith(expected["alternatives"][0]["translation"])
        att = expected["attention"]
        cells = browser.find_elements(By.CSS_SELECTOR, "#heatmap-svg rect.cell")
        assert len({c.get_attribute("data-row") for c in cells}) == len(att["output_tokens"])
        assert len({c.get_attribute("data-col") for c in cells}) == len(att["source_tokens"])
        assert len(cells) == len(att["output_tokens"]) * len(att["source_tokens"])
        labels = [t.get_attribute("textContent") for t in browser.find_elements(By.CSS_SELECTOR, "text.row-label")]
        assert labels == att["output_tokens"]
        browser.save_screenshot(str(tmp_path / "page.png"))
        assert (tmp_path / "page.png").stat().st_size > 1000

        box.clear()
        box.send_keys("Tu es grand.")
        browser.find_element(By.ID, "go").click()  # the button too
        expected = api(base, "Tu es grand.")
        WebDriverWait(browser, 30).until(
            lambda d: d.find_element(By.ID, "translation").text == expected["translation"])
        assert browser.find_elements(By.CSS_SELECTOR, "#read mark.unknown") == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
