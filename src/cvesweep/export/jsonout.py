"""JSON output: one object per the CLI contract, written host by host so memory stays flat."""

from __future__ import annotations

import json
from typing import TextIO

from cvesweep.inputs import format_qualys_datetime
from cvesweep.models import Detection, Host, SearchOptions, SearchResult, SearchSummary


def write_json(result: SearchResult, stream: TextIO) -> None:
    """Write ``result`` to ``stream`` as one JSON object, one host per line.

    ``result.hosts`` is iterated once and never held in memory as a whole. The summary is
    ``null`` when the result has none. Raises whatever ``stream.write`` raises (OSError).
    """
    head = json.dumps({"cve": str(result.cve), "filters": filters_record(result.options)})
    stream.write(head[:-1] + ',\n "hosts": [')
    separator = "\n  "
    for host in result.hosts:
        stream.write(separator)
        stream.write(json.dumps(host_record(host)))
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
