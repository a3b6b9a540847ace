"""Host list detection, ``/api/{2.0..5.0}/fo/asset/host/vm/detection/`` (action=list), streamed.

Every version takes the 2.0 filters (3.0+ without ``arf_*_filter``, with ``show_arf_data``
and ``arf_filter_keys``); what a version adds to the reply, and on which parameter, is in
:class:`~cvesweep.simulator.detectionxml.DetectionView`.
"""

from __future__ import annotations

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint
from cvesweep.simulator import detectionparams, detections
from cvesweep.simulator import params as p
from cvesweep.simulator.api.call import Call, action_of, next_page_url
from cvesweep.simulator.detectionparams import SHOW_CVE, SHOW_TRURISK
from cvesweep.simulator.detectionxml import ROOT, DetectionView, detection_stream
from cvesweep.simulator.hostxml import reply_head
from cvesweep.simulator.replies import Reply


def detection(call: Call) -> Reply:
    """Handle ``action=list``; raise ApiError 1901/1903/1905 on a bad request."""
    action_of(call, ("list",))
    query = detectionparams.build_query(call.params, call.fleet, call.lists, major=call.major)
    body = detection_stream(
        detections.matching_hosts(call.fleet, query),
        head=reply_head(ROOT, dtd_url(call, Endpoint.DETECTION, ROOT), call.now),
        limit=query.truncation_limit,
        view=view_of(call, show_tags=query.show_tags, show_results=query.show_results),
        next_page_url=next_page_url(call),
        on_host=call.on_host,
    )
    return Reply(200, body, detection=True)


def view_of(call: Call, *, show_tags: bool, show_results: bool) -> DetectionView:
    """Return what this call's reply shows, by its flags and its version."""
    get = call.params.get
    major = call.major
    return DetectionView(
        facts=call.fleet.facts,
        show_tags=show_tags,
        show_results=show_results,
        show_asset_id=p.flag("show_asset_id", get("show_asset_id"), False),
        qds=p.flag("show_qds", get("show_qds"), False),
        qds_factors=p.flag("show_qds_factors", get("show_qds_factors"), False),
        # CVE and TRURISK_ELIMINATION_STATUS only when asked, like MITRE_* and the sources:
        # why, and why these parameter names, in detectionparams.ADDED [unverified].
        cves=major >= 5 and p.flag(SHOW_CVE, get(SHOW_CVE), False),
        mitre=major >= 4 and p.flag("mitre_attack_details", get("mitre_attack_details"), False),
        sources=major >= 5 and p.flag("vuln_detection_source", get("vuln_detection_source"), False),
        trurisk=major >= 5 and p.flag(SHOW_TRURISK, get(SHOW_TRURISK), False),
    )


def dtd_url(call: Call, endpoint: Endpoint, root: str) -> str:
    """Return the DOCTYPE URL of a reply: the DTD next to the called version's path.

    [unverified] No 3.0+ reply is recorded (docs/qualys-2026.md §3.1); 2.0 replies point
    at a DTD under the endpoint's own path, so newer ones are taken to do the same.
    """
    version = call.version or ENDPOINTS[endpoint].default
    return f"{call.base_url}{ENDPOINTS[endpoint].path(version)}{root.lower()}.dtd"
