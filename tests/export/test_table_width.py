"""The table on narrow terminals: columns are dropped, values are never split."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cvesweep.export.table import _table
from cvesweep.models import Detection, Host, HostId, Qid, Tag

HOST = Host(
    id=HostId(1), ip="10.63.27.23", dns="ip-10-63-27-23.ec2.internal", tags=(Tag("Production"),),
    last_scan="2026-09-23T06:05:11Z",
    detections=(Detection(qid=Qid(730297), type="Potential", severity=5, status="Re-Opened",
                          last_found="2026-09-23T06:01:00Z"),),
)  # fmt: skip


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_ips_and_qids_stay_whole_at_any_width(width: int) -> None:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(_table([HOST], width, header=True))
    text = out.getvalue()
    assert "10.63.27.23" in text and "730297" in text
    assert max(len(line) for line in text.splitlines()) <= width
    if width >= 160:
        assert "Last scan" in text and "Potential" in text
