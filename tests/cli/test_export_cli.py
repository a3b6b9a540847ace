"""``cvesweep export stix``: validator-clean, byte-stable bundles on stdout or in a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cvesweep.cli.main import app
from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from tests.backends import BACKENDS
from tests.export.test_stix import assert_valid_stix
from tests.library.test_queries import DISCOVERED, SECOND, Filled, standard_library

runner = CliRunner()
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


@pytest.fixture(scope="module", params=BACKENDS)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    """The standard library of tests/library/test_queries.py, once per backend."""
    with standard_library(request, tmp_path_factory.mktemp("export")) as library:
        yield library


def export(db: str, *args: str) -> Result:
    return runner.invoke(app, ["export", "stix", "--db", db, *args], env=ENV)


def vulnerabilities(text: str) -> list[str]:
    return [o["name"] for o in json.loads(text)["objects"] if o["type"] == "vulnerability"]


def test_bundle_on_stdout_is_valid_and_holds_every_cve(filled: Filled) -> None:
    result = export(filled.url)
    assert result.exit_code == 0, result.output
    assert_valid_stix(result.stdout)
    assert vulnerabilities(result.stdout) == sorted([LOG4SHELL, SECOND, VENDOR_EXAMPLE, DISCOVERED])
    assert result.stderr == ""


def test_two_exports_of_one_library_are_byte_identical(filled: Filled) -> None:
    first, second = export(filled.url), export(filled.url)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout_bytes == second.stdout_bytes


def test_output_file_holds_the_same_bytes_and_no_temp_file_is_left(
    filled: Filled, tmp_path: Path
) -> None:
    target = tmp_path / "bundle.json"
    result = export(filled.url, "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert target.read_bytes() == export(filled.url).stdout_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.json"]


@pytest.mark.parametrize(
    ("cves", "expected"),
    [
        ([VENDOR_EXAMPLE], [VENDOR_EXAMPLE]),
        ([SECOND.lower(), VENDOR_EXAMPLE], [VENDOR_EXAMPLE, SECOND]),
        ([DISCOVERED], [DISCOVERED]),
    ],
)
def test_cve_option_exports_only_those_cves(
    filled: Filled, cves: list[str], expected: list[str]
) -> None:
    args = [arg for cve in cves for arg in ("--cve", cve)]
    result = export(filled.url, *args)
    assert result.exit_code == 0, result.output
    assert_valid_stix(result.stdout)
    assert vulnerabilities(result.stdout) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cve", "CVE-2000-0001"], "--cve: 'CVE-2000-0001' is not in the library"),
        (["--cve", LOG4SHELL, "--cve", "CVE-2000-0001"], "'CVE-2000-0001' is not in the library"),
        (["--cve", "CVE-21-1"], "--cve: 'CVE-21-1' is not a CVE id"),
        (["--output", "/nonexistent-dir/bundle.json"], "--output: the directory"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(
    filled: Filled, tmp_path: Path, args: list[str], message: str
) -> None:
    result = export(filled.url, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_unknown_cve_leaves_no_output_file(filled: Filled, tmp_path: Path) -> None:
    target = tmp_path / "bundle.json"
    result = export(filled.url, "--cve", "CVE-2000-0001", "--output", str(target))
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_missing_library_exports_a_valid_bundle_of_the_tool_only(tmp_path: Path) -> None:
    result = export(str(tmp_path / "missing.db"))
    assert result.exit_code == 0, result.output
    assert_valid_stix(result.stdout)
    types = [o["type"] for o in json.loads(result.stdout)["objects"]]
    assert types == ["identity", "extension-definition"]
    assert "the library is empty" in result.stderr
    assert not (tmp_path / "missing.db").exists()


def test_a_closed_pipe_ends_the_export_quietly_with_141(filled: Filled) -> None:
    """``cvesweep export stix | head -c 10``: like ``search``, no error line, exit 141."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cvesweep", "export", "stix", "--db", filled.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **ENV},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the first byte
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert (proc.wait(60), err) == (141, "")
