"""CSV and JSON of a CVE's assets and findings (the CVE page's downloads), written as read.

CSV: a header, then one row per finding of the CVE (an asset without one gets a row with
empty finding columns), cells guarded against spreadsheet formulas as the CLI's CSV is.
JSON: ``{"cve": …, "assets": [{value, hostname, tags, cves, highest_severity, findings:
[…]}, …]}``, one asset per line. Assets come in numeric IP order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TextIO

from sqlalchemy import Engine

from cvesweep.export.csvout import TAG_SEPARATOR
from cvesweep.export.csvout import _cell as guarded_cell  # the CLI's formula guard
from cvesweep.library.listing import cve_assets_with_findings
from cvesweep.library.queries import AssetSummary, FindingRecord

ASSET_COLUMNS = ("asset", "hostname", "asset_tags", "asset_cves", "asset_highest_severity")
FINDING_COLUMNS = (
    "cve", "qid", "severity", "status", "type", "first_found", "last_found", "last_scan",
    "unique_vuln_id", "qds", "qds_severity", "cves", "mitre_tactic_ids", "mitre_tactic_names",
    "mitre_technique_ids", "mitre_technique_names", "detection_sources",
    "latest_detection_source",
)  # fmt: skip
COLUMNS = ASSET_COLUMNS + FINDING_COLUMNS


def write_cve_csv(engine: Engine, cve: str, stream: TextIO) -> None:
    """Write the CSV of the stored CVE ``cve``. Raises InputError / LibraryError / OSError."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for asset, found in cve_assets_with_findings(engine, cve):
        writer.writerows(_rows(asset, found))


def write_cve_json(engine: Engine, cve: str, stream: TextIO) -> None:
    """Write the JSON of the stored CVE ``cve``. Raises InputError / LibraryError / OSError."""
    stream.write(f'{{"cve": {json.dumps(cve)},\n "assets": [')
    separator = "\n  "
    for asset, found in cve_assets_with_findings(engine, cve):
        record = {**asdict(asset), "findings": [asdict(f) for f in found]}
        stream.write(separator + json.dumps(record))
        separator = ",\n  "
    stream.write("]}\n" if separator == "\n  " else "\n ]}\n")


def _rows(asset: AssetSummary, found: tuple[FindingRecord, ...]) -> Iterator[list[object]]:
    head = [
        asset.value, asset.hostname, TAG_SEPARATOR.join(asset.tags), asset.cves,
        asset.highest_severity,
    ]  # fmt: skip
    cells = [guarded_cell(value) for value in head]
    if not found:
        yield cells + [""] * len(FINDING_COLUMNS)
    for finding in found:
        record = asdict(finding)
        values = [_joined(record[name]) for name in FINDING_COLUMNS]
        yield cells + [guarded_cell(value) for value in values]


def _joined(value: object) -> object:
    return TAG_SEPARATOR.join(map(str, value)) if isinstance(value, tuple) else value
