"""Build one virtual environment per pinned third-party Qualys client, for tests/thirdparty.

``python tests/thirdparty/build_client_venvs.py tests/thirdparty/requirements/NAME.txt ...``
creates ``.venv-clients/NAME`` with an interpreter that satisfies the file's
``# requires-python: >=X.Y`` line (default: this one), installs the pinned file with pip from
PyPI, and writes ``.venv-clients/NAME.stamp`` (Make's target). A client that cannot be
installed (no suitable Python on this machine, pip failing) does not fail the build: its
reason goes to ``.venv-clients/NAME/UNAVAILABLE`` and its tests skip with that reason.
Delete ``.venv-clients`` (``make clean``) to try again.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venv-clients"
CANDIDATES = ("python3.13", "python3.12", "python3.11", "python3")
PYENV_GLOBS = ("~/.pyenv/versions/3.1[1-9]*/bin/python3", "/usr/local/bin/python3.1[1-9]")


def required_python(requirements: Path) -> tuple[int, int]:
    """The minimum (major, minor) the requirements file asks for, default this interpreter's."""
    found = re.search(r"^# requires-python: >=(\d+)\.(\d+)", requirements.read_text(), re.M)
    return (int(found[1]), int(found[2])) if found else sys.version_info[:2]


def version_of(python: str) -> tuple[int, int] | None:
    """The (major, minor) of ``python`` when it runs, else None (e.g. a pyenv shim without it)."""
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = done.stdout.split()
    return (int(parts[0]), int(parts[1])) if done.returncode == 0 and len(parts) == 2 else None


def find_python(minimum: tuple[int, int]) -> str | None:
    """An interpreter of at least ``minimum`` on this machine: this one, PATH, then pyenv's."""
    if sys.version_info[:2] >= minimum:
        return sys.executable
    paths = [shutil.which(name) for name in CANDIDATES]
    for pattern in PYENV_GLOBS:
        paths += sorted(glob.glob(os.path.expanduser(pattern)), reverse=True)
    for path in filter(None, paths):
        version = version_of(path)
        if version is not None and version >= minimum:
            return path
    return None


def build(requirements: Path) -> str | None:
    """Build the venv of ``requirements``; return None, or why the client is unavailable."""
    name = requirements.stem
    target = VENVS / name
    shutil.rmtree(target, ignore_errors=True)
    minimum = required_python(requirements)
    python = find_python(minimum)
    if python is None:
        return f"{name} needs Python >= {minimum[0]}.{minimum[1]}; none found on this machine"
    steps = [
        [python, "-m", "venv", str(target)],
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            str(requirements),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"{name}: {' '.join(step[:3])} ... failed: {' | '.join(tail)}"
    return None


def main(files: list[str]) -> int:
    """Build each file's venv; a client that cannot be installed is recorded, not fatal."""
    VENVS.mkdir(exist_ok=True)
    for file in files:
        requirements = Path(file).resolve()
        name = requirements.stem
        print(f"third-party client {name}: building .venv-clients/{name}", flush=True)
        reason = build(requirements)
        if reason is not None:
            (VENVS / name).mkdir(parents=True, exist_ok=True)
            (VENVS / name / "UNAVAILABLE").write_text(reason + "\n")
            print(f"third-party client {name} unavailable (its tests will skip): {reason}")
        (VENVS / f"{name}.stamp").write_text(reason or "installed\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
