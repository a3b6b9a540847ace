"""The detection query and the lazy walk over the hosts and detections matching it.

Hosts come out in id order and detections in QID order (the fleet's orders); a host is
returned only with its matching detections and only when it has at least one. The CVE
detection endpoint builds the same :class:`DetectionQuery` (``detectionparams.py``), so
both always select the same (host, QID) pairs for the same filters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from cvesweep.simulator.records import SimDetection, SimHost

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet

DEFAULT_STATUSES = frozenset({"New", "Active", "Re-Opened"})
DEFAULT_TRUNCATION = 1000


@dataclass(frozen=True, slots=True)
class DetectionQuery:
    """A validated detection list request; None means "no such filter"."""

    ids: tuple[tuple[int, int], ...] | None = None
    id_min: int | None = None
    id_max: int | None = None
    ipv4: tuple[tuple[int, int], ...] | None = None
    asset_group_ids: frozenset[int] | None = None
    qids: frozenset[int] | None = None
    severities: frozenset[int] | None = None
    statuses: frozenset[str] = DEFAULT_STATUSES
    show_igs: bool = False
    show_tags: bool = False
    show_results: bool = True  # Qualys documents results as shown unless show_results=0
    tested_since: datetime | None = None
    updated_since: datetime | None = None
    vm_scan_since: datetime | None = None
    truncation_limit: int = DEFAULT_TRUNCATION
    os_pattern: re.Pattern[str] | None = None
    types: frozenset[str] | None = None  # include_vuln_type: "Confirmed" and/or "Potential"
    excluded_qids: frozenset[int] | None = None
    qds_range: tuple[int, int] | None = None  # qds_min..qds_max; Info detections have no QDS
    qds_of: Callable[[int], int | None] = field(default=lambda _qid: None, compare=False)


def matching_hosts(fleet: Fleet, q: DetectionQuery) -> Iterator[tuple[SimHost, list[SimDetection]]]:
    """Yield each host matching ``q`` with its matching detections, lazily, in id order.

    Only the index spans of ``id_min``..``id_max`` and of the ``ids`` ranges are visited,
    so ``ids=A-B`` costs what ``id_min=A&id_max=B`` does.
    """
    for start, stop in index_spans(fleet, q.ids, q.id_min, q.id_max):
        for index in fleet.candidate_indexes(
            start=start,
            stop=stop,
            qids=q.qids,
            ipv4_ranges=q.ipv4,
            asset_group_ids=q.asset_group_ids,
        ):
            host = fleet.host(index)
            if not host_matches(host, q):
                continue
            detections = [d for d in host.detections if detection_matches(d, q)]
            if detections:
                yield host, detections


def index_spans(
    fleet: Fleet,
    ids: tuple[tuple[int, int], ...] | None,
    id_min: int | None,
    id_max: int | None,
) -> list[tuple[int, int]]:
    """Return the ascending, disjoint [start, stop) index spans the id filters allow."""
    low = 0 if id_min is None else fleet.index_at_or_after(id_min)
    high = fleet.size if id_max is None else fleet.index_at_or_after(id_max + 1)
    if ids is None:
        return [(low, high)] if low < high else []
    spans: list[tuple[int, int]] = []
    for first, last in sorted(ids):
        start = max(low, fleet.index_at_or_after(first))
        stop = min(high, fleet.index_at_or_after(last + 1))
        if spans and start <= spans[-1][1]:
            start, stop = spans[-1][0], max(stop, spans.pop()[1])
        if start < stop:
            spans.append((start, stop))
    return spans


def host_matches(host: SimHost, q: DetectionQuery) -> bool:
    """Return True when the host-level filters of ``q`` accept ``host``."""
    if q.id_min is not None and host.id < q.id_min:
        return False
    if q.id_max is not None and host.id > q.id_max:
        return False
    if q.ids is not None and not in_ranges(host.id, q.ids):
        return False
    if q.ipv4 is not None:
        if host.ip is None:
            return False
        a, b, c, d = (int(part) for part in host.ip.split("."))
        number = (a << 24) | (b << 16) | (c << 8) | d
        if not any(low <= number <= high for low, high in q.ipv4):
            return False
    if q.asset_group_ids is not None and not any(
        group.id in q.asset_group_ids for group in host.asset_groups
    ):
        return False
    if q.os_pattern is not None and not q.os_pattern.search(host.os):
        return False
    return q.vm_scan_since is None or host.last_vm_scanned >= q.vm_scan_since


def detection_matches(d: SimDetection, q: DetectionQuery) -> bool:
    """Return True when ``q`` keeps detection ``d`` (Info ones only with show_igs=1)."""
    if d.type == "Info":
        if not q.show_igs:
            return False
    elif d.status not in q.statuses:
        return False
    if q.types is not None and d.type not in q.types:
        return False
    if q.qids is not None and d.qid not in q.qids:
        return False
    if q.excluded_qids is not None and d.qid in q.excluded_qids:
        return False
    if q.severities is not None and d.severity not in q.severities:
        return False
    if q.qds_range is not None:
        qds = q.qds_of(d.qid)
        if qds is None or not q.qds_range[0] <= qds <= q.qds_range[1]:
            return False
    if q.tested_since is not None and d.last_test < q.tested_since:
        return False
    return q.updated_since is None or d.last_update >= q.updated_since


def in_ranges(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= value <= high for low, high in ranges)
