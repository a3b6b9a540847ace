"""The library as a feed of what a STIX export holds, in date-added order, read a page at a time.

Every entry is one object of a STIX export (:mod:`cvesweep.export.stix`), named by a stable
key ``(date_added, part, key)``: ``part`` says what the object is (:class:`Part`), ``key``
is the id of its library row (``objects.id`` for CVEs and assets, ``relationships.id`` for
asset–CVE links). ``date_added`` is the instant the entry's current content came to be,
derived from the library exactly as the export derives ``modified``:

- a CVE, an asset and the asset's consists-of: the later of ``created_at`` and ``updated_at``;
- an asset's address (an immutable ipv4-addr/ipv6-addr): the asset's ``created_at``;
- an asset–CVE link: the later of the relationship's ``created_at`` and the latest
  ``updated_at`` of the findings behind it.

``objects.updated_at`` and ``findings.updated_at`` move whenever what is stored about the
object changes (see :mod:`cvesweep.library.schema`), so a change always gives a later
``date_added``, and an unchanged object keeps its own. Each read is one keyset page — "the
next N entries after this key" — in one read transaction; nothing is kept between pages, so
a page costs the same memory whatever the size of the library. Reading never writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)

from cvesweep.library.mapping import HOSTNAME, LIST_SEPARATOR
from cvesweep.library.queries import ExportAsset, ExportCve, ExportLink, FindingRecord
from cvesweep.library.reading import reading_connection
from cvesweep.library.schema import (
    KIND_ASSET,
    KIND_INDICATOR,
    TYPE_CVE,
    V3_FINDING_COLUMNS,
    UTCDateTime,
    findings,
    object_attributes,
    objects,
    relationships,
    tags,
)

SCAN_CHUNK = 5_000  # rows per transaction when every natural key is read


class Part(IntEnum):
    """What an entry of the feed is; its value is its place among entries of one instant."""

    CVE = 1  # the CVE's vulnerability
    ASSET = 2  # the asset's infrastructure
    ADDRESS = 3  # the asset's ipv4-addr / ipv6-addr
    MEMBERSHIP = 4  # the asset's consists-of to its address
    LINK = 5  # the asset–CVE "has" relationship


@dataclass(frozen=True, slots=True, order=True)
class FeedKey:
    """The stable key of an entry: feeds are in ``(date_added, part, key)`` order."""

    date_added: datetime
    part: int
    key: int


Record = ExportCve | ExportAsset | ExportLink


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One entry: its key and the record its STIX object is built from."""

    key: FeedKey
    record: Record


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """Which entries to read: all of them unless narrowed.

    ``cves`` limits the feed to what ``export stix --cve`` exports for them (upper-case
    CVE ids; None: the whole library). ``after`` is the key of the last entry already read;
    ``added_after`` keeps entries added strictly later; ``dates`` only entries added at one
    of these instants; ``parts`` only these parts, and of addresses only the IP versions in
    ``address_versions``; ``keys`` only these rows of each part it names (a part it does
    not name gives nothing). At most ``limit`` entries are read.
    """

    cves: tuple[str, ...] | None = None
    after: FeedKey | None = None
    added_after: datetime | None = None
    dates: tuple[datetime, ...] | None = None
    parts: frozenset[Part] = frozenset(Part)
    address_versions: frozenset[int] = frozenset({4, 6})
    keys: Mapping[Part, frozenset[int]] | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class NaturalKey:
    """What an entry's STIX id is derived from: its row key and the values of its ends."""

    part: Part
    key: int
    values: tuple[str, ...]


_IS_CVE = and_(objects.c.kind == KIND_INDICATOR, objects.c.type == TYPE_CVE)
_IS_ASSET = objects.c.kind == KIND_ASSET


def read_feed(engine: Engine, query: FeedQuery) -> list[FeedRow]:
    """Return the first ``query.limit`` entries of the feed after ``query.after``, in order.

    Raises LibraryError when the library cannot be read.
    """
    with reading_connection(engine) as conn:
        keys = [FeedKey(*row) for row in conn.execute(_keys_query(query))]
        records = _records(conn, keys)
    return [FeedRow(key, records[(key.part, key.key)]) for key in keys]


