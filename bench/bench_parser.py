"""Benchmark of the streaming detection parser against lxml floors and xmltodict; prints figures.

Usage (from the repository root)::

    .venv/bin/python bench/bench_parser.py                 # 200 MB document + a 2 GB one
    .venv/bin/python bench/bench_parser.py --size-mb 50 --skip-large --skip-xmltodict

Each measurement runs in a fresh subprocess (``--worker NAME FILE``) that prints one JSON
line with its wall time, its CPU seconds and its own peak RSS
(``getrusage(RUSAGE_SELF)``), so memory figures are not polluted by the parent or by earlier
measurements; the whole ``cvesweep parse FILE --format json`` command runs as a child too
(CPU and peak RSS from ``wait4``, interpreter start-up included). The runs of every worker
are interleaved, ``--repeat`` times, and the least CPU is kept: the box is shared, and CPU
seconds are steadier than wall time, so every ratio is one of CPU seconds. Documents are
generated in a temporary directory (realistic HOST blocks with varying ids, IPs, QIDs,
tags, IPv6-only hosts; no simulator needed) and deleted at the end.

Goals: ``cvesweep parse`` at most 2.5x the no-work iterparse floor (issue 11); the parser at
least 0.6x the floors' speed and 3.5x xmltodict's; peak RSS under 64 MiB and flat on a
document ``--large-factor`` times larger. Prints ``BENCH`` rows for bench/run.py's table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import CLI, emit, run_child

CHUNK = 64 * 1024
MIB = 1024 * 1024

HEADER = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "https://qualysapi.qg2.apps.qualys.com'
    '/api/2.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd">\n'
    "<!-- This report was generated with an evaluation version of Qualys //--> \n"
    "<HOST_LIST_VM_DETECTION_OUTPUT>\n  <RESPONSE>\n"
    "    <DATETIME>2024-05-02T10:11:12Z</DATETIME>\n    <HOST_LIST>\n"
)
FOOTER = "    </HOST_LIST>\n  </RESPONSE>\n</HOST_LIST_VM_DETECTION_OUTPUT>\n"
ADDRESS = (
    "        <IP>10.{a}.{b}.{c}</IP>\n",
    "        <IPV6>2001:db8:{a:x}:{b:x}::{c:x}</IPV6>\n",
)
HOST = """      <HOST>
        <ID>{id}</ID>
        <ASSET_ID>{asset}</ASSET_ID>
{address}        <TRACKING_METHOD>{tracking}</TRACKING_METHOD>
        <OS><![CDATA[{os}]]></OS>
        <DNS><![CDATA[host-{id}.corp.example.com]]></DNS>
        <DNS_DATA>
          <HOSTNAME><![CDATA[host-{id}]]></HOSTNAME>
          <DOMAIN><![CDATA[corp.example.com]]></DOMAIN>
          <FQDN><![CDATA[host-{id}.corp.example.com]]></FQDN>
        </DNS_DATA>
        <NETBIOS><![CDATA[HOST{id}]]></NETBIOS>
        <QG_HOSTID><![CDATA[016a2a2c-daed-4c70-ba63-{id:012d}]]></QG_HOSTID>
        <LAST_SCAN_DATETIME>2024-04-17T18:56:01Z</LAST_SCAN_DATETIME>
        <LAST_VM_SCANNED_DATE>2024-04-17T18:55:20Z</LAST_VM_SCANNED_DATE>
        <LAST_VM_SCANNED_DURATION>{duration}</LAST_VM_SCANNED_DURATION>
        <TAGS>
          <TAG>
            <TAG_ID>{tag1}</TAG_ID>
            <NAME><![CDATA[Site {site}]]></NAME>
          </TAG>
          <TAG>
            <TAG_ID>7001</TAG_ID>
            <NAME><![CDATA[Production]]></NAME>
          </TAG>
        </TAGS>
        <DETECTION_LIST>
{detections}        </DETECTION_LIST>
      </HOST>
