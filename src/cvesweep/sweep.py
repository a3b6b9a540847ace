"""Sweep many CVEs at once (a CVE list, a whole CISA KEV catalog) in a handful of Qualys calls.

One search per CVE costs at least 4 calls (create, read back, detections, delete): the 1,404
CVEs of the KEV catalog would be 5,600+ calls, far past a few hundred an hour. A sweep, with
the search-list method:

1. one dynamic search list per chunk of :data:`CHUNK` CVEs (``cve_ids`` comma list), all read
   back in one call (``ids=…&show_qids=1``): the QIDs Qualys knows for the chunk;
2. the QIDs' CVEs from the KnowledgeBase 4.0 (``CVE_LIST``, 1,000 QIDs a call): which CVE
   each QID answers for, and which CVEs got no QID at all;
3. ONE detection pull restricted to every list (``include_search_list_ids`` a comma list,
   parallel id ranges when the concurrency limit allows): a host vulnerable to several CVEs
   is fetched once, then attributed to each;
4. every list deleted, in every outcome.

For the whole catalog that is 3 creates, 1 read-back, 3 KnowledgeBase calls, maybe 1 host
list call and 3 deletes: 11 calls plus the detection pages. With ``--method cve-detection``
each chunk is one CVE detection pull (``cve=`` a comma list) and the chunks are merged by
host id; the method cannot tell a CVE without QID from one without host.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

from cvesweep.cvelists import CveTarget
from cvesweep.models import CveId, Host, SearchMethod, SearchOptions, SearchResult, SearchSummary
from cvesweep.operation import close_after_error
from cvesweep.qualys import knowledgebase, searchlists
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import ProgressCallback, detection_params, refine
from cvesweep.qualys.methods.cvedetection import CveDetectionSource
from cvesweep.qualys.methods.interface import PullRequest
from cvesweep.qualys.parallel import fetch_scoped
from cvesweep.spool import HostSpool

log = logging.getLogger(__name__)

# CVEs per dynamic search list (and per CVE detection pull). 500 keeps each create's form
# near 8 KB (a common limit on a form field) and a CVE detection GET's query under ~8 KB
# at 400, while the 1,404-CVE KEV catalog needs only 3 lists. Qualys documents no maximum
# for cve_ids [unverified].
CHUNK = 500
CVE_DETECTION_CHUNK = 400


@dataclass(frozen=True, slots=True)
class CveOutcome:
    """One CVE of a sweep: its QIDs (None: the method cannot tell) and what it hit."""

    target: CveTarget
    qids: tuple[int, ...] | None
    hosts: int = 0
    detections: int = 0
    highest_severity: int | None = None

    @property
    def no_qid(self) -> bool:
        """Qualys knows no QID for this CVE: no host could be checked for it."""
        return self.qids == ()


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """Counts and facts of one sweep."""

    cves: int
    cves_with_hosts: int
    cves_without_qid: int
    hosts: int
    detections: int
    pages: int
    api_calls: int
    search_lists: tuple[searchlists.TemporaryList, ...]
    elapsed_s: float
    method: str

    @property
    def lists_deleted(self) -> bool:
        """True when every search list of the sweep is gone."""
        return all(one.deleted for one in self.search_lists)


@dataclass
class SweepResult:
    """Every host once (``spool``), each CVE's outcome, and where its hosts are in the spool."""

    targets: tuple[CveTarget, ...]
    options: SearchOptions
    spool: HostSpool
    outcomes: dict[str, CveOutcome]
    summary: SweepSummary
    _qids: dict[str, frozenset[int]] = field(default_factory=dict)
    _where: dict[str, list[int]] = field(default_factory=dict)

    def hosts_of(self, cve: str) -> Iterator[Host]:
        """The hosts vulnerable to ``cve``, in id order, with only its detections."""
        qids = self._qids.get(cve, frozenset())
        for offset in self._where.get(cve, ()):
            host = self.spool.read_at(offset)
            kept = tuple(d for d in host.detections if d.qid in qids)
            yield host if len(kept) == len(host.detections) else replace(host, detections=kept)

    def result_of(self, cve: str) -> SearchResult:
        """``cve``'s part as a single search's result (its hosts re-read on each iteration)."""
        outcome = self.outcomes[cve]
        summary = SearchSummary(
            hosts=outcome.hosts,
            detections=outcome.detections,
            qids=tuple(sorted(self._qids.get(cve, ()))),
            pages=self.summary.pages,
            api_calls=self.summary.api_calls,
            search_list_id=None,
            search_list_deleted=self.summary.lists_deleted,
            elapsed_s=self.summary.elapsed_s,
            method=self.summary.method,
            search_list_qids=outcome.qids,
        )
        hosts = _Rereadable(lambda: self.hosts_of(cve))
        return SearchResult(CveId(cve), self.options, hosts, summary)

    def close(self) -> None:
        """Delete the on-disk spool."""
        self.spool.close()


