"""End-to-end benchmark: `cvesweep search` against the simulator on a large fleet.

Starts `cvesweep simulator` in a subprocess on 127.0.0.1, then runs
`cvesweep search CVE --format json --output FILE --no-store` as a second subprocess with the
default page size, and prints wall time, hosts/s and the client's peak RSS (from wait4's
rusage). It repeats the run on a fleet 10x smaller, so that the two peak RSS figures show
whether client memory grows with the number of hosts (target: under 150 MiB, and within 25 %
of the small fleet's figure). Only loopback is contacted; every process is bounded in time.

    .venv/bin/python bench/bench_search.py [--hosts 1100000] [--cve CVE-2021-44228]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "cvesweep"]
PASSWORD = "bench-password"  # the simulator's own fake credential for this run


def start_simulator(hosts: int, seed: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CVESWEEP_SIM_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [*CLI, "simulator", "--port", "0", "--hosts", str(hosts), "--seed", str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise SystemExit("the simulator did not start within 60 s")


def run_search(url: str, cve: str, output: Path, timeout: float) -> dict[str, float]:
    env = {
        **os.environ,
        "CVESWEEP_QUALYS_URL": url,
        "CVESWEEP_QUALYS_USERNAME": "simuser",
        "CVESWEEP_QUALYS_PASSWORD": PASSWORD,
    }
    args = [*CLI, "search", cve, "--format", "json", "--output", str(output), "--no-store"]
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"search took more than {timeout:.0f} s")
        time.sleep(0.05)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"search failed: {err}")
    summary = read_summary(output)
    return {
        "wall_s": wall,
        "hosts": summary["hosts"],
        "pages": summary["pages"],
        "bytes_out": output.stat().st_size,
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def read_summary(output: Path) -> dict[str, float]:
    """The JSON output's summary, read from the file's tail: loading the whole document in
    this process would make it large, and a large parent inflates the next child's peak RSS
    (fork maps the parent's pages into the child before exec)."""
    with output.open("rb") as stream:
        stream.seek(max(0, output.stat().st_size - 4096))
        tail = stream.read().decode()
    start = tail.rindex('"summary": ') + len('"summary": ')
    return dict(json.loads(tail[start:].rstrip().removesuffix("}")))


def measure(hosts: int, seed: int, cve: str, timeout: float) -> dict[str, float]:
    sim, url = start_simulator(hosts, seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return run_search(url, cve, Path(tmp) / "hosts.json", timeout)
    finally:
        sim.terminate()
        sim.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1_100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cve", default="CVE-2021-44228")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    rows = []
    for fleet in (args.hosts // 10, args.hosts):
        figures = measure(fleet, args.seed, args.cve, args.timeout)
        rows.append((fleet, figures))
        print(
            f"fleet {fleet:>9,} hosts: {figures['hosts']:>7,} vulnerable hosts in "
            f"{figures['pages']:.0f} pages, {figures['wall_s']:.1f} s wall, "
            f"{figures['hosts'] / figures['wall_s']:,.0f} hosts/s, "
            f"client peak RSS {figures['peak_rss_mib']:.1f} MiB, "
            f"JSON {figures['bytes_out'] / 1e6:.1f} MB",
            flush=True,
        )
    small, big = rows[0][1]["peak_rss_mib"], rows[1][1]["peak_rss_mib"]
    print(f"peak RSS target < 150 MiB: {'ok' if big < 150 else 'MISSED'} ({big:.1f} MiB)")
    growth = (big - small) / small * 100
    verdict = "ok" if growth <= 25 else "MISSED"
    print(f"peak RSS growth with 10x the hosts (target <= 25 %): {verdict} ({growth:+.1f} %)")


if __name__ == "__main__":
    main()
