"""What the pages show, computed from results and library records: table rows and bar charts.

Charts are plain numbers here (label, count, bar length); the templates draw them as inline
SVG whose geometry lives in attributes, so the Content-Security-Policy needs no inline style.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

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


PAGE_SIZES = (10, 25, 50, 100, 250, 500)  # the pages take at most 500 rows
PAGE_SIZE_DEFAULT = 100


@dataclass(frozen=True, slots=True)
class Column:
    """A sortable column: its label, its sort key, and the direction of its first click."""

    label: str
    key: str
    first_descending: bool = False


@dataclass(frozen=True, slots=True)
class TableState:
    """How one server-side table is shown: sort, direction, filter text and page.

    ``path`` is the page's path and ``extra`` the other query parameters it keeps (the
    asset list's tag and CVE filters); links keep every part but the one they change.
    """

    path: str
    sort: str
    descending: bool = False
    q: str = ""
    offset: int = 0
    limit: int = PAGE_SIZE_DEFAULT
    extra: tuple[tuple[str, str], ...] = ()

    def link(self, **changes: object) -> str:
        """The URL of this table with ``changes`` (sort, descending, q, offset, limit)."""
        values: dict[str, object] = {
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "q": self.q,
            "offset": self.offset,
            "limit": self.limit,
        }
        if "descending" in changes:
            values["order"] = "desc" if changes.pop("descending") else "asc"
        values.update(changes)
        pairs = [*self.extra, *((k, str(v)) for k, v in values.items())]
        shown = [(k, v) for k, v in pairs if v not in ("", "0") or k == "limit"]
        return f"{self.path}?{urlencode(shown)}"

    def sort_link(self, column: Column) -> str:
        """The link of a header: toggles the direction of the current sort, else the
        column's first direction, from the first page."""
        if column.key == self.sort:
            return self.link(descending=not self.descending, offset=0)
        return self.link(sort=column.key, descending=column.first_descending, offset=0)

    def aria_sort(self, column: Column) -> str | None:
        """``ascending``/``descending`` for the sorted column, else None."""
        if column.key != self.sort:
            return None
        return "descending" if self.descending else "ascending"


def severity_counts_chart(levels: Iterable[tuple[int | None, int]]) -> Chart:
    """Return the chart of assets by highest severity from (level, assets) pairs."""
    counts = dict(levels)
    order: list[int | None] = [5, 4, 3, 2, 1, None]
    rows = [
        (f"severity {level}" if level is not None else "unknown", counts.get(level, 0))
        for level in order
        if counts.get(level) or level is not None
    ]
    return bar_chart("Assets by highest severity", rows)


def tag_counts_chart(counts: Iterable[tuple[str, int]]) -> Chart:
    """Return the chart of assets by tag from (tag, assets) pairs, most frequent first."""
    return bar_chart("Assets by tag", counts)
