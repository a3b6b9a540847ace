"""Benchmark of ``cvesweep export stix`` (issue 11 item 4): peak RSS at two library sizes and
objects per second against the stix2-based exporter it replaced, measured in the same run.

Usage (from the repository root)::

    .venv/bin/python bench/bench_stix.py                           # 10,000 and 100,000 assets
    .venv/bin/python bench/bench_stix.py --assets 2000,20000 --old-assets 2000

For each size a fresh SQLite library is filled by direct inserts (SQLAlchemy Core
executemany; no Qualys, no simulator): N assets (2 % IPv6, the rest IPv4) with three
identity attributes and two tags each, 4 CVEs, about 1.33 links per asset and 1-3 findings
per link (their Qualys ID, Severity, ... attributes are derived from the findings by the
library's view), in a child process. Then, each in its own child process (CPU and peak
RSS of that child from ``wait4``, bench/harness.py ``run_child``):

* ``cvesweep export stix --db URL --output FILE`` at every size;
* the peer: the exporter of commit 4282ad8 (bench/stix_old.py, stix2 objects of the whole
  library, then one Bundle) on the smallest library (``--old-assets``, default: the first
  size), whose bundle must be byte-identical to the new one.

Goals: peak RSS <= 150 MiB at 100,000 assets and flat as the library grows (largest size
within 1.25 x the smallest); objects per CPU second (of the
exporting child) >= 10 x the old exporter's on the same library.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from cvesweep.library import Library
from cvesweep.library.schema import (
    KIND_ASSET,
    KIND_INDICATOR,
    ORIGIN_IDENTITY,
    TYPE_ASSET,
    TYPE_CVE,
    attributes,
    findings,
    objects,
    relationships,
    sources,
    tags,
)
from harness import CLI, Child, emit, run_child

BENCH_DIR = Path(__file__).resolve().parent
CVES = ("CVE-2021-44228", "CVE-2021-45046", "CVE-2023-4966", "CVE-2024-3400")
TAG_POOL = ("Production", "Linux Servers", "DMZ", "PCI", "Windows", "Cloud Agent", "Lab")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
RSS_GOAL_MIB = 150.0
FLAT_GOAL = 1.25
SPEED_GOAL = 10.0


def fill(db: Path, assets: int) -> int:
    """Fill a new library at ``db``; return how many STIX objects its bundle holds."""
    with Library.open(f"sqlite:///{db}", create=True) as library, library.engine.begin() as conn:
        source = conn.scalar(select(sources.c.id).where(sources.c.name == "Qualys"))
        if source is None:
            source = conn.execute(insert(sources).values(name="Qualys")).inserted_primary_key[0]
        stamp = {"created_at": T0, "updated_at": T0 + timedelta(days=1)}
        cve_rows = [{"id": i + 1, "kind": KIND_INDICATOR, "type": TYPE_CVE, "value": c, **stamp}
                    for i, c in enumerate(CVES)]  # fmt: skip
        conn.execute(insert(objects), cve_rows)
        links = 0
        for start in range(0, assets, 10_000):
            links += _fill_assets(conn, source, range(start, min(assets, start + 10_000)))
    return 2 + len(CVES) + 3 * assets + links


def _fill_assets(conn: Any, source: int, chunk: range) -> int:
    """Insert the assets of ``chunk`` (ids after the CVEs) with all they hold; return links."""
    rows: dict[str, list[dict[str, Any]]] = {"o": [], "a": [], "t": [], "r": [], "f": []}
    for i in chunk:
        object_id, moment = 100 + i, T0 + timedelta(seconds=i, microseconds=i % 1000 * 7)
        rows["o"].append({"id": object_id, "kind": KIND_ASSET, "type": TYPE_ASSET,
                          "value": _address(i), "created_at": moment,
                          "updated_at": moment + timedelta(hours=i % 5)})  # fmt: skip
        for name, value in (("Operating System", f"Linux 5.{i % 20}"),
                            ("Qualys Host ID", str(1_000_000 + i)),
                            ("Hostname", f"host{i}.example.com")):  # fmt: skip
            rows["a"].append({"object_id": object_id, "name": name, "value": value,
                              "source_id": source, "published_at": moment,
                              "origin": ORIGIN_IDENTITY})  # fmt: skip
        for name in {TAG_POOL[i % 7], TAG_POOL[(i * 3 + 1) % 7]}:
            rows["t"].append({"object_id": object_id, "name": name, "created_at": moment})
        for cve_id in {1 + i % 4, 1 + (i + 1) % 4} if i % 3 == 0 else {1 + i % 4}:
            rows["r"].append({"object_a_id": cve_id, "object_b_id": object_id,
                              "source_id": source, "created_at": moment})  # fmt: skip
            rows["f"] += [_finding(object_id, cve_id, i + k, moment) for k in range(1 + i % 3)]
    for table, key in ((objects, "o"), (attributes, "a"), (tags, "t"),
                       (relationships, "r"), (findings, "f")):  # fmt: skip
        conn.execute(insert(table), rows[key])
    return len(rows["r"])


def _address(i: int) -> str:
    if i % 50 == 49:
        return f"2001:db8::{i >> 16:x}:{i & 0xFFFF:x}"
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def _finding(asset_id: int, cve_id: int, n: int, moment: datetime) -> dict[str, Any]:
    return {
        "asset_id": asset_id, "cve_id": cve_id, "qid": 376157 + n % 50 + cve_id * 1000,
        "severity": 1 + n % 5, "status": ("Active", "New", "Re-Opened", "Fixed")[n % 4],
        "type": ("Confirmed", "Potential")[n % 2], "port": 443, "protocol": "tcp",
        "first_found": "2025-01-01T00:00:00Z", "last_found": "2026-02-01T10:00:00Z",
        "times_found": 1 + n % 9, "last_scan": "2026-02-02T10:00:00Z",
        "qualys_host_id": 1_000_000 + asset_id, "first_seen_at": moment, "updated_at": moment,
    }  # fmt: skip


def fill_in_child(db: Path, assets: int) -> int:
    """:func:`fill` in a child process, so that this one stays small: Linux counts the
    RSS of the process that spawns a child in the child's ``ru_maxrss`` (the peak of the
    memory it replaced at ``exec``), which would inflate every figure measured here."""
    child = run_child([sys.executable, __file__, "--fill", str(db), str(assets)])
    return int(child.stdout.split()[-1])


def count_objects(bundle: Path) -> int:
    """The objects of a bundle indented as cvesweep writes it, counted line by line: this
    process must stay small (loading the JSON would raise every later child's peak)."""
    with bundle.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line == "    {\n")


