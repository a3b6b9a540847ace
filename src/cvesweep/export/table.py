"""Table output (rich): one row per host, then the run summary; Qualys text is never markup.

Hosts are rendered in batches of fixed-width tables that join seamlessly, so a result of
100,000 hosts is never held in memory. Colour is used only when the stream is a terminal
(rich decides, and honours ``NO_COLOR``); otherwise the output is plain text 160 columns
wide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cvesweep.inputs import format_qualys_datetime
from cvesweep.models import Host, SearchOptions, SearchResult

BATCH = 200
PLAIN_WIDTH = 160
# (header, fixed width or None for a share of what is left)
_COLUMNS = (
    ("IP", 15), ("Hostname", None), ("QIDs", 7), ("Severity", 8), ("Status", 9),
    ("Type", 9), ("Last found", 16), ("Last scan", 16), ("Tags", None),
)  # fmt: skip
_GAP = 3  # each gap between columns: padding on both sides and the separator
_MIN_SHARE = 12  # the least width of Hostname and Tags
_HOSTNAME_SHARE = 0.6  # Hostname gets more of what is left than Tags (tags wrap at commas)
# Left out, in this order, on narrow terminals; the table then says which (never silently).
_DROP_ORDER = ("Last scan", "Type", "Status", "Last found", "Tags")
_SEVERITY_STYLES = {5: "bold red", 4: "red", 3: "yellow", 2: "cyan", 1: "green"}
# Where a value that has no spaces may be wrapped: after a dot (hostnames), a colon (IPv6).
_BREAKS = {"IP": ":", "Hostname": "."}


@dataclass
class HostCounts:
    """How many hosts and detections a table showed."""

    hosts: int = 0
    detections: int = 0


class _Console(Console):
    """A Console whose closed pipe is the writer's to handle (rich would exit the process)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("the reader of the output went away")


def make_console(stream: TextIO) -> Console:
    """Return a rich Console on ``stream``: terminal width there, else plain and wide."""
    tty = stream.isatty() if hasattr(stream, "isatty") else False
    return _Console(
        file=stream,
        width=None if tty else PLAIN_WIDTH,
        highlight=False,
        soft_wrap=False,
        emoji=False,
    )


def write_table(result: SearchResult, stream: TextIO) -> None:
    """Write the hosts of ``result`` as a table, then the summary, to ``stream``.

    Raises whatever writing to ``stream`` raises (OSError).
    """
    write_hosts(
        result.hosts,
        stream,
        empty=no_hosts_message(result),
        summary=lambda counts: summary_rows(result, counts),
    )


def write_hosts(
    hosts: Iterable[Host],
    stream: TextIO,
    *,
    empty: str,
    summary: Callable[[HostCounts], list[tuple[str, str]]],
) -> None:
    """Write ``hosts`` as a table (``empty`` when there is none), then the ``summary`` rows.

    Values are wrapped only at spaces, commas, a hostname's dots or an IPv6 address's colons;
    the columns left out to fit a narrow terminal are named in a line under the table.
    Raises whatever writing to ``stream`` raises (OSError).
    """
    console = make_console(stream)
    counts = HostCounts()
    counted = _counted(hosts, counts)
    first = True
    while batch := list(islice(counted, BATCH)):
        console.print(_table(batch, console.width, header=first))
        first = False
    if first:
        console.print(Text(empty))
    left_out = [title for title, _ in _COLUMNS if title not in dict(_columns_for(console.width))]
    if left_out and not first:
        console.print(Text(left_out_note(left_out, console.width)))
    console.print()
    _print_rows(console, summary(counts))


def left_out_note(titles: list[str], width: int) -> str:
    """The line naming the columns a ``width``-column terminal left out."""
    return (
        f"(left out to fit {width} columns: {', '.join(titles)}; "
        "widen the terminal, or use --format csv or json for every field)"
    )


def no_hosts_message(result: SearchResult) -> str:
    """What an empty result means: no vulnerable host, or nothing could be checked at all."""
    summary = result.summary
    if summary is not None and summary.no_qid:
        return no_qid_message(result.cve)
    if summary is not None and summary.search_list_qids is None:
        return (
            f"No vulnerable hosts found. (The {summary.method} method cannot tell whether "
            f"Qualys knows a QID for {result.cve}; --method search-list can.)"
        )
    return "No vulnerable hosts found."


def no_qid_message(cve: str) -> str:
    """The message for a CVE Qualys has no QID for (not an all-clear)."""
    return f"Qualys knows no QID for {cve}: no host can be checked for it; is the CVE id right?"


def write_summary(result: SearchResult, stream: TextIO) -> None:
    """Write the run summary of ``result`` (CVE, filters, counts, search list, time)."""
    _print_rows(make_console(stream), summary_rows(result, None))


def _counted(hosts: Iterable[Host], counts: HostCounts) -> Iterator[Host]:
    for host in hosts:
        counts.hosts += 1
        counts.detections += len(host.detections)
        yield host


def _table(hosts: list[Host], width: int, *, header: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_header=header, show_edge=False, pad_edge=False)
    columns = _widths(_columns_for(width), width)
    for title, column_width in columns:
        # Dates, QIDs, severities and statuses fit their fixed widths and never wrap; the
        # others wrap at word boundaries (folding only a word longer than the column).
        fixed_value = title not in ("IP", "Hostname", "Tags")
        table.add_column(
            title, width=column_width, no_wrap=fixed_value,
            overflow="ellipsis" if fixed_value else "fold",
        )  # fmt: skip
    widths = dict(columns)
    for host in hosts:
        cells = dict(zip([title for title, _ in _COLUMNS], _cells(host), strict=True))
        for title, separator in _BREAKS.items():
            if title in widths:
                cells[title] = _wrapped_at(cells[title], separator, widths[title])
        table.add_row(*(cells[title] for title in widths))
    return table