"""
DETECTION = """          <DETECTION>
            <UNIQUE_VULN_ID>{uvid}</UNIQUE_VULN_ID>
            <QID>{qid}</QID>
            <TYPE>Confirmed</TYPE>
            <SEVERITY>{severity}</SEVERITY>
            <PORT>{port}</PORT>
            <PROTOCOL>tcp</PROTOCOL>
            <SSL>0</SSL>
            <RESULTS><![CDATA[Package\tInstalled Version\tRequired Version
log4j-core\t2.{minor}.0\t2.17.1
linux-image-4.4.0\t1088-aws_4.4.0-1088.99\t1092
linux-headers-4.4.0\t1088-aws_4.4.0-1088.99\t1092]]></RESULTS>
            <STATUS>Active</STATUS>
            <FIRST_FOUND_DATETIME>2024-01-16T17:10:31Z</FIRST_FOUND_DATETIME>
            <LAST_FOUND_DATETIME>2024-04-17T18:55:20Z</LAST_FOUND_DATETIME>
            <TIMES_FOUND>{times}</TIMES_FOUND>
            <LAST_TEST_DATETIME>2024-04-17T18:55:20Z</LAST_TEST_DATETIME>
            <LAST_UPDATE_DATETIME>2024-04-17T18:56:01Z</LAST_UPDATE_DATETIME>
            <IS_IGNORED>0</IS_IGNORED>
            <IS_DISABLED>0</IS_DISABLED>
            <LAST_PROCESSED_DATETIME>2024-04-17T18:56:01Z</LAST_PROCESSED_DATETIME>
          </DETECTION>
"""
OSES = ("Amazon Linux", "Ubuntu Linux 16.04.6", "Windows 2016/2019/10", "Red Hat Enterprise 8")
TRACKING = ("IP", "DNS", "AGENT", "NETBIOS")


def host_block(n: int) -> str:
    """Return the XML of the n-th synthetic host (1-5 detections, every 10th IPv6-only)."""
    detections = "".join(
        DETECTION.format(
            uvid=n * 8 + k,
            qid=376157 + (n * 7 + k * 13) % 400,
            severity=1 + (n + k) % 5,
            port=(22, 443, 8080)[k % 3],
            minor=(n + k) % 17,
            times=1 + (n + k) % 90,
        )
        for k in range(1 + n % 5)
    )
    address = ADDRESS[n % 10 == 9].format(a=(n >> 16) & 255, b=(n >> 8) & 255, c=n & 255)
    return HOST.format(
        id=1_000_000 + n,
        asset=5_000_000 + n,
        address=address,
        tracking=TRACKING[n % 4],
        os=OSES[n % 4],
        duration=100 + n % 900,
        tag1=8000 + n % 50,
        site=n % 50,
        detections=detections,
    )


def generate(path: Path, size_mb: int) -> int:
    """Write a detection document of at least ``size_mb`` MB to ``path``; return its hosts."""
    target = size_mb * 1_000_000
    written = 0
    hosts = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        while written < target:
            batch = "".join(host_block(hosts + i) for i in range(1000))
            out.write(batch)
            written += len(batch)
            hosts += 1000
        out.write(FOOTER)
    return hosts


def worker_ours(path: Path) -> dict[str, int]:
    """The parser as a search's pages use it: rows (``feed_rows``), spooled as they are."""
    from cvesweep.qualys.xml import DetectionParser
    from cvesweep.spool import DETECTIONS_AT

    parser = DetectionParser()
    hosts = detections = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            for row in parser.feed_rows(chunk):
                hosts += 1
                detections += len(row[DETECTIONS_AT])
    end = parser.close()
    assert end.hosts == hosts
    return {"hosts": hosts, "detections": detections}


def worker_floor_host(path: Path) -> dict[str, int]:
    """lxml iterparse reporting only HOST end events, clearing them and earlier siblings."""
    from lxml import etree

    hosts = 0
    for _event, element in etree.iterparse(str(path), events=("end",), tag="HOST"):
        hosts += 1
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return {"hosts": hosts}


def worker_floor_all(path: Path) -> dict[str, int]:
    """lxml iterparse over every end event, doing nothing but clearing each element."""
    from lxml import etree

    hosts = 0
    for _event, element in etree.iterparse(str(path), events=("end",)):
        if element.tag == "HOST":
            hosts += 1
            while element.getprevious() is not None:
                del element.getparent()[0]
        element.clear()
    return {"hosts": hosts}


