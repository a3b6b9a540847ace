"""Parallel detection pulls: the host ids in scope cut into id ranges, the ranges fetched at once.

Qualys serves one detection page at a time per call and is slow per page on large
subscriptions, while it lets a user run several calls at once (``X-Concurrency-Limit-Limit``;
qualysetl runs ``limit - 1`` [QETL-YAML in docs/qualys-2026.md], leaving one call for others).
So, when the concurrency limit allows two or more workers:

1. list the host ids in scope with host list 5.0 (``details=None``, the same host filters);
2. if they fit in one detection page, fetch serially as before; otherwise cut them into one
   id range per worker, each holding at least a page's worth of hosts in scope (equal counts;
   the first range open below, the last open above, so a host added meanwhile is not missed)
   and fetch each range's pages (``id_min``/``id_max``, WARNING 1980 paging as usual) in its
   own thread and spool;
3. join the range spools in id order: the result is byte for byte what a serial pull gives.

A range that fails after its page retries is retried once alone. Every call passes the
client's :class:`~cvesweep.qualys.client.Gate`, so a 409 pauses all workers, not just one.
"""

from __future__ import annotations

import logging
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

from cvesweep.errors import QualysError, QualysResponseError
from cvesweep.models import SearchOptions
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import (
    DETECTION_PULL,
    Progress,
    ProgressCallback,
    Pull,
    fetch_all,
    host_filter_params,
)
from cvesweep.qualys.endpoints import Endpoint
from cvesweep.qualys.xml import read_host_ids
from cvesweep.spool import HostSpool, Mark

log = logging.getLogger(__name__)

HOST_ID_PAGE = 100_000  # ids per host list page: ~2 MB of XML, a few pages for any fleet
HOST_LIST_CALL = "host list request"
MAX_PARALLEL = 32  # the bound of --max-parallel

IdRange = tuple[int | None, int | None]  # (id_min, id_max); None: open on that side


def host_ids(client: QualysClient, options: SearchOptions) -> array[int]:
    """The ids of the hosts the host filters of ``options`` select, ascending, distinct.

    Kept as 8-byte machine integers (1.6 MB for 200,000 hosts, not ~7 MB of int objects
    plus a set to sort them), each page read as a stream (:func:`read_host_ids`).
    """
    params = {
        "action": "list",
        "details": "None",
        "truncation_limit": str(HOST_ID_PAGE),
        **host_filter_params(options),
    }
    ids: array[int] = array("q")
    id_min: int | None = None
    while True:
        page = params if id_min is None else {**params, "id_min": str(id_min)}
        body = client.post(client.path(Endpoint.HOST_LIST), page, call=HOST_LIST_CALL)
        url = read_host_ids(body, ids, call=HOST_LIST_CALL)
        del body
        if url is None:
            return ids if _ascending(ids) else array("q", sorted(set(ids)))
        next_id = _id_min_of(url)
        if next_id is None or (id_min is not None and next_id <= id_min):
            raise QualysResponseError(
                f"Qualys truncated the {HOST_LIST_CALL} without a usable next id_min",
                call=HOST_LIST_CALL,
            )
        id_min = next_id


def _ascending(ids: array[int]) -> bool:
    """Whether ``ids`` is strictly ascending (as Qualys pages them: the common case)."""
    return all(low < high for low, high in pairwise(ids))


