"""``cvesweep parse`` as a real process: a summary of the files (no empty CVE, no null
summary), and no truncation warning when a page's continuation is among the files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TRUNCATED = "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml"
NEXT_ID_MIN = 3700609  # the id_min of the sample's WARNING URL
SINGLE = "detection_single_host_qualys_doccenter_sample1.xml"


def parse(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cvesweep", "parse", *map(str, args)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.fixture
def continuation(samples_dir: Path, tmp_path: Path) -> Path:
    """A saved reply whose one host has the id the truncated sample goes on from."""
    text = (samples_dir / SINGLE).read_text()
    assert "<ID>6506432</ID>" in text
    path = tmp_path / "page2.xml"
    path.write_text(text.replace("<ID>6506432</ID>", f"<ID>{NEXT_ID_MIN}</ID>"))
    return path


def test_json_has_the_files_and_a_summary_of_them(samples_dir: Path, continuation: Path) -> None:
    alone = json.loads(parse(samples_dir / TRUNCATED, "-f", "json").stdout)
    assert list(alone) == ["files", "hosts", "summary"]
    assert alone["files"] == [{"path": str(samples_dir / TRUNCATED), "hosts": 1,
                               "next_id_min": NEXT_ID_MIN}]  # fmt: skip
    assert alone["summary"] == {"files": 1, "hosts": 1, "detections": 10,
                                "incomplete": [str(samples_dir / TRUNCATED)]}  # fmt: skip
    done = parse(samples_dir / TRUNCATED, continuation, "-f", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [f["hosts"] for f in data["files"]] == [1, 1]
    assert data["summary"] == {"files": 2, "hosts": 2, "detections": 13, "incomplete": []}


def test_the_table_summary_has_no_empty_cve(samples_dir: Path) -> None:
    done = parse(samples_dir / SINGLE)
    assert done.returncode == 0, done.stderr
    labels = [line.split()[0] for line in done.stdout.split("\n\n")[-1].splitlines() if line]
    assert labels == ["Files", "Hosts", "Detections"]
    assert "CVE" not in done.stdout and "Filters" not in done.stdout


def test_a_truncated_page_alone_is_named(samples_dir: Path) -> None:
    done = parse(samples_dir / TRUNCATED)
    assert done.returncode == 0, done.stderr
    assert "truncated" in done.stderr and str(NEXT_ID_MIN) in done.stderr
    assert "Incomplete" in done.stdout


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_no_warning_when_the_continuation_is_among_the_files(
    samples_dir: Path, continuation: Path, fmt: str
) -> None:
    done = parse(samples_dir / TRUNCATED, continuation, "-f", fmt)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "Incomplete" not in done.stdout and str(continuation.name) not in done.stderr


def test_an_error_quoting_the_reply_is_still_one_line(samples_dir: Path, tmp_path: Path) -> None:
    """A reply cut off inside a multi-line CDATA: the parser's message quotes it, the CLI
    prints it on one line (plus its hint line, if any) and exits 4."""
    text = (samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml").read_text()
    start = text.index("<RESULTS><![CDATA[")
    cut = text.index("\n", text.index("\n", start) + 1) + 1  # two lines into the CDATA
    path = tmp_path / "cut.xml"
    path.write_text(text[:cut])
    done = parse(path)
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("error (")
    assert len([line for line in lines if not line.startswith("hint: ")]) == 1, done.stderr
    assert done.returncode != 0 and "Traceback" not in done.stderr
