"""Findings of an ingest: one row per (asset, CVE, QID), inserted when new, updated in place
when any fact changed. The finding attributes of an asset ("Qualys ID", "Severity", ...) are
not written here: the library computes them from the findings when read (schema version 5,
``schema.ATTRIBUTES_VIEW_SQL``), so a changed severity replaces the old value by itself.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cvesweep.library import mapping
from cvesweep.library.schema import findings
from cvesweep.library.writes import (
    IngestState,
    Row,
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


def sync_findings(state: IngestState, plan: mapping.BatchPlan, ids: dict[str, int]) -> set[int]:
    """Insert new findings, update changed ones; return the assets whose findings changed."""
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
    return changed


def _write_findings(state: IngestState, inserts: list[Row], updates: list[Row]) -> None:
    insert_rows(state.connection, findings, FINDING_COLUMNS, inserts, ignore_conflicts=True)
    update_rows(
        state.connection, findings, mapping.FINDING_FIELDS, updates, {"updated_at": state.now}
    )
    state.findings_added += len(inserts)
    state.findings_updated += len(updates)
