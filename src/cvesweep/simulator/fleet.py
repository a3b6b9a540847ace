"""The simulated fleet: hosts built lazily and deterministically from (seed, host index).

What a host *has* (OS profile, QIDs, types, statuses, ports, date offsets) is the pattern
of residue ``index % PERIOD`` (``patterns.py``), so exact per-CVE host counts are "full
periods times matches per period plus the remainder", and candidates for a QID filter are
enumerated residue by residue without building hosts. What a host *is* (id, addresses,
names, scan dates, tags) depends on the full index.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cvesweep.simulator import naming
from cvesweep.simulator.facts import Facts
from cvesweep.simulator.knowledgebase import LOG4SHELL, KnowledgeBase, fmix64, mix, stream
from cvesweep.simulator.naming import BLOCK, PROFILES, SITES, Layout
from cvesweep.simulator.patterns import (
    CHUNK,
    END,
    OPEN_STATUSES,
    PERIOD,
    SCAN_WINDOW,
    ZERO,
    Pattern,
    PatternMaker,
    Skeleton,
)
from cvesweep.simulator.records import AssetGroup, SimDetection, SimHost, SimTag

__all__ = ["OPEN_STATUSES", "PERIOD", "Fleet"]

logger = logging.getLogger(__name__)

_SALT_HOST, _SALT_ID = 0x484F, 0x4944


@dataclass(frozen=True, slots=True)
class _Tables:
    """Residues (ascending) where each QID is present at all, or open and counted."""

    any_residues: dict[int, tuple[int, ...]]
    open_residues: dict[int, tuple[int, ...]]
    role_residues: dict[str, frozenset[int]]


class _Prefilter:
    """Cheap per-block and per-index checks for the IPv4 and asset-group pre-filters."""

    def __init__(
        self,
        layout: Layout,
        ipv4_ranges: Sequence[tuple[int, int]] | None,
        sites: frozenset[int] | None,
        roles: frozenset[int],
    ) -> None:
        self._layout = layout
        self._ranges = _merge(ipv4_ranges) if ipv4_ranges is not None else None
        self._starts = [low for low, _ in self._ranges or ()]
        self._sites = sites
        self._roles = roles
        self._block = -1
        self._site_ok = self._block_ok = True
        self._net = self._spin = 0

    def block(self, block: int) -> bool:
        """Return False when no host of ``block`` can pass the filters."""
        if block != self._block:
            self._block = block
            self._site_ok = self._sites is None or self._layout.site(block) in self._sites
            self._block_ok = self._site_ok or bool(self._roles)
            if self._ranges is not None and self._block_ok:
                self._net = self._layout.network(block)
                self._spin = self._layout.spin(block)
                self._block_ok = self._covers(self._net, self._net + 255)
        return self._block_ok

    def index(self, index: int) -> bool:
        """Return False when host ``index`` cannot pass the filters."""
        block, position = divmod(index, BLOCK)
        if not self.block(block):
            return False
        if not self._site_ok and index % PERIOD not in self._roles:
            return False
        if self._ranges is None:
            return True
        address = self._net + Layout.last_octet(position, self._spin)
        return self._covers(address, address)

    def _covers(self, low: int, high: int) -> bool:
        assert self._ranges is not None
        k = bisect_right(self._starts, high) - 1
        return k >= 0 and self._ranges[k][1] >= low


def _merge(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


class Fleet:
    """A deterministic synthetic fleet of ``size`` hosts; nothing per host is stored.

    Construction is cheap whatever the size; ``host(i)`` builds one host in tens of
    microseconds; counts and QID candidates use per-residue tables built on first use
    (about 0.1 s, then kept: a few MB). Hosts carry the QIDs of the ``world`` CVEs too
    (default: the shipped KEV catalog, see ``prevalence.py``). Raises ValueError for a
    negative ``size``. Safe to share between threads: lazy caches only ever receive the
    same deterministic values.
    """

    def __init__(
        self, *, seed: int = 1, size: int = 500, world: Iterable[str] | None = None
    ) -> None:
        if size < 0:
            raise ValueError(f"fleet size must be >= 0, not {size}")
        self.seed = seed
        self.size = size
        self.kb = KnowledgeBase(seed, world)
        self.facts = Facts(self.kb)
        self.asset_groups: tuple[AssetGroup, ...] = naming.asset_groups(seed)
        self.tags: tuple[SimTag, ...] = naming.tags(seed)
        self._layout = Layout(seed)
        self._maker = PatternMaker(self.kb, seed)
        self._skeletons: list[Skeleton | None] = [None] * PERIOD
        self._patterns: list[Pattern | None] = [None] * PERIOD
        self._tables: _Tables | None = None
        self._counts: dict[str, int] = {}
        self._id_base = 90_000_000 + mix(seed, _SALT_ID) % 10_000_000
        self._id_step = 8 + mix(seed, _SALT_ID, 1) % 24
        self._id_key = mix(seed, _SALT_ID, 2)
        self._host_key = mix(seed, _SALT_HOST)

    def host_id(self, index: int) -> int:
        """Return the Qualys host id of host ``index``: strictly ascending, with gaps."""
        self._check(index)
        jitter = stream(self._id_key, index) % self._id_step
        return self._id_base + index * self._id_step + jitter

    def index_at_or_after(self, host_id: int) -> int:
        """Return the first index whose id is >= ``host_id``, or ``size`` when there is none."""
        if host_id <= self._id_base:
            return 0
        k = (host_id - self._id_base) // self._id_step
        if k >= self.size:
            return self.size
        return k if self.host_id(k) >= host_id else k + 1

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise IndexError(f"host index {index} outside 0..{self.size - 1}")

    def _skeleton(self, residue: int) -> Skeleton:
        skeleton = self._skeletons[residue]
        if skeleton is None:
            first = residue - residue % CHUNK
            chunk = self._maker.skeletons(first // CHUNK)
            self._skeletons[first : first + len(chunk)] = chunk
            skeleton = chunk[residue - first]
        return skeleton

    def _pattern(self, residue: int) -> Pattern:
        pattern = self._patterns[residue]
        if pattern is None:
            first = residue - residue % CHUNK
            self._skeleton(first)
            skeletons = [s for s in self._skeletons[first : first + CHUNK] if s is not None]
            chunk = self._maker.patterns(first // CHUNK, skeletons)
            self._patterns[first : first + len(chunk)] = chunk
            pattern = chunk[residue - first]
        return pattern

    def host(self, index: int, *, with_detections: bool = True) -> SimHost:
        """Return host ``index`` with all its detections (sorted by QID); IndexError if outside.

        ``with_detections=False`` leaves ``detections`` empty (the host list needs none,
        and building them is most of the cost).
        """
        self._check(index)
        pattern = self._pattern(index % PERIOD)
        profile = PROFILES[pattern.profile]
        h = stream(self._host_key, index)
        g = fmix64(h)
        block, position = divmod(index, BLOCK)
        site = self._layout.site(block)
        ip, ipv6 = self._addresses(block, position, h & 1023)
        scanned = END - timedelta(seconds=(h >> 10) % SCAN_WINDOW)
        duration = 60 + (h >> 32) % 1140
        last_scan = scanned + timedelta(seconds=20 + (h >> 44) % 600)
        dns, netbios = naming.host_names(profile, pattern.app, site, index, ip, g)
        if pattern.tracking != "DNS" and (h >> 54) % 32 == 0:
            dns = None  # some hosts have no DNS name, as in the real samples
        address = ip or ipv6 or ""
        fields = {"ip": address, "dns": dns or address, "os": pattern.os, "duration": duration}
        tags = naming.host_tag_numbers(profile, site, pattern.tracking, g >> 3)
        return SimHost(
            index=index,
            id=self.host_id(index),
            ip=ip,
            ipv6=ipv6,
            tracking_method=pattern.tracking,
            os=pattern.os,
            dns=dns,
            netbios=netbios,
            last_scan=last_scan,
            last_vm_scanned=scanned,
            last_vm_scanned_duration=duration,
            asset_groups=self._groups(site, profile.role),
            tags=tuple(self.tags[n] for n in sorted(tags)),
            detections=_detections(pattern, scanned, last_scan, fields) if with_detections else (),
        )

    def _addresses(self, block: int, position: int, stack: int) -> tuple[str | None, str | None]:
        """Return (IPv4, IPv6) of a host; ``stack`` (0..1023) makes ~3% IPv6-only, ~6% dual."""
        ip = None
        if stack >= 31:
            spin = self._layout.spin(block)
            ip = naming.ipv4_text(self._layout.network(block) + Layout.last_octet(position, spin))
        return ip, (self._layout.ipv6(block, position) if stack < 92 else None)

    def _groups(self, site: int, role: str) -> tuple[AssetGroup, ...]:
        """Return the asset groups of a host: its site's, and Servers or Workstations."""
        number = naming.ROLE_GROUPS.get(role)
        if number is None:
            return (self.asset_groups[site],)
        return self.asset_groups[site], self.asset_groups[number]

    def candidate_indexes(
        self,
        *,
        start: int = 0,
        stop: int | None = None,
        qids: Collection[int] | None = None,
        ipv4_ranges: Sequence[tuple[int, int]] | None = None,
        asset_group_ids: Collection[int] | None = None,
    ) -> Iterator[int]:
        """Yield, ascending, the indexes in [start, stop) that may pass these pre-filters.

        A superset of the exact matches: a host with any detection (any type or status)
        of ``qids``, an IPv4 address in one of ``ipv4_ranges`` (inclusive integer ranges)
        and membership in one of ``asset_group_ids``. None means no filter; an empty
        collection matches nothing. With ``qids`` only matching residues are visited, so
        a rare QID costs time in proportion to its hosts, not to the fleet.
        """
        stop = self.size if stop is None else min(stop, self.size)
        start = max(start, 0)
        if start >= stop:
            return iter(())
        unfiltered = ipv4_ranges is None and asset_group_ids is None
        if qids is not None and unfiltered:
            return _periodic(self._residues(qids), start, stop)
        if unfiltered:
            return iter(range(start, stop))
        sites, roles = self._group_filter(asset_group_ids)
        prefilter = _Prefilter(self._layout, ipv4_ranges, sites, roles)
        if qids is not None:
            residues = self._residues(qids)
            return (i for i in _periodic(residues, start, stop) if prefilter.index(i))
        return _by_blocks(prefilter, start, stop)

    def _group_filter(
        self, asset_group_ids: Collection[int] | None
    ) -> tuple[frozenset[int] | None, frozenset[int]]:
        if asset_group_ids is None:
            return None, frozenset()
        numbers = {n for n, group in enumerate(self.asset_groups) if group.id in asset_group_ids}
        sites = frozenset(n for n in numbers if n < len(SITES))
        roles: set[int] = set()
        for role, number in naming.ROLE_GROUPS.items():
            if number in numbers:
                roles.update(self._table().role_residues.get(role, ()))
        return sites, frozenset(roles)

    def _residues(self, qids: Collection[int]) -> list[int]:
        table = self._table().any_residues
        if len(qids) < len(table):
            hits = [table[q] for q in qids if q in table]
        else:
            hits = [residues for q, residues in table.items() if q in qids]
        return sorted(set().union(*hits))

    def host_count_for_cve(self, cve: str) -> int:
        """Return how many hosts the detection API returns for this CVE's QIDs by default.

        Counts hosts with a Confirmed or Potential detection of one of the QIDs whose
        status is New, Active or Re-Opened (Info needs show_igs=1). Exact, and fast: the
        per-period matches times the number of full periods plus the remainder.
        """
        key = cve.strip().upper()
        count = self._counts.get(key)
        if count is None:
            table = self._table().open_residues
            qids = self.kb.qids_for_cves([key])
            residues = sorted(set().union(*(table.get(q, ()) for q in qids)))
            full, rest = divmod(self.size, PERIOD)
            count = self._counts[key] = full * len(residues) + bisect_left(residues, rest)
        return count

    def featured_cves(self, n: int = 5) -> list[tuple[str, int]]:
        """Return up to ``n`` (CVE, host count) of the KB's table with hosts, most hosts
        first, Log4Shell included (the world's CVEs: :meth:`world_hits`)."""
        ranked = self._ranked(self.kb.cves())
        top = ranked[:n]
        log4shell = next((item for item in ranked if item[0] == LOG4SHELL), None)
        if n > 0 and log4shell is not None and log4shell not in top:
            top = sorted([*top[: n - 1], log4shell], key=lambda i: (-i[1], i[0]))
        return top

    def world_hits(self) -> list[tuple[str, int]]:
        """Return (CVE, host count) of every world CVE with hosts, most hosts first."""
        return self._ranked(self.kb.world_cves())

    def _ranked(self, cves: Iterable[str]) -> list[tuple[str, int]]:
        counted = [(cve, self.host_count_for_cve(cve)) for cve in cves]
        return sorted((item for item in counted if item[1] > 0), key=lambda i: (-i[1], i[0]))

    def _table(self) -> _Tables:
        if self._tables is None:
            any_residues: dict[int, list[int]] = {}
            open_residues: dict[int, list[int]] = {}
            roles: dict[str, set[int]] = {}
            for residue in range(PERIOD):
                profile, rows = self._skeleton(residue)
                roles.setdefault(PROFILES[profile].role, set()).add(residue)
                for qid, kind, status in rows:
                    any_residues.setdefault(qid, []).append(residue)
                    if kind != "Info" and status in OPEN_STATUSES:
                        open_residues.setdefault(qid, []).append(residue)
            self._tables = _Tables(
                {q: tuple(r) for q, r in any_residues.items()},
                {q: tuple(r) for q, r in open_residues.items()},
                {role: frozenset(r) for role, r in roles.items()},
            )
            logger.debug("fleet seed %s: residue tables built", self.seed)
        return self._tables


