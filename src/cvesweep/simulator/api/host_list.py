"""Host list, ``/api/5.0/fo/asset/host/`` (action=list, GET or POST), streamed.

Filters: ids, id_min, id_max, ips, ag_ids, ag_titles, os_pattern, vm_scan_since;
``truncation_limit`` (default 1000, 0 = all) with the WARNING 1980 / URL ``id_min`` paging
of the detection API. ``details=None`` with id filters only touches host ids, so listing
the ids of a 200,000-host fleet takes well under a second. Older versions (2.0-4.0) answer
the same when served (``--serve-eol``).
"""

from __future__ import annotations

from collections.abc import Iterator

from cvesweep.qualys.endpoints import Endpoint
from cvesweep.simulator import detectionparams, detections
from cvesweep.simulator import params as p
from cvesweep.simulator.api.call import Call, action_of, next_page_url
from cvesweep.simulator.api.detection import dtd_url
from cvesweep.simulator.detections import DetectionQuery
from cvesweep.simulator.hostlistxml import ROOT, HostView, host_xml, id_set_stream
from cvesweep.simulator.hostxml import reply_head, stream_hosts
from cvesweep.simulator.records import SimHost
from cvesweep.simulator.replies import Reply

DETAILS = ("Basic", "Basic/AGs", "All", "All/AGs", "None")
# qualysdk's host list whitelist; those not modelled are accepted and ignored.
PARAMS = (
    "echo_request", "show_asset_id", "details", "os_pattern", "truncation_limit", "ips",
    "ipv6", "ag_ids", "ag_titles", "ids", "id_min", "id_max", "network_ids",
    "compliance_enabled", "no_vm_scan_since", "no_compliance_scan_since", "vm_scan_since",
    "compliance_scan_since", "vm_processed_before", "vm_processed_after",
    "vm_scan_date_before", "vm_scan_date_after", "vm_auth_scan_date_before",
    "vm_auth_scan_date_after", "scap_scan_since", "no_scap_scan_since", "use_tags",
    "show_tags", "tag_set_by", "tag_include_selector", "tag_exclude_selector",
    "tag_set_include", "tag_set_exclude", "show_ars", "ars_min", "ars_max",
    "show_ars_factors", "show_trurisk", "trurisk_min", "trurisk_max",
    "show_trurisk_factors", "host_metadata", "host_metadata_fields", "show_cloud_tags",
    "cloud_tag_fields",
)  # fmt: skip


def host_list(call: Call) -> Reply:
    """Handle ``action=list``; raise ApiError 1901/1903/1905 on a bad request."""
    action_of(call, ("list",))
    p.check_allowed(call.params, "list", PARAMS)
    get = call.params.get
    details = get("details") or "Basic"
    if details not in DETAILS:
        raise p.invalid("details", details, f"must be one of {', '.join(DETAILS)}")
    query = build_query(call)
    head = reply_head(ROOT, dtd_url(call, Endpoint.HOST_LIST, ROOT), call.now)
    pages = next_page_url(call)
    if details == "None":
        ids = host_ids(call, query)
        body = id_set_stream(ids, head=head, limit=query.truncation_limit, next_page_url=pages)
        return Reply(200, body)
    view = HostView(
        details=details,
        show_tags=p.flag("show_tags", get("show_tags"), False),
        show_asset_id=p.flag("show_asset_id", get("show_asset_id"), False),
        show_trurisk=p.flag("show_trurisk", get("show_trurisk"), False),
    )
    body = stream_hosts(
        hosts(call, query, full=view.show_trurisk),
        head=head,
        root=ROOT,
        limit=query.truncation_limit,
        render=lambda host: host_xml(host, view),
        id_of=lambda host: host.id,
        next_page_url=pages,
    )
    return Reply(200, body)


def build_query(call: Call) -> DetectionQuery:
    """Return the host-level filters of the call: those the detection API has too.

    The detection-level filters are not in PARAMS, so they are refused before (1901).
    """
    return DetectionQuery(**detectionparams.common_filters(call.params, call.fleet, call.lists))


def hosts(call: Call, q: DetectionQuery, *, full: bool) -> Iterator[SimHost]:
    """Yield the hosts matching ``q`` in id order; ``full`` builds their detections too."""
    fleet = call.fleet
    for start, stop in detections.index_spans(fleet, q.ids, q.id_min, q.id_max):
        for index in fleet.candidate_indexes(
            start=start, stop=stop, ipv4_ranges=q.ipv4, asset_group_ids=q.asset_group_ids
        ):
            host = fleet.host(index, with_detections=full)
            if detections.host_matches(host, q):
                yield host


def host_ids(call: Call, q: DetectionQuery) -> Iterator[int]:
    """Yield the ids of the hosts matching ``q``; with id filters only, no host is built."""
    if q.ipv4 is not None or q.asset_group_ids is not None:
        yield from (host.id for host in hosts(call, q, full=False))
        return
    if q.vm_scan_since is not None or q.os_pattern is not None:
        yield from (host.id for host in hosts(call, q, full=False))
        return
    fleet = call.fleet
    for start, stop in detections.index_spans(fleet, q.ids, q.id_min, q.id_max):
        yield from (fleet.host_id(index) for index in range(start, stop))
