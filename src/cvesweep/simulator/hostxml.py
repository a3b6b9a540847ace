"""The streamed HOST_LIST_VM_DETECTION_OUTPUT writer: hosts in, chunks of XML bytes out.

Element names, nesting and order follow the real replies (detection_*.xml in
tests/data/qualys-samples/) and the Qualys DTD for what the samples lack (IPV6, TAGS).
It never holds more than one chunk: hosts are formatted as they come and flushed every
``CHUNK`` characters, and truncation looks ahead for one more match only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from cvesweep.simulator.records import SimDetection, SimHost
from cvesweep.simulator.xmlout import cdata, doctype, escape, qdt

CHUNK = 32 * 1024
ROOT = "HOST_LIST_VM_DETECTION_OUTPUT"
TRUNCATION_CODE = 1980


def detection_stream(
    matches: Iterable[tuple[SimHost, list[SimDetection]]],
    *,
    base_url: str,
    now: datetime,
    limit: int,
    show_tags: bool,
    show_results: bool,
    next_page_url: Callable[[int], str],
    on_host: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Yield the detection reply for ``matches`` in chunks of about CHUNK characters.

    At most ``limit`` hosts are written (0 = no limit); when another match follows, the
    reply ends with the 1980 WARNING whose URL is ``next_page_url(next host id)``. With
    ``on_host`` set (per-host latency), it is called and the chunk flushed after each host.
    """
    dtd = f"{base_url}/api/2.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd"
    buffer = [f"{doctype(ROOT, dtd)}<{ROOT}>\n  <RESPONSE>\n    <DATETIME>{qdt(now)}</DATETIME>\n"]
    size = 0
    written = 0
    next_id: int | None = None
    for host, detections in matches:
        if limit and written == limit:
            next_id = host.id
            break
        if not written:
            buffer.append("    <HOST_LIST>\n")
        text = host_xml(host, detections, show_tags=show_tags, show_results=show_results)
        buffer.append(text)
        size += len(text)
        written += 1
        if on_host is not None:
            on_host()
        if size >= CHUNK or on_host is not None:
            yield "".join(buffer).encode()
            buffer = []
            size = 0
    if written:
        buffer.append("    </HOST_LIST>\n")
    if next_id is not None:
        buffer.append(warning_xml(limit, next_page_url(next_id)))
    buffer.append(f"  </RESPONSE>\n</{ROOT}>\n")
    yield "".join(buffer).encode()


def warning_xml(limit: int, url: str) -> str:
    """Return the RESPONSE/WARNING element of a truncated reply (text as Qualys words it)."""
    return (
        f"    <WARNING>\n      <CODE>{TRUNCATION_CODE}</CODE>\n"
        f"      <TEXT>{limit} record limit exceeded. Use URL to get next batch of results.</TEXT>\n"
        f"      <URL>{cdata(url)}</URL>\n    </WARNING>\n"
    )


def host_xml(
    host: SimHost, detections: Iterable[SimDetection], *, show_tags: bool, show_results: bool
) -> str:
    """Return one ``HOST`` element with the given detections."""
    qdt = _DatetimeCache().text  # a host repeats its dates; isoformat() is the hot spot
    parts = [f"      <HOST>\n        <ID>{host.id}</ID>\n"]
    if host.ip is not None:
        parts.append(f"        <IP>{host.ip}</IP>\n")
    if host.ipv6 is not None:
        parts.append(f"        <IPV6>{host.ipv6}</IPV6>\n")
    parts.append(f"        <TRACKING_METHOD>{host.tracking_method}</TRACKING_METHOD>\n")
    if host.os:
        parts.append(f"        <OS>{cdata(host.os)}</OS>\n")
    if host.dns:
        parts.append(_dns_xml(host.dns))
    if host.netbios:
        parts.append(f"        <NETBIOS>{cdata(host.netbios)}</NETBIOS>\n")
    parts.append(
        f"        <LAST_SCAN_DATETIME>{qdt(host.last_scan)}</LAST_SCAN_DATETIME>\n"
        f"        <LAST_VM_SCANNED_DATE>{qdt(host.last_vm_scanned)}</LAST_VM_SCANNED_DATE>\n"
        "        <LAST_VM_SCANNED_DURATION>"
        f"{host.last_vm_scanned_duration}</LAST_VM_SCANNED_DURATION>\n"
    )
    if show_tags and host.tags:
        parts.append("        <TAGS>\n")
        parts.extend(
            f"          <TAG>\n            <TAG_ID>{tag.id}</TAG_ID>\n"
            f"            <NAME>{cdata(tag.name)}</NAME>\n          </TAG>\n"
            for tag in host.tags
        )
        parts.append("        </TAGS>\n")
    parts.append("        <DETECTION_LIST>\n")
    parts.extend(detection_xml(d, show_results, qdt) for d in detections)
    parts.append("        </DETECTION_LIST>\n      </HOST>\n")
    return "".join(parts)


