"""Safe streaming parser of Qualys XML replies: bytes in, Host/Detection/Tag models out (no HTTP).

Two replies share this parser: host detections (``HOST_LIST_VM_DETECTION_OUTPUT``, every
version through 5.0) and CVE detections (``HOST_LIST_CVE_VM_DETECTION_OUTPUT``, 3.0), which
differ only in their root and in ``CVE_DETECTION_LIST/CVE_DETECTION`` items carrying
``ASSOCIATED_QID`` and ``VULN_CVE``. Elements are read by name, never by position, and unknown
ones are ignored: no real 5.0 or CVE-detection reply is public, so their new elements follow
the element lists in docs/qualys-2026.md §3.1/§3.4 [unverified]; a per-detection ``CVE`` may
repeat or hold a comma list, and so may the ``MITRE_*`` elements.

A reply is parsed while it streams in: each
``HOST`` is turned into a :data:`~cvesweep.spool.HostRow` at its end tag (a
:class:`~cvesweep.models.Host` is made from it for :meth:`DetectionParser.feed`; a caller that
only spools hosts takes the rows, :meth:`DetectionParser.feed_rows`), then cleared and dropped
from the tree, so memory stays flat however large the reply. Known libxml2 traps
(measured with lxml 6): a single ``feed()`` of 10 MB or more is refused, so data is fed in
slices of at most 1 MiB; a text node over 10 MB needs ``huge_tree``; a cut-off document is
only reported at ``close()`` — after earlier hosts were returned — so callers must treat
nothing as final until :meth:`DetectionParser.close` has returned.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from os import PathLike
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from cvesweep.errors import InputError, QualysError, QualysResponseError
from cvesweep.models import Host
from cvesweep.qualys.responses import (
    error_from_reply,
    parse_search_list_id,
    parse_search_lists,
    parse_simple_return,
    raise_for_reply,
    refuse_declared_entities,
    refuse_entity_declarations,
    safe_parser_options,
    safe_xml_parser,
    simple_return_from_element,
)
from cvesweep.spool import (
    DETECTION_FIELDS,
    HOST_FIELDS,
    TAG_FIELDS,
    HostRow,
    host_from_row,
)

__all__ = [
    "CVE_DETECTIONS",
    "DETECTIONS",
    "DetectionParser",
    "PageEnd",
    "ReplyKind",
    "Truncation",
    "iter_hosts",
    "parse_detection_file",
    "parse_detection_rows",
    "parse_search_list_id",
    "parse_search_lists",
    "read_host_ids",
    "safe_parser_options",
    "safe_xml_parser",
]

logger = logging.getLogger(__name__)

MAX_FEED = 1024 * 1024  # libxml2 refuses one feed() of 10 MB or more
_HEAD_BYTES = 64 * 1024  # kept to recognise an error reply that is not well-formed
_ERROR_ROOTS = ("SIMPLE_RETURN", "GENERIC_RETURN")
_EVENT_TAGS = ("HOST", "DATETIME", "WARNING")


@dataclass(frozen=True, slots=True)
class ReplyKind:
    """Which detection reply a parser reads: its root and the per-host list of detections."""

    root: str
    list_tag: str
    item_tag: str


DETECTIONS = ReplyKind("HOST_LIST_VM_DETECTION_OUTPUT", "DETECTION_LIST", "DETECTION")
CVE_DETECTIONS = ReplyKind(
    "HOST_LIST_CVE_VM_DETECTION_OUTPUT", "CVE_DETECTION_LIST", "CVE_DETECTION"
)


@dataclass(frozen=True, slots=True)
class Truncation:
    """``RESPONSE/WARNING`` (CODE 1980): more hosts remain; ask again from ``next_id_min``."""

    code: int
    text: str
    url: str
    next_id_min: int | None


@dataclass(frozen=True, slots=True)
class PageEnd:
    """What a detection reply says besides its hosts, known once it is complete."""

    datetime: str | None
    truncation: Truncation | None
    hosts: int


def _text(value: str | None) -> str | None:
    """Strip surrounding whitespace (CDATA may be wrapped in it); empty → None."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(value: str | None) -> int | None:
    """An already stripped, non-empty value (see ``_children``) as int; None stays None."""
    return None if value is None else int(value)


