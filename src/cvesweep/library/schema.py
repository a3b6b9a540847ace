"""The threat library's tables (SQLAlchemy Core metadata) and its one view, schema version 5.

The model keeps ThreatQ's semantics (SPEC §6). Names below are stable: other modules
(queries, exports) read them.

``meta``            key (PK), value — holds ``schema_version``.
``sources``         id, name (unique) — who said it; cvesweep writes one row, "Qualys".
``objects``         id, kind ("indicator" | "asset"), type ("CVE" | "Asset"), value,
                    description, created_at, updated_at; unique (kind, type, value).
                    A CVE value is upper-case; an asset value is the host's IPv4 address,
                    else its IPv6 address. ``updated_at`` moves only when something stored
                    about the object changed (attributes, tags, findings, relationships).
``object_sources``  object_id, source_id (composite PK), created_at.
``attributes``      id, object_id, name, value, source_id, published_at, origin;
                    unique (object_id, name, value): a pair is never stored twice.
                    Only the STORED pairs, of ``origin`` "identity": host facts,
                    single-valued per name ("Qualys Host ID", "Hostname", "NetBIOS",
                    "Operating System", "Tracking Method", "Last Scan Date").
                    ``published_at`` is when the pair was first stored.
``object_attributes`` (a VIEW, version 5) — what every reader reads: the rows of
                    ``attributes``, and the pairs of ``origin`` "finding" computed from
                    ALL the asset's findings (every CVE, set semantics), as versions 1-4
                    stored them: "Qualys ID" (each QID), "Severity" (each non-null
                    severity), "Scan Status", "Scan Type", "Last Found Date" (each
                    non-empty value); their source is "Qualys" and ``published_at`` the
                    earliest ``first_seen_at`` of the findings giving the pair
                    (:data:`ATTRIBUTES_VIEW_SQL`; :data:`object_attributes` reads it).
``tags``            id, object_id, name, created_at; unique (object_id, name).
``relationships``   id, object_a_id, object_b_id, source_id, created_at; undirected, stored
                    with object_a_id < object_b_id; unique (object_a_id, object_b_id).
``findings``        id, asset_id, cve_id (both → objects.id), qid; severity, status, type,
                    port, protocol, first_found, last_found, times_found, last_scan,
                    qualys_host_id; from detection 5.0 (version 3): unique_vuln_id,
                    cves, qds, qds_severity, mitre_tactic_ids, mitre_tactic_names,
                    mitre_technique_ids, mitre_technique_names, detection_sources,
                    latest_detection_source (lists as comma-separated text, unbounded);
                    first_seen_at, updated_at (our clock);
                    unique (asset_id, cve_id, qid). Qualys datetimes are kept as Qualys
                    gives them, ``YYYY-MM-DDTHH:MM:SSZ`` text (string order = time order).
``runs``            id, cve, started_at, finished_at, outcome ("success" | "failed" |
                    "interrupted"), error, parameters (JSON, never a password), hosts,
                    detections, pages, api_calls, search_list_id, search_list_deleted,
                    and the ingest stats (assets_created … tags_added; NULL when the run
                    stored nothing).

The ``source_id`` columns carry no foreign key (version 5 dropped them): ``sources`` holds
one row, written before anything refers to it and never deleted, and checking that key on
every inserted row cost most of PostgreSQL's CPU in an ingest (measured: 62 %). The keys to
``objects`` (with their cascade) exist on SQLite only: on PostgreSQL the schema is created,
or upgraded to version 5, without foreign keys
(:func:`cvesweep.library.migrations.drop_postgresql_foreign_keys` says why; nothing in
cvesweep deletes an object).

Our own timestamps are timezone-aware UTC datetimes (:class:`UTCDateTime` stores naive
UTC and gives back aware UTC on every backend). Version 2 added the lookup indexes listed
in :data:`V2_INDEXES`, version 3 the finding columns of :data:`V3_FINDING_COLUMNS`, version 4
made every column holding a Qualys value unbounded text (:data:`V4_TEXT_COLUMNS`), version 5
the view and the dropped keys to ``sources`` (see :mod:`cvesweep.library.migrations`).

Limits are the same on every backend: a value Qualys gives (tag, hostname, OS, status, ...)
is ``Text``, never ``VARCHAR(n)``, and on PostgreSQL the unique keys over such text use its
md5 digest (:data:`PG_DIGEST_KEYS`), since a B-tree entry holds at most about 2,700 bytes;
SQLite keys hold any length. Only our own words (kinds, origins, outcomes, meta keys) keep a
bounded ``String``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    column,
    event,
    func,
    table,
)
from sqlalchemy.schema import SchemaItem
from sqlalchemy.sql.ddl import BaseDDLElement
from sqlalchemy.types import TypeDecorator

from cvesweep.library import mapping

SCHEMA_VERSION = 5

KIND_INDICATOR = "indicator"
KIND_ASSET = "asset"
TYPE_CVE = "CVE"
TYPE_ASSET = "Asset"
ORIGIN_IDENTITY = "identity"
ORIGIN_FINDING = "finding"
SOURCE_QUALYS = "Qualys"


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant: stored naive UTC, returned timezone-aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


def _not_postgresql(
    ddl: BaseDDLElement,
    target: SchemaItem | str,
    bind: Connection | None,
    tables: list[Table] | None = None,
    state: Any | None = None,
    *,
    dialect: Dialect,
    **kw: Any,
) -> bool:
    """``ddl_if`` condition: the plain key is created on every backend but PostgreSQL."""
    return dialect.name != "postgresql"


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)

objects = Table(
    "objects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("type", String(32), nullable=False),
    Column("value", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "type", "value"),
)

object_sources = Table(
    "object_sources",
    metadata,
    Column("object_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True),
    Column("source_id", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

attributes = Table(
    "attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("object_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("origin", String(16), nullable=False),
    UniqueConstraint("object_id", "name", "value").ddl_if(callable_=_not_postgresql),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("object_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("object_id", "name").ddl_if(callable_=_not_postgresql),
)

relationships = Table(
    "relationships",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("object_a_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("object_b_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("object_a_id", "object_b_id"),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("asset_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("cve_id", Integer, ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
    Column("qid", Integer, nullable=False),
    Column("severity", Integer, nullable=True),
    Column("status", Text, nullable=True),
    Column("type", Text, nullable=True),
    Column("port", Integer, nullable=True),
    Column("protocol", Text, nullable=True),
    Column("first_found", Text, nullable=True),
    Column("last_found", Text, nullable=True),
    Column("times_found", Integer, nullable=True),
    Column("last_scan", Text, nullable=True),
    Column("qualys_host_id", Integer, nullable=True),
    Column("unique_vuln_id", BigInteger, nullable=True),
    Column("cves", Text, nullable=True),
    Column("qds", Integer, nullable=True),
    Column("qds_severity", Text, nullable=True),
    Column("mitre_tactic_ids", Text, nullable=True),
    Column("mitre_tactic_names", Text, nullable=True),
    Column("mitre_technique_ids", Text, nullable=True),
    Column("mitre_technique_names", Text, nullable=True),
    Column("detection_sources", Text, nullable=True),
    Column("latest_detection_source", Text, nullable=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("asset_id", "cve_id", "qid"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cve", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("parameters", JSON, nullable=False),
    Column("hosts", Integer, nullable=False),
    Column("detections", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("search_list_id", Integer, nullable=True),
    Column("search_list_deleted", Boolean, nullable=False),
    Column("assets_created", Integer, nullable=True),
    Column("assets_updated", Integer, nullable=True),
    Column("attributes_added", Integer, nullable=True),
    Column("attributes_removed", Integer, nullable=True),
    Column("relationships_added", Integer, nullable=True),
    Column("findings_added", Integer, nullable=True),
    Column("findings_updated", Integer, nullable=True),
    Column("tags_added", Integer, nullable=True),
)

# Added by schema version 2: lookups the read side needs (assets of a CVE, objects
# related to one, objects with a tag, runs of a CVE).
V2_INDEXES = (
    Index("ix_findings_cve_id", findings.c.cve_id),
    Index("ix_relationships_object_b_id", relationships.c.object_b_id),
    Index("ix_tags_name", tags.c.name).ddl_if(callable_=_not_postgresql),
    Index("ix_runs_cve_started_at", runs.c.cve, runs.c.started_at),
)

# Added by schema version 3: what detection 5.0 says of a finding (all nullable).
V3_FINDING_COLUMNS = (
    "unique_vuln_id",
    "cves",
    "qds",
    "qds_severity",
    "mitre_tactic_ids",
    "mitre_tactic_names",
    "mitre_technique_ids",
    "mitre_technique_names",
    "detection_sources",
    "latest_detection_source",
)

# Made unbounded text by schema version 4: every column holding a value Qualys gives (or
# one from the user, bounded before any Qualys call: runs.cve, see models.parse_cve).
V4_TEXT_COLUMNS = (
    ("sources", "name"),
    ("objects", "value"),
    ("attributes", "name"),
    ("tags", "name"),
    ("findings", "status"),
    ("findings", "type"),
    ("findings", "protocol"),
    ("findings", "first_found"),
    ("findings", "last_found"),
    ("findings", "last_scan"),
    ("runs", "cve"),
)

# PostgreSQL only (version 4): the keys over Qualys text are on the md5 digest of the text,
# in place of the plain keys other backends get (PG_REPLACED_*), and the tag lookup is a
# hash index of the lower-cased name (what the tag filter compares; hash entries have no
# size limit).
PG_DIGEST_INDEXES = (
    Index(
        "uq_attributes_object_id_name_value_md5",
        attributes.c.object_id,
        attributes.c.name,
        func.md5(attributes.c.value),
        unique=True,
    ).ddl_if(dialect="postgresql"),
    Index(
        "uq_tags_object_id_name_md5", tags.c.object_id, func.md5(tags.c.name), unique=True
    ).ddl_if(dialect="postgresql"),
    Index("ix_tags_lower_name", func.lower(tags.c.name), postgresql_using="hash").ddl_if(
        dialect="postgresql"
    ),
)
PG_REPLACED_CONSTRAINTS = (
    ("attributes", "uq_attributes_object_id_name_value"),
    ("tags", "uq_tags_object_id_name"),
)
PG_REPLACED_INDEXES = ("ix_tags_name",)


# Dropped by schema version 5: the foreign keys to the one-row ``sources`` table.
V5_UNKEYED_TABLES = ("object_sources", "attributes", "relationships")

ATTRIBUTES_VIEW = "object_attributes"
_TEXT_COLUMNS = ("qid", "severity")  # integer finding columns: read as text in the view


def _derived(name: str, column: str) -> str:
    """One arm of the view: the distinct (asset, ``column``) pairs of findings as ``name``,
    what :func:`cvesweep.library.mapping.finding_attributes` gave: an integer when not
    null, read as text; a text when not empty."""
    quoted = f'"{column}"'
    if column in _TEXT_COLUMNS:
        value, where = f"CAST({quoted} AS TEXT)", f"{quoted} IS NOT NULL"
    else:
        value, where = quoted, f"{quoted} <> ''"
    # Only names and literals of this module go into the SQL, never a value.
    return (
        f"SELECT asset_id AS object_id, '{name}' AS name, {value} AS value, "  # noqa: S608
        f"(SELECT min(id) FROM sources WHERE name = '{SOURCE_QUALYS}') AS source_id, "
        f"min(first_seen_at) AS published_at, '{ORIGIN_FINDING}' AS origin "
        f"FROM findings WHERE {where} GROUP BY asset_id, {quoted}"
    )


_DERIVED_COLUMNS = {
    mapping.QUALYS_ID: "qid",
    mapping.SEVERITY: "severity",
    mapping.SCAN_STATUS: "status",
    mapping.SCAN_TYPE: "type",
    mapping.LAST_FOUND_DATE: "last_found",
}
assert tuple(_DERIVED_COLUMNS) == mapping.FINDING_NAMES

# The view every reader reads attributes from (the same SQL on SQLite and PostgreSQL): the
# stored pairs, then the finding pairs. UNION ALL: no stored pair has a finding name.
ATTRIBUTES_VIEW_SQL = f"CREATE VIEW {ATTRIBUTES_VIEW} AS " + " UNION ALL ".join(  # noqa: S608
    [
        "SELECT object_id, name, value, source_id, published_at, origin FROM attributes",
        *(_derived(name, column) for name, column in _DERIVED_COLUMNS.items()),
    ]
)
DROP_ATTRIBUTES_VIEW_SQL = f"DROP VIEW IF EXISTS {ATTRIBUTES_VIEW}"

event.listen(metadata, "after_create", DDL(ATTRIBUTES_VIEW_SQL))  # type: ignore[no-untyped-call]
event.listen(metadata, "before_drop", DDL(DROP_ATTRIBUTES_VIEW_SQL))  # type: ignore[no-untyped-call]

object_attributes = table(
    ATTRIBUTES_VIEW,
    column("object_id", Integer),
    column("name", Text),
    column("value", Text),
    column("source_id", Integer),
    column("published_at", UTCDateTime),
    column("origin", String(16)),
)
"""The view for queries (a lightweight table: ``metadata`` does not create it as a table)."""
