"""Benchmark of the Qualys simulator serving huge detection replies over real HTTP; prints figures.

Usage (from the repository root)::

    .venv/bin/python bench/bench_simulator.py                    # 1,000,000 hosts, plain http
    .venv/bin/python bench/bench_simulator.py --hosts 100000 --tls

It starts ``cvesweep simulator --port 0`` in a subprocess on 127.0.0.1 (so its memory is
measured apart from the client), then a real httpx client streams two detection replies
with ``truncation_limit=0`` and ``show_tags=1``: one restricted to a search list for a common
CVE (created and deleted around it, as cvesweep does) and one for every host. For each it
prints the bytes and seconds read, MB/s, the hosts served, and the simulator's peak RSS
sampled with psutil during the transfer; at the end the simulator's VmHWM from /proc.
Then it times what parallel pulls need: every host id from host list 5.0
(``details=None``), and one 1,000-host slice of detections asked for as ``ids=A-B`` and as
``id_min=A&id_max=B`` (the two must cost about the same).
Last, a KEV sweep's pull: a second simulator of ``--kev-hosts`` hosts (20,000), every host's
detections, then the detections restricted to the shipped CISA KEV catalog's 1,404 CVEs as a
sweep asks for them: three search lists of at most 500 CVEs in one ``include_search_list_ids``
comma list, and one list holding all 1,404 (creation times printed too). The restricted
pulls must stream at about the rate of the unrestricted one.
Every transfer stops after ``--max-seconds`` and the simulator is always stopped.
"""

from __future__ import annotations

import argparse
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.simulator.world import shipped_kev_cves

MB = 1_000_000
MIB = 1024 * 1024
DETECTIONS = ApiVersions().path(Endpoint.DETECTION)
SEARCH_LISTS = ApiVersions().path(Endpoint.SEARCH_LIST)
HOST_LIST = ApiVersions().path(Endpoint.HOST_LIST)
HEADERS = {"X-Requested-With": "cvesweep bench"}
HOST_END = b"</HOST>"


@dataclass
class Simulator:
    process: subprocess.Popen[str]
    url: str
    auth: tuple[str, str]
    verify: ssl.SSLContext | bool
    cves: list[tuple[str, int]]


