"""Memory of `cvesweep serve` under concurrent GETs; prints RSS figures, asserts nothing.

Starts `cvesweep simulator` on 127.0.0.1, fills a fresh library with one search
(`cvesweep search CVE --db FILE`), starts `cvesweep serve` on it (with an access token, as a
team would run it) and one search job through the API, so that every page has something to
show. Then it sends rounds of ``--concurrency`` GETs at once (default 200) over as many
connections, cycling through the pages and API reads below, and prints the server's RSS
(psutil) before the first round, after each round, and its peak, plus the requests' status
counts and latency. Only loopback is contacted; every process is bounded in time.

    .venv/bin/python bench/bench_web.py [--hosts 3000] [--concurrency 200] [--rounds 5]

Measured on the 2-core development machine (--hosts 6000 --rounds 3, 13 routes cycled):
before web.limits, RSS went 122 -> 286 -> 328 -> 335 MiB (peak 357), 41 threads; with it,
123 -> 177 -> 176 -> 177 MiB (peak 187), 9 threads, the same ~42 s per round. The cause was
no bound on the requests worked on at once (see :mod:`cvesweep.web.limits`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from harness import CLI, qualys_env, start_serve, start_simulator

CVE = "CVE-2021-44228"


def fill_library(url: str, db: Path) -> None:
    args = [*CLI, "search", CVE, "--db", str(db), "--format", "json", "--output", os.devnull]
    done = subprocess.run(args, env=qualys_env(url), capture_output=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"the search failed: {done.stderr.decode()[-500:]}")


def start_server(url: str, db: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_serve(db, {**qualys_env(url), "CVESWEEP_WEB_TOKEN": token})


def start_job(base: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    reply = httpx.post(f"{base}/api/searches", json={"cve": CVE}, headers=headers, timeout=30)
    reply.raise_for_status()
    job = str(reply.json()["id"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}/api/searches/{job}?hosts=false", headers=headers).json()
        if state["state"] != "running":
            return job
        time.sleep(0.2)
    raise SystemExit("the search job did not finish within 120 s")


def targets(job: str) -> list[str]:
    return [
        "/", "/cves", f"/cves/{CVE}", "/assets", "/runs", f"/search/{job}",
        "/api/cves", f"/api/cves/{CVE}", "/api/assets?limit=1000", f"/api/searches/{job}",
        "/api/runs", f"/api/export/stix?cve={CVE}", "/openapi.json",
    ]  # fmt: skip


async def one_round(base: str, token: str, paths: list[str], concurrency: int) -> list[float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {token}"}
    statuses: collections.Counter[int] = collections.Counter()
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as http:

        async def get(path: str) -> None:
            started = time.monotonic()
            reply = await http.get(path, timeout=300)
            latencies.append(time.monotonic() - started)
            statuses[reply.status_code] += 1

        await asyncio.gather(*(get(paths[i % len(paths)]) for i in range(concurrency)))
    print(f"    statuses {dict(statuses)}", end="")
    return latencies


def rss_mib(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


class PeakSampler:
    """Samples a process's RSS every 50 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc, self.peak = proc, rss_mib(proc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.proc))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    base: str, token: str, job: str, server: psutil.Process, args: argparse.Namespace
) -> None:
    paths = targets(job)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for path in paths:  # warm up: every route once, templates compiled
            http.get(path, timeout=60).raise_for_status()
    before = rss_mib(server)
    print(f"RSS after one GET of each of {len(paths)} routes: {before:.0f} MiB")
    with PeakSampler(server) as sampler:
        for number in range(1, args.rounds + 1):
            started = time.monotonic()
            latencies = asyncio.run(one_round(base, token, paths, args.concurrency))
            wall = time.monotonic() - started
            latencies.sort()
            print(
                f"\n  round {number}: {args.concurrency} concurrent GETs in {wall:.1f} s, "
                f"p50 {latencies[len(latencies) // 2]:.2f} s, max {latencies[-1]:.2f} s; "
                f"RSS {rss_mib(server):.0f} MiB (peak so far {sampler.peak:.0f}), "
                f"threads {server.num_threads()}"
            )
    after = rss_mib(server)
    print(
        f"RSS before {before:.0f} MiB, after {after:.0f} MiB (+{after - before:.0f}), "
        f"peak during the rounds {sampler.peak:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3000, help="simulated fleet size")
    parser.add_argument("--concurrency", type=int, default=200, help="GETs sent at once")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of concurrent GETs")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    simulator, url = start_simulator(args.hosts)
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        db = Path(tmp) / "library.db"
        server_proc = None
        try:
            fill_library(url, db)
            server_proc, base = start_server(url, db, token)
            job = start_job(base, token)
            measure(base, token, job, psutil.Process(server_proc.pid), args)
        finally:
            for proc in (server_proc, simulator):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=30)


if __name__ == "__main__":
    main()
