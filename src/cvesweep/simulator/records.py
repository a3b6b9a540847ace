"""Records of the simulated Qualys subscription: what the fleet produces and the app serves.

The fleet (``fleet.py``) and knowledge base (``knowledgebase.py``) build these lazily from
(seed, host index); the HTTP app (``app.py``) filters them and writes them as Qualys XML.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AssetGroup:
    """A Qualys asset group (``ag_ids`` / ``ag_titles`` filters)."""

    id: int
    title: str


@dataclass(frozen=True, slots=True)
class SimTag:
    """A Qualys tag as shown under ``HOST/TAGS/TAG`` (``TAG_ID``, ``NAME``)."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class SimDetection:
    """One detection of a QID on a host.

    ``type`` is "Confirmed", "Potential" or "Info". Info detections carry no severity or
    status in the XML (as in the real 1980 sample); their fields here are then None.
    ``status`` is one of "New", "Active", "Re-Opened", "Fixed" (None for Info).
    Dates obey first_found <= last_found <= last_test <= last_update.
    """

    qid: int
    type: str
    severity: int | None
    status: str | None
    port: int | None
    protocol: str | None
    ssl: bool
    results: str
    first_found: datetime
    last_found: datetime
    times_found: int
    last_test: datetime
    last_update: datetime
    last_processed: datetime
    last_fixed: datetime | None = None


@dataclass(frozen=True, slots=True)
class SimHost:
    """One host of the fleet with every detection it has (any status, any type).

    At least one of ``ip`` / ``ipv6`` is set (IPv6-only hosts have ``ip`` None).
    ``detections`` are sorted by QID. ``last_scan`` >= every detection's ``last_test``.
    """

    index: int
    id: int
    ip: str | None
    ipv6: str | None
    tracking_method: str
    os: str
    dns: str | None
    netbios: str | None
    last_scan: datetime
    last_vm_scanned: datetime
    last_vm_scanned_duration: int
    asset_groups: tuple[AssetGroup, ...]
    tags: tuple[SimTag, ...]
    detections: tuple[SimDetection, ...]


@dataclass(frozen=True, slots=True)
class KbVuln:
    """One knowledge-base entry (``KNOWLEDGE_BASE_VULN_LIST_OUTPUT/.../VULN``).

    ``vuln_type`` is "Vulnerability", "Potential Vulnerability",
    "Vulnerability or Potential Vulnerability" or "Information Gathered".
    """

    qid: int
    vuln_type: str
    severity: int
    title: str
    category: str
    cves: tuple[str, ...]
    published: datetime
    last_modified: datetime
    patchable: bool
    diagnosis: str
    consequence: str
    solution: str