class PeakRss:
    """Samples a process' RSS in a thread; ``peak`` is the largest seen since ``reset``."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return int(self._process.memory_info().rss)

    def reset(self) -> None:
        self.peak = self.now()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.peak = max(self.peak, self.now())
            except psutil.Error:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def start(hosts: int, seed: int, tls: bool) -> Simulator:
    args = [sys.executable, "-m", "cvesweep", "simulator", "--port", "0"]
    args += ["--hosts", str(hosts), "--seed", str(seed)] + (["--tls"] if tls else [])
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    while lines[-1] and not lines[-1].startswith("State:"):
        lines.append(process.stdout.readline())
    banner = re.match(r"Qualys simulator on (\S+)\s+username=(\S+) password=(\S+)", lines[0])
    if banner is None or not lines[-1]:
        process.kill()
        raise SystemExit(f"the simulator did not start: {lines!r}")
    cert = next((ln.split(": ", 1)[1].strip() for ln in lines if ln.startswith("TLS")), None)
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=cert) if cert else True
    cves = [(row.split()[0], int(row.split()[1])) for row in lines if row.startswith("  CVE-")]
    return Simulator(process, banner[1], (banner[2], banner[3]), verify, cves)


def stop(simulator: Simulator) -> int:
    """Stop the simulator with SIGINT (SIGKILL after 10 s); return its exit status."""
    if simulator.process.poll() is None:
        simulator.process.send_signal(signal.SIGINT)
        try:
            simulator.process.wait(10)
        except subprocess.TimeoutExpired:
            simulator.process.kill()
            simulator.process.wait()
    return simulator.process.returncode


def vm_hwm_kib(pid: int) -> int | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
    return int(found[1]) if found else None


def stream(client: httpx.Client, form: dict[str, str], deadline: float) -> dict[str, Any]:
    """POST a detection list and read it to the end (or the deadline); return the figures."""
    received = hosts = 0
    tail = b""
    started = time.perf_counter()
    complete = False
    with client.stream("POST", DETECTIONS, data=form) as reply:
        reply.raise_for_status()
        for data in reply.iter_raw():
            received += len(data)
            hosts += (tail + data).count(HOST_END)
            tail = data[-(len(HOST_END) - 1) :]
            if time.monotonic() > deadline:
                break
        else:
            complete = True
    seconds = time.perf_counter() - started
    return {"bytes": received, "seconds": seconds, "hosts": hosts, "complete": complete}


def create_list(client: httpx.Client, cve: str) -> str:
    """Create a dynamic search list for ``cve`` (a comma list is fine); return its id."""
    title = f"cvesweep bench {cve[:40]} {time.time_ns():x}"
    form = {"action": "create", "title": title, "cve_ids": cve, "global": "1"}
    reply = client.post(SEARCH_LISTS, data=form)
    found = re.search(r"<VALUE>(\d+)</VALUE>", reply.text)
    if found is None:
        raise SystemExit(f"search list not created: {reply.status_code} {reply.text[:300]}")
    return found[1]


def report(label: str, figures: dict[str, Any], peak: int, baseline: int) -> None:
    mb_per_s = figures["bytes"] / MB / figures["seconds"] if figures["seconds"] else 0.0
    note = "" if figures["complete"] else "  (stopped at --max-seconds)"
    print(f"{label}{note}")
    print(
        f"  {figures['bytes'] / MB:,.1f} MB in {figures['seconds']:.1f} s = {mb_per_s:,.1f} MB/s,"
        f" {figures['hosts']:,} hosts ({figures['hosts'] / figures['seconds']:,.0f} hosts/s)"
    )
    print(
        f"  simulator RSS: {baseline / MIB:,.1f} MiB before, peak {peak / MIB:,.1f} MiB"
        f" during the transfer (+{(peak - baseline) / MIB:,.1f} MiB)"
    )


def run(simulator: Simulator, max_seconds: float) -> None:
    rss = PeakRss(simulator.process.pid)
    timeout = httpx.Timeout(60.0)
    options: dict[str, Any] = {"auth": simulator.auth, "verify": simulator.verify}
    try:
        with httpx.Client(base_url=simulator.url, headers=HEADERS, timeout=timeout, **options) as c:
            cve = next((name for name, _ in simulator.cves if name == "CVE-2021-44228"), None)
            cve = cve or simulator.cves[0][0]
            list_id = create_list(c, cve)
            try:
                form = {"action": "list", "show_tags": "1", "truncation_limit": "0"}
                rss.reset()
                baseline = rss.peak
                figures = stream(
                    c, {**form, "include_search_list_ids": list_id}, time.monotonic() + max_seconds
                )
                report(
                    f"detections for {cve} (search list {list_id}):", figures, rss.peak, baseline
                )
            finally:
                c.post(SEARCH_LISTS, data={"action": "delete", "id": list_id})
            rss.reset()
            baseline = rss.peak
            figures = stream(c, form, time.monotonic() + max_seconds)
            report("detections of every host:", figures, rss.peak, baseline)
            id_ranges(c)
    finally:
        rss.close()


def timed(c: httpx.Client, path: str, params: dict[str, str]) -> tuple[float, httpx.Response]:
    """Return (seconds, reply) of one GET read to its end."""
    started = time.perf_counter()
    reply = c.get(path, params=params)
    return time.perf_counter() - started, reply


def id_ranges(c: httpx.Client) -> None:
    """Print the cost of every host id (host list 5.0) and of ids= against id_min/id_max."""
    seconds, reply = timed(
        c, HOST_LIST, {"action": "list", "details": "None", "truncation_limit": "0"}
    )
    ids = [int(n) for n in re.findall(rb"<ID>(\d+)</ID>", reply.content)]
    print(f"host list 5.0, details=None: {len(ids):,} host ids in {seconds:.2f} s")
    if len(ids) < 2:
        return
    middle = len(ids) // 2
    low, high = ids[middle], ids[min(len(ids) - 1, middle + 999)]
    form = {"action": "list", "truncation_limit": "0", "qids": "376157,730297,45515"}
    for label, extra in (
        ("ids=A-B", {"ids": f"{low}-{high}"}),
        ("id_min=A&id_max=B", {"id_min": str(low), "id_max": str(high)}),
    ):
        seconds, reply = timed(c, DETECTIONS, {**form, **extra})
        hosts = reply.content.count(HOST_END)
        print(f"detections of a 1,000-host slice, {label}: {hosts} hosts in {seconds:.3f} s")


def kev_sweep(hosts: int, seed: int, tls: bool, max_seconds: float) -> None:
    """Print the figures of a KEV sweep's detection pulls against a ``hosts``-host fleet."""
    simulator = start(hosts, seed, tls)
    rss = PeakRss(simulator.process.pid)
    options: dict[str, Any] = {"auth": simulator.auth, "verify": simulator.verify}
    kev = list(shipped_kev_cves())
    try:
        with httpx.Client(
            base_url=simulator.url, headers=HEADERS, timeout=httpx.Timeout(60.0), **options
        ) as c:
            form = {"action": "list", "show_tags": "1", "truncation_limit": "0"}
            title = f"KEV fleet ({hosts:,} hosts): detections of every host:"
            pull(c, rss, form, title, max_seconds)
            started = time.perf_counter()
            chunks = [create_list(c, ",".join(kev[i : i + 500])) for i in range(0, len(kev), 500)]
            whole = create_list(c, ",".join(kev))
            print(
                f"{len(chunks)} lists of <= 500 KEV CVEs and one of {len(kev):,}:"
                f" created in {time.perf_counter() - started:.2f} s"
            )
            try:
                for label, ids in ((f"{len(chunks)} lists", chunks), ("one list", [whole])):
                    restricted = {**form, "include_search_list_ids": ",".join(ids)}
                    title = f"KEV fleet: detections of the {len(kev):,} KEV CVEs ({label}):"
                    pull(c, rss, restricted, title, max_seconds)
            finally:
                for list_id in (*chunks, whole):
                    c.post(SEARCH_LISTS, data={"action": "delete", "id": list_id})
    finally:
        rss.close()
        stop(simulator)


