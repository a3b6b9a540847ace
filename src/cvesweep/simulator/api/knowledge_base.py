"""KnowledgeBase, ``/api/{2.0,3.0,4.0}/fo/knowledge_base/vuln/`` (action=list).

3.0 adds PATCH_PUBLISHED_DATE, 4.0 CVSS_V4 (docs/qualys-2026.md §3.2). ``ids`` takes QIDs
and ranges and, as on Qualys, answers only the QIDs the knowledge base knows: a synthetic QID
asked for by number always (``synthetic.py``), in a range only if the fleet can carry it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from cvesweep.simulator import params as p
from cvesweep.simulator import xmlout
from cvesweep.simulator.api.call import Call, action_of
from cvesweep.simulator.knowledgebase import KnowledgeBase
from cvesweep.simulator.replies import Reply

PARAMS = (
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
# Accepted as flags, no effect on the reply: qualysetl sends them to 4.0 (QETL-CFG).
_FLAGS = ("show_pci_reasons", "show_supported_modules_info", "show_disabled_flag")


def knowledge_base(call: Call) -> Reply:
    """Handle ``action=list`` (ids, id_min, id_max, details); 1901/1903/1905 on bad input."""
    action_of(call, ("list",))
    p.check_allowed(call.params, "list", PARAMS)
    get = call.params.get
    details = get("details") or "Basic"
    if details not in ("Basic", "All", "None"):
        raise p.invalid("details", details, "must be Basic, All or None")
    for name in (*_FLAGS, "show_qid_change_log"):
        p.flag(name, get(name), False)
    ranges = p.int_ranges("ids", get("ids") or "") if get("ids") is not None else None
    low = p.positive_int("id_min", get("id_min") or "") if get("id_min") is not None else 0
    high = p.positive_int("id_max", get("id_max") or "") if get("id_max") is not None else None
    qids = selected_qids(call.fleet.kb, ranges, low, high)
    vulns = call.fleet.kb.vulns(qids)
    options = xmlout.KbOptions(details, call.major, call.fleet.facts)
    return Reply(200, xmlout.kb_vulns(call.base_url, call.now, vulns, options))


def selected_qids(
    kb: KnowledgeBase, ranges: tuple[tuple[int, int], ...] | None, low: int, high: int | None
) -> set[int]:
    """Return the QIDs ``ids`` (single QIDs and ranges), ``id_min`` and ``id_max`` select.

    A single QID is looked up by number, so any synthetic QID is found (its CVE is encoded
    in it); a range is cut out of the QIDs the KB lists, by bisection: 1,000 QIDs a call
    (what a sweep sends) cost no more than the reply.
    """
    top = high if high is not None else 1 << 62
    listed = kb.all_qids()
    if ranges is None:
        return set(listed[bisect_left(listed, low) : bisect_right(listed, top)])
    found: set[int] = set()
    for first, last in ranges:
        start, stop = max(first, low), min(last, top)
        if first == last:
            found.update((first,) if start <= stop else ())
        elif start <= stop:
            found.update(listed[bisect_left(listed, start) : bisect_right(listed, stop)])
    return found
