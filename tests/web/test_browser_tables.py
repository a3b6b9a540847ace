"""Server-side tables and downloads in a real headless Chromium (issue 13 items 1-2): the
result page of a search made with "Don't store" is paged, sorted and filtered by the server
through its own controls, and its CSV and JSON downloads hold the whole result; the CVE
page's assets are paged and its CSV download holds them all.

Driven as tests/web/test_browser.py drives the browser (``cvesweep serve`` in a subprocess,
the simulator on 127.0.0.1, Debian's Chromium); skipped the same way when it is missing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cvesweep.simulator.app import DEFAULT_PASSWORD, SimulatorApp
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.web.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOG4SHELL_HOSTS,
    TOKEN,
    WAIT_MS,
    Served,
    sign_in,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="browser tests skipped: no Chromium found (install Debian's 'chromium' "
        "package, or set CVESWEEP_CHROMIUM to a Chromium binary)",
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests skipped: the playwright package is missing"
)


def ip_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``cvesweep serve`` (with an access token) over the 300-host simulator."""
    with SimulatorServer(SimulatorApp(Fleet(seed=7, size=300)), port=0) as qualys:
        served = Served(tmp_path_factory.mktemp("tables"), qualys.url, DEFAULT_PASSWORD, TOKEN)
        try:
            served.wait_ready()
            yield served.url
        finally:
            served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, base: str) -> Iterator[Any]:
    """A signed-in page; the test fails on any script or console error."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: m.type == "error" and errors.append(m.text))
    tab.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(tab, base)
    yield tab
    context.close()
    assert errors == []


def search(page: Any, *, store: bool) -> None:
    page.fill("#cve", LOG4SHELL)
    if not store:
        page.check("input[name=no_store]")
    page.click("#run-search")
    sync_api.expect(page.locator("#summary")).to_be_visible(timeout=WAIT_MS)


def first_cells(page: Any) -> list[str]:
    cells = page.locator("#results tbody tr td:first-child").all_inner_texts()
    return [text.strip() for text in cells]


def test_result_pages_sort_and_filter_on_the_server(page: Any) -> None:
    search(page, store=False)
    sync_api.expect(page.locator("#results tbody tr")).to_have_count(LOG4SHELL_HOSTS)
    page.select_option("#results-controls select[name=limit]", "10")
    page.click("#results-controls button[type=submit]")
    rows = page.locator("#results tbody tr")
    sync_api.expect(rows).to_have_count(10)
    sync_api.expect(page.locator("p.pager").first).to_contain_text(
        f"Hosts 1–10 of {LOG4SHELL_HOSTS}"
    )
    first = first_cells(page)
    assert first == sorted(first, key=ip_key)
    page.locator("p.pager a[rel=next]").first.click()
    sync_api.expect(page.locator("p.pager").first).to_contain_text("Hosts 11–20")
    second = first_cells(page)
    assert ip_key(second[0]) > ip_key(first[-1])

    page.click("#results th a:text-is('Severity')")  # first click: high to low
    sync_api.expect(page.locator("#results th[aria-sort=descending]")).to_have_text("Severity")
    sync_api.expect(page.locator("p.pager").first).to_contain_text("Hosts 1–10")
    page.click("#results th a:text-is('IP')")
    sync_api.expect(page.locator("#results th[aria-sort=ascending]")).to_have_text("IP")
    page.click("#results th a:text-is('IP')")
    sync_api.expect(page.locator("#results th[aria-sort=descending]")).to_have_text("IP")
    falling = first_cells(page)
    assert falling == sorted(falling, key=ip_key, reverse=True)

    page.fill("#results-controls input[name=q]", falling[3])
    page.click("#results-controls button[type=submit]")
    sync_api.expect(rows).to_have_count(1)
    assert first_cells(page) == [falling[3]]
    sync_api.expect(page.locator("p.pager").first).to_contain_text("of 1.")


def test_dont_store_result_downloads_whole_as_csv_and_json(page: Any) -> None:
    search(page, store=False)
    sync_api.expect(page.locator("#kept-note")).to_contain_text("60 minutes")
    with page.expect_download() as download:
        page.click("#download-json")
    data = json.loads(Path(download.value.path()).read_text())
    assert data["cve"] == LOG4SHELL and len(data["hosts"]) == LOG4SHELL_HOSTS
    with page.expect_download() as download:
        page.click("#download-csv")
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert table[0][:2] == ["host_id", "ip"]
    assert {row[1] for row in table[1:]} == {host["ip"] for host in data["hosts"]}


def test_cve_page_pages_its_assets_and_downloads_them_all(page: Any, base: str) -> None:
    search(page, store=True)
    page.goto(f"{base}/cves/{LOG4SHELL}?limit=10")
    assets = page.locator("#cve-assets tbody tr")
    sync_api.expect(assets).to_have_count(10)
    sync_api.expect(page.locator("#asset-count")).to_have_text(str(LOG4SHELL_HOSTS))
    page.locator("p.pager a[rel=last]").first.click()
    sync_api.expect(assets).to_have_count(LOG4SHELL_HOSTS - 20)
    page.click("#cve-assets th a:text-is('Highest severity')")
    sync_api.expect(page.locator("#cve-assets th[aria-sort=descending]")).to_be_visible()
    with page.expect_download() as download:
        page.click("#csv-download")
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    ips = [row[0] for row in table[1:]]
    assert len(set(ips)) == LOG4SHELL_HOSTS and ips == sorted(ips, key=ip_key)
