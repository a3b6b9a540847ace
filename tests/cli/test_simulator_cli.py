"""``cvesweep simulator`` as a real process: its banner, its HTTP API, its stop, its errors."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import typer.main
from typer.testing import CliRunner, Result

from cvesweep.cli.main import app
from cvesweep.qualys.endpoints import ENDPOINTS, ApiVersions, Endpoint

DETECTIONS = ApiVersions().path(Endpoint.DETECTION)
HEADERS = {"X-Requested-With": "cvesweep tests"}
WAIT = 30.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    lines: list[str]  # what it printed before serving: banner, CVEs, curl example
    url: str
    username: str
    password: str


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "cvesweep", "simulator", *args]


def environment(**extra: str) -> dict[str, str]:
    secrets = ("CVESWEEP_SIM_PASSWORD", "CVESWEEP_SIM_CLIENT_SECRET")
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    return {**env, "NO_COLOR": "1", "COLUMNS": "200", **extra}


@contextmanager
def simulator(*args: str, **env: str) -> Iterator[Running]:
    process = subprocess.Popen(
        command("--port", "0", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(**env),
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        found = re.match(r"Qualys simulator on (\S+)\s+username=(\S+) password=(\S+)", lines[0])
        assert found, f"unexpected first line {lines[0]!r}; stderr: {process.stderr}"
        while not lines[-1].startswith("State:"):
            lines.append(process.stdout.readline())
            assert lines[-1], "the simulator stopped before it was ready"
        yield Running(process, lines, found[1], found[2], found[3])
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)


def invoke(*args: str) -> Result:
    """Run the command in-process (for errors found before anything is served)."""
    return CliRunner().invoke(app, ["simulator", *args], env=environment())


def stop(running: Running, signum: int = signal.SIGINT) -> tuple[int, str]:
    running.process.send_signal(signum)
    _, err = running.process.communicate(timeout=WAIT)
    return running.process.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serves_the_api_and_exits_0_on_a_signal(signum: int) -> None:
    with simulator("--hosts", "300", "--seed", "7") as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert running.lines[0].rstrip().endswith("(300 hosts, seed 7)")
        reply = httpx.post(
            running.url + DETECTIONS,
            data={"action": "list", "truncation_limit": "2"},
            headers=HEADERS,
            auth=(running.username, running.password),
        )
        assert reply.status_code == 200
        assert "<HOST_LIST_VM_DETECTION_OUTPUT>" in reply.text
        assert stop(running, signum)[0] == 0


def test_announces_five_cves_with_host_counts_and_a_working_curl_line() -> None:
    with simulator() as running:
        cves = [line.split() for line in running.lines if line.startswith("  CVE-")]
        curl = next(line for line in running.lines if line.startswith("Try: curl "))
        stop(running)
    assert len(cves) == 5
    assert all(len(row) == 3 and int(row[1]) > 0 and row[2] == "hosts" for row in cves)
    assert "X-Requested-With" in curl and f"-u {running.username}:{running.password}" in curl
    assert running.url + DETECTIONS in curl


def test_announces_that_any_cve_works_with_kev_cves_whose_counts_a_search_confirms() -> None:
    with simulator("--hosts", "800", "--seed", "3") as running:
        line = next(ln for ln in running.lines if ln.startswith("Any CVE id works"))
        shown = re.findall(r"(CVE-\d{4}-\d+) \((\d+) hosts\)", line)
        reply = httpx.post(
            running.url + ApiVersions().path(Endpoint.CVE_DETECTION),
            data={"action": "list", "cve": shown[0][0], "truncation_limit": "0"},
            headers=HEADERS,
            auth=(running.username, running.password),
        )
        stop(running)
    assert "of the 1,404 CVEs of the shipped CISA KEV catalog have hosts" in line
    assert len(shown) == 3 and int(shown[0][1]) >= int(shown[2][1]) > 0
    assert reply.text.count("<HOST>") == int(shown[0][1])


@pytest.mark.parametrize(("flags", "status"), [((), 410), (("--serve-eol",), 200)])
def test_retired_detection_2_0_is_served_only_with_serve_eol(
    flags: tuple[str, ...], status: int
) -> None:
    retired = ENDPOINTS[Endpoint.DETECTION].path("2.0")
    with simulator(*flags) as running:
        url = running.url + retired + "?action=list&truncation_limit=1"
        reply = httpx.get(url, headers=HEADERS, auth=(running.username, running.password))
        stop(running)
    assert reply.status_code == status


def test_banner_prints_the_api_client_and_a_token_line_that_works() -> None:
    with simulator() as running:
        first = running.lines[0]
        token_line = next(line for line in running.lines if line.startswith("Token: curl "))
        minted = httpx.post(
            running.url + "/auth",
            data={"username": running.username, "password": running.password, "token": "true"},
        )
        stop(running)
    assert " client_id=simclient client_secret=simsecret " in first
    assert f"'{running.url}/auth'" in token_line
    assert minted.status_code == 201


def test_client_secret_from_the_environment_and_token_lifetime_are_used() -> None:
    env = {"CVESWEEP_SIM_CLIENT_SECRET": "env-secret"}
    with simulator("--client-id", "cid", "--token-lifetime", "120", **env) as running:
        good = httpx.post(
            running.url + "/auth/oauth", headers={"clientId": "cid", "clientSecret": "env-secret"}
        )
        bad = httpx.post(
            running.url + "/auth/oauth", headers={"clientId": "cid", "clientSecret": "simsecret"}
        )
        detections = httpx.get(
            running.url + DETECTIONS + "?action=list&truncation_limit=1",
            headers={**HEADERS, "Authorization": f"Bearer {good.text}"},
        )
        stop(running)
    assert (good.status_code, bad.status_code, detections.status_code) == (201, 401, 200)
    payload = good.text.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 120
    assert "client_secret=env-secret" in running.lines[0]


def test_every_simulator_option_is_documented_in_its_readme_section() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## The Qualys simulator: `cvesweep simulator`", 1)[1]
    section = section.split("\n## ", 1)[0]
    command = typer.main.get_command(app).commands["simulator"]  # type: ignore[attr-defined]
    flags = [opt for param in command.params for opt in param.opts if opt.startswith("--")]
    assert "--serve-eol" in flags and "--client-id" in flags
    for flag in flags:
        assert f"`{flag}" in section, flag
    for variable in ("CVESWEEP_SIM_PASSWORD", "CVESWEEP_SIM_CLIENT_SECRET"):
        assert variable in section


def test_password_from_the_environment_is_the_one_accepted() -> None:
    with simulator("--username", "alice", CVESWEEP_SIM_PASSWORD="from-env") as running:
        url = running.url + DETECTIONS + "?action=list&truncation_limit=1"
        good = httpx.get(url, headers=HEADERS, auth=("alice", "from-env"))
        bad = httpx.get(url, headers=HEADERS, auth=("alice", "simpass"))
        stop(running)
    assert running.password == "from-env"
    assert (good.status_code, bad.status_code) == (200, 401)


def test_tls_prints_a_certificate_that_verifies_the_server() -> None:
    with simulator("--tls") as running:
        cert_line = next(line for line in running.lines if line.startswith("TLS certificate"))
        cert_path = cert_line.split(": ", 1)[1].strip()
        verify = ssl.create_default_context(cafile=cert_path)
        auth = (running.username, running.password)
        reply = httpx.get(running.url + "/msp/about.php", verify=verify, headers=HEADERS, auth=auth)
        code, _ = stop(running)
    assert running.url.startswith("https://127.0.0.1:")
    assert reply.status_code == 200
    assert code == 0
    assert not os.path.exists(cert_path)  # the temporary certificate is removed at exit


def test_fault_flags_become_the_app_faults() -> None:
    flags = ["--latency-page", "0.25", "--latency-host", "0.5", "--rate-limit", "50"]
    flags += ["--rate-window", "60", "--concurrency-limit", "3", "--error-rate", "0.5"]
    flags += ["--drop-after-bytes", "4096", "--malformed-xml"]
    with simulator(*flags) as running:
        faults = httpx.get(running.url + "/_sim/state").json()["faults"]
        stop(running)
    expected = {"page_latency": 0.25, "host_latency": 0.5, "rate_limit": 50}
    expected |= {"rate_window_sec": 60, "concurrency_limit": 3, "error_rate": 0.5}
    expected |= {"drop_after_bytes": 4096, "malformed_xml": True}
    assert {key: faults[key] for key in expected} == expected


def test_drop_fault_cuts_the_detection_reply_mid_body() -> None:
    with simulator("--drop-after-bytes", "2000") as running:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(
                running.url + DETECTIONS + "?action=list&truncation_limit=50",
                headers=HEADERS,
                auth=(running.username, running.password),
            )
        stop(running)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "http"], "--port"),
        (["--hosts", "-1"], "--hosts"),
        (["--seed", "one"], "--seed"),
        (["--latency-page", "-1"], "--latency-page"),
        (["--latency-host", "-0.5"], "--latency-host"),
        (["--rate-limit", "0"], "--rate-limit"),
        (["--rate-window", "0"], "--rate-window"),
        (["--concurrency-limit", "0"], "--concurrency-limit"),
        (["--error-rate", "1.5"], "--error-rate"),
        (["--drop-after-bytes", "-5"], "--drop-after-bytes"),
        (["--username", "a:b"], "--username"),
        (["--password", ""], "--password"),
    ],
)
def test_invalid_option_exits_2_naming_it(args: list[str], option: str) -> None:
    done = invoke(*args)
    assert done.exit_code == 2
    assert option in done.stderr


def test_port_in_use_exits_2_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = invoke("--port", port)
    assert done.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port 0" in done.stderr


def test_non_loopback_host_is_warned_about() -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface: the warning shows, then binding fails.
    done = invoke("--host", "192.0.2.1", "--port", "0")
    assert "warning: --host 192.0.2.1 is not loopback" in done.stderr
    assert done.exit_code == 2
