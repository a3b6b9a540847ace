"""A finished search's whole result, kept on disk for a while: paged, sorted, filtered, exported.

The hosts stay in the search's own spool (:class:`cvesweep.spool.HostSpool`): a file with no
name, opened by the server process only, that no other process can open and that the kernel
frees when it is closed (or the process ends, even by ``kill -9``). What stays in memory is a
small index, one entry per host (position, IP key, hostname, highest severity, QID count,
text for the filter). The result is closed, and its file freed, when
:data:`KEPT_FOR_S` have passed since the search finished, when the job is forgotten, or when
the server stops, whichever comes first; stored runs are in the library all the same.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO, assert_never

from cvesweep.export.csvout import write_csv
from cvesweep.export.jsonout import write_json
from cvesweep.library.listing import Page, ip_key
from cvesweep.models import Host, SearchResult
from cvesweep.spool import HostSpool

KEPT_FOR_S = 3600.0  # one hour after the search finished (README "Results and downloads")


class HostSort(StrEnum):
    """The columns a result table sorts by."""

    IP = "ip"
    HOSTNAME = "hostname"
    QIDS = "qids"
    SEVERITY = "severity"


class ExportFormat(StrEnum):
    """The downloads of a whole result: the CLI's ``--format csv`` and ``--format json``."""

    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class _Entry:
    position: int
    ip: tuple[int, int, str]
    hostname: str
    severity: int
    qids: int
    text: str


def _entry(position: int, host: Host) -> _Entry:
    tags = " ".join(tag.name for tag in host.tags)
    qids = " ".join(str(d.qid) for d in host.detections)
    return _Entry(
        position=position,
        ip=ip_key(host.address or ""),
        hostname=(host.hostname or "").lower(),
        severity=max((d.severity or 0 for d in host.detections), default=0),
        qids=len(host.detections),
        text=f"{host.address or ''} {host.hostname or ''} {tags} {qids}".lower(),
    )


def _at(entry: _Entry) -> int:
    return entry.position


_KEYS: dict[HostSort, Callable[[_Entry], Any]] = {
    HostSort.IP: lambda e: e.ip,
    HostSort.HOSTNAME: lambda e: (e.hostname == "", e.hostname, e.ip),
    HostSort.QIDS: lambda e: e.qids,
    HostSort.SEVERITY: lambda e: e.severity,
}


class KeptResult:
    """The hosts of one finished search, readable by page and as a whole until closed.

    Thread-safe: pages and downloads of several requests read it at once. Reading a closed
    result gives nothing (``expired`` then says so).
    """

    def __init__(self, result: SearchResult, *, kept_for: float = KEPT_FOR_S) -> None:
        self.result = result
        self.expires_at = time.monotonic() + kept_for
        self._lock = threading.Lock()
        self._closed = False
        self._memory: list[Host] = []
        self._index = self._build_index(result.hosts)

    @property
    def total(self) -> int:
        """How many hosts the result holds."""
        return len(self._index)

    @property
    def expired(self) -> bool:
        """True once the result was closed (its hosts are gone)."""
        return self._closed

    def page(
        self,
        *,
        sort: HostSort = HostSort.IP,
        descending: bool = False,
        search: str = "",
        offset: int = 0,
        limit: int = 100,
    ) -> Page[Host]:
        """Return the hosts from ``offset`` (at most ``limit``) of those whose IP, hostname,
        tags or QIDs contain every word of ``search``, in ``sort`` order (IP within ties)."""
        words = search.lower().split()
        chosen = [e for e in self._index if all(w in e.text for w in words)]
        chosen.sort(key=_KEYS[HostSort.IP])
        if sort is not HostSort.IP or descending:
            chosen.sort(key=_KEYS[sort], reverse=descending)  # stable: IP order within ties
        picked = chosen[offset : offset + limit]
        return Page(tuple(self._read(picked)), len(chosen), offset, limit)

    def write(self, fmt: ExportFormat, stream: TextIO) -> None:
        """Write the whole result to ``stream`` exactly as the CLI's ``--format`` ``fmt``."""
        if fmt is ExportFormat.CSV:
            write_csv(self.result, stream)
        elif fmt is ExportFormat.JSON:
            write_json(self.result, stream)
        else:
            assert_never(fmt)

    def close(self) -> None:
        """Free the on-disk hosts (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._memory = []
            hosts = self.result.hosts
        if isinstance(hosts, HostSpool):
            hosts.close()

    def _build_index(self, hosts: Iterable[Host]) -> list[_Entry]:
        if isinstance(hosts, HostSpool):
            return [_entry(position, host) for position, host in hosts.positions()]
        self._memory = list(hosts)
        return [_entry(position, host) for position, host in enumerate(self._memory)]

    def _read(self, entries: list[_Entry]) -> Iterator[Host]:
        with self._lock:
            if self._closed:
                return
            hosts = self.result.hosts
            if not isinstance(hosts, HostSpool):
                yield from (self._memory[entry.position] for entry in entries)
                return
            # Read in file order, so that each frame of the spool is read once (read_at keeps
            # the last frame), then give the hosts back in the page's order.
            read = {e.position: hosts.read_at(e.position) for e in sorted(entries, key=_at)}
            yield from (read[entry.position] for entry in entries)
