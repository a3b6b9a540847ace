"""Host detection requests: build the parameters, page through truncation, filter, spool.

Each page is parsed while it streams in; its hosts go to the spool only once the whole
page parsed (a page that fails half-way is rolled back and retried, never half-kept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cvesweep.errors import QualysError, QualysResponseError
from cvesweep.inputs import format_qualys_datetime
from cvesweep.models import Host, SearchOptions
from cvesweep.qualys.client import Attempts, QualysClient, TransientError, iter_body
from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.qualys.xml import CVE_DETECTIONS, DETECTIONS, DetectionParser, PageEnd, ReplyKind
from cvesweep.spool import (
    DETECTION_FIELDS,
    DETECTIONS_AT,
    HostRow,
    HostSpool,
    host_from_row,
    host_row,
)

CALL = "detection request"


@dataclass(frozen=True, slots=True)
class Pull:
    """Which detection endpoint a paged pull calls, how, and which reply it parses."""

    endpoint: Endpoint
    kind: ReplyKind
    call: str
    method: str = "POST"  # POST: long IP lists would overflow a URL


DETECTION_PULL = Pull(Endpoint.DETECTION, DETECTIONS, CALL)
# GET: the only client seen calling it (qualysdk) uses GET; POST is undocumented [unverified].
CVE_DETECTION_PULL = Pull(
    Endpoint.CVE_DETECTION, CVE_DETECTIONS, "CVE detection request", method="GET"
)


@dataclass(frozen=True, slots=True)
class Progress:
    """What has arrived so far; reported when a page starts, every 25 hosts, after a page."""

    pages: int
    hosts: int
    detections: int


ProgressCallback = Callable[[Progress], None]


def detection_params(
    list_id: int | Sequence[int],
    options: SearchOptions,
    truncation_limit: int,
    versions: ApiVersions | None = None,
) -> dict[str, str]:
    """The POST form of a detection request for a search list and the filters (SPEC §2).

    Asks for what detection 5.0 adds (QDS, MITRE ATT&CK, detection sources); a parameter the
    configured version does not take is left out (``ApiVersions.supported``).
    """
    params = {
        "action": "list",
        "include_search_list_ids": (
            str(list_id) if isinstance(list_id, int) else ",".join(map(str, list_id))
        ),
        "show_tags": "1",
        "show_results": "0",
        "show_qds": "1",
        "mitre_attack_details": "1",
        "vuln_detection_source": "1",
        # Not show_cve=1 or any other guess: Qualys answers 1901 to an unknown parameter,
        # which would fail every search. The per-detection CVE is read when Qualys sends it.
        "truncation_limit": str(truncation_limit),
        **host_filter_params(options),
    }
    if options.min_severity is not None:
        params["severities"] = f"{options.min_severity}-5"
    if options.since is not None:
        params["detection_last_tested_since"] = format_qualys_datetime(options.since)
    return (versions or ApiVersions()).supported(Endpoint.DETECTION, params)


def host_filter_params(options: SearchOptions) -> dict[str, str]:
    """The host filters (IPs, asset groups) as Qualys parameters, shared by every endpoint."""
    params: dict[str, str] = {}
    if options.ips:
        params["ips"] = ",".join(options.ips)
    if options.asset_groups:
        key = "ag_ids" if all(g.isdigit() for g in options.asset_groups) else "ag_titles"
        params[key] = ",".join(options.asset_groups)
    return params


def refine(host: Host, since: str | None) -> Host | None:
    """Keep one detection per QID (the latest found) and, with ``since``, only detections
    last found at or after it; None when no detection is left (``host`` if all are kept)."""
    row = host_row(host)
    kept = refine_row(row, since)
    return None if kept is None else host if kept is row else host_from_row(kept)


_QID, _LAST_FOUND, _CVES = (DETECTION_FIELDS.index(n) for n in ("qid", "last_found", "cves"))


def refine_row(row: HostRow, since: str | None) -> HostRow | None:
    """:func:`refine` of a host given as a :data:`~cvesweep.spool.HostRow` (``row`` itself
    when every detection is kept as it is)."""
    best: dict[int, tuple[Any, ...]] = {}
    for det in row[DETECTIONS_AT]:
        found = det[_LAST_FOUND]
        if since is not None and (found is None or found < since):
            continue
        kept = best.get(det[_QID])
        if kept is None:
            best[det[_QID]] = det
            continue
        latest = det if (found or "") > (kept[_LAST_FOUND] or "") else kept
        cves = tuple(sorted({*kept[_CVES], *det[_CVES]}))  # CVE detection: one item per CVE
        if latest[_CVES] != cves:
            latest = (*latest[:_CVES], cves, *latest[_CVES + 1 :])
        best[det[_QID]] = latest
    if not best:
        return None
    detections = tuple([best[qid] for qid in sorted(best)])
    if detections == row[DETECTIONS_AT]:
        return row
    return (*row[:DETECTIONS_AT], detections, *row[DETECTIONS_AT + 1 :])


def fetch_all(
    client: QualysClient,
    params: dict[str, str],
    spool: HostSpool,
    *,
    pull: Pull = DETECTION_PULL,
    since: str | None = None,
    progress: ProgressCallback | None = None,
    qids: set[int] | None = None,
) -> int:
    """Request every page (following WARNING 1980 through ``id_min``) into ``spool``.

    Returns the number of pages; the QIDs of the kept detections are added to ``qids``.
    Raises QualysError subclasses; never returns while a truncation warning is pending.
    """
    pages, id_min = 0, None
    while True:
        page_params = dict(params) if id_min is None else {**params, "id_min": str(id_min)}
        page_qids: set[int] = set()
        end = _fetch_page(client, pull, page_params, spool, since, progress, pages, page_qids)
        if qids is not None:
            qids.update(page_qids)
        pages += 1
        _report(progress, pages, spool)
        if end.truncation is None:
            return pages
        next_id = end.truncation.next_id_min
        if next_id is None or (id_min is not None and next_id <= id_min):
            raise QualysResponseError(
                f"Qualys truncated the {pull.call} without a usable next id_min "
                f"(URL {end.truncation.url!r})",
                call=pull.call,
            )
        id_min = next_id


def _fetch_page(
    client: QualysClient,
    pull: Pull,
    params: dict[str, str],
    spool: HostSpool,
    since: str | None,
    progress: ProgressCallback | None,
    pages: int,
    qids: set[int],
) -> PageEnd:
    attempts = Attempts(client, pull.call)
    path = client.path(pull.endpoint)
    while True:
        mark = spool.mark()
        try:
            with client.stream(path, params, attempts, method=pull.method) as response:
                _report(progress, pages, spool)  # the page started: a chance to cancel
                parser = DetectionParser(
                    call=pull.call, http_status=response.status_code, kind=pull.kind
                )
                for chunk in iter_body(response, pull.call):
                    _keep(parser.feed_rows(chunk), spool, since, progress, pages, qids)
                return parser.close()
        except (TransientError, QualysResponseError) as error:
            spool.rollback(mark)
            qids.clear()
            attempts.retry_after_failure(_transient(error))


def _transient(error: QualysError) -> QualysError:
    if isinstance(error, TransientError):
        return error
    return TransientError(
        error.message, call=error.call, http_status=error.http_status, final=error
    )


def _keep(
    hosts: Iterable[HostRow],
    spool: HostSpool,
    since: str | None,
    progress: ProgressCallback | None,
    pages: int,
    qids: set[int],
) -> None:
    for host in hosts:
        kept = refine_row(host, since)
        if kept is not None:
            spool.append_row(kept)
            qids.update([d[_QID] for d in kept[DETECTIONS_AT]])
            if progress is not None and spool.hosts % 25 == 0:
                _report(progress, pages, spool)


def _report(progress: ProgressCallback | None, pages: int, spool: HostSpool) -> None:
    if progress is not None:
        progress(Progress(pages=pages, hosts=spool.hosts, detections=spool.detections))