def stored_cves(engine: Engine, cves: Sequence[str] | None = None) -> list[str]:
    """Return the CVE ids of the library (only those of ``cves`` when given), sorted.

    Raises LibraryError when the library cannot be read.
    """
    query = select(objects.c.value).where(_IS_CVE).order_by(objects.c.value)
    if cves is not None:
        query = query.where(objects.c.value.in_([cve.upper() for cve in cves]))
    with reading_connection(engine) as conn:
        return list(conn.scalars(query))


def natural_keys(engine: Engine, part: Part, cves: tuple[str, ...] | None) -> Iterator[NaturalKey]:
    """Yield every entry of ``part`` (in the scope of ``cves``) with the values naming it:
    the CVE id, the asset's value, or (asset value, CVE id) of a link.

    Read in chunks of :data:`SCAN_CHUNK` rows, one transaction each. Raises LibraryError.
    """
    last = 0
    while True:
        with reading_connection(engine) as conn:
            rows = conn.execute(_natural_query(part, cves, last)).all()
        for row in rows:
            yield NaturalKey(part, int(row[0]), tuple(row[1:]))
        if len(rows) < SCAN_CHUNK:
            return
        last = int(rows[-1][0])


# --- the keys: one branch per part, in one ordered union ------------------------------------


def _later(first: ColumnElement[Any], second: ColumnElement[Any]) -> ColumnElement[Any]:
    """The later of two instants (NULL ``second``: ``first``), typed as our UTC datetimes."""
    return type_coerce(case((second > first, second), else_=first), UTCDateTime())


def _links() -> Subquery:
    """(rel_id, cve_id, asset_id, created_at) of every asset–CVE relationship."""
    rel = relationships

    def oriented(cve_end: Any, asset_end: Any) -> Select[Any]:
        cve, asset = objects.alias("cve"), objects.alias("asset")
        return (
            select(rel.c.id.label("rel_id"), cve.c.id.label("cve_id"),
                   asset.c.id.label("asset_id"), rel.c.created_at)
            .join(cve, cve.c.id == cve_end)
            .join(asset, asset.c.id == asset_end)
            .where(cve.c.kind == KIND_INDICATOR, cve.c.type == TYPE_CVE,
                   asset.c.kind == KIND_ASSET)
        )  # fmt: skip

    both = union_all(oriented(rel.c.object_a_id, rel.c.object_b_id),
                     oriented(rel.c.object_b_id, rel.c.object_a_id))  # fmt: skip
    return both.subquery("links")


def _keys_query(query: FeedQuery) -> Select[Any]:
    links = _links()
    branches = [
        branch.where(*_narrowed(column, query.keys, part))
        for part, branch, column in _branches(query, links)
        if part in query.parts and (query.keys is None or part in query.keys)
    ]
    if not branches:  # nothing can match: an empty query of the same shape
        branches = [_branch(objects.c.created_at, Part.CVE).where(literal(False))]
    feed = union_all(*branches).subquery("feed")
    date, part, key = feed.c.date_added, feed.c.part, feed.c.key
    where: list[ColumnElement[bool]] = []
    if query.after is not None:
        after = query.after
        where.append(or_(date > after.date_added, and_(date == after.date_added, or_(
            part > after.part, and_(part == after.part, key > after.key)))))  # fmt: skip
    if query.added_after is not None:
        where.append(date > query.added_after)
    if query.dates is not None:
        where.append(date.in_(query.dates))
    return select(date, part, key).where(*where).order_by(date, part, key).limit(query.limit)


def _branches(query: FeedQuery, links: Subquery) -> list[tuple[Part, Select[Any], Any]]:
    """(part, the select of its keys, the column its ``keys`` narrow) of every part."""
    stamped = _later(objects.c.created_at, objects.c.updated_at)
    created = type_coerce(objects.c.created_at, UTCDateTime())
    cves, assets = _cve_scope(query.cves), _asset_scope(query.cves, links)
    addresses = [assets, *_ip_versions(query.address_versions)]
    return [
        (Part.CVE, _branch(stamped, Part.CVE).where(cves), objects.c.id),
        (Part.ASSET, _branch(stamped, Part.ASSET).where(assets), objects.c.id),
        (Part.ADDRESS, _branch(created, Part.ADDRESS).where(*addresses), objects.c.id),
        (Part.MEMBERSHIP, _branch(stamped, Part.MEMBERSHIP).where(assets), objects.c.id),
        (Part.LINK, _link_branch(query.cves, links), links.c.rel_id),
    ]