def _flag(value: str | None) -> bool | None:
    """An already stripped ``0``/``1`` value as bool; None stays None."""
    return None if value is None else int(value) != 0


# Speed matters here (a reply holds hundreds of MB; this walk was 3/4 of a search's CPU):
# every element's children are visited once, in one loop, into a dict (tag → stripped text;
# empty and missing are both absent) that the fields are then taken from, straight into a
# row (:data:`~cvesweep.spool.HostRow`): a host that is only spooled is never built as
# dataclasses (that and turning them back into rows were a third of the walk, measured on
# 18,248 simulator hosts). Unknown elements are ignored; a repeated element keeps its last
# value, except those of _LIST_TAGS, whose values are joined with commas (each of them may
# repeat *and* hold a comma list). Measured on the same hosts (bench/bench_parser.py): one
# pass with a join is ~4x faster than one iterchildren(tag) scan per list element.

_LIST_TAGS = frozenset(
    {
        "CVE",
        "MITRE_TACTIC_ID",
        "MITRE_TACTIC_NAME",
        "MITRE_TECHNIQUE_ID",
        "MITRE_TECHNIQUE_NAME",
        "VULNERABILITY_DETECTION_SOURCES",
    }
)
# What detection 4.0/5.0 and CVE detection added: read by _v5_value, turned into fields by
# _v5_row only when one of them is present (older replies take _NO_V5).
_V5_TAGS = _LIST_TAGS | {"VULN_CVE", "QDS", "LATEST_VULNERABILITY_DETECTION_SOURCE"}
# Keys of _children's values that are not element names (they hold a blank): whether a
# _V5_TAGS element was seen, and the first QDS child's severity attribute ("" if none).
_V5_SEEN = "v5 seen"
_QDS_SEVERITY = "QDS severity"

# The rows below are built positionally: these are the field orders they are written for.
_HOST_ROW = ("id", "ip", "ipv6", "tracking_method", "os", "dns", "fqdn", "netbios",
             "last_scan", "last_vm_scanned", "tags", "detections")  # fmt: skip
_DETECTION_ROW = (
    "qid", "type", "severity", "status", "port", "protocol", "ssl", "results",
    "first_found", "last_found", "times_found", "last_test", "last_update", "last_fixed",
    "is_ignored", "is_disabled", "unique_vuln_id", "cves", "qds", "qds_severity",
    "mitre_tactic_ids", "mitre_tactic_names", "mitre_technique_ids", "mitre_technique_names",
    "detection_sources", "latest_detection_source",
)  # fmt: skip
if (_HOST_ROW, _DETECTION_ROW, ("name", "id")) != (
    HOST_FIELDS,
    DETECTION_FIELDS,
    TAG_FIELDS,
):  # pragma: no cover
    raise TypeError("the models' fields changed: update the rows of qualys/xml.py")
_NO_V5: tuple[Any, ...] = ((), None, None, (), (), (), (), (), None)  # the v5 defaults


def _children(element: etree._Element) -> dict[Any, str]:
    values: dict[Any, str] = {}
    for child in element:
        text = child.text
        if text is not None and (text := text.strip()):  # CDATA may be wrapped in blanks
            tag = child.tag
            if tag in _V5_TAGS:
                _v5_value(values, tag, text, child)
            else:
                values[tag] = text
        elif _QDS_SEVERITY not in values and child.tag == "QDS":  # an empty first QDS
            values[_QDS_SEVERITY] = child.get("severity") or ""
    return values


def _v5_value(values: dict[Any, str], tag: str, text: str, child: etree._Element) -> None:
    values[_V5_SEEN] = ""
    if tag in values:
        if tag in _LIST_TAGS:
            text = f"{values[tag]},{text}"
    elif tag == "QDS" and _QDS_SEVERITY not in values:
        values[_QDS_SEVERITY] = child.get("severity") or ""
    values[tag] = text


