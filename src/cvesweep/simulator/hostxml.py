"""Streamed HOST_LIST replies and the HOST elements every host-based reply shares.

Element names, nesting and order follow the real replies (detection_*.xml in
tests/data/qualys-samples/) and the Qualys DTD for what the samples lack (IPV6, TAGS).
A stream never holds more than one chunk: hosts are formatted as they come and flushed
every ``CHUNK`` characters, and truncation looks ahead for one more match only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from cvesweep.simulator.records import SimHost
from cvesweep.simulator.xmlout import cdata, doctype, qdt

CHUNK = 32 * 1024
TRUNCATION_CODE = 1980
_T = TypeVar("_T")


def reply_head(root: str, dtd_url: str, now: datetime) -> str:
    """Return the declaration, DOCTYPE, root and ``RESPONSE/DATETIME`` that open a reply."""
    return f"{doctype(root, dtd_url)}<{root}>\n  <RESPONSE>\n    <DATETIME>{qdt(now)}</DATETIME>\n"


def stream_hosts(
    items: Iterable[_T],
    *,
    head: str,
    root: str,
    limit: int,
    render: Callable[[_T], str],
    id_of: Callable[[_T], int],
    next_page_url: Callable[[int], str],
    on_host: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Yield ``head``, a HOST_LIST of ``render(item)`` and the closing tags, in ~CHUNK chunks.

    At most ``limit`` items are written (0 = no limit); when another item follows, the
    reply ends with the 1980 WARNING whose URL is ``next_page_url(id_of(next item))``. With
    ``on_host`` set (per-host latency), it is called and the chunk flushed after each item.
    No item at all gives a RESPONSE with only DATETIME, as the real empty reply.
    """
    buffer = [head]
    size = written = 0
    next_id: int | None = None
    for item in items:
        if limit and written == limit:
            next_id = id_of(item)
            break
        if not written:
            buffer.append("    <HOST_LIST>\n")
        text = render(item)
        buffer.append(text)
        size += len(text)
        written += 1
        if on_host is not None:
            on_host()
        if size >= CHUNK or on_host is not None:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if written:
        buffer.append("    </HOST_LIST>\n")
    if next_id is not None:
        buffer.append(warning_xml(limit, next_page_url(next_id)))
    buffer.append(f"  </RESPONSE>\n</{root}>\n")
    yield "".join(buffer).encode()


def warning_xml(limit: int, url: str) -> str:
    """Return the RESPONSE/WARNING element of a truncated reply (text as Qualys words it)."""
    return (
        f"    <WARNING>\n      <CODE>{TRUNCATION_CODE}</CODE>\n"
        f"      <TEXT>{limit} record limit exceeded. Use URL to get next batch of results.</TEXT>\n"
        f"      <URL>{cdata(url)}</URL>\n    </WARNING>\n"
    )


def asset_id(host: SimHost) -> int:
    """Return the host's ASSET_ID (CSAM asset id; shown with ``show_asset_id=1``)."""
    return 20_000_000 + host.index * 3 + 1


def host_head(
    host: SimHost, when: Callable[[datetime], str], *, show_asset_id: bool = False
) -> list[str]:
    """Return the HOST children from ID to LAST_VM_SCANNED_DURATION (opening tag included)."""
    parts = [f"      <HOST>\n        <ID>{host.id}</ID>\n"]
    if show_asset_id:
        parts.append(f"        <ASSET_ID>{asset_id(host)}</ASSET_ID>\n")
    if host.ip is not None:
        parts.append(f"        <IP>{host.ip}</IP>\n")
    if host.ipv6 is not None:
        parts.append(f"        <IPV6>{host.ipv6}</IPV6>\n")
    parts.append(f"        <TRACKING_METHOD>{host.tracking_method}</TRACKING_METHOD>\n")
    if host.os:
        parts.append(f"        <OS>{cdata(host.os)}</OS>\n")
    if host.dns:
        parts.append(dns_xml(host.dns))
    if host.netbios:
        parts.append(f"        <NETBIOS>{cdata(host.netbios)}</NETBIOS>\n")
    parts.append(
        f"        <LAST_SCAN_DATETIME>{when(host.last_scan)}</LAST_SCAN_DATETIME>\n"
        f"        <LAST_VM_SCANNED_DATE>{when(host.last_vm_scanned)}</LAST_VM_SCANNED_DATE>\n"
        "        <LAST_VM_SCANNED_DURATION>"
        f"{host.last_vm_scanned_duration}</LAST_VM_SCANNED_DURATION>\n"
    )
    return parts


def tags_xml(host: SimHost) -> str:
    """Return the host's TAGS element ("" when it has no tag)."""
    if not host.tags:
        return ""
    tags = "".join(
        f"          <TAG>\n            <TAG_ID>{tag.id}</TAG_ID>\n"
        f"            <NAME>{cdata(tag.name)}</NAME>\n          </TAG>\n"
        for tag in host.tags
    )
    return f"        <TAGS>\n{tags}        </TAGS>\n"


def dns_xml(dns: str) -> str:
    """Return DNS and, for a dotted name, DNS_DATA (HOSTNAME, DOMAIN, FQDN)."""
    text = f"        <DNS>{cdata(dns)}</DNS>\n"
    hostname, dot, domain = dns.partition(".")
    if not dot:
        return text
    return (
        f"{text}        <DNS_DATA>\n          <HOSTNAME>{cdata(hostname)}</HOSTNAME>\n"
        f"          <DOMAIN>{cdata(domain)}</DOMAIN>\n"
        f"          <FQDN>{cdata(dns)}</FQDN>\n        </DNS_DATA>\n"
    )


class DatetimeCache:
    """Formats datetimes in the Qualys form, remembering each one already formatted.

    A host repeats its dates across detections; ``isoformat()`` is the hot spot.
    """

    def __init__(self) -> None:
        self._known: dict[datetime, str] = {}

    def text(self, moment: datetime) -> str:
        """Return ``moment`` as ``YYYY-MM-DDTHH:MM:SSZ``."""
        known = self._known.get(moment)
        if known is None:
            known = self._known[moment] = qdt(moment)
        return known
