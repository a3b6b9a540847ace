"""Fixtures of the third-party client tests: the real ``cvesweep simulator --tls`` processes,
a reference reader of the simulator (plain httpx), and running a client's driver.

Two simulators are started once per session, both on 127.0.0.1 with ``--port 0 --tls``: one
as shipped, one with ``--serve-eol`` for clients stuck on versions Qualys retired.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DRIVERS = HERE / "drivers"
CLIENT_VENVS = ROOT / ".venv-clients"
FLEET = ("--hosts", "120", "--seed", "5")
WAIT = 30.0
DRIVER_TIMEOUT = 90.0
HEADERS = {"X-Requested-With": "cvesweep thirdparty tests"}
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass
class Simulator:
    """A running ``cvesweep simulator --tls`` and what its banner said."""

    process: subprocess.Popen[str]
    url: str
    username: str
    password: str
    ca: str
    cves: dict[str, int]  # CVE → vulnerable host count, from the banner
    flags: tuple[str, ...] = field(default=())

    def http(self) -> httpx.Client:
        """A plain httpx client trusting the simulator's certificate (the reference reader)."""
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=self.ca),
            auth=(self.username, self.password),
            headers=HEADERS,
            timeout=WAIT,
        )

    def state(self) -> dict[str, Any]:
        """The simulator's ``/_sim/state``."""
        with self.http() as http:
            return dict(http.get("/_sim/state").json())


def _read_banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    while lines[-1] and not lines[-1].startswith("State:"):
        lines.append(process.stdout.readline())
    return lines


def _start(*flags: str) -> Simulator:
    env = {k: v for k, v in os.environ.items() if k != "CVESWEEP_SIM_PASSWORD"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cvesweep", "simulator", "--port", "0", "--tls", *FLEET, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    lines = _read_banner(process)
    found = re.match(r"Qualys simulator on (\S+)\s+username=(\S+) password=(\S+)", lines[0])
    cert = next((line for line in lines if line.startswith("TLS certificate")), "")
    if not (found and cert and lines[-1].startswith("State:")):
        process.kill()
        _, err = process.communicate(timeout=WAIT)
        pytest.fail(f"the simulator did not start: {''.join(lines)!r}; stderr: {err[-2000:]}")
    cves = {row.split()[0]: int(row.split()[1]) for row in lines if row.startswith("  CVE-")}
    ca = cert.split(": ", 1)[1].strip()
    return Simulator(process, found[1], found[2], found[3], ca, cves, flags)


def _stop(simulator: Simulator) -> None:
    if simulator.process.poll() is None:
        simulator.process.terminate()
    simulator.process.communicate(timeout=WAIT)


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    """``cvesweep simulator --tls`` as shipped (retired versions answer 410)."""
    running = _start()
    yield running
    _stop(running)


@pytest.fixture(scope="session")
def simulator_eol() -> Iterator[Simulator]:
    """``cvesweep simulator --tls --serve-eol``, for clients that only speak retired versions."""
    running = _start("--serve-eol")
    yield running
    _stop(running)


def path(endpoint: Endpoint, version: str | None = None) -> str:
    """The request path of ``endpoint`` at ``version`` (default: the current one)."""
    spec = ENDPOINTS[endpoint]
    return spec.path(version or spec.default)


class Reference:
    """What the simulator itself says, read with plain httpx + lxml: the expected results."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def _xml(self, endpoint: Endpoint, **params: str) -> etree._Element:
        with self.simulator.http() as http:
            reply = http.post(path(endpoint), data={"action": "list", **params})
        assert reply.status_code == 200, f"reference {endpoint.value}: {reply.text[:500]}"
        return etree.fromstring(reply.content, SAFE_XML)

    def detection_ids(self, page: int = 0) -> list[int]:
        """Host ids of the first detection page of ``page`` hosts (0 = every host)."""
        root = self._xml(Endpoint.DETECTION, truncation_limit=str(page))
        return [int(e) for e in root.xpath("//HOST/ID/text()")]

    def detection_qids(self, page: int) -> list[int]:
        """The distinct QIDs detected on the first ``page`` hosts."""
        root = self._xml(Endpoint.DETECTION, truncation_limit=str(page))
        return sorted({int(e) for e in root.xpath("//DETECTION/QID/text()")})

    def host_ids(self, page: int = 0) -> list[int]:
        """Host ids of the first host list page of ``page`` hosts (0 = every host)."""
        root = self._xml(Endpoint.HOST_LIST, truncation_limit=str(page))
        return [int(e) for e in root.xpath("//HOST/ID/text()")]


@pytest.fixture(scope="session")
def reference(simulator: Simulator) -> Reference:
    """The reference reader of the shipped simulator."""
    return Reference(simulator)


@pytest.fixture(scope="session")
def reference_eol(simulator_eol: Simulator) -> Reference:
    """The reference reader of the ``--serve-eol`` simulator (same fleet)."""
    return Reference(simulator_eol)


@dataclass(frozen=True)
class Client:
    """A third-party client: its driver and the interpreter of the venv it is installed in."""

    name: str  # PyPI name
    module: str  # what its driver imports, to check it is installed
    venv: str | None = None  # .venv-clients/<venv>; None = the project venv (dev extra)

    def python(self) -> str:
        """The interpreter to run the driver with; skips (with the reason) when not installed."""
        if self.venv is None:
            found = subprocess.run(
                [sys.executable, "-c", f"import {self.module}"], capture_output=True, text=True
            )
            if found.returncode != 0:
                pytest.skip(f"{self.name} is not installed in this venv: run `make dev`")
            return sys.executable
        home = CLIENT_VENVS / self.venv
        unavailable = home / "UNAVAILABLE"
        if unavailable.exists():
            pytest.skip(f"{self.name} could not be installed: {unavailable.read_text().strip()}")
        if not (home / "bin" / "python").exists():
            pytest.skip(f"{self.name} is not installed: run `make clients` (.venv-clients/)")
        return str(home / "bin" / "python")

    def run(self, simulator: Simulator, tmp: Path, **inputs: Any) -> dict[str, dict[str, Any]]:
        """Run the driver against ``simulator``; return its record of each call."""
        output = tmp / f"{self.name}.json"
        home = tmp / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "SIM_URL": simulator.url,
            "SIM_CA": simulator.ca,
            "SIM_USERNAME": simulator.username,
            "SIM_PASSWORD": simulator.password,
            "DRIVER_INPUT": json.dumps(inputs),
            "DRIVER_OUTPUT": str(output),
            # How a user trusts a private CA with requests and httpx; the drivers also pass
            # the certificate to each client's own verify option where it has one.
            "REQUESTS_CA_BUNDLE": simulator.ca,
            "SSL_CERT_FILE": simulator.ca,
        }
        script = DRIVERS / f"{self.name.replace('-', '_')}_driver.py"
        done = subprocess.run(
            [self.python(), str(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            timeout=DRIVER_TIMEOUT,
        )
        if not output.exists():
            pytest.fail(
                f"{self.name} driver wrote nothing (exit {done.returncode}): {done.stderr[-3000:]}"
            )
        return dict(json.loads(output.read_text()))


def value(results: dict[str, dict[str, Any]], call: str) -> Any:
    """The value of ``call``, failing with the client's error when the call failed."""
    assert call in results, f"call {call!r} was not made; made: {sorted(results)}"
    record = results[call]
    assert record["ok"], f"{call} failed: {record['error']}"
    return record["value"]