# The same few list values (a QID's MITRE names, the detection sources) recur on most
# detections: each is split once. Bounded; values only ever depend on the key.
_ITEMS_CACHE: dict[str, tuple[str, ...]] = {}
_ITEMS_CACHE_SIZE = 4096


def _items(value: str | None) -> tuple[str, ...]:
    """The comma-separated items of a _LIST_TAGS value, stripped, without repeats."""
    if value is None:
        return ()
    found = _ITEMS_CACHE.get(value)
    if found is not None:
        return found
    if "," in value:
        items = dict.fromkeys(map(str.strip, value.split(",")))
        items.pop("", None)
        found = tuple(items)
    else:
        found = (value,)
    if len(_ITEMS_CACHE) >= _ITEMS_CACHE_SIZE:
        _ITEMS_CACHE.clear()
    _ITEMS_CACHE[value] = found
    return found


def _detection_row(element: etree._Element) -> tuple[Any, ...]:
    """One DETECTION (or CVE_DETECTION) as a row of the Detection fields, in their order."""
    values = _children(element)
    get = values.get
    qid = get("QID") or get("ASSOCIATED_QID")  # ASSOCIATED_QID: a CVE_DETECTION
    if qid is None:
        raise ValueError("a DETECTION has no QID")
    return (
        int(qid),
        get("TYPE"),
        _number(get("SEVERITY")),
        get("STATUS"),
        _number(get("PORT")),
        get("PROTOCOL"),
        _flag(get("SSL")),
        get("RESULTS"),
        get("FIRST_FOUND_DATETIME"),
        get("LAST_FOUND_DATETIME"),
        _number(get("TIMES_FOUND")),
        get("LAST_TEST_DATETIME"),
        get("LAST_UPDATE_DATETIME"),
        get("LAST_FIXED_DATETIME"),
        _flag(get("IS_IGNORED")),
        _flag(get("IS_DISABLED")),
        _number(get("UNIQUE_VULN_ID")),
    ) + (_v5_row(values) if _V5_SEEN in values else _NO_V5)


def _v5_row(values: dict[Any, str]) -> tuple[Any, ...]:
    """The Detection fields of the elements detection 4.0/5.0 and CVE detection added."""
    get = values.get
    vuln_cve = get("VULN_CVE")  # a CVE_DETECTION's one CVE
    qds = get("QDS")
    severity = get(_QDS_SEVERITY)
    return (
        _items(get("CVE")) if vuln_cve is None else (vuln_cve,),
        None if qds is None else int(qds),
        severity.strip().upper() if qds is not None and severity else None,
        _items(get("MITRE_TACTIC_ID")),
        _items(get("MITRE_TACTIC_NAME")),
        _items(get("MITRE_TECHNIQUE_ID")),
        _items(get("MITRE_TECHNIQUE_NAME")),
        _items(get("VULNERABILITY_DETECTION_SOURCES")),
        get("LATEST_VULNERABILITY_DETECTION_SOURCE"),
    )


def _tag_rows(element: etree._Element) -> tuple[tuple[Any, ...], ...]:
    tags = []
    for tag in element.iterchildren("TAG"):
        values = _children(tag)
        if "NAME" in values:
            tags.append((values["NAME"], _number(values.get("TAG_ID"))))
    return tuple(tags)


