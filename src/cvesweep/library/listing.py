"""Paged, sorted reads of the library for tables of any size: assets, a CVE's findings, runs.

Each page is read in two steps inside one read transaction: the (id, sort key) pairs of
every matching row (a few hundred kilobytes for 18,000 assets), sorted in Python, then the
details of the page's rows only. IP addresses sort numerically (IPv4 before IPv6, anything
that is no address after both, by text), which no SQL ``ORDER BY`` on the text can do and
which needs no schema change. Failures are those of :mod:`cvesweep.library.queries`:
LibraryError on read failure, InputError for a CVE that is not stored.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select, union, union_all

from cvesweep.errors import InputError

# The private helpers of queries are shared on purpose: one shape of each read, two modules.
from cvesweep.library.queries import (
    _IS_ASSET,
    _IS_CVE,
    NOT_FOUND_HINT,
    AssetSummary,
    AttributeRecord,
    FindingRecord,
    ObjectDetail,
    RunSummary,
    _finding,
    _findings_query,
    _grouped,
    _hostnames,
    _lookup_forms,
    _matches,
    _pairs,
    _reading,
    _related,
    _require_cves,
    _tags,
)
from cvesweep.library.schema import (
    KIND_INDICATOR,
    attributes,
    findings,
    object_attributes,
    object_sources,
    objects,
    relationships,
    sources,
    tags,
)
from cvesweep.library.schema import runs as runs_table

T = TypeVar("T")
PAGE_DEFAULT = 100
PAGE_MAX = 1_000


class AssetSort(StrEnum):
    """The columns an asset table sorts by."""

    IP = "ip"
    HOSTNAME = "hostname"
    CVES = "cves"
    SEVERITY = "severity"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a table: its rows, how many rows match in all, where it starts."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int

    @property
    def more(self) -> int:
        """How many matching rows follow this page."""
        return max(self.total - self.offset - len(self.items), 0)


@dataclass(frozen=True, slots=True)
class AssetFilter:
    """Which assets a table shows: of a CVE, with a tag (any case), matching a text."""

    cve: str | None = None
    tag: str | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class CveOverview:
    """A CVE's facts without its (possibly 18,000) findings: counts and chart numbers."""

    cve: str
    tags: tuple[str, ...]
    created: Any
    updated: Any
    assets: int
    findings: int
    by_severity: tuple[tuple[int | None, int], ...]  # highest severity per asset → assets
    by_tag: tuple[tuple[str, int], ...]  # asset tag → assets, most frequent first


@dataclass(frozen=True, slots=True)
class ObjectPage:
    """One object with a page of its related objects and of its findings, and their totals.

    ``detail.related`` and ``detail.findings`` hold the page only (related objects by kind,
    type, then numeric IP or value; findings by asset IP, CVE, QID).
    """

    detail: ObjectDetail
    related_total: int
    findings_total: int


_pton, _V4, _V6 = socket.inet_pton, socket.AF_INET, socket.AF_INET6


def ip_key(value: str) -> tuple[int, int, str]:
    """A sort key putting IPv4 addresses first in numeric order, then IPv6, then other text.

    ``inet_pton`` (C, strict dotted quads) rather than :mod:`ipaddress`: ten times faster,
    which is most of the time of a page of 18,000 assets.
    """
    try:
        return (0, int.from_bytes(_pton(_V4, value), "big"), value)
    except (OSError, ValueError):  # ValueError: a NUL inside the text
        pass
    try:
        return (1, int.from_bytes(_pton(_V6, value), "big"), value)
    except (OSError, ValueError):
        pass
    return (2, 0, value)


def asset_page(
    engine: Engine,
    where: AssetFilter = AssetFilter(),
    *,
    sort: AssetSort = AssetSort.IP,
    descending: bool = False,
    limit: int = PAGE_DEFAULT,
    offset: int = 0,
) -> Page[AssetSummary]:
    """Return the page of assets matching ``where`` in ``sort`` order (IP breaks ties).

    With ``where.cve`` the severity is that of the CVE's findings, else of all findings.
    Raises InputError when ``where.cve`` is not stored, LibraryError on read failure.
    """
    with _reading(engine) as conn:
        chosen, seen = _asset_where(conn, where)
        pairs = _pairs(conn, select(objects.c.id, objects.c.value).where(chosen))
        keys = _asset_keys(conn, sort, chosen, seen, pairs)
        ordered = sorted(pairs, key=keys)
        if descending:
            ordered = _descending(ordered, keys, sort)
        ids = ordered[offset : offset + limit]
        found = _asset_details(conn, ids, pairs, seen)
    return Page(tuple(found), len(pairs), offset, limit)