def _id_min_of(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("id_min", [])
    return int(values[-1]) if values and values[-1].isdigit() else None


def workers_for(client: QualysClient, max_parallel: int | None) -> int:
    """Calls to run at once: the concurrency limit minus one, capped by ``max_parallel``."""
    allowed = max(1, (client.concurrency_limit or 1) - 1)
    return allowed if max_parallel is None else max(1, min(allowed, max_parallel))


def id_ranges(ids: Sequence[int], parts: int) -> list[IdRange]:
    """``parts`` id ranges holding equal numbers of ``ids`` (sorted), covering every id."""
    parts = max(1, min(parts, len(ids)))
    starts = [ids[len(ids) * k // parts] for k in range(parts)]
    return [
        (None if k == 0 else starts[k], None if k == parts - 1 else starts[k + 1] - 1)
        for k in range(parts)
    ]


def fetch_scoped(
    client: QualysClient,
    params: dict[str, str],
    spool: HostSpool,
    *,
    scope: SearchOptions,
    max_parallel: int | None,
    pull: Pull = DETECTION_PULL,
    since: str | None = None,
    progress: ProgressCallback | None = None,
    qids: set[int] | None = None,
) -> int:
    """Fetch every page of ``params`` into ``spool``, in parallel id ranges when that pays.

    Same contract as :func:`~cvesweep.qualys.detections.fetch_all` (returns the pages).
    ``max_parallel`` 1 never calls the host list; None lets the concurrency limit decide.
    """
    serial = dict(pull=pull, since=since, progress=progress, qids=qids)
    known_serial = client.concurrency_limit is not None and workers_for(client, max_parallel) < 2
    if max_parallel == 1 or known_serial:  # no host list call when it cannot pay
        return fetch_all(client, params, spool, **serial)  # type: ignore[arg-type]
    ids = host_ids(client, scope)  # its reply also tells the concurrency limit
    workers = workers_for(client, max_parallel)
    limit = int(params.get("truncation_limit", "1000"))
    if workers <= 1 or len(ids) <= 1 or (limit and len(ids) <= limit):
        return fetch_all(client, params, spool, **serial)  # type: ignore[arg-type]
    # Each range should hold at least a page's worth of hosts in scope: fewer calls.
    ranges = id_ranges(ids, min(workers, -(-len(ids) // limit) if limit else workers))
    log.info("detection pull in %d id ranges, %d at once", len(ranges), workers)
    pull_ranges = _Ranges(client, pull, params, ranges, since, progress)
    return pull_ranges.run(spool, qids)


@dataclass
class _Range:
    """One id range's pull: its own spool, QIDs, progress and outcome."""

    bounds: IdRange
    spool: HostSpool = field(default_factory=HostSpool)
    qids: set[int] = field(default_factory=set)
    pages: int = 0
    latest: Progress = field(default_factory=lambda: Progress(0, 0, 0))
    error: BaseException | None = None


class _Stopped(Exception):
    """Raised inside a worker whose run was stopped by another worker's failure."""


class _Ranges:
    """The threads of one parallel pull and what they share."""

    def __init__(
        self,
        client: QualysClient,
        pull: Pull,
        params: dict[str, str],
        bounds: list[IdRange],
        since: str | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.client, self.pull, self.params, self.since = client, pull, params, since
        self.progress = progress
        self.ranges = [_Range(b) for b in bounds]
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self, spool: HostSpool, qids: set[int] | None) -> int:
        """Fetch every range (one thread each), then append them to ``spool`` in order."""
        threads = [
            threading.Thread(target=self._work, args=(r,), daemon=True, name=f"range-{i}")
            for i, r in enumerate(self.ranges)
        ]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short joins: Ctrl-C/SIGTERM reach the main thread
            self._raise_first_error()
            for one in self.ranges:
                spool.absorb(one.spool)
                if qids is not None:
                    qids.update(one.qids)
            return sum(one.pages for one in self.ranges)
        finally:
            self.stop.set()
            for one in self.ranges:
                one.spool.close()

    def _raise_first_error(self) -> None:
        for one in self.ranges:
            if one.error is not None and not isinstance(one.error, _Stopped):
                raise one.error

    def _work(self, one: _Range) -> None:
        try:
            try:
                self._pull(one)
            except QualysError as error:
                if self.stop.is_set():
                    raise
                log.info("id range %s failed (%s); retrying it alone", one.bounds, error)
                one.spool.rollback(Mark(offset=0, hosts=0, detections=0))
                one.qids.clear()
                self._pull(one)
        except BaseException as error:  # recorded for the main thread, which re-raises it
            one.error = error
            self.stop.set()

    def _pull(self, one: _Range) -> None:
        low, high = one.bounds
        params = dict(self.params)
        if low is not None:
            params["id_min"] = str(low)
        if high is not None:
            params["id_max"] = str(high)
        one.pages = fetch_all(
            self.client,
            params,
            one.spool,
            pull=self.pull,
            since=self.since,
            progress=lambda state: self._report(one, state),
            qids=one.qids,
        )

    def _report(self, one: _Range, state: Progress) -> None:
        if self.stop.is_set():
            raise _Stopped
        with self.lock:
            one.latest = state
            total = Progress(
                pages=sum(r.latest.pages for r in self.ranges),
                hosts=sum(r.latest.hosts for r in self.ranges),
                detections=sum(r.latest.detections for r in self.ranges),
            )
            if self.progress is not None:
                self.progress(total)
