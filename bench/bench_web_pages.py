"""Size and serving time of the web UI's large tables (issue 13 item 1); asserts nothing.

Starts `cvesweep simulator` (``--hosts``, default 200,000: CVE-2021-44228 is then on about
18,000 hosts), fills a fresh SQLite library with `cvesweep search CVE --db FILE`, starts
`cvesweep serve` on it (with an access token) and runs the same search again through the API
with "Don't store", so that the result page holds the whole result. Then it GETs each page
below ``--repeat`` times (one warm-up first) and prints its HTML size and its best time, as
``BENCH`` rows against the goals (< 300 KB, < 0.5 s); the two downloads of the whole result
are timed too (no goal: they are streamed). Only loopback is contacted.

    .venv/bin/python bench/bench_web_pages.py [--hosts 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from harness import CLI, emit, qualys_env, run_child, start_serve, start_simulator, stop

CVE = "CVE-2021-44228"
SIZE_GOAL_KB = 300.0
TIME_GOAL_S = 0.5


def start_server(url: str, db: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    """`cvesweep serve` on a free port over ``db``; return it and its base URL."""
    return start_serve(db, {**qualys_env(url), "CVESWEEP_WEB_TOKEN": token})


def dont_store_job(http: httpx.Client) -> str:
    """Run the search through the API without storing it; return its job id when done."""
    reply = http.post("/api/searches", json={"cve": CVE, "store": False}, timeout=30)
    reply.raise_for_status()
    job = str(reply.json()["id"])
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        state = http.get(f"/api/searches/{job}", params={"hosts": "false"}).json()
        if state["state"] != "running":
            if state["state"] != "succeeded":
                raise SystemExit(f"the search job ended {state['state']}: {state['error']}")
            return job
        time.sleep(0.5)
    raise SystemExit("the search job did not finish within 900 s")


def pages(job: str, total: int) -> list[str]:
    """The paths measured: every large table, default and sorted, first and last pages."""
    last = max(total - 100, 0)
    return [
        f"/search/{job}", f"/search/{job}?sort=severity",
        f"/search/{job}?sort=hostname&offset={last}", f"/search/{job}?q=10.&limit=500",
        f"/cves/{CVE}", f"/cves/{CVE}?sort=severity&offset={last}",
        "/assets", "/assets?sort=severity", f"/assets?cve={CVE}&sort=hostname&offset={last}",
        "/runs", f"/api/searches/{job}?limit=100", f"/api/cves/{CVE}", "/api/assets",
    ]  # fmt: skip


def best_get(http: httpx.Client, path: str, repeat: int) -> tuple[float, int]:
    """The best of ``repeat`` timed GETs of ``path`` (after one warm-up) and its size."""
    http.get(path, timeout=120).raise_for_status()
    best, size = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        reply = http.get(path, timeout=120)
        best = min(best, time.perf_counter() - started)
        reply.raise_for_status()
        size = len(reply.content)
    return best, size


def measure(http: httpx.Client, job: str, total: int, repeat: int) -> None:
    command = f"bench/bench_web_pages.py ({total} hosts, best of {repeat})"
    print(f"{'page':<60} {'KB':>8} {'s':>7}")
    for path in pages(job, total):
        seconds, size = best_get(http, path, repeat)
        kb = size / 1000
        print(f"{path:<60} {kb:8.1f} {seconds:7.3f}")
        name = path.replace(job, "{id}")
        emit(f"web {name}: size", kb, "KB", goal=f"< {SIZE_GOAL_KB:.0f}",
             met=kb < SIZE_GOAL_KB, command=command)  # fmt: skip
        emit(f"web {name}: time", seconds, "s", goal=f"< {TIME_GOAL_S}",
             met=seconds < TIME_GOAL_S, command=command)  # fmt: skip
    for fmt in ("csv", "json"):
        started = time.perf_counter()
        with http.stream("GET", f"/api/searches/{job}/result", params={"format": fmt}) as reply:
            first = None
            size = 0
            for chunk in reply.iter_bytes():
                first = first or time.perf_counter() - started
                size += len(chunk)
        seconds = time.perf_counter() - started
        print(f"download {fmt}: {size / 1e6:.1f} MB in {seconds:.2f} s (first bytes {first:.3f} s)")
        emit(f"web download of the whole result ({fmt})", seconds, "s", goal="-", met=None,
             command=command, size_mb=round(size / 1e6, 1))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    simulator, url = start_simulator(args.hosts)
    token = secrets.token_urlsafe(24)
    try:
        with tempfile.TemporaryDirectory() as work:
            db = Path(work) / "library.db"
            search = [*CLI, "search", CVE, "--db", str(db), "--format", "json", "--output",
                      os.devnull]  # fmt: skip
            filled = run_child(search, env=qualys_env(url))
            print(f"library filled in {filled.wall_s:.1f} s")
            server, base = start_server(url, db, token)
            try:
                headers = {"Authorization": f"Bearer {token}"}
                with httpx.Client(base_url=base, headers=headers) as http:
                    job = dont_store_job(http)
                    status = http.get(f"/api/searches/{job}", params={"hosts": "false"}).json()
                    total = int(status["hosts_total"])
                    print(f"result kept on the server: {total} hosts")
                    measure(http, job, total, args.repeat)
            finally:
                server.terminate()
                server.wait(30)
    finally:
        stop(simulator)


if __name__ == "__main__":
    main()
