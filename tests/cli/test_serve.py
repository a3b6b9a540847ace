"""``cvesweep serve`` as a real process: a port in use is one error line and exit 2 (listed in
its --help); SIGTERM aborts the Qualys call in flight and deletes the search list promptly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.server import SimulatorServer

LOG4SHELL = "CVE-2021-44228"
HELD_S = 15.0  # a detection page held back far longer than the promise
PROMISE_S = 2.0


def _environment(qualys_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVESWEEP_")}
    env["NO_COLOR"] = "1"
    if qualys_url is not None:
        env.update(
            CVESWEEP_QUALYS_URL=qualys_url,
            CVESWEEP_QUALYS_USERNAME=DEFAULT_USERNAME,
            CVESWEEP_QUALYS_PASSWORD=DEFAULT_PASSWORD,
        )
    return env


def _serve(tmp_path: Path, port: int, qualys_url: str | None = None) -> subprocess.Popen[str]:
    config = tmp_path / "config.toml"
    config.write_text("")
    return subprocess.Popen(
        [sys.executable, "-m", "cvesweep", "serve", "--port", str(port),
         "--db", str(tmp_path / "library.db"), "--config", str(config)],
        env=_environment(qualys_url), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def test_a_port_in_use_is_one_error_line_and_exit_2(tmp_path: Path, taken_port: int) -> None:
    process = _serve(tmp_path, taken_port)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.splitlines() == [
        f"error (input): --port: port {taken_port} on 127.0.0.1 is already in use; choose "
        "another port, or stop the program listening there"
    ]
    assert out == ""
    assert not (tmp_path / "library.db").exists()  # refused before the library was opened


def test_help_lists_the_exit_status_of_a_port_in_use() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "2 for invalid options, a missing token, or a port in use" in text


@pytest.fixture
def slow_qualys() -> Iterator[SimulatorServer]:
    simulator = SimulatorApp(Fleet(seed=7, size=300), faults=Faults(page_latency=HELD_S))
    with SimulatorServer(simulator, port=0) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            httpx.get(f"{url}/login", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("cvesweep serve did not start")


def _state(qualys: SimulatorServer) -> dict[str, object]:
    return dict(httpx.get(f"{qualys.url}/_sim/state").json())


def test_sigterm_aborts_a_held_page_deletes_the_list_and_exits_promptly(
    tmp_path: Path, slow_qualys: SimulatorServer
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(tmp_path, port, slow_qualys.url)
    try:
        _wait_ready(url, process)
        reply = httpx.post(f"{url}/api/searches", json={"cve": LOG4SHELL})
        assert reply.status_code == 202, reply.text
        deadline = time.monotonic() + 20
        while not dict(_state(slow_qualys)["calls"]).get("detection"):  # type: ignore[call-overload]
            assert time.monotonic() < deadline, "no detection call was made"
            time.sleep(0.05)
        time.sleep(0.3)  # the job thread is blocked reading the held page
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=HELD_S)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # The promise is the abort; stopping adds uvicorn's shutdown and the interpreter's exit,
    # slower on a loaded machine (before the abort: 10 s, the list left behind).
    assert took < PROMISE_S + 2.0, f"serve took {took:.1f} s to stop"
    assert process.returncode == -signal.SIGTERM  # uvicorn ends by the signal it handled
    assert _state(slow_qualys)["search_lists"] == []


def test_without_a_password_the_settings_page_shows_the_url_and_username_and_no_tls(
    tmp_path: Path,
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _environment("http://127.0.0.1:9")
    del env["CVESWEEP_QUALYS_PASSWORD"]
    config = tmp_path / "config.toml"
    config.write_text("")
    process = subprocess.Popen(
        [sys.executable, "-m", "cvesweep", "serve", "--port", str(port),
         "--db", str(tmp_path / "library.db"), "--config", str(config)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait_ready(url, process)
        html = httpx.get(f"{url}/settings").text
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert "<dd>http://127.0.0.1:9</dd>" in html
    assert f"<dd>{DEFAULT_USERNAME}</dd>" in html
    assert "missing the Qualys password" in html
    assert '<dd id="tls">none: plain HTTP, no TLS' in html
    assert "(not given)" not in html  # the placeholder standing for the password is never shown
    assert 'id="test-connection"' not in html
