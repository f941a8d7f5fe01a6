"""The page in a real headless Chromium (Debian's, driven by Playwright)."""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/bootstrap.sh (installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def _traces(page) -> dict[str, int]:
    return page.evaluate(
        "() => Object.fromEntries(document.getElementById('chart').data"
        ".map(t => [t.name, t.x.length]))"
    )


def test_page_draws_actual_beside_predicted(browser, app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(app_url)
    page.wait_for_function("document.body.dataset.state === 'idle'")
    page.select_option("#meter", "meter-0003")
    page.wait_for_function("document.body.dataset.state === 'ready'")
    start, end = page.input_value("#start"), page.input_value("#end")
    usage = page.evaluate(
        f"fetch('/api/meters/meter-0003/usage?start={start}&end={end}').then(r => r.json())"
    )
    traces = _traces(page)
    assert traces["actual"] == len(usage["dates"]) > 40  # 56 days, less gaps and bad rows
    assert traces["predicted"] == 56
    assert traces["forecast, coming days"] == 14
    assert traces["range 80% band"] == 56
    assert "over" in page.inner_text("#mae") and page.inner_text("#version")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "page.png"), full_page=True)


def test_page_fits_a_phone(browser, app_url):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(app_url)
    page.wait_for_function("document.body.dataset.state === 'idle'")
    page.click("#show")
    page.wait_for_function("document.body.dataset.state === 'ready'")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways
    assert page.locator("#chart .main-svg").first.bounding_box()["width"] <= 390
    page.screenshot(path=str(OUTPUT / "page-phone.png"), full_page=True)


def test_page_shows_an_error_when_the_endpoint_is_down(browser, app_without_endpoint_url):
    page = browser.new_page()
    page.goto(app_without_endpoint_url)
    page.wait_for_function("document.body.dataset.state === 'idle'")
    page.click("#show")
    page.wait_for_function("document.body.dataset.state === 'error'")
    assert "no-such-endpoint does not exist" in page.inner_text("#error")
    assert page.is_hidden("#headline")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "page-endpoint-down.png"))
