"""Frozen dataclasses for what flows through cvesweep: hosts, detections, options, results.

Datetimes are kept as Qualys gives them (``YYYY-MM-DDTHH:MM:SSZ``, UTC); in that form
string order is time order, so comparisons need no parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NewType

from cvesweep.errors import InputError

CveId = NewType("CveId", str)
Qid = NewType("Qid", int)
HostId = NewType("HostId", int)


def _reduce_positionally(self: object) -> tuple[type, tuple[object, ...]]:
    # Pickle as constructor arguments: generic pickling of frozen slots dataclasses goes
    # through object.__reduce_ex__ and setattr per field, ~3x slower to load (measured on
    # the host spool, which may be read back 100,000 hosts at a time).
    cls = type(self)
    return cls, tuple(getattr(self, name) for name in cls.__slots__)  # type: ignore[attr-defined]


_CVE_RE = re.compile(r"^CVE-(\d{4})-(\d{4,})$", re.IGNORECASE | re.ASCII)
# The longest CVE id accepted: "CVE-YYYY-" and up to 23 digits (MITRE's ids have 4 to 7
# digits today). Every backend stores it whole, and it bounds what is sent to Qualys.
CVE_MAX_LENGTH = 32
_SHOWN = 40  # characters of a refused value repeated in the message


def parse_cve(text: str, *, field: str = "CVE") -> CveId:
    """Return ``text`` as an upper-case CVE id; raise InputError unless it is CVE-YYYY-NNNN….

    The id has 4 or more digits after the year and at most :data:`CVE_MAX_LENGTH`
    characters (surrounding blanks aside); the error names ``field``.
    """
    value = text.strip()
    if len(value) > CVE_MAX_LENGTH:
        shown = value[:_SHOWN] + "…" if len(value) > _SHOWN else value
        raise InputError(
            field,
            f"{shown!r} ({len(value):,} characters) is too long for a CVE id; at most "
            f"{CVE_MAX_LENGTH} characters (CVE-YYYY- and up to {CVE_MAX_LENGTH - 9} digits)",
        )
    match = _CVE_RE.match(value)
    if match is None or not 1999 <= int(match.group(1)) <= 2999:
        raise InputError(
            field,
            f"{value!r} is not a CVE id; expected CVE-YYYY-NNNN (4 or more digits), "
            "e.g. CVE-2021-44228",
        )
    return CveId(value.upper())


class SearchMethod(StrEnum):
    """How the operation asks Qualys for the hosts of a CVE.

    ``search-list``: a temporary dynamic QID search list of the CVE, then detection 5.0
    restricted to it (SPEC §1). ``cve-detection``: the CVE detection endpoint with ``cve=``,
    no list to create or delete.
    """

    SEARCH_LIST = "search-list"
    CVE_DETECTION = "cve-detection"


@dataclass(frozen=True, slots=True)
class Tag:
    """A Qualys asset tag on a host (``HOST/TAGS/TAG``)."""

    name: str
    id: int | None = None

    __reduce__ = _reduce_positionally


@dataclass(frozen=True, slots=True)
class Detection:
    """One ``HOST/DETECTION_LIST/DETECTION``; Info detections may lack severity and status.

    The fields after ``is_disabled`` come from detection 5.0 (and 4.0 for MITRE): ``cves``
    are the detection's own ``CVE`` elements (or the ``VULN_CVE`` of a CVE detection),
    ``qds``/``qds_severity`` the Qualys Detection Score (``show_qds=1``), the ``mitre_*``
    tuples the ATT&CK tactics and techniques, ``detection_sources`` and
    ``latest_detection_source`` what found it (e.g. "Cloud Agent"). Absent in older replies.
    """

    qid: Qid
    type: str | None = None
    severity: int | None = None
    status: str | None = None
    port: int | None = None
    protocol: str | None = None
    ssl: bool | None = None
    results: str | None = None
    first_found: str | None = None
    last_found: str | None = None
    times_found: int | None = None
    last_test: str | None = None
    last_update: str | None = None
    last_fixed: str | None = None
    is_ignored: bool | None = None
    is_disabled: bool | None = None
    unique_vuln_id: int | None = None
    cves: tuple[str, ...] = ()
    qds: int | None = None
    qds_severity: str | None = None
    mitre_tactic_ids: tuple[str, ...] = ()
    mitre_tactic_names: tuple[str, ...] = ()
    mitre_technique_ids: tuple[str, ...] = ()
    mitre_technique_names: tuple[str, ...] = ()
    detection_sources: tuple[str, ...] = ()
    latest_detection_source: str | None = None

    __reduce__ = _reduce_positionally


@dataclass(frozen=True, slots=True)
class Host:
    """One ``HOST`` of a detection reply with its detections and tags."""

    id: HostId
    ip: str | None = None
    ipv6: str | None = None
    tracking_method: str | None = None
    os: str | None = None
    dns: str | None = None
    fqdn: str | None = None
    netbios: str | None = None
    last_scan: str | None = None
    last_vm_scanned: str | None = None
    tags: tuple[Tag, ...] = ()
    detections: tuple[Detection, ...] = ()

    @property
    def address(self) -> str | None:
        """The asset value: the IPv4 address, else the IPv6 address."""
        return self.ip or self.ipv6

    @property
    def hostname(self) -> str | None:
        """The best name Qualys gave: FQDN, DNS name, else NetBIOS name."""
        return self.fqdn or self.dns or self.netbios

    __reduce__ = _reduce_positionally


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """The four optional filters of the operation (SPEC §2), already validated.

    ``ips`` holds Qualys ``ips=`` items (single addresses or ``a-b`` ranges; CIDR blocks
    are converted to ranges on input). ``since`` is timezone-aware UTC.
    """

    ips: tuple[str, ...] = ()
    since: datetime | None = None
    min_severity: int | None = None
    asset_groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchSummary:
    """Counts and facts of one run of the operation."""

    hosts: int
    detections: int
    qids: tuple[int, ...]
    pages: int
    api_calls: int
    search_list_id: int | None
    search_list_deleted: bool
    elapsed_s: float
    library: Mapping[str, int] | None = None  # what the run stored, when it stored anything
    method: str = SearchMethod.SEARCH_LIST.value
    search_list_qids: tuple[int, ...] | None = None  # None: the method cannot tell

    @property
    def no_qid(self) -> bool:
        """True when Qualys put no QID in the CVE's search list: nothing could be checked."""
        return self.search_list_qids == ()


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The outcome of "Search for Vulnerable Hosts" for one CVE.

    ``hosts`` is re-iterable but need not be in memory: the operation spools hosts to a
    temporary file so that memory stays flat however many hosts match.
    """

    cve: CveId
    options: SearchOptions
    hosts: Iterable[Host] = field(default=())
    summary: SearchSummary | None = None
