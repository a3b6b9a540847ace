"""Dynamic QID search lists, ``/api/{2.0,3.0}/fo/qid/search_list/dynamic/``.

Both versions create, list and delete; 3.0 also updates (``action=update`` with ``id`` and
``cve_ids`` and/or ``title``, docs/qualys-2026.md §3.3, seen in n8n-nodes-qualys).
"""

from __future__ import annotations

import re

from cvesweep.simulator import params as p
from cvesweep.simulator import xmlout
from cvesweep.simulator.api.call import Call, action_of, require_post
from cvesweep.simulator.replies import Reply
from cvesweep.simulator.searchlists import MAX_TITLE, DuplicateTitle, SearchList

_TAKEN = "a search list with this title already exists"
_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)

PARAMS = {
    "create": ("echo_request", "title", "global", "comments", "cve_ids"),
    "list": ("echo_request", "ids", "show_qids", "show_option_profiles"),
    "delete": ("echo_request", "id"),
}
PARAMS_3 = {**PARAMS, "update": ("echo_request", "id", "title", "global", "comments", "cve_ids")}


def search_list(call: Call) -> Reply:
    """Handle one call; raise ApiError 1901/1903/1905/1908 on a bad request."""
    table = PARAMS_3 if call.major >= 3 else PARAMS
    action = action_of(call, tuple(table))
    p.check_allowed(call.params, action, table[action])
    if action == "list":
        return _list(call)
    require_post(call, action)
    if action == "create":
        return _create(call)
    return _update(call) if action == "update" else _delete(call)


def _title(call: Call) -> str:
    title = call.params.require("title")
    if len(title) > MAX_TITLE:
        raise p.invalid("title", title, f"longer than {MAX_TITLE} characters")
    return title


def _cves(call: Call, *, required: bool = False) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Return (CVE ids, their QIDs) of ``cve_ids``; no CVE at all means every QID."""
    cve_text = call.params.require("cve_ids") if required else call.params.get("cve_ids") or ""
    cves = tuple(dict.fromkeys(cve.upper() for cve in p.words(cve_text)))
    for cve in cves:
        if not _CVE_RE.match(cve):
            raise p.invalid("cve_ids", cve_text, f"not a CVE id: {cve}")
    kb = call.fleet.kb
    return cves, kb.qids_for_cves(cves) if cves else kb.all_qids()


def _done(call: Call, text: str, list_id: int) -> Reply:
    body = xmlout.simple_return(call.base_url, call.now, text, items=[("ID", str(list_id))])
    return Reply(200, [body])


def _create(call: Call) -> Reply:
    title = _title(call)
    cves, qids = _cves(call)
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
        raise p.invalid("title", title, _TAKEN) from None
    return _done(call, "New search list created successfully", created.id)


def _update(call: Call) -> Reply:
    list_id = p.positive_int("id", call.params.require("id"))
    title = _title(call) if call.params.get("title") is not None else None
    cves = _cves(call, required=True) if call.params.get("cve_ids") is not None else None
    try:
        updated = call.lists.update(list_id, user=call.user, when=call.now, title=title, cves=cves)
    except DuplicateTitle:
        raise p.invalid("title", title or "", _TAKEN) from None
    if updated is None:
        raise p.invalid("id", str(list_id), "search list not found")
    return _done(call, "Dynamic search list updated successfully", list_id)


def _delete(call: Call) -> Reply:
    list_id = p.positive_int("id", call.params.require("id"))
    if not call.lists.delete(list_id):
        raise p.invalid("id", str(list_id), "search list not found")
    return _done(call, "Dynamic search list deleted successfully", list_id)


def _list(call: Call) -> Reply:
    ids_text = call.params.get("ids")
    show_qids = p.flag("show_qids", call.params.get("show_qids"), True)
    ranges = None if ids_text is None else p.int_ranges("ids", ids_text)
    chosen = call.lists.all() if ranges is None else _by_ids(call, ranges)
    return Reply(200, [xmlout.dynamic_lists(call.base_url, call.now, chosen, show_qids)])


def _by_ids(call: Call, ranges: tuple[tuple[int, int], ...]) -> list[SearchList]:
    """Return the lists with these ids; single ids are looked up directly (cheap)."""
    if all(low == high for low, high in ranges):
        found = (call.lists.get(low) for low, _ in ranges)
        return sorted({one.id: one for one in found if one is not None}.values(), key=_id)
    return [one for one in call.lists.all() if any(a <= one.id <= b for a, b in ranges)]


def _id(one: SearchList) -> int:
    return one.id
