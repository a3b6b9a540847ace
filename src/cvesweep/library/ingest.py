"""Idempotent ingest of a search result: objects, attributes, tags, relationships, findings.

The caller gives one connection inside one transaction; nothing here commits. Hosts are
read from the spool in batches and every batch is written with a few set-based statements:
select what exists, compute the difference in Python, then bulk-insert (executemany),
bulk-update or delete only that difference. Running the same result twice therefore writes
nothing the second time, and a changed detection updates its finding in place. The finding
attributes of an asset ("Qualys ID", "Severity", ...) are not written: the library computes
them from its findings when read (schema version 5, ``object_attributes``), so the tallies
``attributes_added``/``attributes_removed`` count the stored (identity) attributes only.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from itertools import islice

from sqlalchemy import Connection, or_, select, update

from cvesweep.library import mapping
from cvesweep.library.runs import IngestStats, RunRecord, insert_run
from cvesweep.library.schema import (
    KIND_ASSET,
    KIND_INDICATOR,
    ORIGIN_IDENTITY,
    SOURCE_QUALYS,
    TYPE_ASSET,
    TYPE_CVE,
    attributes,
    object_sources,
    objects,
    relationships,
    sources,
    tags,
)
from cvesweep.library.sync_findings import sync_findings
from cvesweep.library.writes import (
    IngestState,
    Row,
    apply_attributes,
    attribute_row,
    chunks,
    insert_rows,
    member_of,
    object_ids,
)
from cvesweep.models import Host, SearchResult
from cvesweep.spool import HostRow, HostSpool, host_row

log = logging.getLogger(__name__)

BATCH_HOSTS = 2000


@dataclass(frozen=True)
class StoreFlags:
    """The three storage flags of SPEC §4 (all on by default)."""

    add_assets: bool = True
    add_discovered_assets: bool = True
    tag_cves: bool = True


def ingest_result(
    connection: Connection,
    result: SearchResult,
    flags: StoreFlags,
    run: RunRecord,
    *,
    batch_hosts: int = BATCH_HOSTS,
) -> IngestStats:
    """Write ``result`` per ``flags`` and the ``run`` record; return what changed.

    The CVE indicator and the run are recorded whatever the flags. Database errors
    propagate to the caller, which rolls back and translates them.
    """
    stats = _ingest_cve(connection, result, flags, batch_hosts=batch_hosts)
    insert_run(connection, run, stats)
    return stats


def ingest_results(
    connection: Connection,
    results: Iterable[SearchResult],
    flags: StoreFlags,
    run: RunRecord,
    *,
    batch_hosts: int = BATCH_HOSTS,
) -> IngestStats:
    """Write each CVE's result (a sweep) and ONE ``run`` record; return the summed changes."""
    total = IngestStats()
    for result in results:
        stats = _ingest_cve(connection, result, flags, batch_hosts=batch_hosts)
        total = IngestStats(**{k: getattr(total, k) + getattr(stats, k) for k in _STAT_FIELDS})
    insert_run(connection, run, total)
    return total


_STAT_FIELDS = tuple(f.name for f in fields(IngestStats))


def _ingest_cve(
    connection: Connection, result: SearchResult, flags: StoreFlags, *, batch_hosts: int
) -> IngestStats:
    now = datetime.now(UTC)
    source_id = _ensure_source(connection)
    state = IngestState(connection, now, source_id)
    state.cve_id = _ensure_objects(state, KIND_INDICATOR, TYPE_CVE, [result.cve.upper()])[0]
    cve_tags: set[str] = set()
    skipped = 0
    for batch in _batches(_host_rows(result.hosts), batch_hosts):
        plan = mapping.plan_rows(
            batch, add_assets=flags.add_assets, add_discovered=flags.add_discovered_assets
        )
        _write_batch(state, plan)
        cve_tags |= plan.cve_tags
        skipped += plan.skipped
    if flags.tag_cves and cve_tags:
        _sync_tags(state, {state.cve_id: cve_tags})
    _touch(state, state.updated & {state.cve_id})
    if skipped:
        log.warning("%d hosts without an IP or IPv6 address were not stored", skipped)
    return state.stats()


def _host_rows(hosts: Iterable[Host]) -> Iterator[HostRow]:
    """The hosts as spool rows: a spool's own rows (no Host objects built), else converted."""
    if isinstance(hosts, HostSpool):
        return hosts.rows()
    return map(host_row, hosts)


def _batches(hosts: Iterable[HostRow], size: int) -> Iterator[list[HostRow]]:
    iterator = iter(hosts)
    while batch := list(islice(iterator, size)):
        yield batch


def _write_batch(state: IngestState, plan: mapping.BatchPlan) -> None:
    if not plan.identity:
        return
    values = list(plan.identity)
    ids = dict(zip(values, _ensure_objects(state, KIND_ASSET, TYPE_ASSET, values), strict=True))
    _sync_identity(state, {ids[value]: wanted for value, wanted in plan.identity.items()})
    _sync_tags(state, {ids[value]: names for value, names in plan.tags.items() if names})
    if plan.vulnerable:
        _sync_relationships(state, [ids[value] for value in plan.vulnerable])
        state.updated.update(sync_findings(state, plan, ids))
    _touch(state, state.updated & set(ids.values()))


