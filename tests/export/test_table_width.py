"""The table on narrow terminals: columns are left out (and named), values never split mid-word."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from cvesweep.export.table import _columns_for, _table, _wrapped_at, left_out_note
from cvesweep.models import Detection, Host, HostId, Qid, Tag

HOST = Host(
    id=HostId(1), ip="10.63.27.23", dns="ip-10-63-27-23.ec2.internal", tags=(Tag("Production"),),
    last_scan="2026-09-23T06:05:11Z",
    detections=(Detection(qid=Qid(730297), type="Potential", severity=5, status="Re-Opened",
                          last_found="2026-09-23T06:01:00Z"),),
)  # fmt: skip


@pytest.mark.parametrize("width", [60, 80, 100, 120, 160])
def test_ips_and_qids_stay_whole_at_any_width(width: int) -> None:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(_table([HOST], width, header=True))
    text = out.getvalue()
    assert "10.63.27.23" in text and "730297" in text
    assert max(len(line) for line in text.splitlines()) <= width
    if width >= 160:
        assert "Last scan" in text and "Potential" in text


@pytest.mark.parametrize(
    ("value", "separator", "width", "lines"),
    [
        ("ip-10-63-27-23.ec2.internal", ".", 16, ["ip-10-63-27-23", ".ec2.internal"]),
        ("ip-10-63-27-23.ec2.internal", ".", 40, ["ip-10-63-27-23.ec2.internal"]),
        ("a.b.c", ".", 2, ["a", ".b", ".c"]),
        ("averyveryverylonglabel.x", ".", 10, ["averyveryverylonglabel", ".x"]),  # rich folds it
        ("2001:db8:85a3::8a2e:370:7334", ":", 15, ["2001:db8:85a3:", ":8a2e:370:7334"]),
    ],
)
def test_values_wrap_only_before_a_separator(
    value: str, separator: str, width: int, lines: list[str]
) -> None:
    assert _wrapped_at(Text(value), separator, width).plain.split("\n") == lines


def test_what_a_narrow_terminal_leaves_out_is_named() -> None:
    kept = [title for title, _ in _columns_for(60)]
    assert kept == ["IP", "Hostname", "QIDs", "Severity"]
    assert left_out_note(["Tags"], 60).startswith("(left out to fit 60 columns: Tags;")
