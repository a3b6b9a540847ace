"""End-to-end benchmark: `cvesweep search` against the simulator, beside its peers, in one run.

Starts `cvesweep simulator` in its own process on 127.0.0.1 (its CPU is never counted), then
runs, alternately and ``--rounds`` times each (the least CPU is kept: the machine is shared),
each as a child process whose CPU seconds and peak RSS come from ``wait4``:

* ``cvesweep search CVE --no-store --format json --output FILE`` (the default: parallel
  id ranges when the simulator's concurrency limit allows them), and with ``--max-parallel 1``;
* the peers of bench/peers.py over the same pages (the same form, the same search list
  filter): whole-page ``lxml.objectify`` with every tree kept (qualysapi's pattern), whole-page
  ``xmltodict`` with every dict kept, and a fetch-only floor that throws the bodies away.

It repeats cvesweep's runs on a fleet 10x smaller, so that the two peak RSS figures show
whether memory grows with the result. Goals (issue 11): cvesweep's CPU at most the fastest
peer's (objectify); peak RSS at most 100 MiB and flat (within 25 % of the small fleet's).

    .venv/bin/python bench/bench_search.py [--hosts 200000] [--rounds 2] [--cve CVE-2021-44228]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cvesweep.models import SearchOptions
from cvesweep.qualys.detections import detection_params
from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from harness import CLI, Child, emit, qualys_env, run_child, start_simulator, stop

PEERS = Path(__file__).resolve().parent / "peers.py"
RSS_GOAL_MIB = 100.0
GROWTH_GOAL = 0.25


def peer_args(mode: str, url: str, cve: str) -> list[str]:
    """The peer command for ``mode``: the same form cvesweep sends, paths from the table."""
    versions = ApiVersions()
    form = detection_params(0, SearchOptions(), 1000, versions)
    del form["include_search_list_ids"]  # the peer's own list goes there
    paths = [versions.path(Endpoint.SEARCH_LIST), versions.path(Endpoint.DETECTION)]
    return [sys.executable, str(PEERS), mode, url, *paths, cve, json.dumps(form)]


def ours(url: str, cve: str, out: Path, *extra: str) -> Child:
    args = [*CLI, "search", cve, "--no-store", "--format", "json", "--output", str(out), *extra]
    child = run_child(args, env=qualys_env(url))
    summary = read_summary(out)
    return Child(child.cpu_s, child.wall_s, child.peak_rss_mib, json.dumps(summary))


def read_summary(output: Path) -> dict[str, object]:
    """The JSON output's summary, read from the file's tail: loading the whole document here
    would make this process large, and a large parent inflates the next child's peak RSS
    (fork maps the parent's pages into the child before exec)."""
    with output.open("rb") as stream:
        stream.seek(max(0, output.stat().st_size - 4096))
        tail = stream.read().decode()
    start = tail.rindex('"summary": ') + len('"summary": ')
    return dict(json.loads(tail[start:].rstrip().removesuffix("}")))


def measure_fleet(hosts: int, cve: str, rounds: int, peers: bool) -> dict[str, list[Child]]:
    """Every configuration ``rounds`` times, interleaved, against one simulator."""
    sim, url = start_simulator(hosts)
    runs: dict[str, list[Child]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "hosts.json"
            for round_ in range(rounds):
                runs.setdefault("ours", []).append(ours(url, cve, out))
                if peers:
                    runs.setdefault("objectify", []).append(
                        run_child(peer_args("objectify", url, cve), env=qualys_env(url))
                    )
                serial = ours(url, cve, out, "--max-parallel", "1")
                runs.setdefault("ours-serial", []).append(serial)
                if peers:
                    runs.setdefault("discard", []).append(
                        run_child(peer_args("discard", url, cve), env=qualys_env(url))
                    )
                    if round_ == 0:  # the slowest peer: once is enough
                        runs["xmltodict"] = [
                            run_child(peer_args("xmltodict", url, cve), env=qualys_env(url))
                        ]
    finally:
        stop(sim)
    return runs


def best(runs: list[Child]) -> Child:
    """The run with the least CPU; its peak RSS is the largest of all runs (memory is steady)."""
    fastest = min(runs, key=lambda child: child.cpu_s)
    peak = max(child.peak_rss_mib for child in runs)
    return Child(fastest.cpu_s, fastest.wall_s, peak, fastest.stdout)


def show(label: str, child: Child) -> None:
    print(
        f"  {label:<34} {child.cpu_s:7.2f} s CPU {child.wall_s:7.1f} s wall "
        f"{child.peak_rss_mib:7.1f} MiB peak RSS   {child.stdout.strip()[:90]}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200_000)
    parser.add_argument("--cve", default="CVE-2021-44228")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each (least CPU kept)")
    args = parser.parse_args()
    small_fleet = args.hosts // 10
    print(f"fleet {args.hosts:,} hosts, {args.cve}; {args.rounds} rounds, least CPU kept")
    big = {name: best(runs) for name, runs in measure_fleet(
        args.hosts, args.cve, args.rounds, peers=True).items()}  # fmt: skip
    for name, child in big.items():
        show(name, child)
    print(f"fleet {small_fleet:,} hosts (for memory growth)")
    small = {name: best(runs) for name, runs in measure_fleet(
        small_fleet, args.cve, 1, peers=False).items()}  # fmt: skip
    for name, child in small.items():
        show(name, child)
    report(args, big, small)


def report(args: argparse.Namespace, big: dict[str, Child], small: dict[str, Child]) -> None:
    command = f"cvesweep search {args.cve} --no-store --format json ({args.hosts:,}-host fleet)"
    peer = big["objectify"].cpu_s
    for name, label in (("ours", "default"), ("ours-serial", "--max-parallel 1")):
        cpu = big[name].cpu_s
        emit(f"search CPU ({label}) vs objectify peer", cpu, "s CPU",
             baseline="lxml.objectify whole pages, trees kept", baseline_value=peer,
             ratio=cpu / peer, goal="<= 1.0", met=cpu <= peer,
             command=command + ("" if name == "ours" else " --max-parallel 1"))  # fmt: skip
    cpu = big["ours"].cpu_s
    for name, label in (("xmltodict", "xmltodict whole pages, dicts kept"),
                        ("discard", "fetch only, bodies discarded")):  # fmt: skip
        emit(f"search CPU vs {name}", cpu, "s CPU", baseline=label,
             baseline_value=big[name].cpu_s, ratio=cpu / big[name].cpu_s, goal="figure",
             met=None, command=command)  # fmt: skip
    for name, label in (("ours", "default"), ("ours-serial", "--max-parallel 1")):
        rss, rss_small = big[name].peak_rss_mib, small[name].peak_rss_mib
        peer_rss = big["objectify"].peak_rss_mib
        emit(f"search peak RSS ({label})", rss, "MiB", baseline="objectify peer",
             baseline_value=peer_rss, ratio=rss / peer_rss, goal=f"<= {RSS_GOAL_MIB:.0f} MiB",
             met=rss <= RSS_GOAL_MIB, command=command)  # fmt: skip
        growth = (rss - rss_small) / rss_small
        emit(f"search peak RSS growth, 10x hosts ({label})", rss, "MiB",
             baseline=f"{args.hosts // 10:,}-host fleet", baseline_value=rss_small,
             ratio=rss / rss_small, goal=f"<= +{GROWTH_GOAL:.0%}", met=growth <= GROWTH_GOAL,
             command=command)  # fmt: skip


if __name__ == "__main__":
    main()
