"""What the pages show, computed from results and library records: table rows and bar charts.

Charts are plain numbers here (label, count, bar length); the templates draw them as inline
SVG whose geometry lives in attributes, so the Content-Security-Policy needs no inline style.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from cvesweep.library.queries import AssetSummary
from cvesweep.models import Host

CHART_WIDTH = 360  # px of the longest bar
CHART_MAX_BARS = 15


@dataclass(frozen=True, slots=True)
class HostRow:
    """One host of a search result as the result table shows it (one line per detection)."""

    address: str
    hostname: str
    qids: tuple[str, ...]
    severities: tuple[str, ...]
    statuses: tuple[str, ...]
    types: tuple[str, ...]
    max_severity: int
    last_found: str | None
    last_scan: str | None
    tags: tuple[str, ...]


def host_row(host: Host) -> HostRow:
    """Return the table row of ``host``: its detections' facts side by side, latest dates."""
    found = host.detections
    return HostRow(
        address=host.address or "-",
        hostname=host.hostname or "-",
        qids=tuple(str(d.qid) for d in found),
        severities=tuple(_text(d.severity) for d in found),
        statuses=tuple(_text(d.status) for d in found),
        types=tuple(_text(d.type) for d in found),
        max_severity=max((d.severity or 0 for d in found), default=0),
        last_found=max((d.last_found for d in found if d.last_found), default=None),
        last_scan=host.last_scan,
        tags=tuple(tag.name for tag in host.tags),
    )


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, its count, its length in pixels and its row's top y."""

    label: str
    count: int
    length: int
    y: int


@dataclass(frozen=True, slots=True)
class Chart:
    """A horizontal bar chart; ``height`` is the SVG's height, ``more`` the bars left out."""

    title: str
    bars: tuple[Bar, ...]
    height: int
    more: int = 0


def bar_chart(title: str, counts: Iterable[tuple[str, int]], *, row: int = 22) -> Chart:
    """Return a chart of ``counts`` in the given order (at most CHART_MAX_BARS bars)."""
    items = list(counts)
    shown = items[:CHART_MAX_BARS]
    top = max((count for _, count in shown), default=0)
    bars = tuple(
        Bar(label, count, round(CHART_WIDTH * count / top) if top else 0, index * row)
        for index, (label, count) in enumerate(shown)
    )
    return Chart(title, bars, max(len(bars), 1) * row, len(items) - len(shown))


def severity_chart(assets: Iterable[AssetSummary]) -> Chart:
    """Return the chart of assets by highest severity, 5 down to 1, then unknown."""
    counts = Counter(asset.highest_severity for asset in assets)
    order: list[int | None] = [5, 4, 3, 2, 1, None]
    rows = [
        (f"severity {level}" if level is not None else "unknown", counts[level])
        for level in order
        if counts[level] or level is not None
    ]
    return bar_chart("Assets by highest severity", rows)


def tag_chart(assets: Iterable[AssetSummary]) -> Chart:
    """Return the chart of assets by tag, the most frequent tags first."""
    counts = Counter(tag for asset in assets for tag in asset.tags)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return bar_chart("Assets by tag", rows)


def _text(value: object) -> str:
    return "-" if value is None else str(value)
