"""Pure mapping from hosts and detections to library records (SPEC §3); no database here.

A batch of hosts becomes a :class:`BatchPlan`: the assets to keep (by value) with their
identity attributes and tags, the vulnerable ones to relate to the CVE, and one finding per
(asset, QID). What is kept depends on the flags (SPEC §4):

* ``add_assets``: a vulnerable host (one with detections) is kept with "Last Scan Date",
  its tags, a relationship to the CVE and its findings (from which the finding attributes
  "Qualys ID", "Severity", "Scan Status", "Scan Type", "Last Found Date" are computed when
  the library is read);
* ``add_discovered_assets``: every host is kept with all its identity attributes and tags,
  but without relationship or findings (those are the truth of vulnerability, only stored
  with ``add_assets``);
* hosts sharing an address fold into one asset; the later host wins a single-valued
  identity attribute and a finding with the same QID. Hosts with no address are skipped.

The plan is built from hosts as the spool keeps them (:data:`cvesweep.spool.HostRow`,
plain tuples: :func:`plan_rows`), so an ingest never rebuilds Host and Detection objects;
:func:`plan_batch` takes Host objects and gives the same plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from cvesweep.models import Detection, Host
from cvesweep.spool import DETECTION_FIELDS, HOST_FIELDS, TAG_FIELDS, HostRow, host_row

LAST_SCAN_DATE = "Last Scan Date"
QUALYS_ID = "Qualys ID"
SEVERITY = "Severity"
SCAN_STATUS = "Scan Status"
SCAN_TYPE = "Scan Type"
LAST_FOUND_DATE = "Last Found Date"
QUALYS_HOST_ID = "Qualys Host ID"
HOSTNAME = "Hostname"
NETBIOS = "NetBIOS"
OPERATING_SYSTEM = "Operating System"
TRACKING_METHOD = "Tracking Method"

IDENTITY_NAMES = (QUALYS_HOST_ID, HOSTNAME, NETBIOS, OPERATING_SYSTEM, TRACKING_METHOD)
FINDING_NAMES = (QUALYS_ID, SEVERITY, SCAN_STATUS, SCAN_TYPE, LAST_FOUND_DATE)

# Columns of a finding row besides its key (asset, CVE, QID) and our timestamps, in order.
FINDING_FIELDS = (
    "severity",
    "status",
    "type",
    "port",
    "protocol",
    "first_found",
    "last_found",
    "times_found",
    "last_scan",
    "qualys_host_id",
    "unique_vuln_id",
    "cves",
    "qds",
    "qds_severity",
    "mitre_tactic_ids",
    "mitre_tactic_names",
    "mitre_technique_ids",
    "mitre_technique_names",
    "detection_sources",
    "latest_detection_source",
)
FindingFacts = tuple[int | str | None, ...]
LIST_SEPARATOR = ","  # the finding columns holding lists (cves, mitre_*, detection_sources)


def asset_value(host: Host) -> str | None:
    """Return the asset value of ``host``: its IPv4 address, else IPv6, else None."""
    value = host.address
    return value.strip() or None if value else None


def identity_attributes(host: Host, *, full: bool) -> dict[str, str]:
    """Return the single-valued identity attributes of ``host`` (name → value).

    With ``full`` every identity attribute of SPEC §4; otherwise only "Last Scan Date"
    (the one host-level attribute of SPEC §3). Absent values are left out.
    """
    pairs: dict[str, str | None] = {LAST_SCAN_DATE: host.last_scan}
    if full:
        pairs.update(
            {
                QUALYS_HOST_ID: str(host.id),
                HOSTNAME: host.hostname,
                NETBIOS: host.netbios,
                OPERATING_SYSTEM: host.os,
                TRACKING_METHOD: host.tracking_method,
            }
        )
    return {name: value for name, value in pairs.items() if value}


def tag_names(host: Host) -> set[str]:
    """Return the non-empty Qualys tag names of ``host``."""
    return {tag.name.strip() for tag in host.tags if tag.name and tag.name.strip()}


def finding_facts(host: Host, detection: Detection) -> FindingFacts:
    """Return the values of :data:`FINDING_FIELDS` for one detection of ``host``."""
    return _facts(host.last_scan, int(host.id), _detection_values(detection))


def _fields(layout: tuple[str, ...], *names: str) -> itemgetter[Any]:
    return itemgetter(*(layout.index(name) for name in names))


_detection_values = attrgetter(*DETECTION_FIELDS)
_HEAD_FACTS = _fields(DETECTION_FIELDS, *FINDING_FIELDS[:8])  # severity … times_found
_TAIL_FACTS = _fields(DETECTION_FIELDS, *FINDING_FIELDS[10:])  # unique_vuln_id … latest
_QID = DETECTION_FIELDS.index("qid")
_TAG_NAME = TAG_FIELDS.index("name")
_HOST_KEYS = _fields(HOST_FIELDS, "id", "ip", "ipv6", "last_scan", "tags", "detections")
_HOST_NAMES = _fields(HOST_FIELDS, "fqdn", "dns", "netbios", "os", "tracking_method")
assert FINDING_FIELDS[8:10] == ("last_scan", "qualys_host_id")


def _facts(last_scan: str | None, host_id: int, detection: HostRow) -> FindingFacts:
    """:data:`FINDING_FIELDS` of one detection row (values in DETECTION_FIELDS order)."""
    uid, cves, qds, qds_sev, tac_ids, tac_names, tech_ids, tech_names, sources, latest = (
        _TAIL_FACTS(detection)
    )
    return (
        *_HEAD_FACTS(detection), last_scan, host_id, uid, _joined(cves), qds, qds_sev,
        _joined(tac_ids), _joined(tac_names), _joined(tech_ids), _joined(tech_names),
        _joined(sources), latest,
    )  # fmt: skip


def _joined(values: tuple[str, ...]) -> str | None:
    return LIST_SEPARATOR.join(values) if values else None


def finding_attributes(
    qid: int, severity: int | None, status: str | None, kind: str | None, last_found: str | None
) -> Iterator[tuple[str, str]]:
    """Yield the (name, value) attribute pairs one finding produces (absent facts yield none).

    Since schema version 5 these pairs are not stored: the library's view
    (``schema.ATTRIBUTES_VIEW_SQL``) computes them from ``findings`` by this same rule, and
    the tests hold the two to each other.
    """
    yield QUALYS_ID, str(qid)
    if severity is not None:
        yield SEVERITY, str(severity)
    if status:
        yield SCAN_STATUS, status
    if kind:
        yield SCAN_TYPE, kind
    if last_found:
        yield LAST_FOUND_DATE, last_found


@dataclass
class BatchPlan:
    """What one batch of hosts asks the library to hold (keys are asset values)."""

    identity: dict[str, dict[str, str]] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)
    vulnerable: set[str] = field(default_factory=set)
    findings: dict[tuple[str, int], FindingFacts] = field(default_factory=dict)
    cve_tags: set[str] = field(default_factory=set)
    skipped: int = 0


def plan_batch(hosts: Iterable[Host], *, add_assets: bool, add_discovered: bool) -> BatchPlan:
    """Return the :class:`BatchPlan` of ``hosts`` under the two asset flags."""
    return plan_rows(map(host_row, hosts), add_assets=add_assets, add_discovered=add_discovered)


def plan_rows(rows: Iterable[HostRow], *, add_assets: bool, add_discovered: bool) -> BatchPlan:
    """Return the :class:`BatchPlan` of the hosts ``rows`` (:data:`cvesweep.spool.HostRow`)
    under the two asset flags: what :func:`plan_batch` gives for the same hosts."""
    plan = BatchPlan()
    for row in rows:
        host_id, ip, ipv6, last_scan, tag_rows, detections = _HOST_KEYS(row)
        address = ip or ipv6
        value = address.strip() or None if address else None
        names = {name.strip() for name in map(itemgetter(_TAG_NAME), tag_rows) if name}
        names.discard("")
        if detections:
            plan.cve_tags |= names
        keep_vulnerable = add_assets and bool(detections)
        if value is None:
            plan.skipped += int(keep_vulnerable or add_discovered)
            continue
        if not (keep_vulnerable or add_discovered):
            continue
        identity = _identity(row, host_id, last_scan, add_discovered)
        plan.identity.setdefault(value, {}).update(identity)
        plan.tags.setdefault(value, set()).update(names)
        if keep_vulnerable:
            plan.vulnerable.add(value)
            host = int(host_id)
            for detection in detections:
                plan.findings[(value, int(detection[_QID]))] = _facts(last_scan, host, detection)
    return plan


def _identity(row: HostRow, host_id: int, last_scan: str | None, full: bool) -> dict[str, str]:
    """:func:`identity_attributes` of a host row."""
    if not full:
        return {LAST_SCAN_DATE: last_scan} if last_scan else {}
    fqdn, dns, netbios, os, tracking = _HOST_NAMES(row)
    pairs = {
        LAST_SCAN_DATE: last_scan,
        QUALYS_HOST_ID: str(host_id),
        HOSTNAME: fqdn or dns or netbios,
        NETBIOS: netbios,
        OPERATING_SYSTEM: os,
        TRACKING_METHOD: tracking,
    }
    return {name: value for name, value in pairs.items() if value}