def _dns_xml(dns: str) -> str:
    text = f"        <DNS>{cdata(dns)}</DNS>\n"
    hostname, dot, domain = dns.partition(".")
    if not dot:
        return text
    return (
        f"{text}        <DNS_DATA>\n          <HOSTNAME>{cdata(hostname)}</HOSTNAME>\n"
        f"          <DOMAIN>{cdata(domain)}</DOMAIN>\n"
        f"          <FQDN>{cdata(dns)}</FQDN>\n        </DNS_DATA>\n"
    )


class _DatetimeCache:
    """Formats datetimes in the Qualys form, remembering each one already formatted."""

    def __init__(self) -> None:
        self._known: dict[datetime, str] = {}

    def text(self, moment: datetime) -> str:
        known = self._known.get(moment)
        if known is None:
            known = self._known[moment] = qdt(moment)
        return known


def detection_xml(d: SimDetection, show_results: bool, qdt: Callable[[datetime], str] = qdt) -> str:
    """Return one ``DETECTION`` element (Info detections carry no SEVERITY or STATUS)."""
    severity = "" if d.severity is None else f"            <SEVERITY>{d.severity}</SEVERITY>\n"
    port = "" if d.port is None else f"            <PORT>{d.port}</PORT>\n"
    protocol = (
        "" if d.protocol is None else f"            <PROTOCOL>{escape(d.protocol)}</PROTOCOL>\n"
    )
    results = f"            <RESULTS>{cdata(d.results)}</RESULTS>\n" if show_results else ""
    status = "" if d.status is None else f"            <STATUS>{d.status}</STATUS>\n"
    fixed = (
        ""
        if d.last_fixed is None
        else f"            <LAST_FIXED_DATETIME>{qdt(d.last_fixed)}</LAST_FIXED_DATETIME>\n"
    )
    return (
        f"          <DETECTION>\n            <QID>{d.qid}</QID>\n"
        f"            <TYPE>{d.type}</TYPE>\n"
        f"{severity}{port}{protocol}            <SSL>{int(d.ssl)}</SSL>\n{results}{status}"
        f"            <FIRST_FOUND_DATETIME>{qdt(d.first_found)}</FIRST_FOUND_DATETIME>\n"
        f"            <LAST_FOUND_DATETIME>{qdt(d.last_found)}</LAST_FOUND_DATETIME>\n"
        f"            <TIMES_FOUND>{d.times_found}</TIMES_FOUND>\n"
        f"            <LAST_TEST_DATETIME>{qdt(d.last_test)}</LAST_TEST_DATETIME>\n"
        f"            <LAST_UPDATE_DATETIME>{qdt(d.last_update)}</LAST_UPDATE_DATETIME>\n{fixed}"
        "            <IS_IGNORED>0</IS_IGNORED>\n            <IS_DISABLED>0</IS_DISABLED>\n"
        f"            <LAST_PROCESSED_DATETIME>{qdt(d.last_processed)}</LAST_PROCESSED_DATETIME>\n"
        "          </DETECTION>\n"
    )
