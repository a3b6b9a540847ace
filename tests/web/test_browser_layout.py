"""Layout and state in a real headless Chromium (issue 13 items 4 and 5): at 390 px wide no
main page scrolls sideways, dark mode follows ``prefers-color-scheme``, the login page has no
menu, and Cancel is replaced by the state within 2 s of a click, the search list deleted.

``cvesweep serve`` runs in a subprocess against the simulator, as in test_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cvesweep.simulator.app import DEFAULT_PASSWORD, SimulatorApp
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    WAIT_MS,
    Served,
    open_lists,
    set_faults,
    sign_in,
    start,
    sync_api,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="browser tests skipped: no Chromium found"),
]

PHONE = {"width": 390, "height": 844}
MAIN_PAGES = ["/", "/sweep", "/cves", "/assets", "/runs", "/settings", "/docs"]


@pytest.fixture(scope="module")
def qualys() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorApp(Fleet(seed=7, size=300)), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def served(qualys: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    one = Served(tmp_path_factory.mktemp("layout"), qualys.url, DEFAULT_PASSWORD, TOKEN)
    try:
        one.wait_ready()
        yield one
    finally:
        one.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _context(browser: Any, **options: Any) -> Any:
    return browser.new_context(accept_downloads=True, **options)


def _sideways(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _luminance(color: str) -> float:
    red, green, blue = (int(v) for v in re.findall(r"\d+", color)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_no_main_page_scrolls_sideways_at_390_px(
    browser: Any, served: Served, qualys: SimulatorServer
) -> None:
    context = _context(browser, viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{served.url}/login")
        assert _sideways(page) == 0, "/login"
        sign_in(page, served.url)
        start(page, LOG4SHELL)
        sync_api.expect(page.locator("#job")).to_have_attribute(
            "data-state", "succeeded", timeout=WAIT_MS
        )
        wide = {"result page": _sideways(page)}
        for path in [*MAIN_PAGES, f"/cves/{LOG4SHELL}"]:
            page.goto(f"{served.url}{path}")
            wide[path] = _sideways(page)
    finally:
        context.close()
    assert {where: px for where, px in wide.items() if px > 0} == {}


@pytest.mark.parametrize(("scheme", "dark"), [("dark", True), ("light", False)])
def test_the_background_follows_prefers_color_scheme(
    browser: Any, served: Served, scheme: str, dark: bool
) -> None:
    context = _context(browser, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(f"{served.url}/login")
        body = page.evaluate("getComputedStyle(document.body).backgroundColor")
        text = page.evaluate("getComputedStyle(document.body).color")
    finally:
        context.close()
    assert (_luminance(body) < 0.2) is dark, body
    assert (_luminance(text) > 0.7) is dark, text


def test_the_login_page_shows_no_menu(browser: Any, served: Served) -> None:
    context = _context(browser)
    page = context.new_page()
    try:
        page.goto(f"{served.url}/")
        sync_api.expect(page).to_have_url(re.compile(r"/login"))
        assert page.locator("nav").count() == 0
        sign_in(page, served.url)
        assert page.locator("nav[aria-label=main] a").count() >= 5  # the menu, once signed in
    finally:
        context.close()


def test_cancel_is_replaced_by_the_state_within_2_s(
    browser: Any, served: Served, qualys: SimulatorServer
) -> None:
    context = _context(browser)
    page = context.new_page()
    set_faults(qualys, page_latency=15.0)
    try:
        sign_in(page, served.url)
        start(page, LOG4SHELL)
        sync_api.expect(page.locator("#cancel")).to_be_visible(timeout=WAIT_MS)
        time.sleep(1.0)  # the first detection page is now held back by the simulator
        clicked = time.monotonic()
        page.click("#cancel")
        state = page.locator("#job-state")
        sync_api.expect(state).to_have_text("Cancelled — search list deleted", timeout=WAIT_MS)
        took = time.monotonic() - clicked
        assert page.locator("#cancel").count() == 0
    finally:
        set_faults(qualys, page_latency=0.0)
        context.close()
    assert took < 2.0, f"the state showed {took:.1f} s after the click"
    assert open_lists(qualys) == []
