"""Findings of an ingest: one row per (asset, CVE, QID), and the attributes built from them.

A finding is inserted when new and updated in place when any fact changed. The finding
attributes of an asset ("Qualys ID", "Severity", ...) are then made exactly the set that
all its findings, of every CVE, produce: values no finding produces any more are deleted,
so a changed severity replaces the old value instead of adding a second one.
"""

from __future__ import annotations

from collections import defaultdict
from operator import itemgetter
from typing import Any

from sqlalchemy import select

from cvesweep.library import mapping
from cvesweep.library.schema import ORIGIN_FINDING, attributes, findings
from cvesweep.library.writes import (
    IngestState,
    Row,
    apply_attributes,
    attribute_row,
    chunks,
    insert_rows,
    member_of,
    update_rows,
)

# An inserted finding row: its key, the facts of mapping.FINDING_FIELDS, our two timestamps.
FINDING_COLUMNS = (
    "asset_id",
    "cve_id",
    "qid",
    *mapping.FINDING_FIELDS,
    "first_seen_at",
    "updated_at",
)
# From such a row: its asset, then the arguments of mapping.finding_attributes.
_ATTRIBUTE_FACTS = itemgetter(
    *(
        FINDING_COLUMNS.index(name)
        for name in ("asset_id", "qid", "severity", "status", "type", "last_found")
    )
)


def sync_findings(
    state: IngestState, plan: mapping.BatchPlan, ids: dict[str, int]
) -> tuple[set[int], list[Row]]:
    """Insert new findings, update changed ones.

    Returns the assets whose findings changed, and the rows inserted (:data:`FINDING_COLUMNS`).
    """
    fields = mapping.FINDING_FIELDS
    have: dict[tuple[int, int], tuple[int, tuple[Any, ...]]] = {}
    columns = [findings.c.id, findings.c.asset_id, findings.c.qid, *(findings.c[f] for f in fields)]
    for chunk in chunks(state.stored_before(ids[value] for value in plan.vulnerable)):
        query = select(*columns).where(
            findings.c.cve_id == state.cve_id,
            member_of(state.connection, findings.c.asset_id, chunk),
        )
        for row in state.connection.execute(query).all():
            have[(row[1], row[2])] = (row[0], tuple(row[3:]))
    inserts: list[Row] = []
    updates: list[Row] = []
    changed: set[int] = set()
    cve_id, stamp = state.cve_id, state.stamp
    for (value, qid), facts in plan.findings.items():
        asset_id = ids[value]
        old = have.get((asset_id, qid))
        if old is None:
            inserts.append((asset_id, cve_id, qid, *facts, stamp, stamp))
        elif old[1] != facts:
            updates.append((old[0], *facts))
        else:
            continue
        changed.add(asset_id)
    _write_findings(state, inserts, updates)
    return changed, inserts


def _write_findings(state: IngestState, inserts: list[Row], updates: list[Row]) -> None:
    insert_rows(state.connection, findings, FINDING_COLUMNS, inserts, ignore_conflicts=True)
    update_rows(
        state.connection, findings, mapping.FINDING_FIELDS, updates, {"updated_at": state.now}
    )
    state.findings_added += len(inserts)
    state.findings_updated += len(updates)


def sync_finding_attributes(state: IngestState, asset_ids: set[int], inserted: list[Row]) -> None:
    """Make each asset's finding attributes exactly the set its findings (all CVEs) produce.

    The findings of assets created by this batch are all in ``inserted``; others are read.
    """
    wanted: dict[int, set[tuple[str, str]]] = defaultdict(set)
    have: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    for row in inserted:
        asset_id, *facts = _ATTRIBUTE_FACTS(row)
        if asset_id in state.fresh:
            wanted[asset_id].update(mapping.finding_attributes(*facts))
    f, a = findings.c, attributes.c
    for chunk in chunks(sorted(state.stored_before(asset_ids))):
        facts = select(f.asset_id, f.qid, f.severity, f.status, f.type, f.last_found)
        in_chunk = member_of(state.connection, f.asset_id, chunk)
        for asset_id, *known in state.connection.execute(facts.where(in_chunk)).all():
            wanted[asset_id].update(mapping.finding_attributes(*known))
        pairs = select(a.id, a.object_id, a.name, a.value).where(a.origin == ORIGIN_FINDING)
        for attr_id, object_id, name, value in state.connection.execute(
            pairs.where(member_of(state.connection, a.object_id, chunk))
        ).all():
            have[int(object_id)][(str(name), str(value))] = int(attr_id)
    inserts = [
        attribute_row(state, asset_id, name, value, ORIGIN_FINDING)
        for asset_id in sorted(asset_ids)
        for name, value in sorted(wanted[asset_id] - have[asset_id].keys())
    ]
    removals = [
        attr_id
        for asset_id in asset_ids
        for pair, attr_id in have[asset_id].items()
        if pair not in wanted[asset_id]
    ]
    apply_attributes(state, inserts, removals, sorted(asset_ids) if removals else [])
    state.updated.update(asset_ids)
