"""The library's read side: frozen summaries of CVEs, assets, objects and runs, and export data.

Every function takes an Engine, reads in one transaction, and returns plain frozen
dataclasses (no SQLAlchemy object leaves this module). Reading never writes: where there is
no library yet the answers are empty (:mod:`cvesweep.library.reading`). Database failures
become LibraryError; values the user asked for that are not in the library become InputError.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
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
    or_,
    select,
    true,
    union_all,
)

from cvesweep.errors import InputError
from cvesweep.library.mapping import HOSTNAME, LIST_SEPARATOR
from cvesweep.library.reading import reading_connection
from cvesweep.library.runs import SWEEP_RUN_CVE
from cvesweep.library.schema import (
    KIND_ASSET,
    KIND_INDICATOR,
    TYPE_CVE,
    V3_FINDING_COLUMNS,
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


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """One finding: what Qualys said about one QID of one CVE on one asset (Qualys datetimes)."""

    asset: str
    cve: str
    qid: int
    severity: int | None = None
    status: str | None = None
    type: str | None = None
    first_found: str | None = None
    last_found: str | None = None
    last_scan: str | None = None
    unique_vuln_id: int | None = None
    qds: int | None = None
    qds_severity: str | None = None
    cves: tuple[str, ...] = ()
    mitre_tactic_ids: tuple[str, ...] = ()
    mitre_tactic_names: tuple[str, ...] = ()
    mitre_technique_ids: tuple[str, ...] = ()
    mitre_technique_names: tuple[str, ...] = ()
    detection_sources: tuple[str, ...] = ()
    latest_detection_source: str | None = None


@dataclass(frozen=True, slots=True)
class CveSummary:
    """A CVE in the library: its vulnerable assets, highest severity, tags and last run."""

    cve: str
    assets: int
    highest_severity: int | None
    tags: tuple[str, ...]
    last_run_at: datetime | None
    last_run_outcome: str | None


@dataclass(frozen=True, slots=True)
class AssetSummary:
    """An asset: its value (IP), hostname, tags, number of CVEs and highest severity."""

    value: str
    hostname: str | None
    tags: tuple[str, ...]
    cves: int
    highest_severity: int | None


@dataclass(frozen=True, slots=True)
class AttributeRecord:
    """One (name, value) attribute with who said it and when it was first stored."""

    name: str
    value: str
    source: str
    published: datetime


@dataclass(frozen=True, slots=True)
class RelatedObject:
    """An object on the other end of a relationship."""

    kind: str
    type: str
    value: str


@dataclass(frozen=True, slots=True)
class ObjectDetail:
    """One object with everything the library holds about it."""

    kind: str
    type: str
    value: str
    description: str | None
    created: datetime
    updated: datetime
    attributes: tuple[AttributeRecord, ...]
    tags: tuple[str, ...]
    sources: tuple[str, ...]
    related: tuple[RelatedObject, ...]
    findings: tuple[FindingRecord, ...]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One recorded run of the operation (parameters never hold a password)."""

    id: int
    cve: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: str | None
    hosts: int
    detections: int
    search_list_id: int | None
    search_list_deleted: bool
    assets_created: int | None
    assets_updated: int | None
    parameters: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExportCve:
    """A CVE indicator as the STIX exporter needs it."""

    value: str
    created: datetime
    modified: datetime
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExportAsset:
    """An asset as the STIX exporter needs it; ``attributes`` are (name, value) pairs."""

    value: str
    created: datetime
    modified: datetime
    hostname: str | None = None
    tags: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ExportLink:
    """A relationship between an asset and a CVE, with the findings behind it."""

    asset: str
    cve: str
    created: datetime
    modified: datetime
    findings: tuple[FindingRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ExportData:
    """Everything one STIX export holds: CVEs, assets, and the links between them."""

    cves: tuple[ExportCve, ...] = ()
    assets: tuple[ExportAsset, ...] = ()
    links: tuple[ExportLink, ...] = ()


NOT_FOUND_HINT = "list what is stored with 'cvesweep library cves' or 'cvesweep library assets'"
_IS_CVE = and_(objects.c.kind == KIND_INDICATOR, objects.c.type == TYPE_CVE)
_IS_ASSET = objects.c.kind == KIND_ASSET


def cve_summaries(engine: Engine) -> list[CveSummary]:
    """Return every CVE of the library (indicators, and CVEs of recorded runs), by CVE id.

    ``assets`` counts the assets related to the CVE; ``highest_severity`` is over its
    findings; the last run is the newest run of the CVE or sweep that listed it (a sweep's
    record is never listed as a CVE). Raises LibraryError when the library cannot be read.
    """
    links = _links()
    with _reading(engine) as conn:
        ids = _pairs(conn, select(objects.c.value, objects.c.id).where(_IS_CVE))
        counts = _grouped(conn, links.c.cve_id, func.count(func.distinct(links.c.asset_id)))
        severities = _grouped(conn, findings.c.cve_id, func.max(findings.c.severity))
        tag_map = _tags(conn, _IS_CVE)
        last_runs = _last_runs(conn)
    summaries = []
    for cve in sorted(ids.keys() | last_runs.keys()):
        object_id, run = ids.get(cve, -1), last_runs.get(cve)
        summaries.append(
            CveSummary(
                cve=cve,
                assets=counts.get(object_id, 0),
                highest_severity=severities.get(object_id),
                tags=tag_map.get(object_id, ()),
                last_run_at=run.started_at if run else None,
                last_run_outcome=run.outcome if run else None,
            )
        )
    return summaries


def _run_cves(conn: Connection) -> Subquery:
    """(cve, run id) of every run: its own CVE, or each CVE a sweep's record lists.

    A sweep's CVEs are unnested by the database (SQLite ``json_each``, PostgreSQL
    ``json_array_elements_text``), so a sweep of 1,400 CVEs is one query, not 1,400.
    """
    sweeps = runs_table.c.cve == SWEEP_RUN_CVE
    if conn.dialect.name == "postgresql":
        listed = func.json_array_elements_text(runs_table.c.parameters["cves"])
        each = listed.table_valued("value").lateral("listed")
    else:
        each = func.json_each(runs_table.c.parameters, "$.cves").table_valued("value")
    of_sweeps = (
        select(func.upper(each.c.value).label("cve"), runs_table.c.id.label("run_id"))
        .select_from(runs_table.join(each, true()))
        .where(sweeps)
    )
    single = select(runs_table.c.cve.label("cve"), runs_table.c.id.label("run_id")).where(~sweeps)
    return union_all(single, of_sweeps).subquery("run_cves")


def _last_runs(conn: Connection) -> dict[str, Any]:
    """The last run (highest id) of each CVE, counting the sweeps that listed it."""
    run_cves = _run_cves(conn)
    latest = (
        select(run_cves.c.cve, func.max(run_cves.c.run_id).label("run_id"))
        .group_by(run_cves.c.cve)
        .subquery("latest")
    )
    query = select(latest.c.cve, runs_table.c.started_at, runs_table.c.outcome).join(
        runs_table, runs_table.c.id == latest.c.run_id
    )
    return {row.cve: row for row in conn.execute(query)}


def assets(
    engine: Engine,
    *,
    cve: str | None = None,
    tag: str | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[AssetSummary]:
    """Return the assets in value order, optionally only those of ``cve``, with ``tag``
    (any case) or whose value or hostname contains ``search``; ``limit``/``offset`` page.

    With ``cve`` the highest severity is that of the CVE's findings, else of all findings.
    Raises InputError when ``cve`` is not in the library, LibraryError on read failure.
    """
    links = _links()
    query = select(objects.c.id, objects.c.value).where(_IS_ASSET)
    seen: ColumnElement[bool] = findings.c.asset_id.is_not(None)
    with _reading(engine) as conn:
        if cve is not None:
            cve_id = _require_cves(conn, [cve])[0]
            query = query.where(
                objects.c.id.in_(select(links.c.asset_id).where(links.c.cve_id == cve_id))
            )
            seen = findings.c.cve_id == cve_id
        if tag is not None:
            tagged = select(tags.c.object_id).where(func.lower(tags.c.name) == tag.strip().lower())
            query = query.where(objects.c.id.in_(tagged))
        if search:
            query = query.where(_matches(search))
        query = query.order_by(objects.c.value).offset(offset).limit(limit)
        page: dict[int, str] = _pairs(conn, query)
        ids = list(page)
        hostnames = _pairs(conn, _hostnames().where(attributes.c.object_id.in_(ids)))
        tag_map = _tags(conn, objects.c.id.in_(ids))
        counts = _grouped(conn, links.c.asset_id, func.count(), links.c.asset_id.in_(ids))
        severity = _grouped(
            conn,
            findings.c.asset_id,
            func.max(findings.c.severity),
            findings.c.asset_id.in_(ids),
            seen,
        )
    return [
        AssetSummary(value, hostnames.get(i), tag_map.get(i, ()), counts.get(i, 0), severity.get(i))
        for i, value in page.items()
    ]


def object_detail(engine: Engine, value: str) -> ObjectDetail:
    """Return the object whose value is ``value`` (a CVE in any case, an IP in any form).

    Raises InputError (field VALUE, exit 2) when there is none, LibraryError on read failure.
    """
    candidates = _lookup_forms(value)
    with _reading(engine) as conn:
        row = conn.execute(
            select(objects).where(objects.c.value.in_(candidates)).order_by(objects.c.id).limit(1)
        ).first()
        if row is None or not candidates:
            raise InputError("VALUE", f"no object {value!r} in the library", hint=NOT_FOUND_HINT)
        view = object_attributes.c  # stored and finding-derived pairs (schema version 5)
        attrs = conn.execute(
            select(view.name, view.value, sources.c.name, view.published_at)
            .join(sources, sources.c.id == view.source_id)
            .where(view.object_id == row.id)
            .order_by(view.name, view.value)
        ).all()
        source_names = conn.scalars(
            select(sources.c.name)
            .join(object_sources, object_sources.c.source_id == sources.c.id)
            .where(object_sources.c.object_id == row.id)
            .order_by(sources.c.name)
        ).all()
        side = findings.c.cve_id if row.kind == KIND_INDICATOR else findings.c.asset_id
        return ObjectDetail(
            kind=row.kind,
            type=row.type,
            value=row.value,
            description=row.description,
            created=row.created_at,
            updated=row.updated_at,
            attributes=tuple(AttributeRecord(*attr) for attr in attrs),
            tags=_tags(conn, objects.c.id == row.id).get(row.id, ()),
            sources=tuple(source_names),
            related=_related(conn, row.id),
            findings=tuple(_finding(r) for r in conn.execute(_findings_query(side == row.id))),
        )


def runs(engine: Engine, limit: int | None = 50) -> list[RunSummary]:
    """Return the last ``limit`` runs (all with None), newest first.

    Raises LibraryError when the library cannot be read.
    """
    query = select(runs_table).order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
    with _reading(engine) as conn:
        rows = conn.execute(query.limit(limit)).all()
    return [
        RunSummary(
            id=row.id,
            cve=row.cve,
            started_at=row.started_at,
            finished_at=row.finished_at,
            outcome=row.outcome,
            error=row.error,
            hosts=row.hosts,
            detections=row.detections,
            search_list_id=row.search_list_id,
            search_list_deleted=bool(row.search_list_deleted),
            assets_created=row.assets_created,
            assets_updated=row.assets_updated,
            parameters=dict(row.parameters or {}),
        )
        for row in rows
    ]


def export_records(engine: Engine, cves: Sequence[str] | None = None) -> ExportData:
    """Return what a STIX export holds: all CVEs and assets, or only ``cves`` and their assets.

    Raises InputError (field --cve) naming a CVE that is not in the library, LibraryError
    on read failure.
    """
    links = _links()
    with _reading(engine) as conn:
        cve_where = _IS_CVE if cves is None else objects.c.id.in_(_require_cves(conn, cves))
        cve_ids = select(objects.c.id).where(cve_where)
        linked = links.c.cve_id.in_(cve_ids)
        asset_where = _IS_ASSET
        if cves is not None:
            asset_where = objects.c.id.in_(select(links.c.asset_id).where(linked))
        tag_map = _tags(conn, or_(cve_where, asset_where))
        cve_rows = conn.execute(select(*_STAMPED).where(cve_where)).all()
        exported_assets = _export_assets(conn, asset_where, tag_map)
        findings_of: defaultdict[tuple[str, str], list[Any]] = defaultdict(list)
        for row in conn.execute(_findings_query(findings.c.cve_id.in_(cve_ids))):
            findings_of[(row.asset, row.cve)].append(row)
        pairs = select(links.c.created_at, *_link_values(links)).where(linked)
        exported_links = [_export_link(row, findings_of) for row in conn.execute(pairs)]
    return ExportData(
        cves=tuple(
            ExportCve(r.value, r.created_at, r.updated_at, tag_map.get(r.id, ())) for r in cve_rows
        ),
        assets=tuple(exported_assets),
        links=tuple(exported_links),
    )


_STAMPED = (objects.c.id, objects.c.value, objects.c.created_at, objects.c.updated_at)


class ExportReader:
    """The records of one STIX export, read piece by piece inside one read transaction.

    What :func:`export_records` returns at once, for an exporter that never holds a whole
    library: the CVEs (few), the ids and values of the assets, then the assets and links
    of a batch of asset ids at a time. Made by :func:`export_reader`.
    """

    def __init__(self, conn: Connection, cves: Sequence[str] | None) -> None:
        self._conn = conn
        links = self._links = _links()
        cve_where = _IS_CVE if cves is None else objects.c.id.in_(_require_cves(conn, cves))
        self._cve_where = cve_where
        self._cve_ids = select(objects.c.id).where(cve_where)
        self._linked = links.c.cve_id.in_(self._cve_ids)
        self._asset_where = _IS_ASSET
        if cves is not None:
            self._asset_where = objects.c.id.in_(select(links.c.asset_id).where(self._linked))

    def cves(self) -> list[ExportCve]:
        """Every CVE of the export, with its tags."""
        tag_map = _tags(self._conn, self._cve_where)
        rows = self._conn.execute(select(*_STAMPED).where(self._cve_where))
        return [ExportCve(r.value, r.created_at, r.updated_at, tag_map.get(r.id, ())) for r in rows]

    def asset_keys(self) -> Iterator[tuple[int, str, datetime, datetime]]:
        """(id, value, created, modified) of every asset of the export, in no particular order."""
        query = select(*_STAMPED).where(self._asset_where)
        # A server-side cursor on PostgreSQL: the rows are never all in this process at once.
        streamed = query.execution_options(stream_results=True, yield_per=10_000)
        yield from ((r[0], r[1], r[2], r[3]) for r in self._conn.execute(streamed))

    def assets(self, ids: Sequence[int]) -> list[ExportAsset]:
        """The assets of ``ids`` (from :meth:`asset_keys`), in that order."""
        where = objects.c.id.in_(ids)
        found = {row[0]: row for row in self._conn.execute(select(*_STAMPED).where(where))}
        tag_map = _tags(self._conn, where)
        pairs = _export_attributes(self._conn, ids)
        return [_export_asset(found[i], pairs[i], tag_map) for i in ids if i in found]

    def link_keys(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """(asset, CVE) values of what :meth:`links` returns for ``ids``, without findings."""
        links = self._links
        pairs = select(*_link_values(links)).where(self._linked, links.c.asset_id.in_(ids))
        return [(asset, cve) for asset, cve in self._conn.execute(pairs)]

    def links(self, ids: Sequence[int]) -> list[ExportLink]:
        """The links of the assets of ``ids`` to the export's CVEs, with their findings."""
        links = self._links
        findings_of: defaultdict[tuple[str, str], list[Any]] = defaultdict(list)
        chosen = and_(findings.c.asset_id.in_(ids), findings.c.cve_id.in_(self._cve_ids))
        for row in self._conn.execute(_findings_query(chosen)):
            findings_of[(row[0], row[1])].append(row)  # asset, cve
        pairs = select(links.c.created_at, *_link_values(links))
        rows = self._conn.execute(pairs.where(self._linked, links.c.asset_id.in_(ids)))
        return [_export_link(row, findings_of) for row in rows]


@contextmanager
def export_reader(engine: Engine, cves: Sequence[str] | None = None) -> Iterator[ExportReader]:
    """Yield an :class:`ExportReader` of all CVEs and assets, or of ``cves`` and their assets.

    Raises InputError (field --cve) naming a CVE that is not in the library, LibraryError
    on read failure (also from the reader's methods, while the block runs).
    """
    with _reading(engine) as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every query of the export (the exporter reads it twice).
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield ExportReader(conn, cves)


def _export_asset(
    row: Any, pairs: list[tuple[str, str]], tag_map: Mapping[int, tuple[str, ...]]
) -> ExportAsset:
    """The asset of a ``_STAMPED`` row (id, value, created_at, updated_at)."""
    object_id, value, created, modified = row
    return ExportAsset(
        value=value,
        created=created,
        modified=modified,
        hostname=dict(pairs).get(HOSTNAME),
        tags=tag_map.get(object_id, ()),
        attributes=tuple(pairs),
    )


def _export_assets(
    conn: Connection, where: ColumnElement[bool], tag_map: Mapping[int, tuple[str, ...]]
) -> list[ExportAsset]:
    pairs = _export_attributes(conn, select(objects.c.id).where(where))
    return [
        _export_asset(row, pairs[row.id], tag_map)
        for row in conn.execute(select(*_STAMPED).where(where))
    ]


def _export_attributes(
    conn: Connection, owners: Sequence[int] | Select[Any]
) -> defaultdict[int, list[tuple[str, str]]]:
    """The (name, value) attribute pairs of the objects ``owners`` (ids or a select of them).

    The one place the STIX export (:func:`export_records`, :class:`ExportReader`) reads
    attributes from.
    """
    pairs: defaultdict[int, list[tuple[str, str]]] = defaultdict(list)
    view = object_attributes.c  # stored and finding-derived pairs (schema version 5)
    # Filtered on the view's own column, so that the database filters inside each branch.
    query = select(view.object_id, view.name, view.value).where(view.object_id.in_(owners))
    for object_id, name, text in conn.execute(query):
        pairs[object_id].append((name, text))
    return pairs


def _link_values(links: Subquery) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """The asset and CVE values of ``links`` rows (scalar subqueries on objects)."""
    asset = select(objects.c.value).where(objects.c.id == links.c.asset_id).scalar_subquery()
    cve = select(objects.c.value).where(objects.c.id == links.c.cve_id).scalar_subquery()
    return asset.label("asset"), cve.label("cve")


def _export_link(row: Any, findings_of: Mapping[tuple[str, str], list[Any]]) -> ExportLink:
    """The link of a (created_at, asset, cve) row; ``findings_of`` holds _findings_query rows."""
    created, asset, cve = row
    rows = findings_of.get((asset, cve), [])
    modified = max([created, *(found[-1] for found in rows)])  # their updated_at
    return ExportLink(asset, cve, created, modified, tuple(map(_finding, rows)))


def _reading(engine: Engine) -> AbstractContextManager[Connection]:
    return reading_connection(engine)


def _links() -> Subquery:
    """(cve_id, asset_id, created_at) of every CVE–asset relationship, either way round."""
    rel = relationships
    ends = union_all(
        select(rel.c.object_a_id.label("x"), rel.c.object_b_id.label("y"), rel.c.created_at),
        select(rel.c.object_b_id.label("x"), rel.c.object_a_id.label("y"), rel.c.created_at),
    ).subquery("ends")
    cve, asset = objects.alias("cve"), objects.alias("asset")
    joined = ends.join(cve, cve.c.id == ends.c.x).join(asset, asset.c.id == ends.c.y)
    return (
        select(ends.c.x.label("cve_id"), ends.c.y.label("asset_id"), ends.c.created_at)
        .select_from(joined)
        .where(cve.c.kind == KIND_INDICATOR, cve.c.type == TYPE_CVE, asset.c.kind == KIND_ASSET)
        .subquery("links")
    )


def _grouped(
    conn: Connection,
    key: ColumnElement[int],
    value: ColumnElement[Any],
    *where: ColumnElement[bool],
) -> dict[int, Any]:
    return _pairs(conn, select(key, value).where(*where).group_by(key))


def _pairs(conn: Connection, query: Select[Any]) -> dict[Any, Any]:
    """The two-column result of ``query`` as a dict (first column → second)."""
    return {key: value for key, value in conn.execute(query)}


def _tags(conn: Connection, where: ColumnElement[bool]) -> dict[int, tuple[str, ...]]:
    """Sorted tag names per object id, for the objects matching ``where``."""
    names: defaultdict[int, list[str]] = defaultdict(list)
    query = select(tags.c.object_id, tags.c.name).join(objects, objects.c.id == tags.c.object_id)
    for object_id, name in conn.execute(query.where(where).order_by(tags.c.name)):
        names[object_id].append(name)
    return {object_id: tuple(found) for object_id, found in names.items()}


def _hostnames() -> Select[Any]:
    return select(attributes.c.object_id, attributes.c.value).where(attributes.c.name == HOSTNAME)


def _matches(search: str) -> ColumnElement[bool]:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped.lower()}%"
    named = _hostnames().where(func.lower(attributes.c.value).like(pattern, escape="\\"))
    return or_(
        func.lower(objects.c.value).like(pattern, escape="\\"),
        objects.c.id.in_(named.with_only_columns(attributes.c.object_id)),
    )


def _require_cves(conn: Connection, cves: Iterable[str]) -> list[int]:
    """The object ids of ``cves`` (any case); InputError names the first one not stored."""
    wanted = [cve.strip().upper() for cve in cves]
    stored = _pairs(
        conn, select(objects.c.value, objects.c.id).where(_IS_CVE, objects.c.value.in_(wanted))
    )
    for cve in wanted:
        if cve not in stored:
            raise InputError(
                "--cve",
                f"{cve!r} is not in the library",
                hint="list the stored CVEs with 'cvesweep library cves'",
            )
    return [stored[cve] for cve in wanted]


def _lookup_forms(value: str) -> list[str]:
    """The stored forms ``value`` may have: as typed, upper-case (CVE), canonical IP."""
    text = value.strip()
    if not text:
        return []
    forms = {text, text.upper()}
    with suppress(ValueError):
        forms.add(str(ipaddress.ip_address(text)))
    return sorted(forms)


def _related(conn: Connection, object_id: int) -> tuple[RelatedObject, ...]:
    rel = relationships
    other = case((rel.c.object_a_id == object_id, rel.c.object_b_id), else_=rel.c.object_a_id)
    query = (
        select(objects.c.kind, objects.c.type, objects.c.value)
        .join(rel, objects.c.id == other)
        .where(or_(rel.c.object_a_id == object_id, rel.c.object_b_id == object_id))
        .order_by(objects.c.kind, objects.c.type, objects.c.value)
    )
    return tuple(RelatedObject(*row) for row in conn.execute(query))


def _findings_query(where: ColumnElement[bool]) -> Select[Any]:
    asset, cve = objects.alias("asset"), objects.alias("cve")
    f = findings.c
    return (
        select(
            asset.c.value.label("asset"),
            cve.c.value.label("cve"),
            f.qid,
            f.severity,
            f.status,
            f.type,
            f.first_found,
            f.last_found,
            f.last_scan,
            *(f[name] for name in V3_FINDING_COLUMNS),
            f.updated_at,
        )
        .join(asset, asset.c.id == f.asset_id)
        .join(cve, cve.c.id == f.cve_id)
        .where(where)
        .order_by(asset.c.value, cve.c.value, f.qid)
    )


def _finding(row: Any) -> FindingRecord:
    """The FindingRecord of a :func:`_findings_query` row (read by position: a Row's
    attributes cost several times more, and exports read hundreds of thousands)."""
    (asset, cve, qid, severity, status, kind, first_found, last_found, last_scan, unique,
     cves, qds, qds_severity, tactic_ids, tactic_names, technique_ids, technique_names,
     detection_sources, latest_source, _updated) = row  # fmt: skip
    return FindingRecord(
        asset, cve, qid, severity, status, kind, first_found, last_found, last_scan, unique,
        qds, qds_severity, _split(cves), _split(tactic_ids), _split(tactic_names),
        _split(technique_ids), _split(technique_names), _split(detection_sources),
        latest_source,
    )  # fmt: skip


# _finding reads the columns of _findings_query by position.
assert V3_FINDING_COLUMNS == (
    "unique_vuln_id", "cves", "qds", "qds_severity", "mitre_tactic_ids", "mitre_tactic_names",
    "mitre_technique_ids", "mitre_technique_names", "detection_sources",
    "latest_detection_source",
)  # fmt: skip


def _split(text: str | None) -> tuple[str, ...]:
    """A list column (comma-separated, see mapping.LIST_SEPARATOR) as a tuple."""
    return tuple(text.split(LIST_SEPARATOR)) if text else ()