def _branch(date: ColumnElement[Any], part: Part) -> Select[Any]:
    """The keys of one part read from ``objects``: its date added, the part, the row id."""
    return select(
        date.label("date_added"), literal(int(part)).label("part"), objects.c.id.label("key")
    )


def _cve_scope(cves: tuple[str, ...] | None) -> ColumnElement[bool]:
    return _IS_CVE if cves is None else and_(_IS_CVE, objects.c.value.in_(cves))


def _asset_scope(cves: tuple[str, ...] | None, links: Subquery) -> ColumnElement[bool]:
    """Every asset, or those linked to one of ``cves`` (what ``export stix --cve`` holds)."""
    if cves is None:
        return _IS_ASSET
    chosen = select(objects.c.id).where(_cve_scope(cves))
    linked = select(links.c.asset_id).where(links.c.cve_id.in_(chosen))
    return and_(_IS_ASSET, objects.c.id.in_(linked))


def _ip_versions(wanted: frozenset[int]) -> list[ColumnElement[bool]]:
    """Asset values are IP addresses: IPv6 ones hold a colon, IPv4 ones never do."""
    if wanted >= {4, 6}:
        return []
    if wanted == {6}:
        return [objects.c.value.contains(":")]
    if wanted == {4}:
        return [~objects.c.value.contains(":")]
    return [literal(False)]


def _link_branch(cves: tuple[str, ...] | None, links: Subquery) -> Select[Any]:
    latest = (
        select(func.max(findings.c.updated_at))
        .where(findings.c.asset_id == links.c.asset_id, findings.c.cve_id == links.c.cve_id)
        .scalar_subquery()
    )
    branch = select(
        _later(links.c.created_at, latest).label("date_added"),
        literal(int(Part.LINK)).label("part"),
        links.c.rel_id.label("key"),
    )
    if cves is not None:
        chosen = select(objects.c.id).where(_cve_scope(cves))
        branch = branch.where(links.c.cve_id.in_(chosen))
    return branch


def _narrowed(
    column: Any, keys: Mapping[Part, frozenset[int]] | None, part: Part
) -> list[ColumnElement[bool]]:
    return [] if keys is None else [column.in_(sorted(keys[part]))]


# --- the records behind the keys of a page --------------------------------------------------


def _records(conn: Connection, keys: Sequence[FeedKey]) -> dict[tuple[int, int], Record]:
    ids: defaultdict[int, set[int]] = defaultdict(set)
    for key in keys:
        ids[key.part].add(key.key)
    cves = _cves(conn, ids[Part.CVE])
    assets = _assets(conn, ids[Part.ASSET] | ids[Part.ADDRESS] | ids[Part.MEMBERSHIP])
    links = _link_records(conn, ids[Part.LINK])
    found: dict[tuple[int, int], Record] = {}
    for key in keys:
        source: Mapping[int, Record] = (
            cves if key.part == Part.CVE else links if key.part == Part.LINK else assets
        )
        found[(key.part, key.key)] = source[key.key]
    return found


def _cves(conn: Connection, ids: set[int]) -> dict[int, ExportCve]:
    if not ids:
        return {}
    tag_map = _tags(conn, ids)
    query = select(objects.c.id, objects.c.value, objects.c.created_at, objects.c.updated_at)
    return {
        row.id: ExportCve(row.value, row.created_at, row.updated_at, tag_map.get(row.id, ()))
        for row in conn.execute(query.where(objects.c.id.in_(sorted(ids))))
    }


def _assets(conn: Connection, ids: set[int]) -> dict[int, ExportAsset]:
    if not ids:
        return {}
    chosen = sorted(ids)
    tag_map = _tags(conn, ids)
    pairs: defaultdict[int, list[tuple[str, str]]] = defaultdict(list)
    view = object_attributes.c  # stored and finding-derived pairs (schema version 5)
    query = select(view.object_id, view.name, view.value).where(view.object_id.in_(chosen))
    for object_id, name, text in conn.execute(query):
        pairs[object_id].append((name, text))
    rows = select(objects.c.id, objects.c.value, objects.c.created_at, objects.c.updated_at)
    return {
        row.id: ExportAsset(
            value=row.value,
            created=row.created_at,
            modified=row.updated_at,
            hostname=dict(pairs[row.id]).get(HOSTNAME),
            tags=tag_map.get(row.id, ()),
            attributes=tuple(pairs[row.id]),
        )
        for row in conn.execute(rows.where(objects.c.id.in_(chosen)))
    }


