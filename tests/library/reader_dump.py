"""What every reader of the library shows about attributes, as one JSON-ready dump.

The readers are the query functions the front ends render: ``object_detail`` (``cvesweep
library show``, the web object page and ``/api/objects``), ``assets`` (``library assets``, the
web asset list and API), ``export_records`` (the JSON API's export and ``export stix`` of a
few CVEs), ``export_reader`` (the streaming STIX export) and ``changes.read_feed`` (TAXII).
Timestamps are left out (they are the clock of the run that built the library); everything
else each reader gives about an object's attributes, hostname, tags and severities is kept.

``build_reference_library`` fills a library through the public ingest with changes between
runs (a severity raised, a status and an OS changed, a second CVE on a shared asset, hosts
folded by address, absent facts, a discovered-only run), so the dump of a library built by
one schema's code can be compared with a golden dump made by another's
(``data/reader_dump.json``, made from schema 4 code by ``python -m tests.library.reader_dump``).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cvesweep.library import Library, StoreFlags, queries
from cvesweep.library.changes import FeedQuery, read_feed
from tests.library.conftest import detection, host, ingest

GOLDEN = Path(__file__).parent / "data" / "reader_dump.json"
SECOND_CVE = "CVE-2021-45046"
DISCOVERED_CVE = "CVE-2024-3094"
LATER = "2024-05-01T00:00:00Z"


def build_reference_library(library: Library) -> None:
    """Ingest the reference runs (see the module docstring) into ``library``."""
    first = [
        host(1, "10.0.0.1", detections=[detection(100), detection(101, severity=3)], tags=["A"]),
        host(2, "10.0.0.2", detections=[detection(100, status="New", type="Potential")]),
        host(3, "10.0.0.3", detections=[detection(102, severity=None, status="", type=None)]),
        host(4, "10.0.0.4", detections=[detection(103, last_found=None)], tags=["B", "A"]),
        host(5, "10.0.0.5", tags=["Discovered"]),
        host(6, None, ipv6="2001:db8::6", detections=[detection(100, severity=4)]),
        host(7, "10.0.0.7", detections=[detection(104, status="Fixed")], dns=None, netbios=None),
        host(8, "10.0.0.7", detections=[detection(104, status="Active")], os="Debian 12"),
        host(9, None, detections=[detection(100)]),
    ]
    ingest(library, first)
    second = [
        host(2, "10.0.0.2", detections=[detection(100, severity=2), detection(105)]),
        host(10, "10.0.0.10", detections=[detection(100, severity=1, last_found=LATER)]),
    ]
    ingest(library, second, cve=SECOND_CVE)
    again = [
        host(1, "10.0.0.1", detections=[detection(100, severity=4), detection(101, severity=3)]),
        host(2, "10.0.0.2", detections=[detection(100, status="Re-Opened", type="Potential")]),
        host(4, "10.0.0.4", detections=[detection(103, last_found=LATER)], os="RHEL 9"),
    ]
    ingest(library, again)
    discovered = [host(11, "10.0.0.11", detections=[detection(106)]), host(5, "10.0.0.5")]
    ingest(library, discovered, StoreFlags(add_assets=False), cve=DISCOVERED_CVE)


def reader_dump(library: Library) -> dict[str, Any]:
    """What each reader shows (see the module docstring), timestamps left out."""
    engine = library.engine
    listed = queries.assets(engine)
    values = [summary.value for summary in listed]
    values += [summary.cve for summary in queries.cve_summaries(engine)]
    shown = {}
    for value in values:
        detail = queries.object_detail(engine, value)
        assert all(isinstance(a.published, datetime) for a in detail.attributes)
        shown[value] = {
            "attributes": [[a.name, a.value, a.source] for a in detail.attributes],
            "tags": list(detail.tags),
            "findings": [[f.cve, f.qid, f.severity, f.status] for f in detail.findings],
        }
    return {
        "show": shown,
        "assets": [[s.value, s.hostname, list(s.tags), s.cves, s.highest_severity] for s in listed],
        "export_records": _exported(queries.export_records(engine).assets),
        "export_records_cve": _exported(queries.export_records(engine, [SECOND_CVE]).assets),
        "export_reader": _streamed(library),
        "taxii": _exported(
            row.record
            for row in read_feed(engine, FeedQuery(limit=10_000))
            if isinstance(row.record, queries.ExportAsset)
        ),
    }


def _exported(found: Any) -> dict[str, Any]:
    return {
        asset.value: {
            "hostname": asset.hostname,
            "tags": list(asset.tags),
            "attributes": sorted([list(pair) for pair in asset.attributes]),
        }
        for asset in sorted(found, key=lambda a: a.value)
    }


def _streamed(library: Library) -> dict[str, Any]:
    with queries.export_reader(library.engine) as reader:
        ids = [key[0] for key in reader.asset_keys()]
        return _exported(reader.assets(sorted(ids)))


def main(directory: str) -> None:
    """Write the golden dump of the reference library built in a SQLite file in ``directory``."""
    with Library.open(f"sqlite:///{Path(directory) / 'golden.db'}", create=True) as library:
        build_reference_library(library)
        found = reader_dump(library)
    GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
