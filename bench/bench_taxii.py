"""Memory of `cvesweep serve` while a TAXII client pages through its collection; prints
figures, asserts nothing.

For each library size (``--objects``, about that many STIX objects), fills a fresh SQLite library
with real searches of the built-in simulator (in-process), starts `cvesweep serve` on it in
a subprocess (with an access token), and pages through the whole collection as a TAXII
client does (``GET …/objects/?limit=N``, then ``next``) twice, sampling the server's RSS
(psutil) after every page and every 50 ms for the peak. For contrast it then downloads the
same library as one STIX bundle (``GET /api/export/stix``, built whole in memory). Only
loopback is contacted.

    .venv/bin/python bench/bench_taxii.py [--objects 5000 15000] [--limit 100]

Measured on the 2-core development machine (defaults): 5,125 objects in 52 pages, RSS
94.3 -> 99.1 MiB (second pass: peak 99.8); 15,313 objects in 154 pages, 94.2 -> 100.2 MiB
(second pass: peak 101.6). The whole bundle instead: peaks of 129.8 and 187.5 MiB.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from cvesweep.library import Library, RunRecord, StoreFlags
from cvesweep.models import CveId
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.client import ClientConfig, QualysClient
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.fleet import Fleet
from harness import start_serve

CVES = ("CVE-2021-44228", "CVE-2021-45046", "CVE-2023-4966", "CVE-2024-3400")
MEDIA = "application/taxii+json;version=2.1"
OBJECTS_PER_FLEET_HOST = 0.50  # measured: objects of the two searches per host of the fleet


def fill(db: Path, objects: int) -> int:
    """Fill a library at ``db`` with searches until it holds about ``objects`` objects."""
    fleet = Fleet(seed=7, size=max(1000, int(objects / OBJECTS_PER_FLEET_HOST)))
    app = SimulatorApp(fleet)
    config = ClientConfig(
        base_url="http://qualys.test", username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD
    )
    with Library.open(f"sqlite:///{db}", create=True) as library:
        for cve in CVES[:2]:
            with QualysClient(config, transport=httpx.WSGITransport(app=app)) as client:
                result = search_vulnerable_hosts(client, CveId(cve))
            try:
                now = datetime.now(UTC)
                run = RunRecord.from_result(
                    result, started_at=now, finished_at=now, parameters={"cve": cve}
                )
                library.ingest(result, StoreFlags(), run)
            finally:
                release(result)
    return fleet.size


def start_server(db: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "CVESWEEP_WEB_TOKEN": token, "CVESWEEP_QUALYS_URL": "http://127.0.0.1:9"}
    return start_serve(db, env)


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


def page_through(http: httpx.Client, url: str, limit: int, server: psutil.Process) -> str:
    """Read every object of the collection at ``url``; return a line of figures."""
    after_page: list[float] = []
    count, params = 0, {"limit": str(limit)}
    started = time.perf_counter()
    with PeakSampler(server) as sampler:
        while True:
            reply = http.get(url, params=params)
            reply.raise_for_status()
            body = reply.json()
            count += len(body.get("objects", []))
            after_page.append(rss_mib(server))
            if not body.get("more"):
                break
            params = {"limit": str(limit), "next": body["next"]}
    seconds = time.perf_counter() - started
    marks = [after_page[int(f * (len(after_page) - 1))] for f in (0, 0.25, 0.5, 0.75, 1)]
    return (
        f"{count:,} objects in {len(after_page)} pages of {limit}, {seconds:.1f} s "
        f"({count / seconds:,.0f} objects/s); RSS after page 1 / 25% / 50% / 75% / last: "
        f"{' / '.join(f'{m:.1f}' for m in marks)} MiB, peak {sampler.peak:.1f} MiB"
    )


def measure(objects: int, limit: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "library.db"
        fleet = fill(db, objects)
        token = secrets.token_urlsafe(24)
        proc, base = start_server(db, token)
        try:
            server = psutil.Process(proc.pid)
            login = base64.b64encode(f"bench:{token}".encode()).decode()
            headers = {"Accept": MEDIA, "Authorization": f"Basic {login}"}
            with httpx.Client(headers=headers, timeout=300) as http:
                url = f"{base}/taxii2/cvesweep/collections/cvesweep/objects/"
                http.get(f"{base}/taxii2/").raise_for_status()
                print(f"library of a {fleet:,}-host fleet, {len(CVES[:2])} searches; "
                      f"server RSS before paging {rss_mib(server):.1f} MiB")  # fmt: skip
                for lap in ("first pass", "second pass"):
                    print(f"  {lap}: {page_through(http, url, limit, server)}", flush=True)
                with PeakSampler(server) as sampler:
                    started = time.perf_counter()
                    whole = http.get(f"{base}/api/export/stix", headers={"Accept": "*/*"})
                    whole.raise_for_status()
                    seconds = time.perf_counter() - started
                print(f"  for contrast, GET /api/export/stix (one bundle, {len(whole.content):,} "
                      f"bytes, {seconds:.1f} s): peak {sampler.peak:.1f} MiB, after "
                      f"{rss_mib(server):.1f} MiB")  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[5000, 15000])
    parser.add_argument("--limit", type=int, default=100, help="objects per page (at most 1000)")
    args = parser.parse_args()
    for objects in args.objects:
        print(f"--- about {objects:,} objects ---", flush=True)
        measure(objects, args.limit)


if __name__ == "__main__":
    main()