def _link_records(conn: Connection, ids: set[int]) -> dict[int, ExportLink]:
    if not ids:
        return {}
    links = _links()
    asset, cve = objects.alias("asset_value"), objects.alias("cve_value")
    rows = conn.execute(
        select(links, asset.c.value.label("asset"), cve.c.value.label("cve"))
        .join(asset, asset.c.id == links.c.asset_id)
        .join(cve, cve.c.id == links.c.cve_id)
        .where(links.c.rel_id.in_(sorted(ids)))
    ).all()
    behind = _findings(conn, {(row.asset_id, row.cve_id) for row in rows})
    records = {}
    for row in rows:
        found = behind.get((row.asset_id, row.cve_id), [])
        modified = max([row.created_at, *(stamp for stamp, _ in found)])
        record = tuple(_finding(row.asset, row.cve, facts) for _, facts in found)
        records[row.rel_id] = ExportLink(row.asset, row.cve, row.created_at, modified, record)
    return records


_FINDING_FACTS = (
    "qid", "severity", "status", "type", "first_found", "last_found", "last_scan",
    *V3_FINDING_COLUMNS,
)  # fmt: skip


def _findings(
    conn: Connection, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], list[tuple[datetime, Any]]]:
    """(updated_at, facts) of the findings of each (asset id, CVE id) pair, by QID."""
    found: defaultdict[tuple[int, int], list[tuple[datetime, Any]]] = defaultdict(list)
    asset_ids = sorted({asset_id for asset_id, _ in pairs})
    f = findings.c
    query = (
        select(f.asset_id, f.cve_id, f.updated_at, *(f[name] for name in _FINDING_FACTS))
        .where(f.asset_id.in_(asset_ids))
        .order_by(f.asset_id, f.cve_id, f.qid)
    )
    for row in conn.execute(query) if asset_ids else ():
        if (row.asset_id, row.cve_id) in pairs:
            found[(row.asset_id, row.cve_id)].append((row.updated_at, row))
    return found


def _finding(asset: str, cve: str, row: Any) -> FindingRecord:
    split = _split
    return FindingRecord(
        asset, cve, row.qid, row.severity, row.status, row.type, row.first_found,
        row.last_found, row.last_scan, row.unique_vuln_id, row.qds, row.qds_severity,
        split(row.cves), split(row.mitre_tactic_ids), split(row.mitre_tactic_names),
        split(row.mitre_technique_ids), split(row.mitre_technique_names),
        split(row.detection_sources), row.latest_detection_source,
    )  # fmt: skip


def _split(text: str | None) -> tuple[str, ...]:
    """A list column (see mapping.LIST_SEPARATOR) as a tuple."""
    return tuple(text.split(LIST_SEPARATOR)) if text else ()


def _tags(conn: Connection, ids: set[int]) -> dict[int, tuple[str, ...]]:
    names: defaultdict[int, list[str]] = defaultdict(list)
    query = select(tags.c.object_id, tags.c.name).where(tags.c.object_id.in_(sorted(ids)))
    for object_id, name in conn.execute(query.order_by(tags.c.name)):
        names[object_id].append(name)
    return {object_id: tuple(found) for object_id, found in names.items()}


# --- natural keys: what the STIX ids are derived from ----------------------------------------


def _natural_query(part: Part, cves: tuple[str, ...] | None, last: int) -> Select[Any]:
    links = _links()
    if part == Part.LINK:
        asset, cve = objects.alias("asset_value"), objects.alias("cve_value")
        query = (
            select(links.c.rel_id, asset.c.value, cve.c.value)
            .join(asset, asset.c.id == links.c.asset_id)
            .join(cve, cve.c.id == links.c.cve_id)
            .where(links.c.rel_id > last)
            .order_by(links.c.rel_id)
        )
        if cves is not None:
            query = query.where(cve.c.value.in_(cves))
        return query.limit(SCAN_CHUNK)
    scope = _cve_scope(cves) if part == Part.CVE else _asset_scope(cves, links)
    return (
        select(objects.c.id, objects.c.value)
        .where(scope, objects.c.id > last)
        .order_by(objects.c.id)
        .limit(SCAN_CHUNK)
    )
