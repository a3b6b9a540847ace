"""What the hosts of the simulated fleet have: one pattern of detections per residue.

Host ``i`` has the pattern of residue ``i % PERIOD``. A pattern is drawn in two layers so
counting stays cheap: the *skeleton* (OS profile and, per QID, its type and status) is all
that host counts and QID candidates need; the *details* (OS string, ports, results text,
date offsets) are drawn only when hosts are built. Both come CHUNK residues at a time from
``random.Random(seed).random()``, whose sequence Python guarantees for an integer seed. The
world's CVEs (``prevalence.py``) are appended to each skeleton and get their details from a
stream of their own, so the table's rows are the same with or without them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from random import Random
from typing import TypeVar

from cvesweep.simulator import naming, prevalence, synthetic
from cvesweep.simulator.catalog import EITHER, IG, POTENTIAL, SPREADS
from cvesweep.simulator.knowledgebase import KnowledgeBase, mix
from cvesweep.simulator.naming import PROFILES
from cvesweep.simulator.prevalence import status as _status

PERIOD = 4099  # prime, a few thousand: enough variety, and tables stay small
CHUNK = 32
OPEN_STATUSES = frozenset({"New", "Active", "Re-Opened"})  # the detection API's default
END = datetime(2026, 10, 20, tzinfo=UTC)  # every simulated scan happened before this
SCAN_WINDOW = 45 * 86400  # hosts were last scanned within this many seconds before END
_DAY = 86400
_SSL_PORTS = frozenset({443, 8443, 3389, 636, 993, 995})
_SALT_SKELETON, _SALT_DETAILS, _SALT_WORLD = 0x534B, 0x4454, 0x574F
_ROLES = frozenset({"server", "workstation", "device"})
ZERO = timedelta(0)
_T = TypeVar("_T")

# (OS profile number, ((qid, type, status), ...) sorted by QID)
Skeleton = tuple[int, tuple[tuple[int, str, str | None], ...]]
# One detection: qid, type, severity, status, port, protocol, ssl, results, results has
# placeholders, first-found age, last-found age, last-fixed age (before the last test), times.
Row = tuple[int, str, int | None, str | None, int | None, str | None, bool, str, bool,
            timedelta, timedelta, timedelta | None, int]  # fmt: skip
# What all detections of a QID share: severity, ports, protocol, results, has placeholders,
# and the longest first-found age its publication date allows (seconds).
_Info = tuple[int, tuple[int, ...], str, str, bool, int]


@dataclass(frozen=True, slots=True)
class Pattern:
    """Everything residue-determined about a host: profile, OS, tracking, service, rows."""

    profile: int
    os: str
    tracking: str
    app: str
    rows: tuple[Row, ...]


class PatternMaker:
    """Draws skeletons and patterns for one knowledge base and seed."""

    def __init__(self, kb: KnowledgeBase, seed: int) -> None:
        self._seed = seed
        self._profile_cum = list(accumulate(p.weight for p in PROFILES))
        self._forced = {r: k for k, s in enumerate(SPREADS) for r in s.forced}
        self._kb = kb
        self._info = {q: _qid_info(kb, q) for q in kb.table_qids()}
        self._types = {q: _base_type(kb, q) for q in kb.table_qids()}
        self._world: Mapping[int, tuple[prevalence.Row, ...]] | None = None
        self._spreads: list[list[tuple[int, float, float, tuple[int, ...]]]] = []
        self._pools: list[tuple[list[int], list[int]]] = []
        for profile in PROFILES:
            spreads = [(k, s.rate, s.pair_rate, _eligible(kb, s.qids, profile, s.roles))
                       for k, s in enumerate(SPREADS)]  # fmt: skip
            self._spreads.append([spread for spread in spreads if spread[3]])
            weighted = [(q, _weight(kb, q)) for q in _eligible(kb, kb.table_qids(), profile)]
            weighted = [(q, w) for q, w in weighted if w]
            self._pools.append(([q for q, _ in weighted], list(accumulate(w for _, w in weighted))))

    def skeletons(self, chunk: int) -> list[Skeleton]:
        """Return the skeletons of residues ``chunk * CHUNK`` up to the next chunk."""
        rnd = Random(mix(self._seed, _SALT_SKELETON, chunk)).random
        first = chunk * CHUNK
        if self._world is None:
            self._world = prevalence.spread(self._kb, PERIOD)
        return [self._skeleton(rnd, r) for r in range(first, min(first + CHUNK, PERIOD))]

    def _skeleton(self, rnd: Callable[[], float], residue: int) -> Skeleton:
        forced = self._forced.get(residue)
        if forced is None:
            number = bisect_right(self._profile_cum, rnd() * self._profile_cum[-1])
        else:
            number = naming.UBUNTU_PROFILE  # a forced spread needs a fitting Linux host
        chosen: dict[int, str | None] = {}
        for k, rate, pair_rate, eligible in self._spreads[number]:
            if k == forced:
                chosen[eligible[0]] = "Active"
            elif rnd() < rate:
                first = _pick(rnd, eligible)
                chosen[first] = _status(rnd())
                if len(eligible) > 1 and rnd() < pair_rate:
                    chosen[_pick(rnd, [q for q in eligible if q != first])] = _status(rnd())
        qids, cumulative = self._pools[number]
        for _ in range(1 + int(rnd() * 6) + int(rnd() * 6)):
            qid = qids[bisect_right(cumulative, rnd() * cumulative[-1])]
            if qid not in chosen:
                chosen[qid] = _status(rnd())
        rows: list[tuple[int, str, str | None]] = []
        for qid in sorted(chosen):
            kind = self._types[qid]
            if kind == "Info":
                rows.append((qid, kind, None))
            else:
                if kind == EITHER:
                    kind = "Potential" if rnd() < 0.4 else "Confirmed"
                rows.append((qid, kind, chosen[qid]))
        # The world's CVEs come after (their QIDs are all larger), drawn without ``rnd`` so
        # the hand-written and filler rows are the same with or without them.
        assert self._world is not None
        rows.extend(self._world.get(residue, ()))
        return number, tuple(rows)

    def patterns(self, chunk: int, skeletons: Sequence[Skeleton]) -> list[Pattern]:
        """Return the patterns of the residues of ``chunk``, given their ``skeletons``."""
        rnd = Random(mix(self._seed, _SALT_DETAILS, chunk)).random
        first = chunk * CHUNK
        return [self._pattern(rnd, s, first + k) for k, s in enumerate(skeletons)]

    def _pattern(self, rnd: Callable[[], float], skeleton: Skeleton, residue: int) -> Pattern:
        number, skeleton_rows = skeleton
        rows: list[Row] = []
        world = [row for row in skeleton_rows if row[0] >= synthetic.BASE]
        for qid, kind, status in skeleton_rows[: len(skeleton_rows) - len(world)]:
            severity, ports, protocol, results, fmt, max_age = self._info[qid]
            first, found, fixed, times = _ages(rnd, status, max_age)
            port = _pick(rnd, ports) if ports else None
            extra = [p for p in ports if p != port][:1] if rnd() < 0.06 else []
            for one in (port, *extra):
                rows.append((qid, kind, None if kind == "Info" else severity, status, one,
                             None if one is None else protocol, one in _SSL_PORTS, results, fmt,
                             first, found, fixed, times))  # fmt: skip
        if world:
            rows += self._world_rows(world, Random(mix(self._seed, _SALT_WORLD, residue)).random)
        rows.sort(key=lambda row: (row[0], row[4] or 0))
        p = PROFILES[number]
        return Pattern(number, _pick(rnd, p.os_names), _pick(rnd, p.tracking),
                       _pick(rnd, p.apps), tuple(rows))  # fmt: skip

    def _world_rows(
        self, skeleton_rows: list[tuple[int, str, str | None]], rnd: Callable[[], float]
    ) -> list[Row]:
        """Return the detections of the world's QIDs: no port, details from their own ``rnd``."""
        rows: list[Row] = []
        for qid, kind, status in skeleton_rows:
            info = self._info.get(qid)
            if info is None:
                info = self._info[qid] = _qid_info(self._kb, qid)
            severity, _, _, results, fmt, max_age = info
            first, found, fixed, times = _ages(rnd, status, max_age)
            rows.append((qid, kind, severity, status, None, None, False, results, fmt,
                         first, found, fixed, times))  # fmt: skip
        return rows


