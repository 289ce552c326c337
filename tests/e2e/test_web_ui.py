"""The web page in a real headless Chromium: log in, fire an alert, watch the run appear
and move without a reload, approve its waiting step from the page, see it finish.

Real components: Debian's `chromium` driven through its `chromedriver` by selenium,
`cutman dev` with an API token (Redis, dev broker, the five functions). Test double:
the scripted OpenAI-compatible server for the agent step (tests/e2e/api_env.py).

"Without a reload" is checked with a marker set on `window` before the alert is fired:
a reload or navigation would drop it. Set CUTMAN_SCREENSHOTS=<folder> to keep the
screenshots (docs/ui-*.png were made that way).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.api_env import API_TOKEN, ApiEnv, api_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no Chromium here: the browser test needs Debian's chromium and chromium-driver "
           "(make deps-test installs them)")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("ui")) as e:
        yield e


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    assert CHROMIUM is not None and DRIVER is not None
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, probe: Any, what: str, timeout: float = 40.0) -> Any:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                             ).until(lambda d: probe(d))
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}; page was:\n{driver.page_source[:3000]}") from None


def text_of(driver: Any, element_id: str) -> str:
    """Read in one script call: the page swaps fragments in while a run moves."""
    return str(driver.execute_script(f"return document.getElementById('{element_id}').innerText"))


def screenshot(driver: Any, tmp: Path, name: str) -> Path:
    path = tmp / name
    driver.save_screenshot(str(path))
    keep = os.environ.get("CUTMAN_SCREENSHOTS")
    if keep:
        shutil.copy(path, Path(keep) / name)
    return path


def test_fire_watch_approve_in_the_browser(env: ApiEnv, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(env.base + "/ui")
    assert "Log in" in browser.title
    browser.find_element(By.NAME, "token").send_keys(API_TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait(browser, lambda d: d.title.startswith("Runs"), "the runs page after login")
    wait(browser, lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"), "the live stream")
    browser.execute_script("window.__noReload = 'kept';")

    assert env.fire("inv", "web-1").status_code == 200
    run_id = wait(browser, lambda d: d.execute_script(
        "const r = document.querySelector('#runs tr[data-run]'); return r && r.dataset.run;"), "the run to appear")
    wait(browser, lambda d: d.execute_script(
        f"const r = document.querySelector('tr[data-run=\"{run_id}\"]'); return r && r.dataset.phase;")
         == "AwaitingApproval", "the run to wait for approval, live")
    assert browser.execute_script("return window.__noReload") == "kept", "the page was reloaded"
    assert "PodRestarting" in text_of(browser, "runs")
    screenshot(browser, tmp_path, "ui-runs.png")

    browser.find_element(By.LINK_TEXT, run_id).click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".approval button.approve"), "the Approve button")
    text = text_of(browser, "run")
    assert "Root cause" in text and "memory limit 128Mi" in text and "raise the limit to 512Mi" in text
    assert "82%" in text and "pod_info" in text, "the agent's answer and tool call are laid out"
    browser.execute_script("window.__noReload = 'kept';")
    browser.find_element(By.CSS_SELECTOR, ".approval button.approve").click()
    wait(browser, lambda d: d.execute_script("return document.getElementById('run').dataset.phase")
         == "Succeeded", "the run to finish after approval, live")
    assert browser.execute_script("return window.__noReload") == "kept", "the page was reloaded"
    steps = browser.execute_script("return Object.fromEntries([...document.querySelectorAll("
                                   "'li.step[data-step]')].map(li => [li.dataset.step, li.dataset.phase]))")
    assert steps == {"gather": "Succeeded", "analyze": "Succeeded", "remediate": "Succeeded"}
    wait(browser, lambda d: "refuser" in text_of(d, "run") and "Delivered" in text_of(d, "run"),
         "the sink deliveries")
    text = text_of(browser, "run")
    assert "Approval: approved by web" in text and "console" in text
    screenshot(browser, tmp_path, "ui-run.png")

    browser.find_element(By.LINK_TEXT, "Alerts").click()
    wait(browser, lambda d: "PodRestarting" in d.find_element(By.TAG_NAME, "main").text, "the alerts page")
    assert "firing" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.LINK_TEXT, "Resources").click()
    main = wait(browser, lambda d: d.find_element(By.TAG_NAME, "main"), "the resources page").text
    assert "team/broken" in main and "SinkNotFound" in main and "Not ready" in main
    screenshot(browser, tmp_path, "ui-resources.png")
