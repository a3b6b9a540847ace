"""The "Search for Vulnerable Hosts" operation, step by step as SPEC §1 says.

1. ask Qualys for the hosts of the CVE with the chosen method (:mod:`cvesweep.qualys.methods`):
   ``search-list`` creates a temporary dynamic QID search list for the CVE, reads its QIDs
   back, lists host detections restricted to it page by page and deletes it, always;
   ``cve-detection`` pages through the CVE detection endpoint, no list involved;
2. hosts go to an on-disk spool as they stream in;
3. map: one detection per QID per host, the exact client-side date filter;
4. hand the result to the caller, who shows and stores it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cvesweep.models import CveId, SearchMethod, SearchOptions, SearchResult, SearchSummary
from cvesweep.qualys import searchlists
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import ProgressCallback
from cvesweep.qualys.methods import SOURCES, PullRequest
from cvesweep.spool import HostSpool

log = logging.getLogger(__name__)

DEFAULT_TRUNCATION_LIMIT = 1000


def search_vulnerable_hosts(
    client: QualysClient,
    cve: CveId,
    options: SearchOptions | None = None,
    *,
    method: SearchMethod = SearchMethod.SEARCH_LIST,
    truncation_limit: int = DEFAULT_TRUNCATION_LIMIT,
    progress: ProgressCallback | None = None,
    spool_dir: str | None = None,
    on_search_list: Callable[[searchlists.TemporaryList], None] | None = None,
    max_parallel: int | None = None,
) -> SearchResult:
    """Find every host with an open detection of ``cve`` that passes ``options``.

    Returns a SearchResult whose ``hosts`` is a :class:`HostSpool` on disk; the caller
    closes it (``result.hosts.close()``) when done. A search list the method creates is
    deleted in every outcome; ``on_search_list`` is told of it as soon as it exists (its
    ``deleted`` flag is final once this function returns or raises). The summary's
    ``search_list_qids`` is ``()`` when Qualys knows no QID for the CVE. ``max_parallel``
    caps the detection calls run at once (1: serial; None: the subscription's concurrency
    limit minus one, see :mod:`cvesweep.qualys.parallel`). Raises QualysError subclasses;
    on error nothing is kept.
    """
    options = options or SearchOptions()
    started = time.monotonic()
    calls_before = client.api_calls
    request = PullRequest(
        cve, options, truncation_limit, progress, on_search_list, spool_dir, max_parallel
    )
    spool = HostSpool(spool_dir)
    try:
        pulled = SOURCES[method].pull(client, request, spool)
    except BaseException:
        close_after_error(spool)
        raise
    search_list = pulled.search_list
    summary = SearchSummary(
        hosts=pulled.spool.hosts,
        detections=pulled.spool.detections,
        qids=pulled.qids,
        pages=pulled.pages,
        api_calls=client.api_calls - calls_before,
        search_list_id=search_list.id if search_list else None,
        search_list_deleted=search_list.deleted if search_list else False,
        elapsed_s=round(time.monotonic() - started, 3),
        method=method.value,
        search_list_qids=pulled.search_list_qids,
    )
    log.info("%s: %d hosts, %d pages", cve, summary.hosts, summary.pages)
    return SearchResult(cve=cve, options=options, hosts=pulled.spool, summary=summary)


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
        close_after_error(result.hosts)


def close_after_error(spool: HostSpool) -> None:
    """Close ``spool`` while another error is on its way up: a failure is only logged."""
    try:
        spool.close()
    except OSError as failure:
        log.warning("the temporary host spool could not be closed: %s", failure)
