"""Host detection list requests: parameters → a query, and the lazy walk over matching hosts.

Hosts come out in id order and detections in QID order (the fleet's orders); a host is
returned only with its matching detections and only when it has at least one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from cvesweep.simulator import params as p
from cvesweep.simulator.params import Params
from cvesweep.simulator.records import SimDetection, SimHost
from cvesweep.simulator.searchlists import SearchListStore

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet

# Every parameter the real server accepted for action=list (from
# error_1901_unrecognized_param_lists_allowed_detection_params_powerqualys.xml), in its order;
# those DetectionQuery does not model are accepted and ignored.
ALLOWED = (
    "echo_request",
    "ips",
    "ids",
    "id_min",
    "id_max",
    "ag_ids",
    "ag_titles",
    "os_pattern",
    "truncation_limit",
    "show_tags",
    "show_asset_id",
    "show_results",
    "use_tags",
    "no_vm_scan_since",
    "vm_scan_since",
    "vm_processed_after",
    "vm_processed_before",
    "vm_scan_date_before",
    "vm_scan_date_after",
    "vm_auth_scan_date_before",
    "vm_auth_scan_date_after",
    "compliance_enabled",
    "include_ignored",
    "include_disabled",
    "show_host_services",
    "qids",
    "show_igs",
    "show_reopened_info",
    "host_metadata",
    "host_metadata_fields",
    "show_cloud_tags",
    "cloud_tag_fields",
    "show_qds",
    "qds_min",
    "qds_max",
    "show_qds_factors",
    "severities",
    "include_search_list_titles",
    "exclude_search_list_titles",
    "include_search_list_ids",
    "exclude_search_list_ids",
    "output_format",
    "max_days_since_last_vm_scan",
    "max_days_since_detection_updated",
    "detection_last_tested_since_days",
    "detection_last_tested_before_days",
    "status",
    "include_vuln_type",
    "active_kernels_only",
    "arf_kernel_filter",
    "arf_service_filter",
    "arf_config_filter",
    "suppress_duplicated_data_from_csv",
    "detection_updated_since",
    "detection_updated_before",
    "detection_processed_after",
    "detection_processed_before",
    "detection_last_tested_since",
    "detection_last_tested_before",
    "filter_superseded_qids",
)

_T = TypeVar("_T")

STATUSES = ("New", "Active", "Re-Opened", "Fixed")
DEFAULT_STATUSES = frozenset({"New", "Active", "Re-Opened"})
DEFAULT_TRUNCATION = 1000


@dataclass(frozen=True, slots=True)
class DetectionQuery:
    """A validated detection list request; None means "no such filter"."""

    ids: tuple[tuple[int, int], ...] | None = None
    id_min: int | None = None
    id_max: int | None = None
    ipv4: tuple[tuple[int, int], ...] | None = None
    asset_group_ids: frozenset[int] | None = None
    qids: frozenset[int] | None = None
    severities: frozenset[int] | None = None
    statuses: frozenset[str] = DEFAULT_STATUSES
    show_igs: bool = False
    show_tags: bool = False
    show_results: bool = True  # Qualys documents results as shown unless show_results=0
    tested_since: datetime | None = None
    updated_since: datetime | None = None
    vm_scan_since: datetime | None = None
    truncation_limit: int = DEFAULT_TRUNCATION


def build_query(params: Params, fleet: Fleet, lists: SearchListStore) -> DetectionQuery:
    """Return the query of a detection ``action=list`` request.

    Raises ApiError 1901 (unknown parameter) or 1905 (invalid value or unknown reference).
    """
    p.check_allowed(params, "list", ALLOWED)
    get = params.get
    output_format = get("output_format")
    if output_format not in (None, "XML"):
        raise p.invalid("output_format", output_format, "only XML is simulated")
    return DetectionQuery(
        ids=_opt(get("ids"), lambda v: p.int_ranges("ids", v)),
        id_min=_opt(get("id_min"), lambda v: p.positive_int("id_min", v)),
        id_max=_opt(get("id_max"), lambda v: p.positive_int("id_max", v)),
        ipv4=_opt(get("ips"), lambda v: p.ipv4_ranges("ips", v)),
        asset_group_ids=_asset_groups(params, fleet),
        qids=_qids(params, fleet, lists),
        severities=_opt(get("severities"), _severities),
        statuses=_opt(get("status"), lambda v: p.choices("status", v, STATUSES))
        or DEFAULT_STATUSES,
        show_igs=p.flag("show_igs", get("show_igs"), False),
        show_tags=p.flag("show_tags", get("show_tags"), False),
        show_results=p.flag("show_results", get("show_results"), True),
        tested_since=_date(params, "detection_last_tested_since"),
        updated_since=_date(params, "detection_updated_since"),
        vm_scan_since=_date(params, "vm_scan_since"),
        truncation_limit=p.positive_int("truncation_limit", limit, minimum=0)
        if (limit := get("truncation_limit")) is not None
        else DEFAULT_TRUNCATION,
    )


def _opt(value: str | None, parse: Callable[[str], _T]) -> _T | None:
    return None if value is None else parse(value)


def _date(params: Params, name: str) -> datetime | None:
    value = params.get(name)
    return None if value is None else p.utc_datetime(name, value)


def _severities(value: str) -> frozenset[int]:
    levels = {n for low, high in p.int_ranges("severities", value) for n in range(low, high + 1)}
    if not levels <= {1, 2, 3, 4, 5}:
        raise p.invalid("severities", value, "severities are 1 to 5")
    return frozenset(levels)


def _in_ranges(value: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= value <= high for low, high in ranges)


def _asset_groups(params: Params, fleet: Fleet) -> frozenset[int] | None:
    wanted: set[int] | None = None
    ids_text = params.get("ag_ids")
    if ids_text is not None:
        ranges = p.int_ranges("ag_ids", ids_text)
        known = {group.id for group in fleet.asset_groups}
        for low, high in ranges:
            if low == high and low not in known:
                raise p.invalid("ag_ids", ids_text, f"asset group not found: {low}")
        wanted = {group_id for group_id in known if _in_ranges(group_id, ranges)}
    titles_text = params.get("ag_titles")
    if titles_text is not None:
        by_title = {group.title: group.id for group in fleet.asset_groups}
        titles = p.words(titles_text)
        for title in titles:
            if title not in by_title:
                raise p.invalid("ag_titles", titles_text, f"asset group not found: {title}")
        ids = {by_title[title] for title in titles}
        wanted = ids if wanted is None else wanted & ids
    return None if wanted is None else frozenset(wanted)


_MAX_EXPANDED = 200_000


def _qids(params: Params, fleet: Fleet, lists: SearchListStore) -> frozenset[int] | None:
    wanted: frozenset[int] | None = None
    qids_text = params.get("qids")
    if qids_text is not None:
        ranges = p.int_ranges("qids", qids_text)
        if sum(high - low + 1 for low, high in ranges) <= _MAX_EXPANDED:
            wanted = frozenset(n for low, high in ranges for n in range(low, high + 1))
        else:  # a huge range: only QIDs the knowledge base knows can be detected
            wanted = frozenset(q for q in fleet.kb.all_qids() if _in_ranges(q, ranges))
    listed = _search_list_qids(params, lists)
    if listed is not None:
        wanted = listed if wanted is None else wanted & listed
    return wanted


def _search_list_qids(params: Params, lists: SearchListStore) -> frozenset[int] | None:
    ids_text = params.get("include_search_list_ids")
    titles_text = params.get("include_search_list_titles")
    if ids_text is None and titles_text is None:
        return None
    chosen = []
    if ids_text is not None:
        ranges = p.int_ranges("include_search_list_ids", ids_text)
        for low, high in ranges:
            if low == high and lists.get(low) is None:
                raise p.invalid(
                    "include_search_list_ids", ids_text, f"search list not found: {low}"
                )
        chosen += [one for one in lists.all() if _in_ranges(one.id, ranges)]
    for title in p.words(titles_text or ""):
        by_title = lists.by_title(title)
        if by_title is None:
            raise p.invalid(
                "include_search_list_titles", titles_text or "", f"search list not found: {title}"
            )
        chosen.append(by_title)
    return frozenset(qid for one in chosen for qid in one.qids)


def matching_hosts(fleet: Fleet, q: DetectionQuery) -> Iterator[tuple[SimHost, list[SimDetection]]]:
    """Yield each host matching ``q`` with its matching detections, lazily, in id order."""
    start = 0 if q.id_min is None else fleet.index_at_or_after(q.id_min)
    stop = None if q.id_max is None else fleet.index_at_or_after(q.id_max + 1)
    for index in fleet.candidate_indexes(
        start=start, stop=stop, qids=q.qids, ipv4_ranges=q.ipv4, asset_group_ids=q.asset_group_ids
    ):
        host = fleet.host(index)
        if not host_matches(host, q):
            continue
        detections = [d for d in host.detections if detection_matches(d, q)]
        if detections:
            yield host, detections


def host_matches(host: SimHost, q: DetectionQuery) -> bool:
    """Return True when the host-level filters of ``q`` accept ``host``."""
    if q.id_min is not None and host.id < q.id_min:
        return False
    if q.id_max is not None and host.id > q.id_max:
        return False
    if q.ids is not None and not _in_ranges(host.id, q.ids):
        return False
    if q.ipv4 is not None:
        if host.ip is None:
            return False
        a, b, c, d = (int(part) for part in host.ip.split("."))
        number = (a << 24) | (b << 16) | (c << 8) | d
        if not any(low <= number <= high for low, high in q.ipv4):
            return False
    if q.asset_group_ids is not None and not any(
        group.id in q.asset_group_ids for group in host.asset_groups
    ):
        return False
    return q.vm_scan_since is None or host.last_vm_scanned >= q.vm_scan_since


def detection_matches(d: SimDetection, q: DetectionQuery) -> bool:
    """Return True when ``q`` keeps detection ``d`` (Info ones only with show_igs=1)."""
    if d.type == "Info":
        if not q.show_igs:
            return False
    elif d.status not in q.statuses:
        return False
    if q.qids is not None and d.qid not in q.qids:
        return False
    if q.severities is not None and d.severity not in q.severities:
        return False
    if q.tested_since is not None and d.last_test < q.tested_since:
        return False
    return q.updated_since is None or d.last_update >= q.updated_since