def export_new(db: Path, out: Path) -> Child:
    return run_child([*CLI, "export", "stix", "--db", f"sqlite:///{db}", "--output", str(out)])


def export_old(db: Path, out: Path) -> Child:
    return run_child([sys.executable, str(BENCH_DIR / "stix_old.py"), f"sqlite:///{db}", str(out)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", default="10000,100000", help="library sizes, comma-separated")
    parser.add_argument("--old-assets", type=int, help="size for the old exporter (first size)")
    parser.add_argument("--fill", nargs=2, metavar=("DB", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        print(fill(Path(args.fill[0]), int(args.fill[1])))
        return
    sizes = [int(n) for n in args.assets.split(",")]
    old_size = args.old_assets or sizes[0]
    with tempfile.TemporaryDirectory(prefix="bench-stix-") as tmp:
        results = {n: measure(Path(tmp), n, old=n == old_size) for n in sorted({*sizes, old_size})}
    report(results, sizes, old_size)


def measure(tmp: Path, assets: int, *, old: bool) -> dict[str, Any]:
    db, new_out, old_out = tmp / f"lib{assets}.db", tmp / "new.json", tmp / "old.json"
    count = fill_in_child(db, assets)
    new = export_new(db, new_out)
    found = count_objects(new_out)
    assert found == count, (found, count)
    print(f"{assets:,} assets, {count:,} objects ({new_out.stat().st_size / 2**20:.1f} MiB): "
          f"new {new.wall_s:.2f} s wall, {new.cpu_s:.2f} s CPU, peak {new.peak_rss_mib:.1f} MiB",
          flush=True)  # fmt: skip
    row: dict[str, Any] = {"objects": count, "new": new}
    if old:
        row["old"] = peer = export_old(db, old_out)
        row["same_bytes"] = filecmp.cmp(new_out, old_out, shallow=False)
        print(f"  old (stix2) {peer.wall_s:.2f} s wall, {peer.cpu_s:.2f} s CPU, peak "
              f"{peer.peak_rss_mib:.1f} MiB; same bytes: {row['same_bytes']}",
              flush=True)  # fmt: skip
    new_out.unlink()
    old_out.unlink(missing_ok=True)
    db.unlink()
    return row


def report(results: dict[int, dict[str, Any]], sizes: list[int], old_size: int) -> None:
    command = "bench/bench_stix.py --assets " + ",".join(map(str, sizes))
    small, large = results[min(sizes)], results[max(sizes)]
    peak = large["new"].peak_rss_mib
    emit(f"STIX export peak RSS, {max(sizes):,} assets", peak, "MiB", goal=f"<= {RSS_GOAL_MIB:.0f}",
         met=peak <= RSS_GOAL_MIB, command=command)  # fmt: skip
    flat = peak / small["new"].peak_rss_mib
    emit(f"STIX export peak RSS, {max(sizes):,} vs {min(sizes):,} assets", flat, "x",
         baseline=f"{min(sizes):,} assets", baseline_value=small["new"].peak_rss_mib,
         ratio=flat, goal=f"<= {FLAT_GOAL}", met=flat <= FLAT_GOAL, command=command)  # fmt: skip
    # Objects per CPU second of each child (the machine is shared: wall time is noisy).
    row = results[old_size]
    new_rate = row["objects"] / row["new"].cpu_s
    old_rate = row["objects"] / row["old"].cpu_s
    speed = new_rate / old_rate
    wall = row["old"].wall_s / row["new"].wall_s
    emit(f"STIX export objects/CPU-s vs stix2 exporter, {old_size:,} assets", new_rate,
         "objects/s", baseline="stix2 exporter (bench/stix_old.py)", baseline_value=old_rate,
         ratio=speed, goal=f">= {SPEED_GOAL:.0f}", met=speed >= SPEED_GOAL and row["same_bytes"],
         command=command, same_bytes=row["same_bytes"], wall_ratio=round(wall, 2),
         largest_rate=round(large["objects"] / large["new"].cpu_s))  # fmt: skip


if __name__ == "__main__":
    main()
