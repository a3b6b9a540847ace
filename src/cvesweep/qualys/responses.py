"""Small Qualys replies (SIMPLE_RETURN, GENERIC_RETURN, search lists) and code → exception mapping.

Errors come as ``SIMPLE_RETURN/RESPONSE/(DATETIME, CODE, TEXT, ITEM_LIST?)``; success replies
have no CODE (SPEC §5). Code 999 may come as the older ``GENERIC_RETURN`` whose published
sample is not well-formed XML (``tests/data/qualys-samples/error_999_generic_return_*.txt``).

This module also owns the hardened lxml settings (:func:`safe_parser_options`) because every
reply, small or streamed, goes through them; ``qualys.xml`` re-exports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lxml import etree

from cvesweep.errors import (
    QualysAuthError,
    QualysError,
    QualysRateLimited,
    QualysRequestError,
    QualysResponseError,
    QualysServerError,
)

# Codes from the Qualys API user guide's error table and the real samples; 2001 arrives
# with HTTP 200 (error_2001_account_expired_http200_*.xml).
KNOWN_CODES: Mapping[int, type[QualysError]] = MappingProxyType(
    {
        999: QualysServerError,  # internal error
        1901: QualysRequestError,  # unrecognized parameter(s)
        1903: QualysRequestError,  # missing required parameter(s)
        1904: QualysRequestError,  # specify only one of these parameters
        1905: QualysRequestError,  # parameter has invalid value
        1907: QualysRequestError,  # combination of key=value pairs not supported
        1908: QualysRequestError,  # GET/POST incompatible with parameter(s)
        1920: QualysRequestError,  # blocked by existing business objects (conflict)
        1922: QualysRequestError,  # specify at least one of these parameters
        1960: QualysRateLimited,  # concurrency limit: CALLS_TO_FINISH
        1965: QualysRateLimited,  # rate limit: SECONDS_TO_WAIT
        1981: QualysServerError,  # request being processed, try again later
        1999: QualysServerError,  # scheduled maintenance
        2000: QualysAuthError,  # bad login/password (HTTP 401)
        2001: QualysAuthError,  # account expired (HTTP 200)
        2002: QualysAuthError,  # account inactive
        2003: QualysAuthError,  # registration not completed
        2011: QualysAuthError,  # SecureID required, API access blocked
        2012: QualysAuthError,  # user license not authorized for this API
    }
)

_ERROR_ROOTS = ("SIMPLE_RETURN", "GENERIC_RETURN")
# Where the root element name is looked for before anything is parsed.
_HEAD_BYTES = 64 * 1024
_ROOT_RE = re.compile(rb"<(SIMPLE_RETURN|GENERIC_RETURN)[\s>]")
_FIRST_ELEMENT_RE = re.compile(rb"<[A-Za-z_]")
_ENTITIES_REFUSED = "the reply declares XML entities, which Qualys never does; refused"


@dataclass(frozen=True, slots=True)
class SimpleReturn:
    """A SIMPLE_RETURN (or GENERIC_RETURN) reply; ``code`` is None on success."""

    code: int | None
    text: str
    items: dict[str, str]
    datetime: str | None


def safe_parser_options() -> dict[str, Any]:
    """Return the lxml parser keyword arguments every Qualys reply is parsed with.

    Entities are never resolved, DTDs never loaded or validated, nothing is fetched from
    the network; ``huge_tree`` lifts libxml2's 10 MB text-node limit (a long RESULTS),
    which leaves its entity-amplification guard in place (tests/qualys/test_xml_safety.py).
    Do not add ``collect_ids=False``: with libxml2 2.14 it loads the external DTD.
    """
    return {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "dtd_validation": False,
        "attribute_defaults": False,
        "huge_tree": True,
    }


def safe_xml_parser(*, recover: bool = False) -> etree.XMLParser:
    """Return a new lxml XMLParser with :func:`safe_parser_options` (comments dropped)."""
    return etree.XMLParser(recover=recover, remove_comments=True, **safe_parser_options())


def refuse_declared_entities(data: bytes, *, call: str | None) -> None:
    """Raise QualysResponseError if the prolog of ``data`` (its DOCTYPE) declares entities.

    Checked on the raw bytes before or instead of parsing, so that a refused document
    gets the same clear error whether or not libxml2 stopped on it first.
    """
    head = data[:_HEAD_BYTES]
    first = _FIRST_ELEMENT_RE.search(head)
    if b"<!ENTITY" in (head if first is None else head[: first.start()]):
        raise QualysResponseError(_ENTITIES_REFUSED, call=call)


def refuse_entity_declarations(tree: etree._ElementTree, *, call: str | None) -> None:
    """Raise QualysResponseError if the document declares entities in its internal DTD.

    Qualys replies only name an external DTD; entity declarations are an attack
    (external entities, expansion bombs) and are refused even unexpanded.
    """
    dtd = tree.docinfo.internalDTD
    # lxml-stubs 0.5 lacks DTD.entities(), present since lxml 2.3.
    if dtd is not None and any(True for _ in dtd.entities()):  # type: ignore[attr-defined]
        raise QualysResponseError(_ENTITIES_REFUSED, call=call)


def parse_simple_return(data: bytes) -> SimpleReturn | None:
    """Return the SIMPLE_RETURN / GENERIC_RETURN in ``data``, or None if it is not one.

    A success SIMPLE_RETURN (e.g. a search list created) has ``code`` None. A body that is
    some other document, or a SIMPLE_RETURN that is not well-formed, gives None. Raises
    QualysResponseError if the document declares entities or its CODE is not a number.
    """
    refuse_declared_entities(data, call=None)
    match = _ROOT_RE.search(data[:_HEAD_BYTES])
    if match is None:
        return None
    generic = match.group(1) == b"GENERIC_RETURN"
    try:
        root = etree.fromstring(data, safe_xml_parser())
    except etree.XMLSyntaxError:
        if not generic:
            return None
        # The published 999 sample has a broken attribute before RETURN; a recovering
        # parse still yields RETURN intact, and only RETURN is read from it.
        root = etree.fromstring(data, safe_xml_parser(recover=True))
        if root is None:
            return None
    refuse_entity_declarations(root.getroottree(), call=None)
    return simple_return_from_element(root)


def simple_return_from_element(root: etree._Element) -> SimpleReturn | None:
    """Return the SimpleReturn held by an already parsed root element, or None."""
    if root.tag == "SIMPLE_RETURN":
        response = root.find("RESPONSE")
        if response is None:
            return None
        code = _to_code(response.findtext("CODE"))
        items = {
            _normalise(item.findtext("KEY")): _normalise(item.findtext("VALUE"))
            for item in response.iterfind("ITEM_LIST/ITEM")
        }
        return SimpleReturn(
            code=code,
            text=_normalise(response.findtext("TEXT")),
            items=items,
            datetime=_normalise(response.findtext("DATETIME")) or None,
        )
    if root.tag == "GENERIC_RETURN":
        ret = root.find("RETURN")
        if ret is None:
            return None
        failed = ret.get("status", "").upper() != "SUCCESS"
        return SimpleReturn(
            code=_to_code(ret.get("number")) if failed else None,
            text=_normalise(ret.text),
            items={},
            datetime=None,
        )
    return None


def error_from_reply(reply: SimpleReturn, *, call: str, http_status: int | None) -> QualysError:
    """Return the typed error for an error reply (``reply.code`` set).

    2000/2001/… → QualysAuthError; 1960/1965 → QualysRateLimited (``retry_after`` from
    SECONDS_TO_WAIT, None for 1960: the client decides); 999/1981/1999 → QualysServerError;
    other known and all unknown codes → QualysRequestError.
    """
    code = reply.code if reply.code is not None else 0
    text = reply.text or "no error text"
    cls = KNOWN_CODES.get(code, QualysRequestError)
    if cls is QualysRateLimited:
        return QualysRateLimited(
            code, text, retry_after=_seconds_to_wait(reply), call=call, http_status=http_status
        )
    if cls is QualysServerError:
        return QualysServerError(
            f"Qualys failed on the {call} (code {code}): {text}",
            code=code,
            call=call,
            http_status=http_status,
        )
    if cls is QualysAuthError:
        return QualysAuthError(code, text, call=call, http_status=http_status)
    hint = _REQUEST_HINTS.get(code)
    if http_status == 410 or "end-of-life" in text.lower() or "end of life" in text.lower():
        hint = _RETIRED_HINT
    return QualysRequestError(code, text, call=call, http_status=http_status, hint=hint)


# Qualys's reply to a retired API version is not recorded anywhere public; the simulator
# answers HTTP 410 with a SIMPLE_RETURN naming End-of-Life [unverified]: key on either.
_RETIRED_HINT = (
    "this API version is no longer served: remove the [qualys.versions] entry from the "
    "config file to use the current versions, or set the version the subscription serves"
)


# Hints for refused requests a user can act on (codes per the Qualys API user guide).
_REQUEST_HINTS: Mapping[int, str] = {
    1905: "a value was refused by Qualys: check --ips and --asset-groups (asset group "
    "titles must exist in the subscription)",
    1901: "this Qualys API does not accept a parameter cvesweep sent; check the URL",
    1903: "a required parameter or header was missing; check the URL",
}


def raise_for_reply(data: bytes, *, call: str, http_status: int | None) -> None:
    """Raise the typed QualysError if ``data`` is a Qualys error reply; else return None."""
    reply = parse_simple_return(data)
    if reply is not None and reply.code is not None:
        raise error_from_reply(reply, call=call, http_status=http_status)


def _parse_small(data: bytes, call: str) -> etree._Element:
    refuse_declared_entities(data, call=call)
    try:
        root = etree.fromstring(data, safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise QualysResponseError(
            f"the {call} reply is not well-formed XML: {exc}", call=call
        ) from exc
    refuse_entity_declarations(root.getroottree(), call=call)
    return root


def parse_search_list_id(data: bytes, *, call: str = "search list create") -> int:
    """Return the new list id (SIMPLE_RETURN ``ITEM_LIST/ITEM`` KEY=ID → VALUE).

    Raises the typed QualysError if the reply is an error, QualysResponseError if it is
    not a SIMPLE_RETURN or carries no numeric ID.
    """
    reply = parse_simple_return(data)
    if reply is None:
        raise QualysResponseError(f"the {call} reply is not a SIMPLE_RETURN", call=call)
    if reply.code is not None:
        raise error_from_reply(reply, call=call, http_status=None)
    value = reply.items.get("ID", "")
    if not value.isdigit():
        raise QualysResponseError(f"the {call} reply has no numeric ID item", call=call)
    return int(value)


def parse_search_lists(data: bytes, *, call: str = "search list list") -> list[tuple[int, str]]:
    """Return (id, title) of each DYNAMIC_LIST in a DYNAMIC_SEARCH_LIST_OUTPUT reply.

    Lists without an ID are skipped. Raises the typed QualysError for an error reply and
    QualysResponseError for anything else that is not that document.
    """
    raise_for_reply(data, call=call, http_status=None)
    root = _parse_small(data, call)
    if root.tag != "DYNAMIC_SEARCH_LIST_OUTPUT":
        raise QualysResponseError(f"the {call} reply is a {root.tag} document", call=call)
    lists = []
    for item in root.iterfind("RESPONSE/DYNAMIC_LISTS/DYNAMIC_LIST"):
        list_id = _normalise(item.findtext("ID"))
        if not list_id.isdigit():
            continue
        lists.append((int(list_id), (item.findtext("TITLE") or "").strip()))
    return lists


def parse_search_list_qids(
    data: bytes, list_ids: Sequence[int], *, call: str = "search list read-back"
) -> dict[int, tuple[int, ...]]:
    """Return list id → the QIDs Qualys put in it (``QIDS/QID``, ``show_qids=1``).

    A list without a QIDS element holds no QID. Raises the typed QualysError for an error
    reply and QualysResponseError when the reply is not that document or lacks a list.
    """
    raise_for_reply(data, call=call, http_status=None)
    root = _parse_small(data, call)
    if root.tag != "DYNAMIC_SEARCH_LIST_OUTPUT":
        raise QualysResponseError(f"the {call} reply is a {root.tag} document", call=call)
    found: dict[int, tuple[int, ...]] = {}
    for item in root.iterfind("RESPONSE/DYNAMIC_LISTS/DYNAMIC_LIST"):
        list_id = _normalise(item.findtext("ID"))
        if list_id.isdigit() and int(list_id) in list_ids:
            qids = (_normalise(q.text) for q in item.iterfind("QIDS/QID"))
            found[int(list_id)] = tuple(sorted({int(q) for q in qids if q.isdigit()}))
    missing = [list_id for list_id in list_ids if list_id not in found]
    if missing:
        raise QualysResponseError(
            f"the {call} reply does not hold the search list {missing[0]} just created",
            call=call,
        )
    return found


def parse_kb_facts(
    data: bytes, *, call: str = "knowledge base request"
) -> dict[int, tuple[int | None, tuple[str, ...]]]:
    """Return QID → (``SEVERITY_LEVEL``, ``CVE_LIST/CVE/ID``s) of a KNOWLEDGE_BASE_VULN_LIST_OUTPUT.

    QIDs Qualys does not know are simply absent (real sample kb_vuln_empty_unknown_qid_*);
    empty CVE ids (real sample kb_vulns_multi_cve_sanitized_*) are skipped. Raises like
    :func:`parse_search_list_qids`.
    """
    raise_for_reply(data, call=call, http_status=None)
    root = _parse_small(data, call)
    if root.tag != "KNOWLEDGE_BASE_VULN_LIST_OUTPUT":
        raise QualysResponseError(f"the {call} reply is a {root.tag} document", call=call)
    found: dict[int, tuple[int | None, tuple[str, ...]]] = {}
    for vuln in root.iterfind("RESPONSE/VULN_LIST/VULN"):
        qid, level = _normalise(vuln.findtext("QID")), _normalise(vuln.findtext("SEVERITY_LEVEL"))
        if not qid.isdigit():
            continue
        cves = (_normalise(c.text).upper() for c in vuln.iterfind("CVE_LIST/CVE/ID"))
        found[int(qid)] = (int(level) if level.isdigit() else None, tuple(c for c in cves if c))
    return found


def parse_host_ids(data: bytes, *, call: str = "host list request") -> tuple[list[int], str | None]:
    """Return the host ids of a ``details=None`` HOST_LIST_OUTPUT and its WARNING URL.

    Ids come as ``RESPONSE/ID_SET/ID`` and ``ID_RANGE`` (``a-b``) [the simulator's shape;
    docs/qualys-2026.md: unverified for 5.0], or as ``HOST_LIST/HOST/ID`` (other details).
    The URL is None when the reply is not truncated. Raises like :func:`parse_search_lists`.
    """
    raise_for_reply(data, call=call, http_status=None)
    root = _parse_small(data, call)
    if root.tag != "HOST_LIST_OUTPUT":
        raise QualysResponseError(f"the {call} reply is a {root.tag} document", call=call)
    ids: list[int] = []
    for item in root.iterfind("RESPONSE/ID_SET/*"):
        low, _, high = _normalise(item.text).partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            ids.extend(range(int(low), int(high or low) + 1))
    for text in root.iterfind("RESPONSE/HOST_LIST/HOST/ID"):
        if _normalise(text.text).isdigit():
            ids.append(int(_normalise(text.text)))
    url = root.findtext("RESPONSE/WARNING/URL")
    return ids, (url.strip() if url else None)


def _seconds_to_wait(reply: SimpleReturn) -> float | None:
    if reply.code != 1965:
        return None
    try:
        return float(reply.items["SECONDS_TO_WAIT"])
    except (KeyError, ValueError):
        return None


def _to_code(text: str | None) -> int | None:
    value = _normalise(text)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise QualysResponseError(f"the reply's error code {value!r} is not a number") from None


def _normalise(text: str | None) -> str:
    """Collapse runs of whitespace: error texts carry leading spaces and line breaks."""
    return " ".join(text.split()) if text else ""
