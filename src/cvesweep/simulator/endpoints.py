"""The simulated Qualys API endpoints: search lists, host detections, knowledge base, about.

Each handler takes a :class:`Call` and returns a :class:`~cvesweep.simulator.replies.Reply`
or raises :class:`~cvesweep.simulator.params.ApiError` for the app to render.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from cvesweep.simulator import detections, xmlout
from cvesweep.simulator import params as p
from cvesweep.simulator.hostxml import detection_stream
from cvesweep.simulator.params import ApiError, Params
from cvesweep.simulator.replies import Reply
from cvesweep.simulator.searchlists import MAX_TITLE, DuplicateTitle, SearchListStore

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet

VERSION = "10.30.1.0-1"
_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)

SEARCH_LIST_PARAMS = {
    "create": ("echo_request", "title", "global", "comments", "cve_ids"),
    "list": ("echo_request", "ids", "show_qids", "show_option_profiles"),
    "delete": ("echo_request", "id"),
}
KB_PARAMS = (
    "echo_request",
    "details",
    "ids",
    "id_min",
    "id_max",
    "is_patchable",
    "last_modified_after",
    "last_modified_before",
    "published_after",
    "published_before",
    "discovery_method",
    "show_pci_reasons",
    "show_supported_modules_info",
    "show_disabled_flag",
    "show_qid_change_log",
)


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated, admitted API call and what the handlers may use."""

    method: str
    path: str
    params: Params
    user: str
    base_url: str
    now: datetime
    fleet: Fleet
    lists: SearchListStore
    on_host: Callable[[], None] | None = None


def action_of(call: Call, allowed: tuple[str, ...]) -> str:
    """Return the ``action`` parameter; raise ApiError 1903 if absent, 1905 if not allowed."""
    action = call.params.require("action")
    if action not in allowed:
        raise p.invalid("action", action, f"must be one of {', '.join(allowed)}")
    return action


def _require_post(call: Call, action: str) -> None:
    if call.method != "POST":
        raise ApiError(
            1908,
            f"Request method {call.method} is incompatible with specified parameter(s): "
            f"action={action} (use POST)",
        )


def search_list(call: Call) -> Reply:
    """Handle ``/api/2.0/fo/qid/search_list/dynamic/`` (create, list, delete)."""
    action = action_of(call, tuple(SEARCH_LIST_PARAMS))
    p.check_allowed(call.params, action, SEARCH_LIST_PARAMS[action])
    if action == "list":
        return _list_search_lists(call)
    _require_post(call, action)
    return _create_search_list(call) if action == "create" else _delete_search_list(call)


def _create_search_list(call: Call) -> Reply:
    title = call.params.require("title")
    if len(title) > MAX_TITLE:
        raise p.invalid("title", title, f"longer than {MAX_TITLE} characters")
    cve_text = call.params.get("cve_ids") or ""
    cves = tuple(dict.fromkeys(cve.upper() for cve in p.words(cve_text)))
    for cve in cves:
        if not _CVE_RE.match(cve):
            raise p.invalid("cve_ids", cve_text, f"not a CVE id: {cve}")
    kb = call.fleet.kb
    qids = kb.qids_for_cves(cves) if cves else kb.all_qids()
    try:
        created = call.lists.create(
            title=title,
            is_global=p.flag("global", call.params.get("global"), False),
            owner=call.user,
            created=call.now,
            cve_ids=cves,
            qids=qids,
        )
    except DuplicateTitle:
        raise p.invalid("title", title, "a search list with this title already exists") from None
    text = "New search list created successfully"
    body = xmlout.simple_return(call.base_url, call.now, text, items=[("ID", str(created.id))])
    return Reply(200, [body])


def _delete_search_list(call: Call) -> Reply:
    list_id = p.positive_int("id", call.params.require("id"))
    if not call.lists.delete(list_id):
        raise p.invalid("id", str(list_id), "search list not found")
    text = "Dynamic search list deleted successfully"
    body = xmlout.simple_return(call.base_url, call.now, text, items=[("ID", str(list_id))])
    return Reply(200, [body])


def _list_search_lists(call: Call) -> Reply:
    ids_text = call.params.get("ids")
    ranges = p.int_ranges("ids", ids_text) if ids_text is not None else None
    show_qids = p.flag("show_qids", call.params.get("show_qids"), True)
    chosen = [
        one
        for one in call.lists.all()
        if ranges is None or any(low <= one.id <= high for low, high in ranges)
    ]
    return Reply(200, [xmlout.dynamic_lists(call.base_url, call.now, chosen, show_qids)])


def detection(call: Call) -> Reply:
    """Handle ``/api/2.0/fo/asset/host/vm/detection/`` (action=list), streamed."""
    action_of(call, ("list",))
    query = detections.build_query(call.params, call.fleet, call.lists)
    kept = [(k, v) for k, v in call.params.pairs if k != "id_min"]
    prefix = f"{call.base_url}{call.path}?" + "&".join(
        f"{quote(k, safe='_')}={quote(v, safe=',-.:_')}" for k, v in kept
    )
    body = detection_stream(
        detections.matching_hosts(call.fleet, query),
        base_url=call.base_url,
        now=call.now,
        limit=query.truncation_limit,
        show_tags=query.show_tags,
        show_results=query.show_results,
        next_page_url=lambda next_id: f"{prefix}&id_min={next_id}",
        on_host=call.on_host,
    )
    return Reply(200, body, detection=True)


def knowledge_base(call: Call) -> Reply:
    """Handle ``/api/2.0/fo/knowledge_base/vuln/`` (action=list; ids, id_min, id_max, details)."""
    action_of(call, ("list",))
    p.check_allowed(call.params, "list", KB_PARAMS)
    get = call.params.get
    details = get("details") or "Basic"
    if details not in ("Basic", "All", "None"):
        raise p.invalid("details", details, "must be Basic, All or None")
    ranges = p.int_ranges("ids", get("ids") or "") if get("ids") is not None else None
    low = p.positive_int("id_min", get("id_min") or "") if get("id_min") is not None else 0
    high = p.positive_int("id_max", get("id_max") or "") if get("id_max") is not None else None
    qids = [
        qid
        for qid in call.fleet.kb.all_qids()
        if qid >= low
        and (high is None or qid <= high)
        and (ranges is None or any(a <= qid <= b for a, b in ranges))
    ]
    vulns = call.fleet.kb.vulns(qids)
    return Reply(200, xmlout.kb_vulns(call.base_url, call.now, vulns, details))


def about(call: Call) -> Reply:
    """Handle ``/msp/about.php``: the simulated platform's versions."""
    return Reply(200, [xmlout.about(call.base_url, VERSION)])
