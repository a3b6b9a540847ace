"""QIDs for CVE ids outside the hand-written table: a pure rule from (seed, CVE id).

Any canonical CVE id up to the knowledge base's last year (2026) gets 0 to 3 QIDs drawn from
the seed (about 10% none: "Qualys knows no QID for this CVE"). A QID's number encodes its CVE
and slot, ``BASE + slot * SPAN + (year - 1999) * 10**7 + number``, so

- the QID → CVE mapping needs no table and never depends on what was asked before;
- synthetic QIDs (7 to 10 digits, all >= 1,000,000) can never collide with a hand-written or
  filler QID (all 6 digits or fewer, checked in ``knowledgebase.py``), and stay below 2**31.

About one CVE in twelve shares its last QID with the next CVE number (say ``CVE-2023-4966``
and ``CVE-2023-4967``), as real QIDs cover several CVEs. Titles, severities (3 to 5), types and
dates are drawn per QID; the vendor and product are unknown, so titles name the CVEs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cvesweep.simulator.catalog import ANY, EITHER, POTENTIAL, VULN, Probe
from cvesweep.simulator.draws import fmix64, mix
from cvesweep.simulator.records import KbVuln

FIRST_YEAR = 1999  # the first CVE ids
LAST_YEAR = 2026  # the knowledge base's last update (KB_END): later ids have no QID yet
NUMBERS = 10_000_000  # sequence numbers below this (7 digits; KEV's largest is 1,003,030)
SPAN = 42 * NUMBERS  # years 1999 to 2040 per slot: room for later years, same numbering
BASE = 1_000_000
MAX_SLOTS = 3
KB_END = datetime(2026, 9, 30, tzinfo=UTC)

_SALT = 0x5359
_CVE_RE = re.compile(r"^CVE-(\d{4})-(\d{4,})$")
_SLOT_ROLLS = (10, 65, 90)  # percent: 0 QIDs below 10, 1 below 65, 2 below 90, else 3
_SHARE_PER_MILLE = 80  # about one CVE in twelve shares its last QID with the next number
# Slot 0 is the authenticated check; the others read like Qualys's companion QIDs.
_VARIANTS = ("", " (Unauthenticated Check)", " (Software Inventory Check)")
_TYPES = (VULN, EITHER, POTENTIAL)
_CATEGORIES = ("Local", "Local", "General remote services", "Web server", "Database", "Hardware")
_SEVERITIES = (3, 4, 4, 5, 5)
_ALL = range(MAX_SLOTS)


def code_of(cve: str) -> int | None:
    """Return the number that encodes ``cve`` (upper case), None if it cannot be encoded.

    Only canonical ids are encoded: a year 1999..2040 and a sequence number below 10**7
    written with 4 digits, or more without a leading zero (so ``CVE-2020-01099`` is not).
    """
    found = _CVE_RE.match(cve)
    if found is None:
        return None
    year, number = int(found[1]), int(found[2])
    code = (year - FIRST_YEAR) * NUMBERS + number
    if not 0 <= year - FIRST_YEAR < SPAN // NUMBERS or number >= NUMBERS:
        return None
    return code if cve_of(code) == cve else None


def cve_of(code: int) -> str:
    """Return the CVE id encoded by ``code`` (the inverse of :func:`code_of`)."""
    year, number = divmod(code, NUMBERS)
    return f"CVE-{FIRST_YEAR + year}-{number:04d}"


def qid_of(code: int, slot: int) -> int:
    """Return the QID of ``slot`` (0..2) of the CVE encoded by ``code``."""
    return BASE + slot * SPAN + code


def vuln_type(qid: int) -> str:
    """Return the VULN_TYPE of a synthetic QID (by its slot; the QID must be synthetic)."""
    decoded = decode(qid)
    assert decoded is not None
    return _TYPES[decoded[1]]


def decode(qid: int) -> tuple[int, int] | None:
    """Return (CVE code, slot) of a synthetic QID, None when ``qid`` is not one."""
    if not BASE <= qid < BASE + MAX_SLOTS * SPAN:
        return None
    slot, code = divmod(qid - BASE, SPAN)
    return code, slot


@dataclass(frozen=True, slots=True)
class Profile:
    """The facts the seed drew for the QIDs of one CVE code (one value per slot)."""

    published: datetime
    category: str
    severities: tuple[int, ...]
    patchable: tuple[bool, ...]
    modified_days: tuple[int, ...]


def draw_profile(seed: int, code: int) -> Profile:
    """Return the profile of ``code``: the same values in every process for the same seed.

    Two 64-bit hashes are sliced into the draws (this runs once per synthetic QID served).
    """
    h = mix(seed, _SALT, code, 1)
    g = fmix64(h)
    year = FIRST_YEAR + code // NUMBERS
    published = datetime(year, 1, 1, 12, tzinfo=UTC) + timedelta(days=h % 365)
    published = min(published, KB_END - timedelta(days=90))
    span = max(1, (KB_END - published).days)
    return Profile(
        published=published,
        category=_CATEGORIES[(h >> 9) % len(_CATEGORIES)],
        severities=tuple(_SEVERITIES[(h >> (12 + 4 * s)) % len(_SEVERITIES)] for s in _ALL),
        patchable=tuple((h >> (24 + 7 * s)) % 100 < 85 for s in _ALL),
        modified_days=tuple((g >> (20 * s)) % 1_048_576 % span for s in _ALL),
    )


class SyntheticKb:
    """The synthetic part of one knowledge base: QIDs for every CVE id ``excluded`` lacks.

    ``excluded`` holds the CVEs of the hand-written and filler table (they keep exactly
    their QIDs) and the one CVE kept without QID. The QID count and the sharing of a CVE
    come from one hash; the facts of its QIDs (:class:`Profile`) are drawn when asked for.
    """

    def __init__(self, seed: int, excluded: frozenset[str]) -> None:
        self.seed = seed
        self._excluded = excluded

    def profile(self, code: int) -> Profile:
        """Return the facts of the QIDs of ``code``."""
        return draw_profile(self.seed, code)

    def slots(self, code: int) -> int:
        """Return how many QIDs of its own the CVE ``code`` has (0 when it is excluded)."""
        if code // NUMBERS > LAST_YEAR - FIRST_YEAR or cve_of(code) in self._excluded:
            return 0
        roll = mix(self.seed, _SALT, code) % 100
        return sum(roll >= limit for limit in _SLOT_ROLLS)

    def shares(self, code: int) -> bool:
        """Return True when the last QID of ``code`` also carries the next CVE number."""
        if code % NUMBERS == NUMBERS - 1 or not self.slots(code):
            return False
        shared = (mix(self.seed, _SALT, code) >> 8) % 1000 < _SHARE_PER_MILLE
        return shared and self.slots(code + 1) > 0

    def own_qids(self, code: int) -> tuple[int, ...]:
        """Return the QIDs numbered after ``code`` itself, ascending."""
        return tuple(qid_of(code, slot) for slot in range(self.slots(code)))

    def qids(self, code: int) -> tuple[int, ...]:
        """Return every QID of the CVE ``code``: its own and the one its predecessor shares."""
        own = self.own_qids(code)
        previous = code - 1
        if code % NUMBERS and self.shares(previous):
            own = (qid_of(previous, self.slots(previous) - 1), *own)
        return own

    def cves(self, qid: int) -> tuple[str, ...] | None:
        """Return the CVEs of a synthetic QID (sorted), None when no such QID exists."""
        decoded = decode(qid)
        if decoded is None:
            return None
        code, slot = decoded
        count = self.slots(code)
        if slot >= count:
            return None
        if slot == count - 1 and self.shares(code):
            return tuple(sorted((cve_of(code), cve_of(code + 1))))
        return (cve_of(code),)

    def vuln(self, qid: int) -> KbVuln | None:
        """Return the knowledge-base entry of a synthetic QID, None when there is none."""
        cves = self.cves(qid)
        decoded = decode(qid)
        if cves is None or decoded is None:
            return None
        code, slot = decoded
        p = self.profile(code)
        vuln_type = _TYPES[slot]  # slot 0 confirmed, 1 either, 2 potential
        named = " and ".join(cves)
        title = f"{'Vulnerabilities' if len(cves) > 1 else 'Vulnerability'} in {named}"
        title += _VARIANTS[slot]
        patchable = p.patchable[slot]
        return KbVuln(
            qid=qid,
            vuln_type=vuln_type,
            severity=p.severities[slot],
            title=title,
            category="General remote services" if slot == 1 else p.category,
            cves=cves,
            published=p.published,
            last_modified=p.published + timedelta(days=p.modified_days[slot]),
            patchable=patchable,
            diagnosis=f"The affected software is vulnerable to {named}.",
            consequence="Successful exploitation may allow an attacker to compromise the host.",
            solution=(
                "Apply the vendor's security update; see the vendor advisory for details."
                if patchable
                else "No patch is available; apply the vendor's mitigation."
            ),
        )


def probe(vuln: KbVuln) -> Probe:
    """Return how a synthetic QID shows up on hosts: anywhere, no port, a fixed result."""
    return Probe(ANY, results=f"Vulnerable version found: {', '.join(vuln.cves)}")
