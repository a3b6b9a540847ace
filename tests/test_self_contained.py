"""The repository stands on its own: nothing in it reads the ``shared/`` folder beside it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OUTSIDE, ROOT, outside_path

# Spelled in two halves so that this file does not match its own pattern.
SIBLING = re.compile("[\"'](\\.\\./)+sha" + "red|/ *[\"']sha" + "red[\"']")


def test_the_audit_hook_sees_a_read_of_the_sibling_folder() -> None:
    assert outside_path("open", (str(OUTSIDE / "qualys-samples" / "x.xml"), "r", 0)) is not None
    assert outside_path("os.listdir", (OUTSIDE,)) is not None
    assert outside_path("open", (str(ROOT / "tests" / "data" / "x.xml"), "r", 0)) is None
    assert outside_path("open", (str(OUTSIDE) + "-other/x", "r", 0)) is None
    assert outside_path("open", (3, "r", 0)) is None


def test_no_source_test_benchmark_or_build_file_names_the_sibling_folder() -> None:
    offenders = []
    for top in ("src", "tests", "bench", ".ci"):
        for path in (ROOT / top).rglob("*"):
            readable = path.suffix in {".py", ".sh", ".toml", ".cfg", ".ini", ""}
            if readable and path.is_file() and SIBLING.search(path.read_text(errors="replace")):
                offenders.append(str(path.relative_to(ROOT)))
    if SIBLING.search((ROOT / "Makefile").read_text()):
        offenders.append("Makefile")
    assert offenders == []


def test_the_samples_and_the_kev_catalog_are_inside_the_repository() -> None:
    samples = ROOT / "tests" / "data" / "qualys-samples"
    assert (samples / "SOURCES.md").is_file()
    assert len(list(samples.glob("*.xml"))) >= 20
    kev = ROOT / "src" / "cvesweep" / "data" / "kev"
    assert (kev / "SOURCES.md").is_file()
    assert (kev / "known_exploited_vulnerabilities.json").stat().st_size > 1_000_000


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout to copy")
def test_sample_reading_tests_pass_from_a_copy_with_nothing_beside_it(tmp_path: Path) -> None:
    """The files a clone would have (tracked or new, not ignored), copied where no ``shared/``
    is beside them: the tests that read real samples pass there."""
    copy = tmp_path / "clone"
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True,
    )  # fmt: skip
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "tests/qualys/test_xml.py", "tests/qualys/test_responses.py",
         "tests/simulator/test_fidelity.py"],
        cwd=copy, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout.splitlines()[-1]
