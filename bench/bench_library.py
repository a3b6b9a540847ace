"""Benchmark of the threat-library ingest: a stdlib sqlite3 floor, and SQLite against PostgreSQL.

Usage (from the repository root)::

    .venv/bin/python bench/bench_library.py                      # 100,000 hosts, 500,000 detections
    .venv/bin/python bench/bench_library.py --hosts 20000        # a quicker run
    .venv/bin/python bench/bench_library.py --store-hosts 27371 --skip-floor

Each measurement runs in a fresh subprocess (``--worker NAME DIR``) that prints one JSON
line with its timings and its own peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``):

* ``ingest``: builds a SearchResult of N hosts x 5 detections into a real
  :class:`cvesweep.spool.HostSpool` (deterministic, realistic values: QIDs of one CVE with
  their fixed severities, statuses, types, ports, dates, 1-3 Qualys tags from a pool, 2 %
  IPv6-only hosts), ingests it into a fresh SQLite library, then ingests it again unchanged;
* ``floor``: stdlib ``sqlite3`` ``executemany`` of the same finding rows (built in memory
  before the clock starts), in one transaction, into a table shaped like ``findings``
  (same columns, same unique key, WAL). Its worker's RSS holds all rows at once; only the
  ingest worker has the 200 MiB target.
* ``store``: the same generator's result of ``--store-hosts`` hosts (27,371 by default: the
  size of the CVE-2021-44228 result on the simulator's 200,000-host fleet when issue 10 was
  filed) stored into a fresh library, on SQLite and on PostgreSQL in turn, twice each,
  alternating; the best time of each and their ratio are printed (goal: PostgreSQL within
  1.5 x SQLite). The PostgreSQL server is ``CVESWEEP_TEST_PG_URL`` when set, else a
  throwaway cluster started for the run (tests/pg_cluster.py) with crash-safe settings:
  ``fsync`` on, ``synchronous_commit=off`` — what SQLite's ``synchronous=NORMAL`` in WAL mode
  promises (a crash may lose the last commits, never corrupt). Without a server the
  PostgreSQL figure is skipped, saying why.

Targets (issue 4): first ingest within 3 x the floor, re-ingest no slower than the first,
peak RSS under 200 MiB. Issue 10: PostgreSQL store within 1.5 x SQLite's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvesweep.models import (
    CveId,
    Detection,
    Host,
    HostId,
    Qid,
    SearchOptions,
    SearchResult,
    SearchSummary,
    Tag,
)
from cvesweep.spool import HostSpool

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: harness
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.pg_cluster
from tests.pg_cluster import (
    Server,
    Unavailable,
    server_from_environment,
    start_cluster,
)

from harness import emit

STORE_HOSTS = 27_371
STORE_URL_ENV = "CVESWEEP_BENCH_STORE_URL"  # the store worker's library (a child's env only)
ROUNDS = 2
PG_GOAL = 1.5
# Crash-safe (fsync on), committing like SQLite's synchronous=NORMAL in WAL mode.
BENCH_SERVER_OPTIONS = "-c synchronous_commit=off -c max_wal_size=4GB"

DETECTIONS_PER_HOST = 5
CVE = CveId("CVE-2021-44228")
# Log4Shell-like: one CVE, a dozen QIDs, severity fixed per QID as in the Qualys KB.
QIDS = [(376157 + i, 5 if i % 3 else 4) for i in range(12)]
STATUSES = ["Active"] * 6 + ["New"] * 2 + ["Re-Opened"]
TYPES = ["Confirmed"] * 4 + ["Potential"]
PORTS = [443, 8080, 8443, 9200, None]
TAGS = [Tag(f"Site {i:02d}", 7000 + i) for i in range(40)] + [Tag("Production", 7100)]
MIB = 1024 * 1024


def make_host(index: int, rng: random.Random) -> Host:
    """Host number ``index`` of the synthetic fleet (deterministic for a given rng state)."""
    host_id = 100_000 + index
    a, b, c = (index >> 16) & 255, (index >> 8) & 255, index & 255
    ipv6_only = index % 50 == 49
    scan = f"2024-04-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:01Z"
    detections = tuple(
        Detection(
            qid=Qid(qid),
            type=rng.choice(TYPES),
            severity=severity,
            status=rng.choice(STATUSES),
            port=rng.choice(PORTS),
            protocol="tcp",
            first_found=f"2023-{1 + index % 12:02d}-15T08:00:00Z",
            last_found=scan if rng.random() < 0.8 else "2024-03-30T12:00:00Z",
            times_found=rng.randint(1, 40),
        )
        for qid, severity in sorted(rng.sample(QIDS, DETECTIONS_PER_HOST))
    )
    return Host(
        id=HostId(host_id),
        ip=None if ipv6_only else f"10.{a}.{b}.{c}",
        ipv6=f"2001:db8:{a:x}:{b:x}::{c:x}" if ipv6_only else None,
        tracking_method="AGENT" if index % 3 == 0 else "IP",
        os=rng.choice(["Ubuntu 22.04", "Windows Server 2019", "RHEL 8.9", "Debian 12"]),
        dns=f"host-{host_id}.corp.example.com",
        netbios=f"HOST{host_id}",
        last_scan=scan,
        tags=(TAGS[index % 40], TAGS[40]) if index % 4 else (TAGS[index % 40],),
        detections=detections,
    )


def build_result(hosts: int, directory: str) -> SearchResult:  # hosts: a HostSpool
    """A SearchResult of ``hosts`` synthetic hosts spooled on disk in ``directory``."""
    rng = random.Random(2021)
    spool = HostSpool(directory)
    for index in range(hosts):
        spool.append(make_host(index, rng))
    summary = SearchSummary(
        hosts=spool.hosts,
        detections=spool.detections,
        qids=tuple(q for q, _ in QIDS),
        pages=hosts // 1000 + 1,
        api_calls=hosts // 1000 + 3,
        search_list_id=1,
        search_list_deleted=True,
        elapsed_s=0.0,
    )
    return SearchResult(cve=CVE, options=SearchOptions(), hosts=spool, summary=summary)


def finding_rows(hosts: int) -> Iterator[tuple[object, ...]]:
    """The same finding rows the ingest writes, as plain tuples for the floor."""
    rng = random.Random(2021)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    for index in range(hosts):
        host = make_host(index, rng)
        for d in host.detections:
            yield (
                index + 2,
                1,
                d.qid,
                d.severity,
                d.status,
                d.type,
                d.port,
                d.protocol,
                d.first_found,
                d.last_found,
                d.times_found,
                host.last_scan,
                host.id,
                now,
                now,
            )


FLOOR_DDL = """CREATE TABLE findings (
    id INTEGER PRIMARY KEY, asset_id INTEGER NOT NULL, cve_id INTEGER NOT NULL,
    qid INTEGER NOT NULL, severity INTEGER, status VARCHAR(32), type VARCHAR(32),
    port INTEGER, protocol VARCHAR(16), first_found VARCHAR(20), last_found VARCHAR(20),
    times_found INTEGER, last_scan VARCHAR(20), qualys_host_id INTEGER,
    first_seen_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
    UNIQUE (asset_id, cve_id, qid))"""


def worker_floor(hosts: int, directory: str) -> dict[str, object]:
    connection = sqlite3.connect(Path(directory) / "floor.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(FLOOR_DDL)
    rows = list(finding_rows(hosts))  # generated before the clock starts: a true floor
    started = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO findings (asset_id, cve_id, qid, severity, status, type, port, protocol,"
        " first_found, last_found, times_found, last_scan, qualys_host_id, first_seen_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    (count,) = connection.execute("SELECT count(*) FROM findings").fetchone()
    connection.close()
    return {"floor_s": elapsed, "floor_rows": count}


def worker_store(hosts: int, directory: str, url: str | None) -> dict[str, object]:
    """Store the result of ``hosts`` synthetic hosts into the fresh library at ``url`` (a
    SQLite file in ``directory`` when None); the wall time and CPU time of that one ingest:
    this process's, and the PostgreSQL server process's when it runs on this machine."""
    from cvesweep.library import Library, RunRecord, StoreFlags

    result = build_result(hosts, directory)
    assert isinstance(result.hosts, HostSpool)
    target = url or f"sqlite:///{Path(directory) / 'library.db'}"
    with Library.open(target, create=True) as library:
        now = datetime.now(UTC)
        run = RunRecord.from_result(result, started_at=now, finished_at=now, parameters={})
        server = _server_pid(library.engine)
        cpu, server_cpu = _cpu_s(), _process_cpu_s(server)
        started = time.perf_counter()
        stats = library.ingest(result, StoreFlags(), run)
        elapsed = time.perf_counter() - started
        cpu, server_cpu = _cpu_s() - cpu, _process_cpu_s(server) - server_cpu
        if server is not None and _server_pid(library.engine) != server:
            server_cpu = float("nan")  # the ingest ran on another server process
    result.hosts.close()
    return {
        "store_s": elapsed,
        "client_cpu_s": cpu,
        "server_cpu_s": server_cpu,
        "stats": stats.__dict__,
        "detections": result.hosts.detections,
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_pid(engine: Any) -> int | None:
    """The PostgreSQL server process of the engine's (pooled) connection; None for SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())


