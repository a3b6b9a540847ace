"""Deterministic facts the newer API versions report about QIDs, CVEs and detections.

QDS and its factors, CVSS v2/v3.1/v4 scores, QVS, MITRE ATT&CK tactics and techniques,
UNIQUE_VULN_ID, detection sources and TruRisk elimination status: none of them is in the
simulated catalog, so each is drawn from (QID, severity, category) or (host, QID) with the
same stable hashes as the fleet, and the same seed always gives the same values.
Element names follow docs/qualys-2026.md §3.1–§3.4; the values are ours [unverified].
"""

from __future__ import annotations

import zlib
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

from cvesweep.simulator.knowledgebase import KnowledgeBase, mix
from cvesweep.simulator.records import KbVuln, SimDetection, SimHost

_SALT = 0x4641
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Scores:
    """The scores of one QID: CVSS v2 and v3.1 (base, temporal), v4 (base, threat), QDS."""

    cvss2: float
    cvss2_temporal: float
    cvss3: float
    cvss3_temporal: float
    cvss3_vector: str
    cvss4: float
    cvss4_threat: float
    qds: int
    epss: float

    @property
    def qds_severity(self) -> str:
        """The QDS band as Qualys names it (LOW < 40 <= MEDIUM < 70 <= HIGH < 90 <= CRITICAL)."""
        if self.qds >= 90:
            return "CRITICAL"
        if self.qds >= 70:
            return "HIGH"
        return "MEDIUM" if self.qds >= 40 else "LOW"


@dataclass(frozen=True, slots=True)
class Attack:
    """MITRE ATT&CK tactics and techniques of one QID, each as parallel tuples."""

    tactic_ids: tuple[str, ...]
    tactic_names: tuple[str, ...]
    technique_ids: tuple[str, ...]
    technique_names: tuple[str, ...]


# Severity → (lowest CVSS 3.1 base, width of its band): the Qualys severity/CVSS bands.
_BANDS = {1: (0.1, 1.8), 2: (2.0, 1.9), 3: (4.0, 2.9), 4: (7.0, 1.9), 5: (9.0, 1.0)}
_VECTORS = {
    1: "AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
    2: "AV:N/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N",
    3: "AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N",
    4: "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N",
    5: "AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
}
_TACTICS = {
    "TA0001": "Initial Access",
    "TA0002": "Execution",
    "TA0004": "Privilege Escalation",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0040": "Impact",
}
_TECHNIQUES = {
    "T1190": ("TA0001", "Exploit Public-Facing Application"),
    "T1203": ("TA0002", "Exploitation for Client Execution"),
    "T1068": ("TA0004", "Exploitation for Privilege Escalation"),
    "T1212": ("TA0006", "Exploitation for Credential Access"),
    "T1082": ("TA0007", "System Information Discovery"),
    "T1210": ("TA0008", "Exploitation of Remote Services"),
    "T1499": ("TA0040", "Endpoint Denial of Service"),
}
# Category words → the techniques a QID of that category maps to (first match wins).
_BY_CATEGORY = (
    ("Information gathering", ("T1082",)),
    ("TCP/IP", ("T1082",)),
    ("Web", ("T1190",)),
    ("CGI", ("T1190",)),
    ("remote services", ("T1190", "T1210")),
    ("Windows", ("T1210", "T1068")),
    ("Office", ("T1203",)),
    ("Local", ("T1068", "T1203")),
    ("Cisco", ("T1190", "T1499")),
)
_GENERIC = ("T1068",)  # OS patches: kernel and package advisories
SOURCES_AGENT = "Cloud Agent"
SOURCES_SCANNER = "Internal Scanner"
SOURCES_EXTERNAL = "External Scanner"
# [unverified] TRURISK_ELIMINATION_STATUS values are undocumented; these three are ours.
TRURISK_STATUSES = ("Mitigated", "Patch In Progress", "Risk Accepted")


class Facts:
    """Per-QID facts of one knowledge base, computed once per QID and kept (the table's ~300
    QIDs, the world's ~2,200, and those asked for by number: a cache kept bounded)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._scores: dict[int, Scores | None] = {}
        self._attack: dict[int, Attack | None] = {}
        self._cves: dict[int, tuple[str, ...]] = {}

    def scores(self, qid: int) -> Scores | None:
        """Return the scores of ``qid``; None for an unknown QID or an Information Gathered one."""
        with suppress(KeyError):  # a miss, or another thread's _bound() in between
            return self._scores[qid]
        _bound(self._scores)
        vuln = self._kb.vuln(qid)
        found = self._scores[qid] = None if vuln is None else _scores(vuln)
        return found

    def attack(self, qid: int) -> Attack | None:
        """Return the ATT&CK mapping of ``qid``; None for unknown and Information Gathered QIDs."""
        with suppress(KeyError):  # a miss, or another thread's _bound() in between
            return self._attack[qid]
        _bound(self._attack)
        vuln = self._kb.vuln(qid)
        found = self._attack[qid] = None if vuln is None else _attack(vuln)
        return found

    def cves(self, qid: int) -> tuple[str, ...]:
        """Return the CVEs the knowledge base maps ``qid`` to (sorted; empty if none)."""
        known = self._cves.get(qid)
        if known is None:
            _bound(self._cves)
            vuln = self._kb.vuln(qid)
            known = self._cves[qid] = () if vuln is None else vuln.cves
        return known


def _bound(cache: dict[int, _V]) -> None:
    """Empty ``cache`` when it grows past what the fleet's own QIDs need (QIDs asked one by
    one through the KB API could otherwise grow it without end). Readers never index the
    cache after a miss, so another thread's clearing cannot fail them."""
    if len(cache) > 50_000:
        cache.clear()


