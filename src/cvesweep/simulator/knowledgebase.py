"""The simulated Qualys knowledge base: QIDs, their CVEs, and deterministic draws from a seed.

The KB's table is the hand-written catalog of ``catalog.py`` plus a few hundred filler QIDs
(OS patches, remote-service and network-device checks) generated from the seed; any other
CVE id gets QIDs from the synthetic rule of ``synthetic.py``. A CVE can map to several QIDs
and a QID to several CVEs. Randomness comes from :class:`Draw`, a splitmix64 stream keyed
by integers, so the same seed gives the same data in any process.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from cvesweep.simulator import catalog, synthetic
from cvesweep.simulator.catalog import (
    IG_ONLY_CVE,
    KINDS,
    LOG4SHELL,
    NO_QID_CVE,
    VENDOR_EXAMPLE,
    Entry,
    Kind,
    Probe,
)
from cvesweep.simulator.draws import Draw, fmix64, mix, stream
from cvesweep.simulator.records import KbVuln
from cvesweep.simulator.synthetic import SyntheticKb
from cvesweep.simulator.world import shipped_kev_cves

__all__ = [
    "IG_ONLY_CVE",
    "LOG4SHELL",
    "NO_QID_CVE",
    "VENDOR_EXAMPLE",
    "Draw",
    "KnowledgeBase",
    "fmix64",
    "mix",
    "stream",
]

_KB_END = synthetic.KB_END  # the knowledge base's last update
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_SALT_FILLER = 0x4B42


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(hour=12, tzinfo=UTC)


def _hand_vuln(entry: Entry, draw: Draw) -> KbVuln:
    published = _date(entry.published)
    span = max(1, int((_KB_END - published).total_seconds()))
    return KbVuln(
        qid=entry.qid,
        vuln_type=entry.vuln_type,
        severity=entry.severity,
        title=entry.title,
        category=entry.category,
        cves=tuple(sorted(entry.cves)),
        published=published,
        last_modified=published + timedelta(seconds=draw.below(span)),
        patchable=entry.patchable,
        diagnosis=f"{entry.title}: the scanner found the condition on the host.",
        consequence=_consequence(entry.vuln_type),
        solution=_solution(entry.vuln_type, entry.patchable),
    )


def _consequence(vuln_type: str) -> str:
    if vuln_type == catalog.IG:
        return "N/A"
    return "Successful exploitation may allow an attacker to compromise the affected host."


def _solution(vuln_type: str, patchable: bool) -> str:
    if vuln_type == catalog.IG:
        return "N/A"
    if patchable:
        return "Apply the vendor's security update; see the vendor advisory for details."
    return "No patch is available; restrict access to the affected service."


class _FillerMaker:
    """Builds the seed-dependent filler QIDs, avoiding taken QIDs and reserved CVEs."""

    def __init__(self, seed: int, taken: set[int], reserved: set[str]) -> None:
        self._draw = Draw(seed, _SALT_FILLER)
        self._seed = seed
        self._taken = taken
        self._reserved = reserved
        self._pools: dict[str, tuple[str, ...]] = {}

    def make(self, kind: Kind) -> tuple[KbVuln, Probe]:
        """Return one new filler QID of ``kind`` and its probe."""
        d = self._draw
        subject = d.pick(kind.subjects)
        qid = self._new_qid(kind.qid_range)
        cves = self._cves(subject.name, kind.cve_count)
        year = max((int(c[4:8]) for c in cves), default=d.between(2016, 2025))
        published = datetime(year, 1, 1, 12, tzinfo=UTC) + timedelta(days=d.below(365))
        # Leave every filler QID a few months of history before the fleet's last scans.
        published = min(published, _KB_END - timedelta(days=90))
        fields = self._fields(kind, subject.name, published)
        title = kind.title.format(**fields)
        vuln_type = d.pick(kind.vuln_types)
        patchable = vuln_type != catalog.POTENTIAL or d.chance(0.5)
        vuln = KbVuln(
            qid=qid,
            vuln_type=vuln_type,
            severity=d.pick(kind.severities),
            title=title,
            category=subject.category or kind.category,
            cves=cves,
            published=published,
            last_modified=published + timedelta(days=d.below(max(1, (_KB_END - published).days))),
            patchable=patchable,
            diagnosis=f"{subject.name} is affected by the issues fixed in {title}.",
            consequence=_consequence(vuln_type),
            solution=_solution(vuln_type, patchable),
        )
        weight = 1 + d.below(3)
        families = kind.families if subject.families is None else subject.families
        probe = Probe(families, weight, subject.ports, results=kind.results.format(**fields))
        return vuln, probe

    def _fields(self, kind: Kind, subject: str, published: datetime) -> dict[str, object]:
        """Return the values of the title and results templates of one filler QID."""
        d = self._draw
        return {
            "subject": subject,
            "year": published.year,
            "month": _MONTHS[published.month - 1],
            "n": d.between(*kind.number_range),
            "version": f"{d.between(1, 12)}.{d.between(0, 9)}.{d.between(1, 40)}",
            "issue": d.pick(_ISSUES),
            "slug": f"{d.bits():016x}"[:8],
        }

    def _new_qid(self, qid_range: tuple[int, int]) -> int:
        while True:
            qid = self._draw.between(*qid_range)
            if qid not in self._taken:
                self._taken.add(qid)
                return qid

    def _cves(self, subject: str, count: tuple[int, int]) -> tuple[str, ...]:
        pool = self._pools.get(subject)
        if pool is None:
            pool = self._pool(len(self._pools))
            self._pools[subject] = pool
        wanted = self._draw.between(*count)
        start = self._draw.below(len(pool))
        picked = {pool[(start + k) % len(pool)] for k in range(wanted)}
        return tuple(sorted(picked))

    def _pool(self, number: int) -> tuple[str, ...]:
        d = Draw(self._seed, _SALT_FILLER, number)
        year = d.between(2016, 2024)
        pool: set[str] = set()
        while len(pool) < 60:
            cve = f"CVE-{year + d.below(2)}-{d.between(1000, 49999)}"
            if cve not in self._reserved:
                pool.add(cve)
        return tuple(sorted(pool))


_ISSUES = ("Denial of Service", "Remote Code Execution", "Privilege Escalation",
           "Information Disclosure", "Authentication Bypass", "Command Injection",
           "Buffer Overflow", "Security Bypass")  # fmt: skip


class KnowledgeBase:
    """The knowledge base of one simulated subscription, built from ``seed`` (a few ms).

    Its *table* holds about 300 QIDs: the hand-written catalog plus seed-dependent filler;
    their CVEs keep exactly these QIDs. Every other canonical CVE id gets QIDs from the
    synthetic rule (``synthetic.py``). ``world`` lists the CVEs outside the table that the
    fleet's hosts may carry (default: the shipped CISA KEV catalog, read on first use).
    """

    def __init__(self, seed: int = 1, world: Iterable[str] | None = None) -> None:
        self.seed = seed
        draw = Draw(seed, _SALT_FILLER, -1)
        self._vulns: dict[int, KbVuln] = {}
        self._probes: dict[int, Probe] = {}
        for entry in catalog.ENTRIES:
            self._add(_hand_vuln(entry, draw), entry.probe)
        reserved = {cve for entry in catalog.ENTRIES for cve in entry.cves} | {NO_QID_CVE}
        maker = _FillerMaker(seed, set(self._vulns), reserved)
        for kind in KINDS:
            for _ in range(kind.count):
                self._add(*maker.make(kind))
        by_cve: dict[str, set[int]] = {}
        for vuln in self._vulns.values():
            for cve in vuln.cves:
                by_cve.setdefault(cve, set()).add(vuln.qid)
        self._by_cve = {cve: tuple(sorted(qids)) for cve, qids in by_cve.items()}
        self._table_qids = tuple(sorted(self._vulns))
        assert self._table_qids[-1] < synthetic.BASE, "table QIDs must stay below synthetic ones"
        self.synthetic = SyntheticKb(seed, frozenset(self._by_cve) | {NO_QID_CVE})
        self._world_source = None if world is None else tuple(world)
        self._world: tuple[str, ...] | None = None
        self._all_qids: tuple[int, ...] | None = None
        self._synthetic_vulns: dict[int, KbVuln | None] = {}

    def _add(self, vuln: KbVuln, probe: Probe) -> None:
        self._vulns[vuln.qid] = vuln
        self._probes[vuln.qid] = probe

    def vuln(self, qid: int) -> KbVuln | None:
        """Return the entry of ``qid`` (table or synthetic), None when the KB has no such QID."""
        found = self._vulns.get(qid)
        if found is not None or qid < synthetic.BASE:
            return found
        with suppress(KeyError):  # a miss, or another thread's clear() in between
            return self._synthetic_vulns[qid]
        if len(self._synthetic_vulns) > 100_000:  # QIDs asked one by one: stay bounded
            self._synthetic_vulns.clear()
        made = self._synthetic_vulns[qid] = self.synthetic.vuln(qid)
        return made

    def vulns(self, qids: Iterable[int]) -> list[KbVuln]:
        """Return the entries of ``qids`` sorted by QID; unknown QIDs are silently left out.

        Real Qualys does the same: asking for 43 QIDs of which one is unknown returns 42
        (sample ``kb_vuln_list_42_qids_mixed_types_jupiterone_qg3.xml``).
        """
        found = (self.vuln(qid) for qid in sorted(set(qids)))
        return [vuln for vuln in found if vuln is not None]

    def qids_for_cves(self, cves: Iterable[str]) -> tuple[int, ...]:
        """Return the sorted unique QIDs mapped to any of ``cves`` (matched case-insensitively).

        A CVE of the table maps to its table QIDs; any other canonical CVE id to its
        synthetic ones (possibly none); a malformed id to nothing.
        """
        found: set[int] = set()
        for cve in cves:
            key = cve.strip().upper()
            table = self._by_cve.get(key)
            if table is not None:
                found.update(table)
            elif (code := synthetic.code_of(key)) is not None:
                found.update(self.synthetic.qids(code))
        return tuple(sorted(found))

    def table_qids(self) -> tuple[int, ...]:
        """Return the QIDs of the table (hand-written and filler), ascending."""
        return self._table_qids

    def all_qids(self) -> tuple[int, ...]:
        """Return every QID the KB lists and the fleet can carry, ascending: the table's and
        the world CVEs' (computed on first use)."""
        if self._all_qids is None:
            world = set(self.qids_for_cves(self.world_cves()))
            self._all_qids = tuple(sorted(world.union(self._table_qids)))
        return self._all_qids

    def cves(self) -> tuple[str, ...]:
        """Return every CVE of the table (mapped to at least one table QID), sorted."""
        return tuple(sorted(self._by_cve))

    def world_cves(self) -> tuple[str, ...]:
        """Return the CVEs outside the table that hosts may carry and that have a QID of
        their own, sorted (the shipped KEV catalog's, unless ``world`` was given)."""
        if self._world is None:
            source = shipped_kev_cves() if self._world_source is None else self._world_source
            codes = (synthetic.code_of(cve.strip().upper()) for cve in source)
            self._world = tuple(
                sorted({synthetic.cve_of(c) for c in codes if c is not None and self.own(c)})
            )
        return self._world

    def own(self, code: int) -> tuple[int, ...]:
        """Return the synthetic QIDs numbered after the CVE ``code`` itself (placed on hosts)."""
        return self.synthetic.own_qids(code)

    def probe(self, qid: int) -> Probe | None:
        """Return how ``qid`` shows up on hosts (families, ports, results), None if unknown."""
        found = self._probes.get(qid)
        if found is not None:
            return found
        vuln = self.vuln(qid)
        return None if vuln is None else synthetic.probe(vuln)
