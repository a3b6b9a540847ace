"""JSON output: one object per the CLI contract, written host by host so memory stays flat.

Hosts are written from :data:`~cvesweep.spool.HostRow` rows: a spool hands them over without
building models (a third of the writer's time went to rebuilding them, measured on 18,248
simulator hosts), and other hosts are turned into rows first. :func:`host_record` gives the
same objects from a Host, for the other front ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import TextIO

from cvesweep.inputs import format_qualys_datetime
from cvesweep.models import Detection, Host, SearchOptions, SearchResult, SearchSummary
from cvesweep.spool import (
    DETECTION_FIELDS,
    DETECTIONS_AT,
    HOST_FIELDS,
    TAG_FIELDS,
    TAGS_AT,
    HostRow,
    HostSpool,
    host_row,
)

DETECTION_KEYS = (
    "qid", "type", "severity", "status", "port", "protocol", "first_found", "last_found",
    "times_found", "unique_vuln_id", "cves", "qds", "qds_severity", "mitre_tactic_ids",
    "mitre_tactic_names", "mitre_technique_ids", "mitre_technique_names", "detection_sources",
    "latest_detection_source",
)  # fmt: skip
"""The keys of a detection object, in order: each is also the name of a Detection field."""


# json.dumps's own encoder but for check_circular (a host record holds no cycle): the same
# text, ~15 % less encoding time per host (measured on 18,248 simulator hosts).
_ENCODER = json.JSONEncoder(check_circular=False)


def write_json(result: SearchResult, stream: TextIO) -> None:
    """Write ``result`` to ``stream`` as one JSON object, one host per line.

    ``result.hosts`` is iterated once and never held in memory as a whole. The summary is
    ``null`` when the result has none. Raises whatever ``stream.write`` raises (OSError).
    """
    head = json.dumps({"cve": str(result.cve), "filters": filters_record(result.options)})
    stream.write(head[:-1] + ',\n "hosts": [')
    separator = "\n  "
    dumps = _ENCODER.encode
    for row in host_rows(result.hosts):
        stream.write(separator)
        stream.write(dumps(row_record(row)))
        separator = ",\n  "
    closing = "]" if separator == "\n  " else "\n ]"
    summary = json.dumps(summary_record(result.summary))
    stream.write(f'{closing},\n "summary": {summary}}}\n')


def filters_record(options: SearchOptions) -> dict[str, object]:
    """Return the ``filters`` object: ips, since (Qualys datetime or None), severity, groups."""
    return {
        "ips": list(options.ips),
        "since": format_qualys_datetime(options.since) if options.since else None,
        "min_severity": options.min_severity,
        "asset_groups": list(options.asset_groups),
    }


def host_rows(hosts: Iterable[Host]) -> Iterator[HostRow]:
    """The rows of ``hosts``: straight from a spool, else made from each Host."""
    return hosts.rows() if isinstance(hosts, HostSpool) else map(host_row, hosts)


_ID, _IP, _IPV6, _DNS, _FQDN, _NETBIOS, _OS, _TRACKING, _LAST_SCAN = (
    HOST_FIELDS.index(name)
    for name in ("id", "ip", "ipv6", "dns", "fqdn", "netbios", "os", "tracking_method", "last_scan")
)
_TAG_NAME = TAG_FIELDS.index("name")
_detection_items = itemgetter(*(DETECTION_FIELDS.index(key) for key in DETECTION_KEYS))


def row_record(row: HostRow) -> dict[str, object]:
    """The contract's HOST object of a host row: what :func:`host_record` gives for its Host.

    List values are tuples here, which :func:`json.dumps` writes as the same arrays.
    """
    return {
        "id": row[_ID],
        "ip": row[_IP],
        "ipv6": row[_IPV6],
        "dns": row[_DNS] or row[_FQDN],
        "netbios": row[_NETBIOS],
        "os": row[_OS],
        "tracking_method": row[_TRACKING],
        "last_scan": row[_LAST_SCAN],
        "tags": [tag[_TAG_NAME] for tag in row[TAGS_AT]],
        "detections": [
            dict(zip(DETECTION_KEYS, _detection_items(detection), strict=True))
            for detection in row[DETECTIONS_AT]
        ],
    }


def host_record(host: Host) -> dict[str, object]:
    """Return the contract's HOST object; ``dns`` is the DNS name, else the FQDN."""
    return {
        "id": int(host.id),
        "ip": host.ip,
        "ipv6": host.ipv6,
        "dns": host.dns or host.fqdn,
        "netbios": host.netbios,
        "os": host.os,
        "tracking_method": host.tracking_method,
        "last_scan": host.last_scan,
        "tags": [tag.name for tag in host.tags],
        "detections": [detection_record(detection) for detection in host.detections],
    }


def detection_record(detection: Detection) -> dict[str, object]:
    """Return the contract's detection object (the listed keys only).

    The keys after ``times_found`` come from detection 5.0 (null or [] when Qualys gave none).
    """
    return {
        "qid": int(detection.qid),
        "type": detection.type,
        "severity": detection.severity,
        "status": detection.status,
        "port": detection.port,
        "protocol": detection.protocol,
        "first_found": detection.first_found,
        "last_found": detection.last_found,
        "times_found": detection.times_found,
        "unique_vuln_id": detection.unique_vuln_id,
        "cves": list(detection.cves),
        "qds": detection.qds,
        "qds_severity": detection.qds_severity,
        "mitre_tactic_ids": list(detection.mitre_tactic_ids),
        "mitre_tactic_names": list(detection.mitre_tactic_names),
        "mitre_technique_ids": list(detection.mitre_technique_ids),
        "mitre_technique_names": list(detection.mitre_technique_names),
        "detection_sources": list(detection.detection_sources),
        "latest_detection_source": detection.latest_detection_source,
    }


def summary_record(summary: SearchSummary | None) -> dict[str, object] | None:
    """Return the ``summary`` object, or None when there is no summary."""
    if summary is None:
        return None
    record: dict[str, object] = {
        "hosts": summary.hosts,
        "detections": summary.detections,
        "qids": list(summary.qids),
        "pages": summary.pages,
        "api_calls": summary.api_calls,
        "search_list_id": summary.search_list_id,
        "search_list_deleted": summary.search_list_deleted,
        "elapsed_s": round(summary.elapsed_s, 3),
        "method": summary.method,
        # [] = Qualys knows no QID for the CVE (nothing could be checked); null = not known
        "search_list_qids": None
        if summary.search_list_qids is None
        else list(summary.search_list_qids),
    }
    if summary.library is not None:  # an extension of the contract: what the run stored
        record["library"] = dict(summary.library)
    return record