def _host_row(element: etree._Element, kind: ReplyKind = DETECTIONS) -> HostRow:
    """One complete ``HOST`` element as a row; raise ValueError if it is unusable.

    Its containers (the detection list, ``TAGS``, ``DNS_DATA``) are read in the same pass
    as its values; the last of a repeated container wins, and an ``FQDN`` in ``DNS_DATA``
    wins over one directly in ``HOST``.
    """
    values: dict[Any, str] = {}
    tags: tuple[tuple[Any, ...], ...] = ()
    detections: tuple[tuple[Any, ...], ...] = ()
    fqdn: str | None = None
    list_tag = kind.list_tag
    for child in element:
        tag = child.tag
        if tag == list_tag:
            detections = tuple([_detection_row(i) for i in child.iterchildren(kind.item_tag)])
        elif tag == "TAGS":
            tags = _tag_rows(child)
        elif tag == "DNS_DATA":
            fqdn = _children(child).get("FQDN", fqdn)
        elif (text := child.text) is not None and (text := text.strip()):
            values[tag] = text
    get = values.get
    host_id = get("ID")
    if host_id is None:
        raise ValueError("a HOST has no ID")
    return (
        int(host_id),
        get("IP"),
        get("IPV6"),
        get("TRACKING_METHOD"),
        get("OS"),
        get("DNS"),
        get("FQDN") if fqdn is None else fqdn,
        get("NETBIOS"),
        get("LAST_SCAN_DATETIME"),
        get("LAST_VM_SCANNED_DATE"),
        tags,
        detections,
    )


def _truncation(element: etree._Element) -> Truncation:
    url = _text(element.findtext("URL")) or ""
    values = parse_qs(urlsplit(url).query).get("id_min", [])
    next_id_min = int(values[-1]) if values and values[-1].isdigit() else None
    code = (element.findtext("CODE") or "").strip()
    return Truncation(
        code=int(code) if code.isdigit() else 0,
        text=" ".join((element.findtext("TEXT") or "").split()),
        url=url,
        next_id_min=next_id_min,
    )