def _periodic(residues: list[int], start: int, stop: int) -> Iterator[int]:
    """Yield, ascending, every index in [start, stop) whose residue is in ``residues``."""
    if not residues:
        return
    base = start - start % PERIOD
    first = bisect_left(residues, start - base)
    while base < stop:
        for k in range(first, len(residues)):
            index = base + residues[k]
            if index >= stop:
                return
            yield index
        base += PERIOD
        first = 0


def _by_blocks(prefilter: _Prefilter, start: int, stop: int) -> Iterator[int]:
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        if prefilter.block(block):
            low, high = max(start, block * BLOCK), min(stop, (block + 1) * BLOCK)
            yield from (i for i in range(low, high) if prefilter.index(i))


def _detections(
    pattern: Pattern, scanned: datetime, last_scan: datetime, fields: dict[str, object]
) -> tuple[SimDetection, ...]:
    """Return the detections of ``pattern`` for a host last scanned at ``scanned``."""
    return tuple([
        SimDetection(
            qid, kind, severity, status, port, proto, ssl,
            results.format(**fields) if fmt else results,
            scanned - first, scanned if found is ZERO else scanned - found, times,
            scanned, last_scan, last_scan, None if fixed is None else scanned - fixed,
        )
        for (qid, kind, severity, status, port, proto, ssl, results, fmt, first, found, fixed,
             times) in pattern.rows
    ])  # fmt: skip