def worker_objectify(path: Path) -> dict[str, int]:
    from lxml import objectify

    document = objectify.fromstring(path.read_bytes())
    return {"hosts": len(document.RESPONSE.HOST_LIST.HOST)}


def worker_xmltodict(path: Path) -> dict[str, int]:
    import xmltodict

    with path.open("rb") as stream:
        document = xmltodict.parse(stream)
    hosts = document["HOST_LIST_VM_DETECTION_OUTPUT"]["RESPONSE"]["HOST_LIST"]["HOST"]
    return {"hosts": len(hosts)}


WORKERS = {
    "ours": worker_ours,
    "floor-host": worker_floor_host,
    "floor-all": worker_floor_all,
    "objectify": worker_objectify,
    "xmltodict": worker_xmltodict,
}


def run_worker(name: str, path: Path) -> None:
    start = time.perf_counter()
    counts = WORKERS[name](path)
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    figures = {"elapsed_s": elapsed, "cpu_s": cpu, "peak_rss_mib": peak_kib / 1024}
    print(json.dumps({**figures, **counts}))


def run_once(name: str, path: Path) -> dict[str, float]:
    """One run of a worker, or of the ``cvesweep parse`` command (``cli``), in a child."""
    if name == "cli":
        args = [*CLI, "parse", str(path), "--format", "json", "--output", os.devnull]
        child = run_child(args)
        return {"elapsed_s": child.wall_s, "cpu_s": child.cpu_s,
                "peak_rss_mib": child.peak_rss_mib, "hosts": _HOSTS[path]}  # fmt: skip
    command = [sys.executable, __file__, "--worker", name, str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


_HOSTS: dict[Path, int] = {}  # the hosts of each generated document


def measure(names: list[str], path: Path, repeat: int = 1) -> dict[str, dict[str, float]]:
    """Run the workers ``names`` in turn, ``repeat`` rounds; for each, the least-CPU run plus
    MB/s and hosts/s (of CPU seconds). Peak RSS is the largest of the runs."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for _ in range(repeat):
        for name in names:
            runs[name].append(run_once(name, path))
    size_mb = path.stat().st_size / 1_000_000
    found = {}
    for name, done in runs.items():
        figures = dict(min(done, key=lambda run: run["cpu_s"]))
        figures["peak_rss_mib"] = max(run["peak_rss_mib"] for run in done)
        figures["mb_s"] = size_mb / figures["cpu_s"]
        figures["hosts_s"] = figures["hosts"] / figures["cpu_s"]
        figures["size_mb"] = size_mb
        found[name] = figures
    return found


def show(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:<40} {figures['size_mb']:>6.0f} MB {figures['cpu_s']:>7.2f} s CPU "
        f"{figures['elapsed_s']:>7.2f} s wall {figures['mb_s']:>6.1f} MB/s "
        f"{figures['hosts_s']:>7.0f} hosts/s {figures['peak_rss_mib']:>7.1f} MiB peak RSS",
        flush=True,
    )


def verdict(name: str, value: float, target: str, ok: bool) -> None:
    print(f"  {name:<46} {value:>8.2f}   target {target:<10} {'OK' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="base document size (MB)")
    parser.add_argument("--large-factor", type=int, default=10, help="the larger document's")
    parser.add_argument("--skip-large", action="store_true", help="skip the larger document")
    parser.add_argument("--skip-xmltodict", action="store_true", help="skip xmltodict")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (least CPU kept)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("file", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.file)
        return
    tmp = Path(tempfile.mkdtemp(prefix="cvesweep-bench-"))
    try:
        run_all(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


LABELS = {
    "cli": "cvesweep parse --format json (command)",
    "ours": "ours (DetectionParser.feed_rows, 64 KiB)",
    "floor-host": "floor: iterparse tag=HOST + clear",
    "floor-all": "floor: iterparse all ends + clear",
    "objectify": "lxml.objectify (whole document)",
    "xmltodict": "xmltodict.parse (whole document)",
}


def run_all(args: argparse.Namespace, tmp: Path) -> None:
    base = tmp / "detections.xml"
    hosts = _HOSTS[base] = generate(base, args.size_mb)
    print(f"generated {base.stat().st_size / 1e6:.0f} MB, {hosts} hosts; chunks of {CHUNK} B")
    print(f"CPU: least of {args.repeat} interleaved runs each (peers and the larger doc: 1 run)")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    found = measure(["cli", "ours", "floor-host", "floor-all"], base, args.repeat)
    peers = ["objectify"] + ([] if args.skip_xmltodict else ["xmltodict"])
    found.update(measure(peers, base))
    for name, figures in found.items():
        show(LABELS[name], figures)
    large = None
    if not args.skip_large:
        base.unlink()
        big = tmp / "detections-large.xml"
        _HOSTS[big] = generate(big, args.size_mb * args.large_factor)
        large = measure(["ours"], big)["ours"]
        show(f"ours on the {args.large_factor}x document", large)
        big.unlink()
    print(f"load average after: {os.getloadavg()[0]:.2f} (ratios are fairest when both are low)")
    report(args, found, large)


def report(
    args: argparse.Namespace, found: dict[str, dict[str, float]], large: dict[str, float] | None
) -> None:
    print("ratios (of CPU seconds):")
    size = f"{found['ours']['size_mb']:.0f} MB reply"
    cli, ours, floor = found["cli"], found["ours"], found["floor-host"]
    ratio = cli["cpu_s"] / floor["cpu_s"]
    verdict("cvesweep parse (command) / floor (iterparse tag=HOST)", ratio, "<= 2.5", ratio <= 2.5)
    emit("cvesweep parse --format json, CPU", cli["cpu_s"], "s CPU",
         baseline="no-work iterparse(tag=HOST) + clear", baseline_value=floor["cpu_s"],
         ratio=ratio, goal="<= 2.5", met=ratio <= 2.5,
         command=f"cvesweep parse FILE --format json --output /dev/null ({size})")  # fmt: skip
    for name, goal in (("floor-host", 0.6), ("floor-all", 0.6), ("objectify", None),
                       ("xmltodict", 3.5)):  # fmt: skip
        if name not in found:
            continue
        speed = ours["mb_s"] / found[name]["mb_s"]
        met = None if goal is None else speed >= goal
        if goal is not None:
            verdict(f"ours / {name} (speed)", speed, f">= {goal}", speed >= goal)
        emit(f"DetectionParser CPU vs {name}", ours["cpu_s"], "s CPU",
             baseline=LABELS[name], baseline_value=found[name]["cpu_s"],
             ratio=ours["cpu_s"] / found[name]["cpu_s"],
             goal="figure" if goal is None else f"<= {1 / goal:.2f}", met=met,
             command=f"bench_parser.py --worker ours FILE ({size})")  # fmt: skip
    rss = ours["peak_rss_mib"]
    verdict("ours peak RSS (MiB)", rss, "< 64", rss < 64)
    emit("DetectionParser peak RSS", rss, "MiB", baseline=LABELS["objectify"],
         baseline_value=found["objectify"]["peak_rss_mib"],
         ratio=rss / found["objectify"]["peak_rss_mib"], goal="< 64 MiB", met=rss < 64,
         command=f"bench_parser.py --worker ours FILE ({size})")  # fmt: skip
    if large is not None:
        grow = large["peak_rss_mib"] - rss
        ok = large["peak_rss_mib"] < 64 and grow < 4
        verdict(f"ours peak RSS on {args.large_factor}x (MiB)", large["peak_rss_mib"],
                "< 64, flat", ok)  # fmt: skip
        print(f"  peak RSS growth from 1x to {args.large_factor}x: {grow:+.1f} MiB (flat: < 4 MiB)")
        emit(f"DetectionParser peak RSS, {args.large_factor}x document", large["peak_rss_mib"],
             "MiB", baseline=size, baseline_value=rss, ratio=large["peak_rss_mib"] / rss,
             goal="< 64 MiB, growth < 4 MiB", met=ok,
             command=f"bench_parser.py --worker ours FILE ({large['size_mb']:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
