"""The ingest's state and portable bulk writes: chunked lookups, executemany inserts, deletes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from cvesweep.library.runs import IngestStats
from cvesweep.library.schema import attributes, objects

T = TypeVar("T")

# Bound values per IN list: far under SQLite's old 999-variable limit and PostgreSQL's.
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield ``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


Row = tuple[Any, ...]


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """Insert ``rows`` (tuples of the values of ``columns``, in that order) in one executemany.

    With ``ignore_conflicts`` duplicates are skipped by the dialect's ``ON CONFLICT DO
    NOTHING`` (SQLite, PostgreSQL); that only matters when another writer inserted the
    same key concurrently, since callers select before they insert. The statement is
    compiled by SQLAlchemy for the connection's dialect, but the rows go to the driver's
    ``executemany`` as they are: values must already be what the driver takes (timestamps
    through :func:`driver_value`). Skipping SQLAlchemy's per-row parameter processing, and
    building tuples rather than dicts, is what keeps a 100,000-host ingest near the cost
    of SQLite's own inserts.
    """
    if not rows:
        return
    statement = _insert(connection.dialect.name, table, ignore_conflicts)
    compiled = statement.values({name: bindparam(name) for name in columns}).compile(
        dialect=connection.dialect
    )
    params: Sequence[Any]
    if not compiled.positional:  # e.g. psycopg2's named parameters
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    elif list(compiled.positiontup or ()) == list(columns):
        params = rows
    else:  # the compiler ordered the parameters otherwise: reorder each row
        getter = itemgetter(*(columns.index(name) for name in compiled.positiontup or ()))
        params = [getter(row) for row in rows]  # >1 column here: getter returns tuples
    connection.exec_driver_sql(str(compiled), params)


def driver_value(connection: Connection, column: Column[Any], value: Any) -> Any:
    """Return ``value`` processed by ``column``'s bind processor for the connection's dialect
    (e.g. a timestamp turned into SQLite's text), ready for :func:`insert_rows`."""
    dialect = connection.dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if processor is None else processor(value)


def _insert(dialect: str, table: Table, ignore_conflicts: bool) -> Insert:
    if ignore_conflicts and dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if ignore_conflicts and dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return table.insert()


def delete_ids(connection: Connection, table: Table, ids: Sequence[int]) -> None:
    """Delete the rows of ``table`` whose ``id`` is in ``ids``."""
    for chunk in chunks(sorted(ids)):
        connection.execute(delete(table).where(table.c.id.in_(chunk)))


def object_ids(
    connection: Connection, kind: str, type_: str, values: Sequence[str]
) -> dict[str, int]:
    """Return {value: id} of the existing objects of ``kind``/``type_`` among ``values``."""
    found: dict[str, int] = {}
    query = select(objects.c.value, objects.c.id).where(
        objects.c.kind == kind, objects.c.type == type_
    )
    for chunk in chunks(values):
        for value, object_id in connection.execute(query.where(objects.c.value.in_(chunk))).all():
            found[value] = object_id
    return found


@dataclass
class IngestState:
    """One ingest in progress: its connection, clock, source and CVE, and running tallies.

    ``created`` and ``updated`` hold object ids created / changed by this ingest;
    ``fresh`` the ids created by the batch being written; ``stamp`` is ``now`` as the
    driver takes it (every timestamp column has the same type), bound once per ingest.
    """

    connection: Connection
    now: datetime
    source_id: int
    cve_id: int = 0
    attributes_added: int = 0
    attributes_removed: int = 0
    relationships_added: int = 0
    findings_added: int = 0
    findings_updated: int = 0
    tags_added: int = 0
    created: set[int] = field(default_factory=set)
    updated: set[int] = field(default_factory=set)
    fresh: set[int] = field(default_factory=set)
    stamp: Any = field(init=False)

    def __post_init__(self) -> None:
        self.stamp = driver_value(self.connection, objects.c.created_at, self.now)

    def stored_before(self, object_ids: Iterable[int]) -> list[int]:
        """Those of ``object_ids`` not created by the current batch (only they can have rows
        referencing them already, so only they need looking up)."""
        return [i for i in object_ids if i not in self.fresh]

    def stats(self) -> IngestStats:
        """Return the tallies as IngestStats (assets only; the CVE is not an asset)."""
        return IngestStats(
            assets_created=len(self.created - {self.cve_id}),
            assets_updated=len(self.updated - self.created - {self.cve_id}),
            attributes_added=self.attributes_added,
            attributes_removed=self.attributes_removed,
            relationships_added=self.relationships_added,
            findings_added=self.findings_added,
            findings_updated=self.findings_updated,
            tags_added=self.tags_added,
        )


ATTRIBUTE_COLUMNS = ("object_id", "name", "value", "source_id", "published_at", "origin")


def attribute_row(state: IngestState, object_id: int, name: str, value: str, origin: str) -> Row:
    """Return an ``attributes`` row (:data:`ATTRIBUTE_COLUMNS`) from the source, published now."""
    return (object_id, name, value, state.source_id, state.stamp, origin)


def apply_attributes(
    state: IngestState,
    inserts: Sequence[Row],
    removals: Sequence[int],
    removed_from: Iterable[int],
) -> None:
    """Delete attribute ids ``removals`` (of objects ``removed_from``), insert ``inserts``."""
    delete_ids(state.connection, attributes, removals)
    insert_rows(state.connection, attributes, ATTRIBUTE_COLUMNS, inserts, ignore_conflicts=True)
    state.attributes_added += len(inserts)
    state.attributes_removed += len(removals)
    state.updated.update(row[0] for row in inserts)
    if removals:
        state.updated.update(removed_from)
