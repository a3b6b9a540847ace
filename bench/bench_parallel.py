"""Parallel detection pages against serial ones, wall time, with a per-page server latency.

The simulator (its own process) models Qualys' server time with ``--latency-page 1`` (one
second before each detection body) and allows 5 calls at once (``--concurrency-limit 5``):
cvesweep then runs 4 id ranges at once. The same search runs serially (``--max-parallel 1``)
and in parallel; the bytes of the hosts in the JSON output must be identical.
Goal (issue 11): 20 pages in parallel take at most 0.3x the serial wall time.

    python bench/bench_parallel.py [--hosts 20000] [--truncation-limit 95] [--latency 1]

The defaults give 20 serial pages of CVE-2021-44228 (1,819 hosts in 20,000): small pages, so
the server time dominates as it does on Qualys; the searches run in this process, so the
figures hold no interpreter start-up.
Prints figures and one JSON line (``BENCH {...}``) for bench/run.py's table.
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
from typing import Any

from cvesweep.export import OutputFormat, write_result
from cvesweep.models import CveId
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.client import ClientConfig, QualysClient

CVE = "CVE-2021-44228"
GOAL = 0.3


def start_simulator(hosts: int, latency: float, limit: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cvesweep", "simulator", "--port", "0", "--hosts", str(hosts),
         "--latency-page", str(latency), "--concurrency-limit", str(limit)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.match(r"Qualys simulator on (\S+)", first)
    if not found:
        process.kill()
        raise SystemExit(f"unexpected simulator banner: {first!r}")
    while not process.stdout.readline().startswith("State:"):
        pass
    return process, found[1]


def search(url: str, out: Path, truncation: int, max_parallel: int | None) -> dict[str, Any]:
    """One search in this process (no interpreter start-up in the figure); JSON to ``out``."""
    config = ClientConfig(base_url=url, username="simuser", password="simpass")
    started = time.perf_counter()
    with QualysClient(config) as client:
        result = search_vulnerable_hosts(
            client, CveId(CVE), truncation_limit=truncation, max_parallel=max_parallel
        )
    seconds = time.perf_counter() - started
    with out.open("w") as stream:
        write_result(result, OutputFormat.JSON, stream)
    release(result)
    summary = result.summary
    assert summary is not None
    return {"seconds": seconds, "hosts": summary.hosts, "pages": summary.pages,
            "api_calls": summary.api_calls}  # fmt: skip


def hosts_text(path: Path) -> str:
    """The ``"hosts": [...]`` part of a JSON output, as written (one host per line)."""
    text = path.read_text()
    return text[text.index('"hosts": [') : text.index('"summary":')]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=20_000)
    parser.add_argument("--truncation-limit", type=int, default=95)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency-limit", type=int, default=5)
    args = parser.parse_args()
    process, url = start_simulator(args.hosts, args.latency, args.concurrency_limit)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            serial_out, parallel_out = Path(tmp, "serial.json"), Path(tmp, "parallel.json")
            summaries = [
                search(url, serial_out, args.truncation_limit, 1),
                search(url, parallel_out, args.truncation_limit, None),
            ]
            texts = [hosts_text(p) for p in (serial_out, parallel_out)]
    finally:
        process.terminate()
        process.wait(10)
    identical = texts[0] == texts[1]
    serial, parallel = summaries[0]["seconds"], summaries[1]["seconds"]
    ratio = parallel / serial
    print(f"fleet {args.hosts} hosts, {CVE}, truncation {args.truncation_limit}, "
          f"{args.latency:.1f} s per page, concurrency limit {args.concurrency_limit}")  # fmt: skip
    for label, seconds, summary in (("serial  ", serial, summaries[0]),
                                    ("parallel", parallel, summaries[1])):  # fmt: skip
        print(
            f"  {label}: {seconds:6.2f} s, {summary['hosts']} hosts, {summary['pages']} "
            f"detection pages, {summary['api_calls']} API calls"
        )
    print(f"  ratio {ratio:.3f} (goal <= {GOAL}); hosts' bytes identical: {identical}")
    row = {"figure": "parallel detection pages, wall time", "value_s": round(parallel, 2),
           "baseline": "serial pull, same run", "baseline_s": round(serial, 2),
           "ratio": round(ratio, 3), "goal": f"<= {GOAL}", "met": ratio <= GOAL and identical,
           "serial_pages": summaries[0]["pages"]}  # fmt: skip
    print("BENCH " + json.dumps(row))
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