class DetectionParser:
    """Incremental parser of one detection reply (``kind``: DETECTIONS or CVE_DETECTIONS).

    Call :meth:`feed` with the body's chunks as they arrive (any size), then :meth:`close`.
    A reply that is in fact a Qualys error (e.g. 2001 with HTTP 200) raises its typed error.
    """

    def __init__(
        self,
        *,
        call: str = "detection list",
        http_status: int | None = None,
        kind: ReplyKind = DETECTIONS,
    ) -> None:
        self._kind = kind
        self._call = call
        self._http_status = http_status
        self._parser = etree.XMLPullParser(
            events=("end",),
            tag=_EVENT_TAGS,
            remove_comments=True,
            remove_pis=True,
            remove_blank_text=True,  # ~20 % less parse time; blank text is never a value
            # Not collect_ids=False: measured with lxml 6.1 / libxml2 2.14, it makes libxml2
            # load the external DTD (file:// read; http:// refused only by no_network).
            **safe_parser_options(),
        )
        self._head = bytearray()
        self._root: etree._Element | None = None
        self._root_tag: str | None = None
        self._datetime: str | None = None
        self._truncation: Truncation | None = None
        self._hosts = 0
        self._error: QualysError | None = None
        self._closed = False

    def feed(self, data: bytes) -> list[Host]:
        """Parse more of the body; return the hosts it completed, in document order.

        Raises the typed QualysError as soon as the body is known to be malformed, declares
        entities, is some other document, or holds an unusable HOST.
        """
        return [host_from_row(row) for row in self.feed_rows(data)]

    def feed_rows(self, data: bytes) -> list[HostRow]:
        """:meth:`feed`, with each host as a :data:`~cvesweep.spool.HostRow` (no models built).

        For a caller that only spools the hosts; raises as :meth:`feed` does.
        """
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("feed() after close()")
        if len(self._head) < _HEAD_BYTES:
            self._head += data[: _HEAD_BYTES - len(self._head)]
        hosts: list[HostRow] = []
        for start in range(0, len(data), MAX_FEED):
            self._guarded(self._parser.feed, data[start : start + MAX_FEED])
            self._drain(hosts)
        return hosts

    def close(self) -> PageEnd:
        """Finish the document; return its PageEnd (DATETIME, WARNING, host count).

        Raises QualysResponseError if the body is malformed, cut off or not a detection
        reply, and the typed error (QualysAuthError, QualysRequestError, …) if it is a
        Qualys error reply.
        """
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("close() called twice")
        self._closed = True
        root = self._guarded(self._parser.close)
        late: list[HostRow] = []
        self._drain(late)
        if late:  # libxml2 reports end tags during feed(); never drop a host silently
            raise self._fail(QualysResponseError("hosts completed only at close()"))
        if self._root_tag is None:
            self._check_document(root)
        if root.tag in _ERROR_ROOTS:
            raise self._fail(self._error_reply(root))
        if root.find("RESPONSE") is None:
            raise self._fail(QualysResponseError(f"the {self._call} reply has no RESPONSE"))
        return PageEnd(datetime=self._datetime, truncation=self._truncation, hosts=self._hosts)

    def _guarded(self, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except etree.XMLSyntaxError as exc:
            raise self._fail(self._malformed(exc)) from exc

    def _fail(self, error: QualysError) -> QualysError:
        self._error = error
        return error

    def _malformed(self, exc: etree.XMLSyntaxError) -> QualysError:
        """The typed error for a body libxml2 refused: an error reply (999…) or a broken one."""
        try:  # an entity bomb stops libxml2 first: still say why it is refused
            refuse_declared_entities(bytes(self._head), call=self._call)
            reply = parse_simple_return(bytes(self._head))
        except QualysError as error:
            return error
        if reply is not None and reply.code is not None:
            return error_from_reply(reply, call=self._call, http_status=self._http_status)
        return QualysResponseError(
            f"the {self._call} reply is not well-formed XML or was cut off: {exc}",
            call=self._call,
            http_status=self._http_status,
        )

    def _error_reply(self, root: etree._Element) -> QualysError:
        reply = simple_return_from_element(root)
        if reply is None or reply.code is None:
            return QualysResponseError(
                f"the {self._call} reply is a {root.tag} without an error code",
                call=self._call,
                http_status=self._http_status,
            )
        return error_from_reply(reply, call=self._call, http_status=self._http_status)

    def _check_document(self, element: etree._Element) -> None:
        """Once per document, at its first event: no entity declarations, a known root."""
        tree = element.getroottree()
        try:
            refuse_entity_declarations(tree, call=self._call)
        except QualysError as error:
            raise self._fail(error) from None
        self._root = tree.getroot()
        self._root_tag = str(self._root.tag)
        root = self._kind.root
        if self._root_tag != root and self._root_tag not in _ERROR_ROOTS:
            raise self._fail(
                QualysResponseError(
                    f"the {self._call} reply is a {self._root_tag} document, not {root}",
                    call=self._call,
                    http_status=self._http_status,
                )
            )

    def _drain(self, hosts: list[HostRow]) -> None:
        for _event, element in self._parser.read_events():
            if not isinstance(element, etree._Element):
                continue  # only ("end", element) events are requested
            if self._root_tag is None:
                self._check_document(element)
            tag = element.tag
            if tag == "HOST":
                if self._root_tag == self._kind.root:
                    hosts.append(self._take_host(element))
            elif tag == "DATETIME":
                parent = element.getparent()
                if parent is not None and parent.tag == "RESPONSE":
                    self._datetime = _text(element.text)
            elif tag == "WARNING":
                self._truncation = _truncation(element)
                logger.debug("%s reply truncated: %s", self._call, self._truncation.url)

    def _take_host(self, element: etree._Element) -> HostRow:
        try:
            host = _host_row(element, self._kind)
        except ValueError as exc:
            raise self._fail(
                QualysResponseError(
                    f"the {self._call} reply holds an unusable HOST: {exc}",
                    call=self._call,
                    http_status=self._http_status,
                )
            ) from exc
        # Free the subtree and every earlier sibling so the tree never grows.
        element.clear()
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]
        self._hosts += 1
        return host


def iter_hosts(chunks: Iterable[bytes], **kw: Any) -> Iterator[Host | PageEnd]:
    """Yield each Host of a detection reply given as chunks, then its PageEnd last.

    ``kw`` goes to :class:`DetectionParser` (``call``, ``http_status``); raises as it does.
    """
    parser = DetectionParser(**kw)
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield parser.close()