def cve_overview(engine: Engine, cve: str) -> CveOverview:
    """Return the facts of the stored CVE ``cve`` (upper case) and its chart numbers, counted
    by the database (a few rows come back, however many assets the CVE has).

    Raises InputError (field --cve) when it is not stored, LibraryError on read failure.
    """
    with _reading(engine) as conn:
        cve_id = _require_cves(conn, [cve])[0]
        row = conn.execute(select(objects).where(objects.c.id == cve_id)).one()
        asset_ids = _linked_assets(cve_id)
        assets = conn.scalar(select(func.count()).select_from(asset_ids.subquery())) or 0
        count = conn.scalar(select(func.count()).where(findings.c.cve_id == cve_id)) or 0
        highest = (
            select(func.max(findings.c.severity).label("level"))
            .where(findings.c.cve_id == cve_id, findings.c.asset_id.in_(asset_ids))
            .group_by(findings.c.asset_id)
            .subquery()
        )
        levels = dict(_pairs(conn, select(highest.c.level, func.count()).group_by(highest.c.level)))
        with_findings = sum(levels.values())
        if assets > with_findings:  # assets linked to the CVE without a finding of it
            levels[None] = levels.get(None, 0) + assets - with_findings
        by_tag = _pairs(
            conn,
            select(tags.c.name, func.count(func.distinct(tags.c.object_id)))
            .where(tags.c.object_id.in_(asset_ids))
            .group_by(tags.c.name),
        )
        cve_tags = _tags(conn, objects.c.id == cve_id).get(cve_id, ())
    return CveOverview(
        cve=row.value,
        tags=cve_tags,
        created=row.created_at,
        updated=row.updated_at,
        assets=int(assets),
        findings=int(count),
        by_severity=tuple(sorted(levels.items(), key=lambda item: -(item[0] or 0))),
        by_tag=tuple(sorted(by_tag.items(), key=lambda item: (-item[1], item[0]))),
    )


def findings_page(
    engine: Engine, *, cve: str | None = None, asset: str | None = None, limit: int, offset: int
) -> Page[FindingRecord]:
    """Return a page of the findings of the CVE ``cve`` or of the asset value ``asset``,
    by asset IP (numeric), CVE and QID. Raises LibraryError on read failure."""
    with _reading(engine) as conn:
        side = findings.c.cve_id if cve is not None else findings.c.asset_id
        target = _object_id(conn, cve if cve is not None else asset)
        asset_of, cve_of = objects.alias("asset_of"), objects.alias("cve_of")
        keys_query = (
            select(findings.c.id, asset_of.c.value, cve_of.c.value, findings.c.qid)
            .join(asset_of, asset_of.c.id == findings.c.asset_id)
            .join(cve_of, cve_of.c.id == findings.c.cve_id)
            .where(side == target)
        )
        rows = sorted(conn.execute(keys_query).all(), key=lambda r: (ip_key(r[1]), r[2], r[3]))
        ids = [r[0] for r in rows[offset : offset + limit]]
        found = [_finding(row) for row in conn.execute(_findings_query(findings.c.id.in_(ids)))]
    # The same order as the keys': asset IP, CVE, QID (a finding is one per such triple).
    found.sort(key=lambda f: (ip_key(f.asset), f.cve, f.qid))
    return Page(tuple(found), len(rows), offset, limit)


def findings_of_assets(
    engine: Engine, cve: str, assets: Sequence[str]
) -> tuple[FindingRecord, ...]:
    """Return the findings of the CVE ``cve`` on the assets ``assets`` (values, e.g. a page's),
    in the order of ``assets`` then by QID. Raises LibraryError on read failure."""
    order = {value: index for index, value in enumerate(assets)}
    with _reading(engine) as conn:
        cve_id = _object_id(conn, cve)
        on_page = select(objects.c.id).where(objects.c.value.in_(list(assets)), _IS_ASSET)
        query = _findings_query((findings.c.cve_id == cve_id) & findings.c.asset_id.in_(on_page))
        found = [_finding(row) for row in conn.execute(query)] if assets else []
    return tuple(sorted(found, key=lambda f: (order.get(f.asset, len(order)), f.qid)))


