"""CSV output: a header row, then one row per (host, detection), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from cvesweep.export.jsonout import detection_record, host_record
from cvesweep.models import Host, SearchResult

HOST_COLUMNS = (
    "host_id", "ip", "ipv6", "dns", "netbios", "os", "tracking_method", "last_scan", "tags",
)  # fmt: skip
DETECTION_COLUMNS = (
    "qid", "type", "severity", "status", "port", "protocol",
    "first_found", "last_found", "times_found",
    "unique_vuln_id", "cves", "qds", "qds_severity", "mitre_tactic_ids", "mitre_tactic_names",
    "mitre_technique_ids", "mitre_technique_names", "detection_sources",
    "latest_detection_source",
)  # fmt: skip
COLUMNS = HOST_COLUMNS + DETECTION_COLUMNS
TAG_SEPARATOR = "; "

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# Injection"); Qualys text (OS, DNS, tags...) is not ours to trust, so such cells get a
# leading apostrophe, which spreadsheets show as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_csv(result: SearchResult, stream: TextIO) -> None:
    """Write ``result.hosts`` to ``stream`` as CSV, one host at a time.

    Lines end with ``\\n`` (so a file opened without ``newline=""`` is still right); a
    host without detections gets one row with empty detection columns. Raises whatever
    ``stream.write`` raises (OSError).
    """
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for host in result.hosts:
        writer.writerows(host_rows(host))


def host_rows(host: Host) -> Iterator[list[object]]:
    """Yield the CSV rows of one host, cells already guarded against formula injection."""
    record = host_record(host)
    record["host_id"] = record["id"]
    record["tags"] = TAG_SEPARATOR.join(tag.name for tag in host.tags)
    host_cells = [_cell(record[name]) for name in HOST_COLUMNS]
    if not host.detections:
        yield host_cells + [""] * len(DETECTION_COLUMNS)
    for detection in host.detections:
        found = detection_record(detection)
        yield host_cells + [_cell(_joined(found[name])) for name in DETECTION_COLUMNS]


def _joined(value: object) -> object:
    """A list cell (CVEs, MITRE ids, sources) as one ``; ``-separated string."""
    return TAG_SEPARATOR.join(map(str, value)) if isinstance(value, list) else value


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
