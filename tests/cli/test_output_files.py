"""--output files: symlinks followed, special files written directly, usual modes, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cvesweep.cli.output import check_writable, write_file
from cvesweep.errors import ExportError, InputError


def test_a_symlink_stays_a_symlink_and_its_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real" / "target.csv"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_file(link, lambda stream: stream.write("new"))
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_special_file_is_written_directly(tmp_path: Path) -> None:
    check_writable(Path("/dev/null"), "--output")
    write_file(Path("/dev/null"), lambda stream: stream.write("discarded"))
    assert Path("/dev/null").is_char_device()


def test_a_new_file_gets_the_usual_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_file(tmp_path / "out.json", lambda stream: stream.write("{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("before")

    def fail(stream: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(ExportError, match="No space left"):
        write_file(out, fail)
    assert out.read_text() == "before"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_missing_directory_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        check_writable(Path("/nonexistent-dir/x.csv"), "--output")
    assert caught.value.field == "--output"


def test_a_place_where_no_file_can_be_created_is_an_export_error() -> None:
    with pytest.raises(ExportError, match=r"could not write /proc/cvesweep-test\.csv"):
        write_file(Path("/proc/cvesweep-test.csv"), lambda stream: stream.write("x"))