def object_page(engine: Engine, value: str, *, limit: int, offset: int = 0) -> ObjectPage:
    """Return the object ``value`` (a CVE in any case, an IP in any form) with the related
    objects and findings from ``offset``, at most ``limit`` of each.

    Raises InputError (field VALUE, exit 2) when there is none, LibraryError on read failure.
    """
    candidates = _lookup_forms(value)
    with _reading(engine) as conn:
        query = select(objects).where(objects.c.value.in_(candidates)).order_by(objects.c.id)
        row = conn.execute(query.limit(1)).first() if candidates else None
        if row is None:
            raise InputError("VALUE", f"no object {value!r} in the library", hint=NOT_FOUND_HINT)
        related = sorted(_related(conn, row.id), key=lambda r: (r.kind, r.type, ip_key(r.value)))
        detail = ObjectDetail(
            kind=row.kind,
            type=row.type,
            value=row.value,
            description=row.description,
            created=row.created_at,
            updated=row.updated_at,
            attributes=_attributes(conn, row.id),
            tags=_tags(conn, objects.c.id == row.id).get(row.id, ()),
            sources=_sources(conn, row.id),
            related=tuple(related[offset : offset + limit]),
            findings=(),
        )
    side = {"cve": row.value} if row.kind == KIND_INDICATOR else {"asset": row.value}
    found = findings_page(engine, **side, limit=limit, offset=offset)
    paged = replace(detail, findings=found.items)
    return ObjectPage(paged, len(related), found.total)


def _attributes(conn: Connection, object_id: int) -> tuple[AttributeRecord, ...]:
    view = object_attributes.c  # stored and finding-derived pairs (schema version 5)
    query = (
        select(view.name, view.value, sources.c.name, view.published_at)
        .join(sources, sources.c.id == view.source_id)
        .where(view.object_id == object_id)
        .order_by(view.name, view.value)
    )
    return tuple(AttributeRecord(*attr) for attr in conn.execute(query))


def _sources(conn: Connection, object_id: int) -> tuple[str, ...]:
    query = (
        select(sources.c.name)
        .join(object_sources, object_sources.c.source_id == sources.c.id)
        .where(object_sources.c.object_id == object_id)
        .order_by(sources.c.name)
    )
    return tuple(conn.scalars(query))


def cve_assets_with_findings(
    engine: Engine, cve: str, *, batch: int = 500
) -> Iterator[tuple[AssetSummary, tuple[FindingRecord, ...]]]:
    """Yield every asset of the stored CVE ``cve`` in numeric IP order with its findings of
    that CVE, reading ``batch`` assets at a time inside one read transaction (for exports).

    Raises InputError (field --cve) when ``cve`` is not stored, LibraryError on read failure.
    """
    with _reading(engine) as conn:
        cve_id = _require_cves(conn, [cve])[0]
        chosen, seen = _asset_where(conn, AssetFilter(cve))
        pairs = _pairs(conn, select(objects.c.id, objects.c.value).where(chosen))
        ordered = sorted(pairs, key=lambda i: ip_key(pairs[i]))
        for start in range(0, len(ordered), batch):
            ids = ordered[start : start + batch]
            of_asset: dict[str, list[FindingRecord]] = {}
            picked = findings.c.asset_id.in_(ids) & (findings.c.cve_id == cve_id)
            for row in conn.execute(_findings_query(picked)):
                of_asset.setdefault(row.asset, []).append(_finding(row))
            for asset in _asset_details(conn, ids, pairs, seen):
                yield asset, tuple(of_asset.get(asset.value, ()))


def runs_page(engine: Engine, *, limit: int = PAGE_DEFAULT, offset: int = 0) -> Page[RunSummary]:
    """Return a page of the run history, newest first. Raises LibraryError on read failure."""
    query = select(runs_table).order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
    with _reading(engine) as conn:
        total = conn.scalar(select(func.count()).select_from(runs_table)) or 0
        rows = conn.execute(query.offset(offset).limit(limit)).all()
    return Page(tuple(_run(row) for row in rows), int(total), offset, limit)


def _run(row: Any) -> RunSummary:
    names = (
        "id", "cve", "started_at", "finished_at", "outcome", "error", "hosts", "detections",
        "search_list_id", "assets_created", "assets_updated",
    )  # fmt: skip
    values = {name: getattr(row, name) for name in names}
    deleted = bool(row.search_list_deleted)
    return RunSummary(**values, search_list_deleted=deleted, parameters=dict(row.parameters or {}))


def _object_id(conn: Connection, value: str | None) -> int:
    found = conn.scalar(select(objects.c.id).where(objects.c.value == value).limit(1))
    return -1 if found is None else int(found)


