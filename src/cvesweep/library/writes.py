"""The ingest's state and its bulk writes: chunked lookups, inserts, updates and deletes.

Inserts and updates are one executemany each, or COPY and one set-based statement on
PostgreSQL (:mod:`cvesweep.library.pg_bulk`); SQLite's path is the executemany.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from cvesweep.library import pg_bulk
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


def member_of(
    connection: Connection, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN values``: on PostgreSQL ``= ANY(:array)``, one parameter (compiling and
    sending 900 separate parameters costs more than the lookup itself); a list elsewhere."""
    if connection.dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(values)


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
    of SQLite's own inserts. On PostgreSQL with psycopg the rows go through COPY instead
    (:mod:`cvesweep.library.pg_bulk`).
    """
    if not rows:
        return
    if pg_bulk.supported(connection):
        pg_bulk.copy_insert(connection, table, columns, rows, ignore_conflicts=ignore_conflicts)
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


def update_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    constants: Mapping[str, Any],
) -> None:
    """Set ``columns`` and ``constants`` of the ``table`` rows whose ``id`` is each row's first
    value; ``rows`` are (id, *values of columns) as the driver takes them, ``constants`` as
    SQLAlchemy takes them. One executemany (COPY and one UPDATE on PostgreSQL).
    """
    if not rows:
        return
    if pg_bulk.supported(connection):
        values = {name: driver_value(connection, table.c[name], v) for name, v in constants.items()}
        pg_bulk.copy_update(connection, table, "id", columns, rows, values)
        return
    assignments: dict[str, Any] = {name: bindparam(f"b_{name}") for name in columns}
    statement = (
        update(table).where(table.c.id == bindparam("b_id")).values(**assignments, **constants)
    )
    names = ("b_id", *(f"b_{name}" for name in columns))
    connection.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])


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
        connection.execute(delete(table).where(member_of(connection, table.c.id, chunk)))


def object_ids(
    connection: Connection, kind: str, type_: str, values: Sequence[str]
) -> dict[str, int]:
    """Return {value: id} of the existing objects of ``kind``/``type_`` among ``values``."""
    found: dict[str, int] = {}
    query = select(objects.c.value, objects.c.id).where(
        objects.c.kind == kind, objects.c.type == type_
    )
    for chunk in chunks(values):
        where = member_of(connection, objects.c.value, chunk)
        for value, object_id in connection.execute(query.where(where)).all():
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