def _process_cpu_s(pid: int | None) -> float:
    """CPU seconds of process ``pid`` (0 for None; NaN when it is not on this machine)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_ingest(hosts: int, directory: str) -> dict[str, object]:
    from cvesweep.library import Library, RunRecord, StoreFlags

    started = time.perf_counter()
    result = build_result(hosts, directory)
    assert isinstance(result.hosts, HostSpool)
    built = time.perf_counter() - started
    figures: dict[str, object] = {"build_s": built, "detections": result.hosts.detections}
    with Library.open(f"sqlite:///{Path(directory) / 'library.db'}") as library:
        for label in ("first", "second"):
            now = datetime.now(UTC)
            run = RunRecord.from_result(result, started_at=now, finished_at=now, parameters={})
            started = time.perf_counter()
            stats = library.ingest(result, StoreFlags(), run)
            figures[f"{label}_s"] = time.perf_counter() - started
            figures[f"{label}_stats"] = stats.__dict__
        figures["rows"] = _row_counts(library)
    result.hosts.close()
    return figures


def _row_counts(library: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from cvesweep.library.schema import metadata

    counts = {}
    with library.engine.connect() as connection:
        for table in metadata.sorted_tables:
            counts[table.name] = connection.scalar(select(func.count()).select_from(table))
    return counts


def run_worker(name: str, hosts: int, url: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cvesweep-bench-") as directory:
        command = [sys.executable, __file__, "--worker", name, directory, "--hosts", str(hosts)]
        env = {**os.environ, STORE_URL_ENV: url} if url else None  # never in argv
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--store-hosts", type=int, default=STORE_HOSTS)
    parser.add_argument("--skip-floor", action="store_true", help="only the store comparison")
    parser.add_argument("--worker", nargs=2, metavar=("NAME", "DIR"))
    args = parser.parse_args()
    if args.worker:
        name, directory = args.worker
        if name == "store":
            figures = worker_store(args.hosts, directory, os.environ.get(STORE_URL_ENV))
        else:
            figures = (worker_floor if name == "floor" else worker_ingest)(args.hosts, directory)
        figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return
    if not args.skip_floor:
        report(args.hosts, run_worker("floor", args.hosts), run_worker("ingest", args.hosts))
    compare_backends(args.store_hosts)


def compare_backends(hosts: int) -> None:
    """Store the same result on SQLite and PostgreSQL, alternating; print best times, ratio."""
    print(f"library store, SQLite against PostgreSQL: {hosts:,} hosts (best of {ROUNDS})")
    try:
        server = postgres_server()
    except Unavailable as exc:
        alone = min(float(run_worker("store", hosts)["store_s"]) for _ in range(ROUNDS))
        print(f"  SQLite    : {alone:.2f} s")
        print(f"  PostgreSQL: skipped: {exc}")
        return
    runs: dict[str, list[dict[str, Any]]] = {"SQLite": [], "PostgreSQL": []}
    try:
        for _ in range(ROUNDS):
            runs["SQLite"].append(run_worker("store", hosts))
            with server.database() as url:
                runs["PostgreSQL"].append(run_worker("store", hosts, url))
    finally:
        server.stop()
    best = {name: min(found, key=lambda f: float(f["store_s"])) for name, found in runs.items()}
    for name, found in runs.items():
        figures = best[name]
        cpu = f"CPU {float(figures['client_cpu_s']):.2f} s"
        if name == "PostgreSQL":
            cpu += f" + server {float(figures['server_cpu_s']):.2f} s"
        times = ", ".join(f"{float(f['store_s']):.2f}" for f in found)
        print(f"  {name:<10}: {float(figures['store_s']):.2f} s  ({cpu}; runs: {times})")
    ratio = float(best["PostgreSQL"]["store_s"]) / float(best["SQLite"]["store_s"])
    verdict = "OK" if ratio <= PG_GOAL else "MISSED"
    print(f"  PostgreSQL / SQLite: {ratio:.2f} x [goal <= {PG_GOAL:.2f}] {verdict}")
    emit(
        f"library store on PostgreSQL vs SQLite, {hosts:,} hosts",
        float(best["PostgreSQL"]["store_s"]),
        "s",
        baseline="SQLite store",
        baseline_value=float(best["SQLite"]["store_s"]),
        ratio=ratio,
        goal=f"<= {PG_GOAL}",
        met=ratio <= PG_GOAL,
        command=f"bench/bench_library.py --store-hosts {hosts} --skip-floor (best of {ROUNDS})",
    )


def postgres_server() -> Server:
    """CVESWEEP_TEST_PG_URL's server, else a throwaway cluster. Raises Unavailable."""
    return server_from_environment() or start_cluster(BENCH_SERVER_OPTIONS)


