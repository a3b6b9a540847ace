"""Run every ``bench/bench_*.py`` script in turn, then print one table of what they measured.

Called by ``make bench``. Each script prints its own figures (passed through as they come)
and ``BENCH {json}`` lines (bench/harness.py ``emit``): a figure, its floor or peer measured
in the same run, the ratio and the goal. Those rows become one table at the end, with the
command behind each figure; a figure another part of the project has yet to deliver keeps
its row, marked as not measured. ``ARGS`` holds the arguments that keep the whole run within
about ten minutes on a 2-core machine (each script's defaults measure larger cases).

Exits 1 when any benchmark failed, after running them all. ``--only NAME`` runs one script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
MARK = "BENCH "

# Sizes for `make bench`; run a script by hand for its larger defaults.
ARGS: dict[str, list[str]] = {
    "bench_parser.py": ["--size-mb", "100", "--repeat", "2", "--large-factor", "5"],
    "bench_search.py": ["--hosts", "200000", "--rounds", "2"],
    "bench_stix.py": ["--assets", "10000,100000"],
    "bench_simulator.py": ["--hosts", "200000", "--max-seconds", "60"],
    "bench_web_pages.py": ["--hosts", "200000", "--repeat", "3"],
}

# Rows a run's table always shows: (figure, goal, who measures it).
EXPECTED = (
    ("parallel detection pages, wall time", "<= 0.3", "bench_parallel.py (issue 11 item 1)"),
    ("library first ingest vs sqlite3 executemany", "<= 3.0", "bench_library.py (issue 11 item 3)"),
    ("STIX export peak RSS, 100,000 assets", "<= 150", "bench_stix.py (issue 11 item 4)"),
    (
        "STIX export peak RSS, 100,000 vs 10,000 assets",
        "<= 1.25",
        "bench_stix.py (issue 11 item 4)",
    ),
    (
        "STIX export objects/CPU-s vs stix2 exporter, 10,000 assets",
        ">= 10",
        "bench_stix.py (issue 11 item 4)",
    ),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run this script only, e.g. bench_search.py")
    args = parser.parse_args()
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.only:
        scripts = [script for script in scripts if script.name == args.only]
    failed: list[str] = []
    rows: list[dict[str, Any]] = []
    started_all = time.perf_counter()
    for script in scripts:
        print(f"=== {script.name} ===", flush=True)
        started = time.perf_counter()
        code = run_script(script, rows)
        seconds = time.perf_counter() - started
        print(f"=== {script.name}: exit {code} after {seconds:.1f} s ===\n", flush=True)
        if code != 0:
            failed.append(script.name)
    print_table(rows, time.perf_counter() - started_all)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{len(scripts)} benchmark(s) done")
    return 0


def run_script(script: Path, rows: list[dict[str, Any]]) -> int:
    """Run one script, echoing its output; collect its BENCH rows (tagged with its name)."""
    command = [sys.executable, str(script), *ARGS.get(script.name, [])]
    with subprocess.Popen(
        command, cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith(MARK):
                try:
                    row = normalised(json.loads(line[len(MARK) :]))
                except (ValueError, TypeError):
                    print(f"(unreadable BENCH line from {script.name})", flush=True)
                else:
                    rows.append({**row, "script": script.name})
    return proc.returncode


def normalised(row: dict[str, Any]) -> dict[str, Any]:
    """A row in the harness's keys; ``value_s``/``baseline_s`` (seconds) are accepted too."""
    found = dict(row)
    if "value" not in found and "value_s" in found:
        found["value"], found["unit"] = found.pop("value_s"), "s"
    if "baseline_value" not in found and "baseline_s" in found:
        found["baseline_value"] = found.pop("baseline_s")
    return found


def print_table(rows: list[dict[str, Any]], seconds: float) -> None:
    """One table: figure, value, floor or peer (same run), ratio, goal, verdict; commands."""
    measured = {row.get("figure") for row in rows}
    missing = [
        {"figure": f, "goal": g, "met": "n/a", "script": who, "unit": ""}
        for f, g, who in EXPECTED
        if not any(str(name).startswith(f) for name in measured)
    ]
    table = rows + missing
    print(f"=== issue 11 figures, one run ({seconds / 60:.1f} min) ===")
    header = ("#", "figure", "value", "floor / peer (same run)", "ratio", "goal", "")
    lines = [header] + [cells(n, row) for n, row in enumerate(table, 1)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print("commands:")
    for n, row in enumerate(table, 1):
        if row.get("met") == "n/a":
            command = f"not measured in this run: {row['script']}"
        else:
            command = row.get("command") or f"bench/{row['script']} (see its output above)"
        print(f"  {n:>2}. {command}")


def cells(n: int, row: dict[str, Any]) -> tuple[str, ...]:
    value = row.get("value")
    unit = row.get("unit", "")
    shown = "-" if value is None else f"{value:,.2f} {unit}".strip()
    baseline = row.get("baseline") or ""
    if row.get("baseline_value") is not None:
        baseline = f"{row['baseline_value']:,.2f} {unit} {baseline}".strip()
    ratio = "-" if row.get("ratio") is None else f"{row['ratio']:.2f}x"
    met = row.get("met")
    verdict = {True: "met", False: "MISSED", None: "", "n/a": "not measured"}.get(met, str(met))
    return (str(n), str(row.get("figure")), shown, baseline, ratio, str(row.get("goal")), verdict)


if __name__ == "__main__":
    sys.exit(main())