def _pick(rnd: Callable[[], float], items: Sequence[_T]) -> _T:
    return items[int(rnd() * len(items))]


def _weight(kb: KnowledgeBase, qid: int) -> int:
    probe = kb.probe(qid)
    return 0 if probe is None else probe.weight


def _base_type(kb: KnowledgeBase, qid: int) -> str:
    vuln = kb.vuln(qid)
    assert vuln is not None
    return {IG: "Info", POTENTIAL: "Potential", EITHER: EITHER}.get(vuln.vuln_type, "Confirmed")


def _qid_info(kb: KnowledgeBase, qid: int) -> _Info:
    vuln, probe = kb.vuln(qid), kb.probe(qid)
    assert vuln is not None and probe is not None
    history = (END - timedelta(seconds=SCAN_WINDOW) - vuln.published).total_seconds()
    max_age = int(min(max(history, 31 * _DAY), 730 * _DAY))
    return (vuln.severity, probe.ports, probe.protocol, probe.results,
            "{" in probe.results, max_age)  # fmt: skip


def _eligible(
    kb: KnowledgeBase, qids: Sequence[int], profile: naming.Profile, roles: Collection[str] = _ROLES
) -> tuple[int, ...]:
    """Return the QIDs of ``qids`` that hosts of ``profile`` can carry."""
    if profile.role not in roles:
        return ()
    fitting = []
    for qid in qids:
        vuln, probe = kb.vuln(qid), kb.probe(qid)
        if vuln is None or probe is None or profile.family not in probe.families:
            continue
        if vuln.category not in naming.DISTRO_CATEGORIES or vuln.category in profile.categories:
            fitting.append(qid)
    return tuple(fitting)


def _ages(
    rnd: Callable[[], float], status: str | None, max_age: int
) -> tuple[timedelta, timedelta, timedelta | None, int]:
    """Return (first found, last found, last fixed) ages before the last test, and times found."""
    if status == "New":
        return ZERO, ZERO, None, 1
    first = 30 * _DAY + int(rnd() * (max_age - 30 * _DAY))
    weeks = 1 + first // (7 * _DAY)
    if status == "Fixed":
        found = 7 * _DAY + int(rnd() * (first - 7 * _DAY))
        fixed = int(rnd() * found)
        times = 1 + int(rnd() * weeks)
        return timedelta(seconds=first), timedelta(seconds=found), timedelta(seconds=fixed), times
    if status == "Re-Opened":
        fixed = _DAY + int(rnd() * (first - 2 * _DAY))
        return timedelta(seconds=first), ZERO, timedelta(seconds=fixed), 2 + int(rnd() * weeks)
    least = 1 if status is None else 2  # "Active" means seen by more than one scan
    return timedelta(seconds=first), ZERO, None, least + int(rnd() * weeks)
