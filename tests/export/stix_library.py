"""A library holding exactly some export data, by direct inserts (for the STIX golden tests).

Attributes the library derives from findings (schema 5, mapping.FINDING_NAMES) are not
inserted: the view computes them.

:func:`store` writes an :class:`ExportData` shaped like :func:`tests.export.stix_cases.stored`
into a library whose schema exists, rows in reverse order so that nothing comes back sorted
by accident.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, Engine, insert, select

from cvesweep.library.mapping import FINDING_NAMES
from cvesweep.library.queries import ExportAsset, ExportCve, ExportData, FindingRecord
from cvesweep.library.schema import (
    KIND_ASSET,
    KIND_INDICATOR,
    ORIGIN_IDENTITY,
    TYPE_ASSET,
    TYPE_CVE,
    attributes,
    findings,
    objects,
    relationships,
    sources,
    tags,
)


def store(engine: Engine, data: ExportData) -> None:
    """Insert the CVEs, assets (attributes, tags), links and findings of ``data``."""
    with engine.begin() as conn:
        source = conn.scalar(select(sources.c.id).where(sources.c.name == "Qualys"))
        if source is None:
            source = _new_id(conn.execute(insert(sources).values(name="Qualys")))
        ids: dict[str, int] = {}
        items: list[tuple[str, str, ExportCve | ExportAsset]] = [
            (KIND_INDICATOR, TYPE_CVE, c) for c in data.cves
        ]
        items += [(KIND_ASSET, TYPE_ASSET, a) for a in data.assets]
        for kind, type_, item in reversed(items):
            row: dict[str, object] = {"kind": kind, "type": type_, "value": item.value}
            row |= {"created_at": _utc(item.created), "updated_at": _utc(item.modified)}
            ids[item.value] = _new_id(conn.execute(insert(objects).values(row)))
            for name in reversed(item.tags):
                conn.execute(insert(tags).values(object_id=ids[item.value], name=name,
                                                 created_at=_utc(item.created)))  # fmt: skip
        for asset in data.assets:
            stored = [pair for pair in asset.attributes if pair[0] not in FINDING_NAMES]
            for name, value in reversed(stored):  # the others come from the findings
                conn.execute(insert(attributes).values(
                    object_id=ids[asset.value], name=name, value=value, source_id=source,
                    published_at=_utc(asset.created), origin=ORIGIN_IDENTITY,
                ))  # fmt: skip
        for link in reversed(data.links):
            a, b = sorted((ids[link.asset], ids[link.cve]))
            conn.execute(insert(relationships).values(
                object_a_id=a, object_b_id=b, source_id=source, created_at=_utc(link.created)
            ))  # fmt: skip
            for found in link.findings:
                row = _finding_row(found, ids, _utc(link.created), _utc(link.modified))
                conn.execute(insert(findings).values(row))


def _finding_row(
    found: FindingRecord, ids: dict[str, int], first_seen: datetime, updated: datetime
) -> dict[str, object]:
    lists = ("cves", "mitre_tactic_ids", "mitre_tactic_names", "mitre_technique_ids",
             "mitre_technique_names", "detection_sources")  # fmt: skip
    scalars = ("qid", "severity", "status", "type", "first_found", "last_found", "last_scan",
               "unique_vuln_id", "qds", "qds_severity", "latest_detection_source")  # fmt: skip
    row: dict[str, object] = {name: getattr(found, name) for name in scalars}
    row |= {name: ",".join(getattr(found, name)) or None for name in lists}
    row |= {"asset_id": ids[found.asset], "cve_id": ids[found.cve]}
    return row | {"first_seen_at": first_seen, "updated_at": updated}


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
