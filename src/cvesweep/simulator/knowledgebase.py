"""The simulated Qualys knowledge base: QIDs, their CVEs, and deterministic draws from a seed.

The KB is the hand-written table of ``catalog.py`` plus a few hundred filler QIDs (OS
patches, remote-service and network-device checks) generated from the seed. A CVE can map
to several QIDs and a QID to several CVEs. Randomness comes from :class:`Draw`, a
splitmix64 stream keyed by integers, so the same seed gives the same data in any process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from cvesweep.simulator import catalog
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
from cvesweep.simulator.records import KbVuln

__all__ = [
    "IG_ONLY_CVE",
    "LOG4SHELL",
    "NO_QID_CVE",
    "VENDOR_EXAMPLE",
    "Draw",
    "KnowledgeBase",
    "mix",
    "stream",
]

_T = TypeVar("_T")
MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_KB_END = datetime(2026, 9, 30, tzinfo=UTC)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_SALT_FILLER = 0x4B42


def fmix64(z: int) -> int:
    """Return the splitmix64 finaliser of the 64-bit integer ``z`` (a bijection on 64 bits)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream(key: int, n: int) -> int:
    """Return the ``n``-th 64-bit output of the splitmix64 stream keyed by ``key``."""
    return fmix64((key + n * _GOLDEN) & MASK64)


def mix(*parts: int) -> int:
    """Return a well-spread 64-bit hash of the integers ``parts`` (stable across processes)."""
    h = _GOLDEN
    for part in parts:
        h = fmix64(((h ^ (part & MASK64)) + _GOLDEN) & MASK64)
    return h


class Draw:
    """A deterministic stream of random draws keyed by integers (splitmix64)."""

    __slots__ = ("_state",)

    def __init__(self, *key: int) -> None:
        self._state = mix(*key)

    def bits(self) -> int:
        """Return the next 64 random bits."""
        self._state = (self._state + _GOLDEN) & MASK64
        return fmix64(self._state)

    def below(self, n: int) -> int:
        """Return an integer in ``[0, n)``."""
        return self.bits() % n

    def between(self, low: int, high: int) -> int:
        """Return an integer in ``[low, high]``."""
        return low + self.bits() % (high - low + 1)

    def chance(self, p: float) -> bool:
        """Return True with probability ``p``."""
        return self.bits() < p * 18446744073709551616.0

    def pick(self, items: Sequence[_T]) -> _T:
        """Return one element of the non-empty ``items``."""
        return items[self.bits() % len(items)]


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

    Holds about 300 QIDs: the hand-written catalog plus seed-dependent filler.
    """

    def __init__(self, seed: int = 1) -> None:
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
        self._qids = tuple(sorted(self._vulns))

    def _add(self, vuln: KbVuln, probe: Probe) -> None:
        self._vulns[vuln.qid] = vuln
        self._probes[vuln.qid] = probe

    def vuln(self, qid: int) -> KbVuln | None:
        """Return the entry of ``qid``, or None when the KB has no such QID."""
        return self._vulns.get(qid)

    def vulns(self, qids: Iterable[int]) -> list[KbVuln]:
        """Return the entries of ``qids`` sorted by QID; unknown QIDs are silently left out.

        Real Qualys does the same: asking for 43 QIDs of which one is unknown returns 42
        (sample ``kb_vuln_list_42_qids_mixed_types_jupiterone_qg3.xml``).
        """
        found = {qid for qid in qids if qid in self._vulns}
        return [self._vulns[qid] for qid in sorted(found)]

    def qids_for_cves(self, cves: Iterable[str]) -> tuple[int, ...]:
        """Return the sorted unique QIDs mapped to any of ``cves`` (matched case-insensitively)."""
        found: set[int] = set()
        for cve in cves:
            found.update(self._by_cve.get(cve.strip().upper(), ()))
        return tuple(sorted(found))

    def all_qids(self) -> tuple[int, ...]:
        """Return every QID of the KB, ascending."""
        return self._qids

    def cves(self) -> tuple[str, ...]:
        """Return every CVE mapped to at least one QID, sorted."""
        return tuple(sorted(self._by_cve))

    def probe(self, qid: int) -> Probe | None:
        """Return how ``qid`` shows up on hosts (families, ports, results), None if unknown."""
        return self._probes.get(qid)
