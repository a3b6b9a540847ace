"""CVE detection, ``/api/3.0/fo/asset/host/vm/cve_detection/`` (action=list, GET or POST).

Parameters per docs/qualys-2026.md §3.4 (qualysdk's whitelist; no Qualys page found
[unverified]). It selects hosts and detections with the very query of the detection API,
restricted to the QIDs of the CVEs asked for, so for the same filters the (host, QID) pairs
are those detection 5.0 gives for a search list of these CVEs. There is no ``severities``
parameter and no ``show_igs``: Information Gathered detections never appear.
"""

from __future__ import annotations

import re
from dataclasses import replace

from cvesweep.qualys.endpoints import Endpoint
from cvesweep.simulator import detectionparams, detections
from cvesweep.simulator import params as p
from cvesweep.simulator.api.call import Call, action_of, next_page_url
from cvesweep.simulator.api.detection import dtd_url
from cvesweep.simulator.cvexml import ROOT, CveView, cve_stream
from cvesweep.simulator.hostxml import reply_head
from cvesweep.simulator.replies import Reply

PARAMS = (
    "echo_request",
    "cve",
    "show_qvs",
    "include_vuln_type",
    "show_asset_id",
    "truncation_limit",
    "ids",
    "id_min",
    "id_max",
    "ips",
    "ag_ids",
    "ag_titles",
    "network_ids",
    "vm_scan_since",
    "no_vm_scan_since",
    "max_days_since_last_vm_scan",
    "vm_scan_date_before",
    "vm_scan_date_after",
    "vm_processed_before",
    "vm_processed_after",
    "status",
    "os_pattern",
    "qids",
    "include_search_list_ids",
    "include_search_list_titles",
    "exclude_search_list_ids",
    "exclude_search_list_titles",
    "filter_superseded_qids",
    "use_tags",
    "tag_set_by",
    "tag_include_selector",
    "tag_exclude_selector",
    "tag_set_include",
    "tag_set_exclude",
    "show_tags",
    "host_metadata",
    "show_cloud_tags",
    "cloud_tag_fields",
    "output_format",
)
_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$")


def cve_detection(call: Call) -> Reply:
    """Handle ``action=list``; raise ApiError 1901/1903/1905 on a bad request."""
    action_of(call, ("list",))
    p.check_allowed(call.params, "list", PARAMS)
    cves = parse_cves(call.params.require("cve"))
    query = build_query(call, cves)
    get = call.params.get
    kb = call.fleet.kb
    view = CveView(
        facts=call.fleet.facts,
        titles=lambda qid: vuln.title if (vuln := kb.vuln(qid)) is not None else "",
        cves=frozenset(cves),
        show_qvs=p.flag("show_qvs", get("show_qvs"), False),
        show_tags=query.show_tags,
        show_asset_id=p.flag("show_asset_id", get("show_asset_id"), False),
    )
    body = cve_stream(
        detections.matching_hosts(call.fleet, query),
        head=reply_head(ROOT, dtd_url(call, Endpoint.CVE_DETECTION, ROOT), call.now),
        limit=query.truncation_limit,
        view=view,
        next_page_url=next_page_url(call),
        on_host=call.on_host,
    )
    return Reply(200, body, detection=True)


def parse_cves(text: str) -> tuple[str, ...]:
    """Return the unique CVE ids of ``cve`` (upper case); ApiError 1905 on a malformed one."""
    cves = tuple(dict.fromkeys(cve.upper() for cve in p.words(text)))
    for cve in cves:
        if not _CVE_RE.match(cve):
            raise p.invalid("cve", text, f"not a CVE id: {cve}")
    if not cves:
        raise p.invalid("cve", text, "no CVE id")
    return cves


def build_query(call: Call, cves: tuple[str, ...]) -> detections.DetectionQuery:
    """Return the detection query of this call: the shared filters, the CVEs' QIDs."""
    params, fleet = call.params, call.fleet
    # The same query the detection API builds, so both select the same (host, QID) pairs.
    query = detections.DetectionQuery(**detectionparams.common_filters(params, fleet, call.lists))
    wanted = frozenset(fleet.kb.qids_for_cves(cves))
    narrowed = detectionparams.qid_filter(params, fleet, call.lists)
    return replace(
        query,
        qids=wanted if narrowed is None else wanted & narrowed,
        show_tags=p.flag("show_tags", params.get("show_tags"), False),
    )
