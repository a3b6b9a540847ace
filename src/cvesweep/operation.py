"""The "Search for Vulnerable Hosts" operation, step by step as SPEC §1 says.

1. create a temporary dynamic QID search list for the CVE;
2. list host detections restricted to it, page by page, into an on-disk spool;
3. delete the search list, always;
4. map: one detection per QID per host, the exact client-side date filter;
5. hand the result to the caller, who shows and stores it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cvesweep.inputs import format_qualys_datetime
from cvesweep.models import CveId, SearchOptions, SearchResult, SearchSummary
from cvesweep.qualys import searchlists
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import (
    ProgressCallback,
    detection_params,
    fetch_all,
)
from cvesweep.spool import HostSpool

log = logging.getLogger(__name__)

DEFAULT_TRUNCATION_LIMIT = 1000


def search_vulnerable_hosts(
    client: QualysClient,
    cve: CveId,
    options: SearchOptions | None = None,
    *,
    truncation_limit: int = DEFAULT_TRUNCATION_LIMIT,
    progress: ProgressCallback | None = None,
    spool_dir: str | None = None,
    on_search_list: Callable[[searchlists.TemporaryList], None] | None = None,
) -> SearchResult:
    """Find every host with an open detection of ``cve`` that passes ``options``.

    Returns a SearchResult whose ``hosts`` is a :class:`HostSpool` on disk; the caller
    closes it (``result.hosts.close()``) when done. The search list is deleted in every
    outcome. ``on_search_list`` is told of the list as soon as it exists (its ``deleted``
    flag is final once this function returns or raises). Raises QualysError subclasses;
    on error nothing is kept.
    """
    options = options or SearchOptions()
    started = time.monotonic()
    calls_before = client.api_calls
    since = format_qualys_datetime(options.since) if options.since else None
    spool = HostSpool(spool_dir)
    qids: set[int] = set()
    try:
        with searchlists.temporary(client, cve) as search_list:
            if on_search_list is not None:
                on_search_list(search_list)
            params = detection_params(search_list.id, options, truncation_limit)
            pages = fetch_all(client, params, spool, since=since, progress=progress, qids=qids)
    except BaseException:
        _close_after_error(spool)
        raise
    summary = SearchSummary(
        hosts=spool.hosts,
        detections=spool.detections,
        qids=tuple(sorted(qids)),
        pages=pages,
        api_calls=client.api_calls - calls_before,
        search_list_id=search_list.id,
        search_list_deleted=search_list.deleted,
        elapsed_s=round(time.monotonic() - started, 3),
    )
    log.info("%s: %d hosts, %d pages", cve, summary.hosts, summary.pages)
    return SearchResult(cve=cve, options=options, hosts=spool, summary=summary)


def release(result: SearchResult) -> None:
    """Delete the on-disk spool behind ``result.hosts`` (no-op for in-memory hosts)."""
    if isinstance(result.hosts, HostSpool):
        result.hosts.close()


@contextmanager
def released(result: SearchResult) -> Iterator[SearchResult]:
    """Use ``result`` inside the block, then :func:`release` it whatever happens.

    When the block raises, a failing release is logged and the block's error goes on.
    """
    try:
        yield result
    except BaseException:
        release_after_error(result)
        raise
    release(result)


def release_after_error(result: SearchResult) -> None:
    """:func:`release` while another error is on its way up: a failure here is only logged.

    Clean-up must never replace the error that made it necessary.
    """
    if isinstance(result.hosts, HostSpool):
        _close_after_error(result.hosts)


def _close_after_error(spool: HostSpool) -> None:
    try:
        spool.close()
    except OSError as failure:
        log.warning("the temporary host spool could not be closed: %s", failure)
