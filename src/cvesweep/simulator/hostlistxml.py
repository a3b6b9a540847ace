"""The streamed HOST_LIST_OUTPUT writer (host list 5.0).

``details=None`` answers ``RESPONSE/ID_SET/ID`` instead of a HOST_LIST, as qualysdk's
``get_host_list`` reads it; Basic and All follow the host list DTD order as far as it is
known (ID, ASSET_ID, IP, IPV6, TRACKING_METHOD, DNS, DNS_DATA, NETBIOS, OS, TAGS,
LAST_VULN_SCAN_DATETIME, LAST_VM_SCANNED_DATE, LAST_VM_SCANNED_DURATION, ASSET_GROUP_IDS,
ASSET_RISK_SCORE, TRURISK_SCORE, ASSET_CRITICALITY_SCORE) [unverified: no real 5.0 reply].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cvesweep.simulator.hostxml import (
    CHUNK,
    DatetimeCache,
    asset_id,
    dns_xml,
    tags_xml,
    warning_xml,
)
from cvesweep.simulator.records import SimHost
from cvesweep.simulator.xmlout import cdata

ROOT = "HOST_LIST_OUTPUT"


@dataclass(frozen=True, slots=True)
class HostView:
    """What each HOST shows: ``details`` (Basic, Basic/AGs, All, All/AGs) and show_* flags."""

    details: str = "Basic"
    show_tags: bool = False
    show_asset_id: bool = False
    show_trurisk: bool = False

    @property
    def scan_dates(self) -> bool:
        """All and All/AGs add the last scan dates."""
        return self.details.startswith("All")

    @property
    def groups(self) -> bool:
        """The /AGs variants add ASSET_GROUP_IDS."""
        return self.details.endswith("/AGs")


def id_set_stream(
    ids: Iterable[int], *, head: str, limit: int, next_page_url: Callable[[int], str]
) -> Iterator[bytes]:
    """Yield a details=None reply: ``ID_SET`` with one ID per host (at most ``limit``)."""
    buffer, size, written = [head], 0, 0
    next_id = None
    for host_id in ids:
        if limit and written == limit:
            next_id = host_id
            break
        if not written:
            buffer.append("    <ID_SET>\n")
        text = f"      <ID>{host_id}</ID>\n"
        buffer.append(text)
        size += len(text)
        written += 1
        if size >= CHUNK:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if written:
        buffer.append("    </ID_SET>\n")
    if next_id is not None:
        buffer.append(warning_xml(limit, next_page_url(next_id)))
    buffer.append(f"  </RESPONSE>\n</{ROOT}>\n")
    yield "".join(buffer).encode()


def host_xml(host: SimHost, view: HostView) -> str:
    """Return one HOST of the host list."""
    parts = [f"      <HOST>\n        <ID>{host.id}</ID>\n"]
    if view.show_asset_id:
        parts.append(f"        <ASSET_ID>{asset_id(host)}</ASSET_ID>\n")
    if host.ip is not None:
        parts.append(f"        <IP>{host.ip}</IP>\n")
    if host.ipv6 is not None:
        parts.append(f"        <IPV6>{host.ipv6}</IPV6>\n")
    parts.append(f"        <TRACKING_METHOD>{host.tracking_method}</TRACKING_METHOD>\n")
    if host.dns:
        parts.append(dns_xml(host.dns))
    if host.netbios:
        parts.append(f"        <NETBIOS>{cdata(host.netbios)}</NETBIOS>\n")
    if host.os:
        parts.append(f"        <OS>{cdata(host.os)}</OS>\n")
    if view.show_tags:
        parts.append(tags_xml(host))
    parts.append(_tail(host, view))
    parts.append("      </HOST>\n")
    return "".join(parts)


def _tail(host: SimHost, view: HostView) -> str:
    parts = []
    if view.scan_dates:
        when = DatetimeCache().text
        parts.append(
            f"        <LAST_VULN_SCAN_DATETIME>{when(host.last_scan)}</LAST_VULN_SCAN_DATETIME>\n"
            f"        <LAST_VM_SCANNED_DATE>{when(host.last_vm_scanned)}</LAST_VM_SCANNED_DATE>\n"
            "        <LAST_VM_SCANNED_DURATION>"
            f"{host.last_vm_scanned_duration}</LAST_VM_SCANNED_DURATION>\n"
        )
    if view.groups:
        groups = ",".join(str(group.id) for group in host.asset_groups)
        parts.append(f"        <ASSET_GROUP_IDS>{groups}</ASSET_GROUP_IDS>\n")
    if view.show_trurisk:
        criticality, trurisk = trurisk_scores(host)
        parts.append(
            f"        <ASSET_RISK_SCORE>{trurisk}</ASSET_RISK_SCORE>\n"
            f"        <TRURISK_SCORE>{trurisk}</TRURISK_SCORE>\n"
            f"        <ASSET_CRITICALITY_SCORE>{criticality}</ASSET_CRITICALITY_SCORE>\n"
        )
    return "".join(parts)


def trurisk_scores(host: SimHost) -> tuple[int, int]:
    """Return (ASSET_CRITICALITY_SCORE 1-5, TRURISK_SCORE 0-1000) of a host with detections.

    [unverified] The real TruRisk formula weighs QDS by criticality; here the score grows
    with the criticality and the severities of the host's open detections.
    """
    criticality = 1 + host.id % 5
    open_severities = [
        d.severity for d in host.detections if d.severity is not None and d.status != "Fixed"
    ]
    worst = max(open_severities, default=0)
    score = criticality * (worst * 30 + min(len(open_severities), 20) * 2)
    return criticality, min(1000, score)
