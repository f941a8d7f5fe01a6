"""The page in a real headless Chromium (Debian's, driven by Playwright)."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from energy_assets_tests import browser as chromium
from energy_assets_tests.app.conftest import SLASH_METERS, TOKEN

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="module")
def browser():
    if problem := chromium.missing():
        pytest.fail(problem)
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        yield browser
        browser.close()


def _offline(page) -> list[str]:
    """Let the page reach this machine only; returns the URLs it tried elsewhere."""
    elsewhere: list[str] = []

    def route(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", route)
    return elsewhere


def _traces(page) -> dict[str, int]:
    return page.evaluate(
        "() => Object.fromEntries((document.getElementById('chart').data || [])"
        ".map(t => [t.name, t.x.length]))"
    )


def _screenshot(page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / name), full_page=True)


def test_first_load_draws_the_first_meter(browser, app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    elsewhere = _offline(page)
    page.goto(app_url)
    page.wait_for_function("document.body.dataset.state === 'ready'")  # no click
    assert page.input_value("#meter") == "meter-0001"
    start, end = page.input_value("#start"), page.input_value("#end")
    usage = page.evaluate(
        f"fetch('/api/meters/meter-0001/usage?start={start}&end={end}').then(r => r.json())"
    )
    traces = _traces(page)
    assert traces["actual"] == len(usage["dates"]) > 40  # 56 days, less gaps and bad rows
    assert traces["forecast a day before"] == traces["forecast a week before"] == 56
    assert traces["forecast from the range's first day"] == 56
    assert traces["a day before, 80% band"] == 56
    assert traces["forecast, coming days"] == 14
    for box in ("#mae-day", "#mae-week", "#mae"):  # the days that have an actual
        assert f"kWh over {len(usage['dates'])} days" in page.inner_text(box)
    assert page.inner_text("#version")
    assert page.evaluate("document.querySelector('.ytitle').textContent") == "usage (kWh per day)"
    assert elsewhere == []
    _screenshot(page, "page.png")


def test_another_meter(browser, app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(app_url)
    page.wait_for_function("document.body.dataset.state === 'ready'")
    page.select_option("#meter", "meter-0003")
    page.wait_for_function("document.body.dataset.state === 'ready'")
    assert _traces(page)["forecast a day before"] == 56


def test_an_error_replaces_the_chart(browser, app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(app_url)
    page.wait_for_function("document.body.dataset.state === 'ready'")
    assert _traces(page)
    # a meter change sends the form as it is, past the browser's own checks: a 422
    page.fill("#ahead", "500")
    page.select_option("#meter", "meter-0002")
    page.wait_for_function("document.body.dataset.state === 'error'")
    assert page.inner_text("#error") == "ahead: Input should be less than or equal to 366"
    assert _traces(page) == {} and page.is_hidden("#headline")
    _screenshot(page, "page-error.png")
    page.fill("#ahead", "7")
    page.click("#show")
    page.wait_for_function("document.body.dataset.state === 'ready'")
    assert page.is_hidden("#error") and _traces(page)["forecast, coming days"] == 7
    # an error of the API's own (a range backwards) shows its message the same way
    page.fill("#start", page.input_value("#end"))
    page.fill("#end", "2020-01-01")
    page.select_option("#meter", "meter-0001")
    page.wait_for_function("document.body.dataset.state === 'error'")
    assert "is before start" in page.inner_text("#error") and _traces(page) == {}


def test_page_fits_a_phone(browser, app_url):
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(app_url)
    page.wait_for_function("document.body.dataset.state === 'ready'")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing overflows sideways
    assert page.locator("#chart .main-svg").first.bounding_box()["width"] <= 390
    _screenshot(page, "page-phone.png")


def test_page_shows_an_error_when_the_endpoint_is_down(browser, app_without_endpoint_url):
    page = browser.new_page()
    page.goto(app_without_endpoint_url)
    page.wait_for_function("document.body.dataset.state === 'error'")
    assert "no-such-endpoint does not exist" in page.inner_text("#error")
    assert page.is_hidden("#headline") and _traces(page) == {}
    _screenshot(page, "page-endpoint-down.png")


def test_docs_render_offline(browser, app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    elsewhere = _offline(page)
    page.goto(f"{app_url}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.eval_on_selector_all(
        ".opblock-summary-path", "nodes => nodes.map(n => n.dataset.path || n.textContent)"
    )
    assert "/api/meters/{meter_id}/predictions" in "".join(paths)
    assert elsewhere == []  # Swagger UI's script and styles came from the app
    _screenshot(page, "docs.png")


def test_a_meter_with_a_slash_in_its_id(browser, slash_app_url):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(slash_app_url)
    page.wait_for_function("document.body.dataset.state === 'ready'")
    page.select_option("#meter", SLASH_METERS[1])
    page.wait_for_function("document.body.dataset.state === 'ready'")
    traces = _traces(page)
    assert traces["actual"] > 40 and traces["forecast a day before"] == 56
    _screenshot(page, "page-slash-meter.png")


def test_with_a_token_the_page_asks_for_it_or_takes_it_from_the_link(browser, app_with_token_url):
    linked = browser.new_page()
    linked.goto(f"{app_with_token_url}/#token={TOKEN}")
    linked.wait_for_function("document.body.dataset.state === 'ready'")
    assert "token" not in linked.url  # not left in the address bar or its history
    asked = browser.new_context().new_page()  # a new context: no token in its storage
    asked.goto(app_with_token_url)
    asked.wait_for_function("document.body.dataset.state === 'error'")
    assert "needs its token" in asked.inner_text("#error") and asked.is_visible("#login")
    asked.fill("#token", TOKEN)
    asked.click("#login button")
    asked.wait_for_function("document.body.dataset.state === 'ready'")
    assert asked.is_hidden("#login") and _traces(asked)["actual"] > 40
