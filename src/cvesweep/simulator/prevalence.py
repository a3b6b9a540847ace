"""How the world's CVEs (the shipped KEV catalog) spread over the fleet's host patterns.

Each world CVE draws from its seed how many of the PERIOD residues carry it: most none or a
few, some dozens, a very few hundreds (up to about 10% of the hosts). Each residue picked
gets one of the CVE's own QIDs, sometimes two, with a status drawn as for the hand-written
spreads. The result is a table residue → rows, merged into the skeletons by
``patterns.py``, so counts, QID candidates and host builds treat these detections exactly
like the others and no per-host work depends on the number of world CVEs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from cvesweep.simulator.catalog import EITHER, POTENTIAL
from cvesweep.simulator.draws import Draw
from cvesweep.simulator.knowledgebase import KnowledgeBase
from cvesweep.simulator.synthetic import code_of, vuln_type

Row = tuple[int, str, str]  # (qid, "Confirmed" or "Potential", status)

_SALT = 0x5052
# (percent of the world CVEs with a QID, fewest residues, most residues); a residue is one
# host in PERIOD (4,099), so 400 residues are about 10% of any fleet.
TIERS: tuple[tuple[int, int, int], ...] = (
    (48, 0, 0),
    (30, 1, 3),
    (16, 4, 19),
    (5, 20, 99),
    (1, 100, 400),
)
_SECOND_QID = 0.2  # chance that a host with the CVE shows two of its QIDs
_LOCK = threading.Lock()
_MEMO: dict[tuple[int, tuple[str, ...], int], Mapping[int, tuple[Row, ...]]] = {}


def residue_count(d: Draw) -> int:
    """Draw how many residues carry one CVE, from :data:`TIERS`."""
    roll = d.below(100)
    for percent, low, high in TIERS:
        if roll < percent:
            return d.between(low, high) if high else 0
        roll -= percent
    return 0


def status(roll: float) -> str:
    """Map a uniform ``roll`` to a status as ``patterns.py`` does: mostly Active, some Fixed."""
    if roll < 0.12:
        return "New"
    if roll < 0.70:
        return "Active"
    return "Re-Opened" if roll < 0.77 else "Fixed"


def spread(kb: KnowledgeBase, period: int) -> Mapping[int, tuple[Row, ...]]:
    """Return residue → the world detections of that residue, sorted by QID.

    A pure function of (seed, world, period): the result is kept for the last few keys, so
    the fleets of one seed in a process (tests make many) draw it once. Do not mutate it.
    """
    key = (kb.seed, kb.world_cves(), period)
    with _LOCK:
        known = _MEMO.get(key)
    if known is None:
        known = _spread(kb, period)
        with _LOCK:
            if len(_MEMO) >= 8:
                _MEMO.pop(next(iter(_MEMO)))
            _MEMO[key] = known
    return known


def _spread(kb: KnowledgeBase, period: int) -> dict[int, tuple[Row, ...]]:
    placed: dict[int, dict[int, tuple[str, str]]] = {}
    for cve in kb.world_cves():
        code = code_of(cve)
        assert code is not None  # world CVEs are canonical
        own = kb.own(code)
        d = Draw(kb.seed, _SALT, code)
        for residue in _residues(d, residue_count(d), period):
            rows = placed.setdefault(residue, {})
            first = d.pick(own)
            rows[first] = _row(d, first)
            if len(own) > 1 and d.chance(_SECOND_QID):
                second = d.pick([qid for qid in own if qid != first])
                rows[second] = _row(d, second)
    return {r: tuple((q, *rows[q]) for q in sorted(rows)) for r, rows in placed.items()}


def _residues(d: Draw, count: int, period: int) -> list[int]:
    chosen: set[int] = set()
    while len(chosen) < min(count, period):
        chosen.add(d.below(period))
    return sorted(chosen)


def _row(d: Draw, qid: int) -> tuple[str, str]:
    kind = vuln_type(qid)
    potential = kind == POTENTIAL or (kind == EITHER and d.chance(0.4))
    return ("Potential" if potential else "Confirmed", status(d.bits() / 2**64))
