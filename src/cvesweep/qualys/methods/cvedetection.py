"""The cve-detection method: ``/api/3.0/fo/asset/host/vm/cve_detection/`` with ``cve=``.

No temporary list to create or delete. The endpoint's items carry ``ASSOCIATED_QID`` but no
severity (docs/qualys-2026.md §3.4 [unverified]) and it takes no ``severities`` or
``detection_*`` filters, so cvesweep reads the QIDs' severities from the KnowledgeBase (one
call per 1,000 QIDs) and applies ``--min-severity`` and ``--since`` itself, then spools the
kept hosts again. Same hosts, QIDs and output shape as the search-list method.
"""

from __future__ import annotations

from dataclasses import replace

from cvesweep.models import CveId, Host, SearchOptions
from cvesweep.qualys import knowledgebase
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import CVE_DETECTION_PULL, host_filter_params
from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.qualys.methods.interface import HostSource, Pulled, PullRequest
from cvesweep.qualys.parallel import fetch_scoped
from cvesweep.spool import HostSpool


def cve_detection_params(
    cve: CveId, options: SearchOptions, truncation_limit: int, versions: ApiVersions
) -> dict[str, str]:
    """The query of a CVE detection request for ``cve`` and the host filters."""
    params = {
        "action": "list",
        "cve": str(cve),
        "show_tags": "1",
        "truncation_limit": str(truncation_limit),
        **host_filter_params(options),
    }
    return versions.supported(Endpoint.CVE_DETECTION, params)


class CveDetectionSource(HostSource):
    """CVE detection 3.0 pages → KB 4.0 severities → the severity filter."""

    def pull(self, client: QualysClient, request: PullRequest, spool: HostSpool) -> Pulled:
        params = cve_detection_params(
            request.cve, request.options, request.truncation_limit, client.config.versions
        )
        seen: set[int] = set()
        pages = fetch_scoped(
            client,
            params,
            spool,
            scope=request.options,
            max_parallel=request.max_parallel,
            pull=CVE_DETECTION_PULL,
            since=request.since,
            progress=request.progress,
            qids=seen,
        )
        levels = knowledgebase.severities(client, seen) if seen else {}
        kept, qids = _with_severities(spool, levels, request.options.min_severity, request)
        return Pulled(kept, pages, tuple(sorted(qids)))


def _with_severities(
    spool: HostSpool, levels: dict[int, int], minimum: int | None, request: PullRequest
) -> tuple[HostSpool, set[int]]:
    """A new spool of the hosts with each detection's KB severity, below ``minimum`` dropped.

    The old spool is closed once the new one is complete; on error the new one is.
    """
    kept = HostSpool(request.spool_dir)
    qids: set[int] = set()
    try:
        for host in spool:
            refined = _refined(host, levels, minimum)
            if refined is not None:
                kept.append(refined)
                qids.update(d.qid for d in refined.detections)
    except BaseException:
        kept.close()
        raise
    spool.close()
    return kept, qids


def _refined(host: Host, levels: dict[int, int], minimum: int | None) -> Host | None:
    detections = tuple(
        replace(d, severity=levels.get(d.qid, d.severity))
        for d in host.detections
        if minimum is None or levels.get(d.qid, d.severity or 0) >= minimum
    )
    return replace(host, detections=detections) if detections else None
