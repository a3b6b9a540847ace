"""Run every ``bench/bench_*.py`` script in turn with its default arguments; print its output.

Called by ``make bench``. Exits 1 when any benchmark failed, after running them all.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    failed: list[str] = []
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    for script in scripts:
        print(f"=== {script.name} ===", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent, check=False)
        seconds = time.perf_counter() - started
        print(f"=== {script.name}: exit {done.returncode} after {seconds:.1f} s ===\n", flush=True)
        if done.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"{len(scripts)} benchmark(s) done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
