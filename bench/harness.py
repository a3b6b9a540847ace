"""What the bench scripts share: a simulator in its own process, measured children, BENCH rows.

Not a benchmark itself (bench/run.py runs only ``bench_*.py``). A figure a script wants in
``make bench``'s table is printed as one line ``BENCH {json}`` (:func:`emit`), with the keys
``figure``, ``value``, ``unit``, ``baseline``, ``baseline_value``, ``ratio``, ``goal``, ``met``
and ``command`` (how the figure was measured); bench/run.py collects them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "bench-password"  # the simulator's own fake credential for a bench run
USERNAME = "simuser"
CLI = [sys.executable, "-m", "cvesweep"]


@dataclass(frozen=True)
class Child:
    """What one finished child process cost: CPU seconds (user + system), wall, peak RSS."""

    cpu_s: float
    wall_s: float
    peak_rss_mib: float
    stdout: str


def start_simulator(hosts: int, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """``cvesweep simulator`` on a free loopback port in its own process; return it and its URL."""
    env = {**os.environ, "CVESWEEP_SIM_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [*CLI, "simulator", "--port", "0", "--hosts", str(hosts), "--seed", "1", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"(http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        if match:
            return proc, match.group(1)
    proc.kill()
    raise SystemExit("the simulator did not start within 120 s")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``cvesweep serve`` over ``db`` on a free loopback port with ``env`` (its access token
    in CVESWEEP_WEB_TOKEN); return it and its base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--db", str(db)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/login", timeout=2)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("cvesweep serve did not start within 60 s")


def qualys_env(url: str) -> dict[str, str]:
    """The environment of a child that talks to the simulator (the password never in argv)."""
    return {
        **os.environ,
        "CVESWEEP_QUALYS_URL": url,
        "CVESWEEP_QUALYS_USERNAME": USERNAME,
        "CVESWEEP_QUALYS_PASSWORD": PASSWORD,
    }


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> Child:
    """Run ``args`` to the end; its own CPU and peak RSS come from ``wait4`` (children of it
    are not counted, nor is this process). Raises SystemExit if it fails or times out."""
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.monotonic()
        proc = subprocess.Popen(args, env=env, stdout=out_file, stderr=err_file)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise SystemExit(f"{' '.join(args[1:4])} took more than {timeout:.0f} s")
            time.sleep(0.02)
        wall = time.monotonic() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read().decode(), err_file.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args[1:4])} failed: {err[-2000:]}")
    return Child(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, out)


def emit(
    figure: str,
    value: float,
    unit: str,
    *,
    goal: str,
    met: bool | None,
    command: str,
    baseline: str | None = None,
    baseline_value: float | None = None,
    ratio: float | None = None,
    **extra: Any,
) -> None:
    """Print one ``BENCH`` row for bench/run.py's table (``met`` None: no goal, a figure)."""
    row = {
        "figure": figure, "value": round(value, 3), "unit": unit, "baseline": baseline,
        "baseline_value": None if baseline_value is None else round(baseline_value, 3),
        "ratio": None if ratio is None else round(ratio, 3), "goal": goal, "met": met,
        "command": command, **extra,
    }  # fmt: skip
    print("BENCH " + json.dumps(row), flush=True)