def report(hosts: int, floor: dict[str, Any], ingest: dict[str, Any]) -> None:
    findings, floor_s = int(floor["floor_rows"]), float(floor["floor_s"])
    first_s, second_s = float(ingest["first_s"]), float(ingest["second_s"])
    rss = float(ingest["peak_rss_mib"])
    rows = ingest["rows"]
    written = sum(count for table, count in rows.items() if table != "meta")
    print(f"library ingest benchmark: {hosts:,} hosts, {ingest['detections']:,} detections")
    print(f"  spool build (not part of ingest): {float(ingest['build_s']):.2f} s")
    print(
        f"  floor: sqlite3 executemany of {findings:,} finding rows: {floor_s:.2f} s "
        f"({findings / floor_s:,.0f} rows/s)"
    )
    print(
        f"  first ingest : {first_s:.2f} s ({findings / first_s:,.0f} findings/s; "
        f"{written / first_s:,.0f} rows/s over {written:,} rows) = {first_s / floor_s:.2f} x floor"
        f" [target <= 3.00] {'OK' if first_s <= 3 * floor_s else 'MISSED'}"
    )
    print(
        f"  second ingest: {second_s:.2f} s ({findings / second_s:,.0f} findings/s)"
        f" [target <= first] {'OK' if second_s <= first_s else 'MISSED'}"
    )
    print(
        f"  peak RSS: ingest worker {rss:.0f} MiB [target < 200] {'OK' if rss < 200 else 'MISSED'}"
        f"; floor worker {float(floor['peak_rss_mib']):.0f} MiB (holds all its rows)"
    )
    print(f"  rows in library: {json.dumps(rows)}")
    command = f"bench/bench_library.py --hosts {hosts}"
    emit(
        f"library first ingest vs sqlite3 executemany, {hosts:,} hosts",
        first_s,
        "s",
        baseline="sqlite3 executemany of the finding rows",
        baseline_value=floor_s,
        ratio=first_s / floor_s,
        goal="<= 3.0",
        met=first_s <= 3 * floor_s,
        command=command,
    )
    emit(
        "library repeat ingest vs first",
        second_s,
        "s",
        baseline="first ingest",
        baseline_value=first_s,
        ratio=second_s / first_s,
        goal="<= 1.0",
        met=second_s <= first_s,
        command=command,
    )
    print(f"  first ingest stats : {json.dumps(ingest['first_stats'])}")
    print(f"  second ingest stats: {json.dumps(ingest['second_stats'])}")


if __name__ == "__main__":
    main()