def _scores(vuln: KbVuln) -> Scores | None:
    if vuln.vuln_type == "Information Gathered":
        return None
    h = mix(_SALT, vuln.qid)
    low, width = _BANDS[vuln.severity]
    base = round(low + (h % 1000) / 999 * width, 1)
    temporal = round(base * (0.85 + (h >> 10) % 10 / 100), 1)
    cvss2 = round(min(10.0, base * (0.9 + (h >> 20) % 15 / 100)), 1)
    qds = max(1, min(100, int(base * 10) - 5 + (h >> 30) % 11))
    return Scores(
        cvss2=cvss2,
        cvss2_temporal=round(cvss2 * 0.9, 1),
        cvss3=base,
        cvss3_temporal=temporal,
        cvss3_vector=_VECTORS[vuln.severity],
        cvss4=round(min(10.0, base + (h >> 40) % 6 / 10), 1),
        cvss4_threat=round(min(10.0, base + (h >> 40) % 6 / 10) * 0.95, 1),
        qds=qds,
        epss=round(((h >> 44) % 97_000 + 100) / 100_000 * (vuln.severity / 5), 5),
    )


def _attack(vuln: KbVuln) -> Attack | None:
    if vuln.vuln_type == "Information Gathered":
        return None
    techniques = next(
        (found for word, found in _BY_CATEGORY if word.lower() in vuln.category.lower()), _GENERIC
    )
    if len(techniques) > 1 and mix(_SALT, vuln.qid, 1) % 3 == 0:
        techniques = techniques[:1]  # some QIDs map to one technique only
    tactic_ids = tuple(dict.fromkeys(_TECHNIQUES[t][0] for t in techniques))
    return Attack(
        tactic_ids=tactic_ids,
        tactic_names=tuple(_TACTICS[t] for t in tactic_ids),
        technique_ids=techniques,
        technique_names=tuple(_TECHNIQUES[t][1] for t in techniques),
    )


def unique_vuln_id(host: SimHost, d: SimDetection) -> int:
    """Return the detection's UNIQUE_VULN_ID: unique per (host, QID, port), stable.

    The same detection has the same id in the detection and the CVE detection replies.
    """
    return ((host.index + 1) * 1_000_000 + d.qid) * 100_000 + (d.port or 0)


def detection_sources(host: SimHost, qid: int) -> tuple[tuple[str, ...], str]:
    """Return (every source that found the detection, the latest of them).

    Derived from the host's tracking method: agent-tracked hosts are seen by the Cloud
    Agent (and some also by a scanner), the others by scanners (and some by an agent).
    Values as in ServiceNow's 5.0 request example [unverified].
    """
    h = _quick(host.id, qid + 0x5E)
    if host.tracking_method == "AGENT":
        sources: tuple[str, ...] = (SOURCES_AGENT,)
        if h % 3 == 0:
            sources = (SOURCES_AGENT, SOURCES_SCANNER)
    elif h % 5 == 0:
        sources = (SOURCES_AGENT, SOURCES_SCANNER)
    elif h % 7 == 0:
        sources = (SOURCES_EXTERNAL, SOURCES_SCANNER)
    else:
        sources = (SOURCES_SCANNER,)
    return sources, sources[(h >> 8) % len(sources)]


def trurisk_status(host: SimHost, d: SimDetection) -> str | None:
    """Return the TRURISK_ELIMINATION_STATUS of about one open detection in twelve, else None.

    [unverified] The element is in the 5.0 DTD (elastic/integrations PR #16436); its
    values are undocumented, so TRURISK_STATUSES are our choice.
    """
    if d.type == "Info":
        return None
    h = _quick(host.id, d.qid)
    return TRURISK_STATUSES[(h >> 8) % 3] if h % 12 == 0 else None


def _quick(a: int, b: int) -> int:
    """Return a cheap 32-bit hash of two integers (per detection: mix() costs too much)."""
    h = (a * 0x9E3779B1 + b * 0x85EBCA77) & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 12)


def qvs(cve: str) -> int:
    """Return the Qualys Vulnerability Score (0-100) of ``cve``, stable across processes."""
    return 1 + mix(_SALT, zlib.crc32(cve.upper().encode())) % 100