class _Rereadable:
    """An iterable that makes a new iterator each time (a library ingest may retry)."""

    def __init__(self, make: Callable[[], Iterator[Host]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[Host]:
        return self._make()


def sweep(
    client: QualysClient,
    targets: Sequence[CveTarget],
    options: SearchOptions | None = None,
    *,
    method: SearchMethod = SearchMethod.SEARCH_LIST,
    truncation_limit: int = 1000,
    progress: ProgressCallback | None = None,
    on_search_list: Callable[[searchlists.TemporaryList], None] | None = None,
    max_parallel: int | None = None,
) -> SweepResult:
    """Find every host vulnerable to any of ``targets``, fetched once, attributed per CVE.

    Every search list is deleted in every outcome (``on_search_list`` is told of each as it
    is made). Raises QualysError subclasses; on error nothing is kept.
    """
    options = options or SearchOptions()
    started, calls_before = time.monotonic(), client.api_calls
    request = PullRequest(CveId(""), options, truncation_limit, progress, None, None, max_parallel)
    spool = HostSpool()
    try:
        if method is SearchMethod.SEARCH_LIST:
            pulled = _by_search_lists(client, targets, request, spool, on_search_list)
        else:
            pulled = _by_cve_detection(client, targets, request, spool)
        result = _attribute(targets, options, pulled)
    except BaseException:
        close_after_error(spool)
        raise
    result.summary = replace(
        result.summary,
        api_calls=client.api_calls - calls_before,
        elapsed_s=round(time.monotonic() - started, 3),
        method=method.value,
    )
    return result


@dataclass
class _Pulled:
    spool: HostSpool
    pages: int
    cve_qids: dict[str, frozenset[int]]  # what each CVE maps to (KB, or the detections)
    known: bool  # True: cve_qids is complete (a CVE absent from it has no QID)
    lists: tuple[searchlists.TemporaryList, ...] = ()


def _by_search_lists(
    client: QualysClient,
    targets: Sequence[CveTarget],
    request: PullRequest,
    spool: HostSpool,
    on_search_list: Callable[[searchlists.TemporaryList], None] | None,
) -> _Pulled:
    chunks = [targets[i : i + CHUNK] for i in range(0, len(targets), CHUNK)]
    lists: list[searchlists.TemporaryList] = []
    with ExitStack() as stack:
        for chunk in chunks:
            cves = [CveId(t.cve) for t in chunk]
            made = stack.enter_context(searchlists.temporary_for(client, cves))
            lists.append(made)
            if on_search_list is not None:
                on_search_list(made)
        in_lists = searchlists.qids_of_lists(client, [one.id for one in lists])
        qids = sorted({qid for found in in_lists.values() for qid in found})
        facts = knowledgebase.facts(client, qids) if qids else {}
        pages = 0
        if qids:
            params = detection_params(
                [one.id for one in lists],
                request.options,
                request.truncation_limit,
                client.config.versions,
            )
            pages = fetch_scoped(
                client,
                params,
                spool,
                scope=request.options,
                max_parallel=request.max_parallel,
                since=request.since,
                progress=request.progress,
            )
    return _Pulled(spool, pages, _cves_to_qids(targets, facts), True, tuple(lists))


def _cves_to_qids(
    targets: Sequence[CveTarget], facts: dict[int, knowledgebase.QidFacts]
) -> dict[str, frozenset[int]]:
    wanted = {t.cve for t in targets}
    mapping: dict[str, set[int]] = {}
    for qid, found in facts.items():
        for cve in found.cves:
            if cve in wanted:
                mapping.setdefault(cve, set()).add(qid)
    return {cve: frozenset(qids) for cve, qids in mapping.items()}


def _by_cve_detection(
    client: QualysClient, targets: Sequence[CveTarget], request: PullRequest, spool: HostSpool
) -> _Pulled:
    source = CveDetectionSource()
    chunks = [
        targets[i : i + CVE_DETECTION_CHUNK] for i in range(0, len(targets), CVE_DETECTION_CHUNK)
    ]
    parts: list[HostSpool] = []
    pages = 0
    try:
        for chunk in chunks:
            part = HostSpool()
            parts.append(part)
            cves = CveId(",".join(t.cve for t in chunk))
            pulled = source.pull(client, replace(request, cve=cves), part)
            parts[-1] = pulled.spool
            pages += pulled.pages
        for host in _merged(parts):
            spool.append(host)
    finally:
        for part in parts:
            part.close()
    cve_qids: dict[str, set[int]] = {}
    for host in spool:
        for detection in host.detections:
            for cve in detection.cves:
                cve_qids.setdefault(cve, set()).add(detection.qid)
    return _Pulled(spool, pages, {c: frozenset(q) for c, q in cve_qids.items()}, False)


def _merged(parts: Sequence[HostSpool]) -> Iterator[Host]:
    """The hosts of several id-ordered spools, one per host id, detections combined."""
    streams = [iter(part) for part in parts]
    merged = heapq.merge(*streams, key=lambda host: int(host.id))
    current: Host | None = None
    for host in merged:
        if current is not None and current.id == host.id:
            current = replace(current, detections=current.detections + host.detections)
            continue
        if current is not None:
            yield _combined(current)
        current = host
    if current is not None:
        yield _combined(current)


def _combined(host: Host) -> Host:
    return refine(host, None) or host


def _attribute(
    targets: Sequence[CveTarget], options: SearchOptions, pulled: _Pulled
) -> SweepResult:
    """One pass over the hosts: which CVEs each answers for, and where it is in the spool."""
    qid_cves: dict[int, list[str]] = {}
    for cve, qids in pulled.cve_qids.items():
        for qid in qids:
            qid_cves.setdefault(qid, []).append(cve)
    where: dict[str, list[int]] = {}
    tallies: dict[str, list[int]] = {}  # cve → [detections, highest severity]
    for offset, host in pulled.spool.positions():
        hit: dict[str, list[int]] = {}
        for detection in host.detections:
            for cve in qid_cves.get(detection.qid, ()):
                counts = hit.setdefault(cve, [0, 0])
                counts[0] += 1
                counts[1] = max(counts[1], detection.severity or 0)
        for cve, (detections, severity) in hit.items():
            where.setdefault(cve, []).append(offset)
            tally = tallies.setdefault(cve, [0, 0])
            tally[0] += detections
            tally[1] = max(tally[1], severity)
    outcomes: dict[str, CveOutcome] = {
        t.cve: _outcome(t, pulled, where.get(t.cve, ()), tallies.get(t.cve)) for t in targets
    }
    summary = SweepSummary(
        cves=len(targets),
        cves_with_hosts=sum(1 for o in outcomes.values() if o.hosts),
        cves_without_qid=sum(1 for o in outcomes.values() if o.no_qid),
        hosts=pulled.spool.hosts,
        detections=pulled.spool.detections,
        pages=pulled.pages,
        api_calls=0,
        search_lists=pulled.lists,
        elapsed_s=0.0,
        method="",
    )
    return SweepResult(
        tuple(targets), options, pulled.spool, outcomes, summary, dict(pulled.cve_qids), where
    )


def _outcome(
    target: CveTarget, pulled: _Pulled, offsets: Iterable[int], tally: list[int] | None
) -> CveOutcome:
    qids = pulled.cve_qids.get(target.cve)
    known: tuple[int, ...] | None = tuple(sorted(qids)) if qids else None
    if known is None and pulled.known:
        known = ()  # the KnowledgeBase maps no QID of the lists to this CVE
    detections, severity = tally if tally else (0, 0)
    return CveOutcome(target, known, len(list(offsets)), detections, severity or None)