def _widths(columns: tuple[tuple[str, int | None], ...], width: int) -> list[tuple[str, int]]:
    """Each column's width: the fixed ones, and the rest of ``width`` shared out."""
    fixed = sum(w for _, w in columns if w is not None) + _GAP * (len(columns) - 1)
    shared = [title for title, w in columns if w is None]
    left = max(_MIN_SHARE * len(shared), width - fixed)
    hostname = max(_MIN_SHARE, int(left * _HOSTNAME_SHARE)) if len(shared) > 1 else left
    shares = {"Hostname": hostname, "Tags": max(_MIN_SHARE, left - hostname)}
    return [(title, w if w is not None else shares[title]) for title, w in columns]


def _columns_for(width: int) -> tuple[tuple[str, int | None], ...]:
    """The columns that fit in ``width``: the least useful are dropped on narrow terminals."""
    columns = list(_COLUMNS)
    for title in _DROP_ORDER:
        if _least_width(columns) <= width:
            break
        columns = [column for column in columns if column[0] != title]
    return tuple(columns)


def _least_width(columns: list[tuple[str, int | None]]) -> int:
    fixed = sum(w for _, w in columns if w is not None) + _GAP * (len(columns) - 1)
    return fixed + _MIN_SHARE * sum(1 for _, w in columns if w is None)


def _wrapped_at(cell: Text, separator: str, width: int) -> Text:
    """``cell`` with each of its lines longer than ``width`` broken before a ``separator``."""
    lines = []
    for line in cell.plain.split("\n"):
        parts = line.split(separator)
        pieces = [parts[0], *(separator + part for part in parts[1:])]
        lines.extend(_pack(pieces, width) if len(line) > width else [line])
    return Text("\n".join(lines), style=cell.style)


def _pack(pieces: list[str], width: int) -> list[str]:
    """Join ``pieces`` into lines of at most ``width`` where possible (a longer piece folds)."""
    lines: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > width:
            lines.append(current)
            current = ""
        current += piece
    return [*lines, current]


def _cells(host: Host) -> tuple[Text, ...]:
    found = host.detections
    severities = Text()
    for index, detection in enumerate(found):
        style = _SEVERITY_STYLES.get(detection.severity or 0, "")
        severities.append(("\n" if index else "") + _text(detection.severity), style=style)
    last_found = max((d.last_found for d in found if d.last_found), default=None)
    return (
        Text(host.address or "-"),
        Text(host.hostname or "-"),
        Text("\n".join(str(d.qid) for d in found)),
        severities,
        Text("\n".join(_text(d.status) for d in found)),
        Text("\n".join(_text(d.type) for d in found)),
        Text(_short_time(last_found)),
        Text(_short_time(host.last_scan)),
        Text(", ".join(tag.name for tag in host.tags)),
    )


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _short_time(value: str | None) -> str:
    """Show a Qualys ``YYYY-MM-DDTHH:MM:SSZ`` as ``YYYY-MM-DD HH:MM`` (UTC)."""
    if value is None:
        return "-"
    if len(value) == 20 and value[10] == "T":
        return f"{value[:10]} {value[11:16]}"
    return value


def _print_rows(console: Console, rows: list[tuple[str, str]]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(Text(label), Text(value))
    console.print(grid)


def summary_rows(result: SearchResult, counts: HostCounts | None = None) -> list[tuple[str, str]]:
    """Return the summary as (label, value) pairs, in the order they are shown."""
    rows = [("CVE", str(result.cve)), ("Filters", describe_filters(result.options))]
    summary = result.summary
    if summary is None:
        if counts is not None:
            rows += [("Hosts", str(counts.hosts)), ("Detections", str(counts.detections))]
        return rows
    listed = summary.search_list_id is not None
    deleted = "yes" if summary.search_list_deleted else "NO (run: cvesweep cleanup)"
    rows += [
        ("Hosts", str(summary.hosts)),
        ("Detections", str(summary.detections)),
        ("QIDs", ", ".join(map(str, summary.qids)) or "none"),
        ("Method", summary.method),
        ("Pages", str(summary.pages)),
        ("API calls", str(summary.api_calls)),
        ("Search list", f"id {summary.search_list_id}, created: yes, deleted: {deleted}"
         + _list_qids(summary.search_list_qids) if listed else "not created"),
        ("Time", f"{summary.elapsed_s:.2f} s"),
    ]  # fmt: skip
    if summary.library is not None:
        rows.append(("Library", describe_stored(summary.library)))
    return rows


def _list_qids(qids: tuple[int, ...] | None) -> str:
    if qids is None:
        return ""
    return f", QIDs in it: {len(qids)}" if qids else ", QIDs in it: none"


def describe_stored(stored: Mapping[str, int]) -> str:
    """Return what a run stored in one line, e.g. ``3 assets created, 1 updated, ...``."""
    return (
        f"{stored.get('assets_created', 0)} assets created, "
        f"{stored.get('assets_updated', 0)} updated, "
        f"{stored.get('attributes_added', 0)} attributes added, "
        f"{stored.get('relationships_added', 0)} relationships added"
    )


def describe_filters(options: SearchOptions) -> str:
    """Return the filters in one line, e.g. ``ips 10.0.0.1; min severity 4``, or ``none``."""
    parts = []
    if options.ips:
        parts.append("ips " + ", ".join(options.ips))
    if options.since is not None:
        parts.append("since " + format_qualys_datetime(options.since))
    if options.min_severity is not None:
        parts.append(f"min severity {options.min_severity}")
    if options.asset_groups:
        parts.append("asset groups " + ", ".join(options.asset_groups))
    return "; ".join(parts) or "none"