def _ensure_source(connection: Connection) -> int:
    query = select(sources.c.id).where(sources.c.name == SOURCE_QUALYS)
    found = connection.scalar(query)
    if found is None:
        insert_rows(connection, sources, ("name",), [(SOURCE_QUALYS,)], ignore_conflicts=True)
        found = connection.scalar(query)
    assert found is not None
    return int(found)


def _ensure_objects(state: IngestState, kind: str, type_: str, values: Iterable[str]) -> list[int]:
    """Return the ids of the objects ``values`` (in order), creating the missing ones."""
    wanted = list(values)
    state.fresh = set()
    ids = object_ids(state.connection, kind, type_, wanted)
    missing = [value for value in wanted if value not in ids]
    if missing:
        columns = ("kind", "type", "value", "description", "created_at", "updated_at")
        rows = [(kind, type_, value, None, state.stamp, state.stamp) for value in missing]
        insert_rows(state.connection, objects, columns, rows, ignore_conflicts=True)
        new = object_ids(state.connection, kind, type_, missing)
        state.created.update(new.values())
        state.fresh = set(new.values())
        ids.update(new)
        links = [(i, state.source_id, state.stamp) for i in new.values()]
        link_columns = ("object_id", "source_id", "created_at")
        insert_rows(state.connection, object_sources, link_columns, links, ignore_conflicts=True)
    return [ids[value] for value in wanted]


def _sync_identity(state: IngestState, wanted: dict[int, dict[str, str]]) -> None:
    """Single-valued identity attributes: insert the wanted value, delete any other."""
    have: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    query = select(attributes.c.id, attributes.c.object_id, attributes.c.name, attributes.c.value)
    for chunk in chunks(state.stored_before(wanted)):
        rows = state.connection.execute(
            query.where(
                attributes.c.origin == ORIGIN_IDENTITY,
                member_of(state.connection, attributes.c.object_id, chunk),
            )
        ).all()
        for attr_id, object_id, name, value in rows:
            have[(object_id, name)][value] = attr_id
    inserts: list[Row] = []
    removals: list[int] = []
    for object_id, pairs in wanted.items():
        for name, value in pairs.items():
            present = have.get((object_id, name))
            if present is None or value not in present:
                inserts.append(attribute_row(state, object_id, name, value, ORIGIN_IDENTITY))
            # None for every attribute of a new asset, {value: id} for an unchanged one.
            if present and (len(present) > 1 or value not in present):
                removals.extend(attr_id for old, attr_id in present.items() if old != value)
    apply_attributes(state, inserts, removals, [a for a, _ in have] if removals else [])


def _sync_tags(state: IngestState, wanted: dict[int, set[str]]) -> None:
    have: set[tuple[int, str]] = set()
    for chunk in chunks(state.stored_before(wanted)):
        query = select(tags.c.object_id, tags.c.name).where(
            member_of(state.connection, tags.c.object_id, chunk)
        )
        have.update((x, y) for x, y in state.connection.execute(query).all())
    rows = [
        (object_id, name, state.stamp)
        for object_id, names in wanted.items()
        for name in sorted(names)
        if (object_id, name) not in have
    ]
    columns = ("object_id", "name", "created_at")
    insert_rows(state.connection, tags, columns, rows, ignore_conflicts=True)
    state.tags_added += len(rows)
    state.updated.update(row[0] for row in rows)


def _sync_relationships(state: IngestState, asset_ids: Sequence[int]) -> None:
    a, b, cve = relationships.c.object_a_id, relationships.c.object_b_id, state.cve_id
    have: set[tuple[int, int]] = set()
    for chunk in chunks(state.stored_before(asset_ids)):
        b_in, a_in = member_of(state.connection, b, chunk), member_of(state.connection, a, chunk)
        query = select(a, b).where(or_((a == cve) & b_in, (b == cve) & a_in))
        have.update((x, y) for x, y in state.connection.execute(query).all())
    pairs = sorted({(min(i, cve), max(i, cve)) for i in asset_ids} - have)
    rows = [(x, y, state.source_id, state.stamp) for x, y in pairs]
    columns = ("object_a_id", "object_b_id", "source_id", "created_at")
    insert_rows(state.connection, relationships, columns, rows, ignore_conflicts=True)
    state.relationships_added += len(rows)
    state.updated.update(i for pair in pairs for i in pair)


def _touch(state: IngestState, object_ids_: set[int]) -> None:
    """Move ``updated_at`` of objects that changed (and were not created) in this run."""
    stale = sorted(object_ids_ - state.created)
    for chunk in chunks(stale):
        state.connection.execute(
            update(objects)
            .where(member_of(state.connection, objects.c.id, chunk))
            .values(updated_at=state.now)
        )
