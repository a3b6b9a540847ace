"""End to end in a real headless Chromium: the simulator, ``cvesweep serve`` in a subprocess,
and Playwright driving Debian's Chromium (Playwright never downloads a browser here).

Skipped, with the reason in pytest's summary, when no Chromium is installed
(``apt-get install chromium``) or the playwright package is missing. Set
``CVESWEEP_SCREENSHOT=docs/screenshot-results.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer


def find_chromium() -> str | None:
    """``CVESWEEP_CHROMIUM`` if set, else ``chromium`` / ``chromium-browser`` on PATH, else
    /usr/bin/chromium; None when that file does not exist."""
    chosen = (
        os.environ.get("CVESWEEP_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or "/usr/bin/chromium"
    )
    return chosen if Path(chosen).is_file() else None


CHROMIUM = find_chromium()
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

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "browser-token-0123456789abcdef"
LOG4SHELL_HOSTS = 23
WAIT_MS = 20_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """``cvesweep serve`` running in a subprocess on 127.0.0.1:<free port>."""

    def __init__(self, workdir: Path, qualys_url: str, password: str, token: str | None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "config.toml"
        config.write_text(
            f'[qualys]\nurl = "{qualys_url}"\nusername = "{DEFAULT_USERNAME}"\n'
            f'password = "{password}"\n\n[search]\ntruncation_limit = 3\n'
        )
        config.chmod(0o600)
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CVESWEEP_")}
        if token:
            env["CVESWEEP_WEB_TOKEN"] = token
        self.log = (workdir / "serve.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "serve", "--host", "127.0.0.1",
             "--port", self.url.rsplit(":", 1)[1], "--db", str(workdir / "library.db"),
             "--config", str(config)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"cvesweep serve exited: {Path(self.log.name).read_text()}")
            try:
                if httpx.get(f"{self.url}/login", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("cvesweep serve did not start in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def qualys() -> Iterator[SimulatorServer]:
    """The simulator (default credentials simuser/simpass) on 127.0.0.1."""
    with SimulatorServer(SimulatorApp(Fleet(seed=7, size=300)), port=0) as server:
        yield server


@pytest.fixture(scope="module")
def servers(
    qualys: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Served]]:
    """Two ``cvesweep serve``: "good" (right password, an access token), "bad" (wrong one)."""
    root = tmp_path_factory.mktemp("serve")
    started = {
        "good": Served(root / "good", qualys.url, DEFAULT_PASSWORD, TOKEN),
        "bad": Served(root / "bad", qualys.url, "wrong-password", None),
    }
    try:
        for served in started.values():
            served.wait_ready()
        yield started
    finally:
        for served in started.values():
            served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page. The test fails if a script error or a console error
    other than an HTTP error status (e.g. the 400 of a form with mistakes) is reported; a
    Content-Security-Policy violation ("Refused to ...") would be one."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == []


def set_faults(qualys: SimulatorServer, **faults: Any) -> None:
    assert httpx.post(f"{qualys.url}/_sim/faults", json=faults).status_code == 200


def open_lists(qualys: SimulatorServer) -> list[Any]:
    return list(httpx.get(f"{qualys.url}/_sim/state").json()["search_lists"])


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/")
    sync_api.expect(page).to_have_url(f"{base}/login?next=%2F")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    sync_api.expect(page).to_have_url(f"{base}/")


def start(page: Any, cve: str) -> None:
    page.fill("#cve", cve)
    page.click("#run-search")


def test_search_shows_rows_then_asset_and_stix_download(
    page: Any, servers: dict[str, Served], qualys: SimulatorServer, tmp_path: Path
) -> None:
    base = servers["good"].url
    sign_in(page, base)
    start(page, LOG4SHELL)
    rows = page.locator("#results tbody tr")
    sync_api.expect(rows).to_have_count(LOG4SHELL_HOSTS, timeout=WAIT_MS)
    sync_api.expect(page.locator("#summary")).to_contain_text("created, deleted")
    assert open_lists(qualys) == []
    shot = Path(os.environ.get("CVESWEEP_SCREENSHOT") or tmp_path / "results.png")
    page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")

    ips = [text.strip() for text in rows.locator("td:first-child").all_inner_texts()]
    assert ips == sorted(ips, key=lambda ip: tuple(int(part) for part in ip.split(".")))
    page.fill("#results-controls input[name=q]", ips[0])  # filtered on the server
    page.click("#results-controls button[type=submit]")
    sync_api.expect(rows).to_have_count(1)

    page.click(f"#results a:text-is('{ips[0]}')")
    sync_api.expect(page.locator("h1")).to_have_text(f"Asset {ips[0]}")
    page.click(f"a:text-is('{LOG4SHELL}')")
    sync_api.expect(page.locator("figure.chart svg")).to_have_count(2)
    with page.expect_download() as download:
        page.click("#stix-download")
    bundle = json.loads(Path(download.value.path()).read_text())
    assert bundle["type"] == "bundle"
    assert any(o.get("name") == LOG4SHELL for o in bundle["objects"])


def test_live_progress_then_cancel_leaves_no_search_list(
    page: Any, servers: dict[str, Served], qualys: SimulatorServer
) -> None:
    base = servers["good"].url
    # Serial pages (a concurrency limit of 2): parallel id ranges would all end together.
    set_faults(qualys, host_latency=0.1, concurrency_limit=2)
    try:
        sign_in(page, base)
        start(page, LOG4SHELL)
        pages = page.locator("#progress-pages")
        shown = pages.inner_text()  # as rendered by the server; the script must move it on
        sync_api.expect(pages).not_to_have_text(shown, timeout=WAIT_MS)
        sync_api.expect(page.locator("#job-state")).to_have_text("Running…")
        assert len(open_lists(qualys)) == 1
        page.click("#cancel")
        sync_api.expect(page.locator("#cancelled")).to_be_visible(timeout=WAIT_MS)
    finally:
        set_faults(qualys, host_latency=0.0, concurrency_limit=10)
    assert open_lists(qualys) == []


def test_invalid_cve_shows_the_message_next_to_the_field(
    page: Any, servers: dict[str, Served]
) -> None:
    page.goto(f"{servers['bad'].url}/")
    start(page, "CVE-21")
    sync_api.expect(page.locator("#cve-error")).to_contain_text("is not a CVE id")


def test_wrong_password_shows_the_qualys_login_error(
    page: Any, servers: dict[str, Served], qualys: SimulatorServer
) -> None:
    page.goto(f"{servers['bad'].url}/")
    start(page, LOG4SHELL)
    problem = page.locator(".problem")
    sync_api.expect(problem).to_contain_text(
        "Qualys rejected the search list create (code 2000): Bad Login/Password",
        timeout=WAIT_MS,
    )
    sync_api.expect(problem).to_contain_text("check the Qualys username and password")
    assert open_lists(qualys) == []


def test_settings_page_tests_the_connection(page: Any, servers: dict[str, Served]) -> None:
    base = servers["good"].url
    sign_in(page, base)
    page.goto(f"{base}/settings")
    sync_api.expect(page.locator("#settings")).to_contain_text(DEFAULT_USERNAME)
    assert DEFAULT_PASSWORD not in page.content()
    page.click("#test-connection")
    sync_api.expect(page.locator("#connection-ok")).to_contain_text("Connected.")


def test_a_sweep_from_pasted_cves_links_each_cve_to_its_page(
    page: Any, servers: dict[str, Served], qualys: SimulatorServer
) -> None:
    base = servers["good"].url
    sign_in(page, base)
    page.click("nav >> text=Sweep")
    sync_api.expect(page).to_have_url(f"{base}/sweep")
    page.fill("#cves", f"{LOG4SHELL}\nCVE-2014-0160\nCVE-2025-99999")
    page.click("#run-sweep")
    sync_api.expect(page.locator("#job")).to_have_attribute(
        "data-state", "succeeded", timeout=60_000
    )
    rows = page.locator("#sweep-results tbody tr")
    sync_api.expect(rows).to_have_count(2)
    sync_api.expect(page.locator("#no-qid")).to_contain_text("CVE-2025-99999")
    page.click(f"#sweep-results >> text={LOG4SHELL}")
    sync_api.expect(page).to_have_url(f"{base}/cves/{LOG4SHELL}")
    assert open_lists(qualys) == []