def _linked_assets(cve_id: int) -> Select[Any]:
    """The ids of the assets related to the CVE object ``cve_id``, either way round.

    Each side is read through its own index (not through queries._links, a union of every
    relationship that the database builds whole first).
    """
    rel = relationships
    ends = union(
        select(rel.c.object_b_id.label("other")).where(rel.c.object_a_id == cve_id),
        select(rel.c.object_a_id.label("other")).where(rel.c.object_b_id == cve_id),
    ).subquery("ends")
    return select(objects.c.id).where(objects.c.id.in_(select(ends.c.other)), _IS_ASSET)


def _asset_where(
    conn: Connection, where: AssetFilter
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The condition on objects for ``where`` and the one on findings for the severity."""
    chosen: ColumnElement[bool] = _IS_ASSET
    seen: ColumnElement[bool] = findings.c.asset_id.is_not(None)
    if where.cve is not None:
        cve_id = _require_cves(conn, [where.cve])[0]
        chosen = chosen & objects.c.id.in_(_linked_assets(cve_id))
        seen = findings.c.cve_id == cve_id
    if where.tag is not None and where.tag.strip():
        wanted = where.tag.strip().lower()
        chosen = chosen & objects.c.id.in_(
            select(tags.c.object_id).where(func.lower(tags.c.name) == wanted)
        )
    if where.search:
        chosen = chosen & _matches(where.search)
    return chosen, seen


def _asset_keys(
    conn: Connection,
    sort: AssetSort,
    chosen: ColumnElement[bool],
    seen: ColumnElement[bool],
    pairs: dict[int, str],
) -> Callable[[int], Any]:
    """The sort key of an asset id for ``sort``, IP order within equal values."""
    ip = {i: ip_key(value) for i, value in pairs.items()}
    ids = select(objects.c.id).where(chosen)
    if sort is AssetSort.IP:
        return ip.__getitem__
    if sort is AssetSort.HOSTNAME:
        names = _pairs(conn, _hostnames().where(attributes.c.object_id.in_(ids)))
        return lambda i: (names.get(i) is None, (names.get(i) or "").lower(), ip[i])
    if sort is AssetSort.CVES:
        counts = _cve_counts(conn, ids)
        return lambda i: (counts.get(i, 0), ip[i])
    severity = _grouped(
        conn, findings.c.asset_id, func.max(findings.c.severity), findings.c.asset_id.in_(ids), seen
    )
    return lambda i: (severity.get(i) or 0, ip[i])


def _cve_counts(conn: Connection, ids: Select[Any] | Sequence[int]) -> dict[int, int]:
    """How many CVEs each asset of ``ids`` is related to, either way round (by index)."""
    rel = relationships
    cves = select(objects.c.id).where(_IS_CVE)
    chosen = list(ids) if isinstance(ids, Sequence) else ids
    ends = union_all(
        select(rel.c.object_a_id.label("asset")).where(
            rel.c.object_a_id.in_(chosen), rel.c.object_b_id.in_(cves)
        ),
        select(rel.c.object_b_id.label("asset")).where(
            rel.c.object_b_id.in_(chosen), rel.c.object_a_id.in_(cves)
        ),
    ).subquery("ends")
    return _pairs(conn, select(ends.c.asset, func.count()).group_by(ends.c.asset))


def _descending(ordered: list[int], keys: Callable[[int], Any], sort: AssetSort) -> list[int]:
    """``ordered`` by its sort value high to low, IP order kept within equal values."""
    if sort is AssetSort.IP:
        return ordered[::-1]
    primary: Callable[[int], Any] = lambda i: keys(i)[:-1]  # noqa: E731 (the key without IP)
    groups: dict[Any, list[int]] = {}
    for i in ordered:
        groups.setdefault(primary(i), []).append(i)
    return [i for key in sorted(groups, reverse=True) for i in groups[key]]


def _asset_details(
    conn: Connection, ids: Sequence[int], pairs: dict[int, str], seen: ColumnElement[bool]
) -> list[AssetSummary]:
    hostnames = _pairs(conn, _hostnames().where(attributes.c.object_id.in_(ids)))
    tag_map = _tags(conn, objects.c.id.in_(ids))
    counts = _cve_counts(conn, ids)
    severity = _grouped(
        conn, findings.c.asset_id, func.max(findings.c.severity), findings.c.asset_id.in_(ids), seen
    )
    return [
        AssetSummary(
            pairs[i], hostnames.get(i), tag_map.get(i, ()), counts.get(i, 0), severity.get(i)
        )
        for i in ids
    ]


__all__ = [
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "AssetFilter",
    "AssetSort",
    "CveOverview",
    "ObjectPage",
    "Page",
    "asset_page",
    "cve_assets_with_findings",
    "cve_overview",
    "findings_of_assets",
    "findings_page",
    "ip_key",
    "object_page",
    "runs_page",
]
