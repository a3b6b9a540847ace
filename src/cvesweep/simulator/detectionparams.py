"""Detection request parameters → a :class:`~cvesweep.simulator.detections.DetectionQuery`.

Every problem is raised as ApiError 1901 (unknown parameter) or 1905 (invalid value, or a
reference to an asset group or search list that does not exist), worded as on Qualys.
The detection, CVE detection and host list APIs share these parsers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from cvesweep.simulator import params as p
from cvesweep.simulator.detections import DEFAULT_STATUSES, DEFAULT_TRUNCATION, DetectionQuery
from cvesweep.simulator.detections import in_ranges as _in_ranges
from cvesweep.simulator.params import Params
from cvesweep.simulator.searchlists import SearchListStore

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet

# Every parameter the real 2.0 server accepted for action=list (from
# error_1901_unrecognized_param_lists_allowed_detection_params_powerqualys.xml), in its order;
# those DetectionQuery does not model are accepted and ignored.
ALLOWED_2 = (
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
# 3.0 dropped the arf_*_filter parameters (qualysetl strips them past 2.0; sending them
# presumably gives 1901 [unverified], docs/qualys-2026.md §3.1) for show_arf_data and
# arf_filter_keys, which qualysetl 0.9.37 (Qualys's own blueprint) sends to every version
# past 2.0 (QETL-CFG); accepted and ignored here (the AFFECT_* elements they would add are
# not simulated [unverified]). 4.0 added mitre_attack_details, 5.0 vuln_detection_source
# (ServiceNow's 5.0 request) and the elements CVE and TRURISK_ELIMINATION_STATUS (PR
# #16436's DTD diff), which detectionxml.py writes only with show_cve=1 and
# show_trurisk_elimination=1: see SHOW_CVE below.
_ARF = ("arf_kernel_filter", "arf_service_filter", "arf_config_filter")
SHOW_CVE = "show_cve"
SHOW_TRURISK = "show_trurisk_elimination"
ADDED = {
    3: ("show_arf_data", "arf_filter_keys"),
    4: ("mitre_attack_details",),
    5: ("vuln_detection_source", SHOW_CVE, SHOW_TRURISK),
}
# [unverified] Why CVE and TRURISK_ELIMINATION_STATUS need a parameter at all: qualysdk
# 0.4.0 has read detection 5.0 in production since 2026-01-07 into a dataclass with a
# fixed field set that has neither (an unasked element makes it fail), and ServiceNow's
# field mapping for its move to 5.0 lists VULNERABILITY_DETECTION_SOURCES (which it asks
# for with vuln_detection_source=1) as the only new DETECTION field. Both say Qualys does
# not send them by default. No client or page names the parameter that asks for them; the
# two names above are ours, in the show_* style of the other output switches (show_qds,
# show_igs, show_arf_data). A client must not rely on them against a real subscription.
INCLUDE_VULN_TYPES = {"confirmed": "Confirmed", "potential": "Potential"}


def allowed_params(major: int) -> tuple[str, ...]:
    """Return the parameters ``action=list`` accepts on detection version ``major``.0."""
    names = ALLOWED_2 if major <= 2 else tuple(n for n in ALLOWED_2 if n not in _ARF)
    return names + tuple(n for v in sorted(ADDED) if v <= major for n in ADDED[v])


STATUSES = ("New", "Active", "Re-Opened", "Fixed")


def build_query(
    params: Params, fleet: Fleet, lists: SearchListStore, *, major: int = 5
) -> DetectionQuery:
    """Return the query of a detection ``action=list`` request on version ``major``.0.

    Raises ApiError 1901 (unknown parameter) or 1905 (invalid value or unknown reference).
    """
    p.check_allowed(params, "list", allowed_params(major))
    get = params.get
    p.flag("show_arf_data", get("show_arf_data"), False)  # accepted, no effect (see ADDED)
    return DetectionQuery(
        **common_filters(params, fleet, lists),
        qids=qid_filter(params, fleet, lists),
        severities=_opt(get("severities"), _severities),
        show_igs=p.flag("show_igs", get("show_igs"), False),
        show_tags=p.flag("show_tags", get("show_tags"), False),
        show_results=p.flag("show_results", get("show_results"), True),
    )


def common_filters(params: Params, fleet: Fleet, lists: SearchListStore) -> dict[str, Any]:
    """Return the DetectionQuery fields the detection and CVE detection APIs share."""
    get = params.get
    output_format = get("output_format")
    if output_format not in (None, "XML"):
        raise p.invalid("output_format", output_format, "only XML is simulated")
    return {
        "ids": _opt(get("ids"), lambda v: p.int_ranges("ids", v)),
        "id_min": _opt(get("id_min"), lambda v: p.positive_int("id_min", v)),
        "id_max": _opt(get("id_max"), lambda v: p.positive_int("id_max", v)),
        "ipv4": _opt(get("ips"), lambda v: p.ipv4_ranges("ips", v)),
        "asset_group_ids": asset_groups(params, fleet),
        "statuses": _opt(get("status"), lambda v: p.choices("status", v, STATUSES))
        or DEFAULT_STATUSES,
        "tested_since": date_param(params, "detection_last_tested_since"),
        "updated_since": date_param(params, "detection_updated_since"),
        "vm_scan_since": date_param(params, "vm_scan_since"),
        "truncation_limit": truncation_limit(params),
        "os_pattern": _opt(get("os_pattern"), regex),
        "types": _opt(get("include_vuln_type"), _vuln_types),
        "excluded_qids": _listed_qids(params, lists, "exclude"),
        **_qds_filter(params, fleet),
    }


def truncation_limit(params: Params, default: int = DEFAULT_TRUNCATION) -> int:
    """Return ``truncation_limit`` (0 = no limit), ``default`` when absent; 1905 if invalid."""
    limit = params.get("truncation_limit")
    return default if limit is None else p.positive_int("truncation_limit", limit, minimum=0)


def regex(value: str) -> re.Pattern[str]:
    """Return ``os_pattern`` compiled (Qualys takes a PCRE); ApiError 1905 if invalid."""
    try:
        return re.compile(value)
    except re.error as exc:
        raise p.invalid("os_pattern", value, f"not a regular expression: {exc}") from None


def _vuln_types(value: str) -> frozenset[str]:
    picked = p.choices("include_vuln_type", value.lower(), tuple(INCLUDE_VULN_TYPES))
    return frozenset(INCLUDE_VULN_TYPES[name] for name in picked)


def _qds_filter(params: Params, fleet: Fleet) -> dict[str, Any]:
    low, high = params.get("qds_min"), params.get("qds_max")
    if low is None and high is None:
        return {}
    bounds = (
        p.positive_int("qds_min", low, minimum=0) if low is not None else 0,
        p.positive_int("qds_max", high, minimum=0) if high is not None else 100,
    )
    if bounds[0] > bounds[1]:
        raise p.invalid("qds_min", low or "", "greater than qds_max")
    facts = fleet.facts

    def qds_of(qid: int) -> int | None:
        scores = facts.scores(qid)
        return None if scores is None else scores.qds

    return {"qds_range": bounds, "qds_of": qds_of}


def _opt(value: str | None, parse: Callable[[str], _T]) -> _T | None:
    return None if value is None else parse(value)


def date_param(params: Params, name: str) -> datetime | None:
    """Return the date parameter ``name`` as UTC, None when absent; 1905 if malformed."""
    value = params.get(name)
    return None if value is None else p.utc_datetime(name, value)


def _severities(value: str) -> frozenset[int]:
    levels = {n for low, high in p.int_ranges("severities", value) for n in range(low, high + 1)}
    if not levels <= {1, 2, 3, 4, 5}:
        raise p.invalid("severities", value, "severities are 1 to 5")
    return frozenset(levels)


def asset_groups(params: Params, fleet: Fleet) -> frozenset[int] | None:
    """Return the asset group ids of ``ag_ids`` and ``ag_titles`` (both: the intersection)."""
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


def qid_filter(params: Params, fleet: Fleet, lists: SearchListStore) -> frozenset[int] | None:
    """Return the QIDs ``qids`` and ``include_search_list_*`` allow, None when unfiltered."""
    wanted: frozenset[int] | None = None
    qids_text = params.get("qids")
    if qids_text is not None:
        ranges = p.int_ranges("qids", qids_text)
        if sum(high - low + 1 for low, high in ranges) <= _MAX_EXPANDED:
            wanted = frozenset(n for low, high in ranges for n in range(low, high + 1))
        else:  # a huge range: only QIDs the knowledge base knows can be detected
            wanted = frozenset(q for q in fleet.kb.all_qids() if _in_ranges(q, ranges))
    listed = _listed_qids(params, lists, "include")
    if listed is not None:
        wanted = listed if wanted is None else wanted & listed
    return wanted


def _listed_qids(params: Params, lists: SearchListStore, how: str) -> frozenset[int] | None:
    """Return the QIDs of the ``{how}_search_list_ids`` / ``_titles`` lists, None if neither."""
    ids_name, titles_name = f"{how}_search_list_ids", f"{how}_search_list_titles"
    ids_text, titles_text = params.get(ids_name), params.get(titles_name)
    if ids_text is None and titles_text is None:
        return None
    chosen = []
    if ids_text is not None:
        ranges = p.int_ranges(ids_name, ids_text)
        for low, high in ranges:
            if low == high and lists.get(low) is None:
                raise p.invalid(ids_name, ids_text, f"search list not found: {low}")
        chosen += [one for one in lists.all() if _in_ranges(one.id, ranges)]
    for title in p.words(titles_text or ""):
        by_title = lists.by_title(title)
        if by_title is None:
            raise p.invalid(titles_name, titles_text or "", f"search list not found: {title}")
        chosen.append(by_title)
    return frozenset(qid for one in chosen for qid in one.qids)