def parse_detection_file(path: str | PathLike[str]) -> Generator[Host, None, PageEnd]:
    """Yield the hosts of a saved detection reply; the generator *returns* its PageEnd.

    Use ``page_end = yield from parse_detection_file(path)`` (or read
    ``StopIteration.value``) to see a pending WARNING. Raises InputError (field ``FILE``)
    if the file cannot be read, and what :class:`DetectionParser` raises.
    """
    rows = parse_detection_rows(path)
    while True:
        try:
            row = next(rows)
        except StopIteration as stop:
            end: PageEnd = stop.value
            return end
        yield host_from_row(row)


def parse_detection_rows(path: str | PathLike[str]) -> Generator[HostRow, None, PageEnd]:
    """:func:`parse_detection_file`, each host as a :data:`~cvesweep.spool.HostRow` (for a
    caller that only spools them, e.g. ``HostSpool.append_row``); raises as it does."""
    parser = DetectionParser(call="detection file")
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(MAX_FEED):
                yield from parser.feed_rows(chunk)
    except OSError as exc:
        raise InputError("FILE", f"cannot read {path}: {exc.strerror or exc}") from exc
    return parser.close()


_HOST_ID_TAGS = ("ID", "ID_RANGE", "URL")
_HOST_LIST_ROOT = "HOST_LIST_OUTPUT"


def read_host_ids(data: bytes, ids: array[int], *, call: str) -> str | None:
    """Append the host ids of a ``details=None`` HOST_LIST_OUTPUT to ``ids``; return its
    WARNING URL (None when the reply is not truncated).

    Ids come as ``RESPONSE/ID_SET/ID`` and ``ID_RANGE`` (``a-b``) [the simulator's shape;
    docs/qualys-2026.md: unverified for 5.0], or as ``HOST_LIST/HOST/ID`` (other details).
    Read as a stream, each ID element cleared once read: a page of 100,000 ids never
    becomes a tree (a whole-page tree took ~45 MiB at 200,000 hosts), and ``ids`` holds
    8 bytes per host. Raises the typed QualysError for an error reply, QualysResponseError
    for a malformed one, another document, or declared entities.
    """
    raise_for_reply(data, call=call, http_status=None)
    refuse_declared_entities(data, call=call)
    events = etree.iterparse(
        BytesIO(data), events=("end",), tag=_HOST_ID_TAGS, remove_comments=True,
        **safe_parser_options(),
    )  # fmt: skip
    url: str | None = None
    try:
        for _event, element in events:
            url = _host_id_element(element, ids, url)
    except etree.XMLSyntaxError as exc:
        raise QualysResponseError(
            f"the {call} reply is not well-formed XML: {exc}", call=call
        ) from exc
    root = events.root
    refuse_entity_declarations(root.getroottree(), call=call)
    if root.tag != _HOST_LIST_ROOT:
        raise QualysResponseError(f"the {call} reply is a {root.tag} document", call=call)
    return url


def _host_id_element(element: etree._Element, ids: array[int], url: str | None) -> str | None:
    """Read one ID/ID_RANGE/URL end event by its path; free what was read."""
    parent = element.getparent()
    grand = None if parent is None else parent.getparent()
    if parent is None or grand is None:
        return url
    path = (grand.tag, parent.tag, element.tag)
    text = (element.text or "").strip()
    if path == ("RESPONSE", "WARNING", "URL"):
        url = text or None
    elif path[:2] == ("RESPONSE", "ID_SET"):
        low, _, high = text.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            ids.extend(range(int(low), int(high or low) + 1))
    elif path == ("HOST_LIST", "HOST", "ID"):
        if text.isdigit():
            ids.append(int(text))
        _drop_before(parent, grand)
    else:
        return url
    element.clear()
    _drop_before(element, parent)
    return url


def _drop_before(element: etree._Element, parent: etree._Element) -> None:
    """Delete the siblings before ``element`` (already read) from ``parent``."""
    while element.getprevious() is not None:
        del parent[0]