def pull(
    c: httpx.Client, rss: PeakRss, form: dict[str, str], label: str, max_seconds: float
) -> None:
    rss.reset()
    baseline = rss.peak
    report(label, stream(c, form, time.monotonic() + max_seconds), rss.peak, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1_000_000, help="fleet size")
    parser.add_argument("--seed", type=int, default=1, help="fleet seed")
    parser.add_argument("--tls", action="store_true", help="serve and read over HTTPS")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="bound per transfer")
    parser.add_argument("--kev-hosts", type=int, default=20_000, help="fleet of the KEV pulls")
    args = parser.parse_args()
    started = time.perf_counter()
    simulator = start(args.hosts, args.seed, args.tls)
    print(
        f"simulator: {simulator.url} ({args.hosts:,} hosts, seed {args.seed}),"
        f" ready in {time.perf_counter() - started:.2f} s (process start included)"
    )
    try:
        run(simulator, args.max_seconds)
        hwm = vm_hwm_kib(simulator.process.pid)
        if hwm is not None:
            print(f"simulator VmHWM (peak RSS of its whole life): {hwm / 1024:,.1f} MiB")
    finally:
        status = stop(simulator)
    print(f"simulator stopped, exit status {status}")
    kev_sweep(args.kev_hosts, args.seed, args.tls, args.max_seconds)


if __name__ == "__main__":
    main()
