"""Schema versioning: create a new library, upgrade an older one, refuse a newer one.

The version lives in ``meta`` (key ``schema_version``). Each upgrade step is a function
from version N to N+1, applied in one transaction with the version bump, so a library is
never left half-upgraded. History:

* version 1 — the first schema (every table of :mod:`cvesweep.library.schema`);
* version 2 — the lookup indexes of :data:`cvesweep.library.schema.V2_INDEXES`;
* version 3 — the detection 5.0 finding columns of
  :data:`cvesweep.library.schema.V3_FINDING_COLUMNS` (``ALTER TABLE … ADD COLUMN``, nullable);
* version 4 — unbounded text for every Qualys value
  (:data:`cvesweep.library.schema.V4_TEXT_COLUMNS`) and, on PostgreSQL, the digest keys of
  :data:`cvesweep.library.schema.PG_DIGEST_INDEXES`. SQLite never enforced ``VARCHAR(n)``,
  so there the step only bumps the version;
* version 5 — the finding attributes are no longer stored: the stored rows of origin
  "finding" are deleted and the view :data:`cvesweep.library.schema.ATTRIBUTES_VIEW_SQL`
  computes them from ``findings`` when read; the foreign keys to the one-row ``sources``
  table are dropped (SQLite, which cannot drop one: the tables of
  :data:`cvesweep.library.schema.V5_UNKEYED_TABLES` are rebuilt, rows and ids kept), and
  on PostgreSQL every foreign key (:func:`drop_postgresql_foreign_keys`).

Team safety: creating and upgrading happen in ONE write transaction that first takes a lock
— ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite — and reads the
version again under it. Any number of processes may open an empty or old database at once:
the first one creates or upgrades it, the others wait for its commit and find it current.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, delete, inspect, select, text, update
from sqlalchemy.schema import CreateTable

from cvesweep.errors import LibraryError
from cvesweep.library.database import (
    create_sqlite_file,
    display_url,
    enable_sqlite_wal,
    writer_options,
)
from cvesweep.library.schema import (
    ATTRIBUTES_VIEW_SQL,
    DROP_ATTRIBUTES_VIEW_SQL,
    ORIGIN_FINDING,
    PG_DIGEST_INDEXES,
    PG_REPLACED_CONSTRAINTS,
    PG_REPLACED_INDEXES,
    SCHEMA_VERSION,
    V2_INDEXES,
    V3_FINDING_COLUMNS,
    V4_TEXT_COLUMNS,
    V5_UNKEYED_TABLES,
    attributes,
    findings,
    meta,
    metadata,
)

log = logging.getLogger(__name__)

VERSION_KEY = "schema_version"
# The key of the transaction-level advisory lock held while the schema is created or
# upgraded: "cvesweep" as a big-endian 64-bit integer (advisory locks are per database).
SCHEMA_LOCK_KEY = int.from_bytes(b"cvesweep", "big")


def _v1_to_v2(connection: Connection) -> None:
    for index in V2_INDEXES:
        index.create(connection, checkfirst=True)


def _v2_to_v3(connection: Connection) -> None:
    present = {column["name"] for column in inspect(connection).get_columns(findings.name)}
    preparer = connection.dialect.identifier_preparer
    for name in V3_FINDING_COLUMNS:
        if name in present:
            continue
        column = findings.c[name]
        kind = column.type.compile(dialect=connection.dialect)
        connection.exec_driver_sql(
            f"ALTER TABLE {preparer.quote(findings.name)} ADD COLUMN {preparer.quote(name)} {kind}"
        )


def _v3_to_v4(connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return  # SQLite keeps any length in any declared type: nothing to change
    quote = connection.dialect.identifier_preparer.quote
    for table, column in V4_TEXT_COLUMNS:
        connection.exec_driver_sql(
            f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} TYPE TEXT"
        )
    for table, constraint in PG_REPLACED_CONSTRAINTS:
        connection.exec_driver_sql(
            f"ALTER TABLE {quote(table)} DROP CONSTRAINT IF EXISTS {quote(constraint)}"
        )
    for index_name in PG_REPLACED_INDEXES:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {quote(index_name)}")
    for index in PG_DIGEST_INDEXES:
        index.create(connection, checkfirst=True)


def _v4_to_v5(connection: Connection) -> None:
    connection.exec_driver_sql(DROP_ATTRIBUTES_VIEW_SQL)
    connection.execute(delete(attributes).where(attributes.c.origin == ORIGIN_FINDING))
    if connection.dialect.name == "postgresql":
        drop_postgresql_foreign_keys(connection)
    else:
        for name in V5_UNKEYED_TABLES:
            found = inspect(connection).get_foreign_keys(name)
            if any(key["referred_table"] == "sources" for key in found):
                _rebuild_sqlite_table(connection, name)
    connection.exec_driver_sql(ATTRIBUTES_VIEW_SQL)


def drop_postgresql_foreign_keys(connection: Connection) -> None:
    """Drop every foreign key of the library's tables (PostgreSQL, schema version 5).

    PostgreSQL checks a foreign key with a trigger that runs a query per inserted row: with
    the keys to ``objects`` kept, they took half the server's CPU time of a 27,371-host
    store (measured: 10.7 s of server CPU with them, 4.5 s without). The ingest writes
    only object ids it has just read or created in the same transaction, and nothing in
    cvesweep deletes an object, so the references hold without the check. SQLite's checks
    cost nothing measurable (tested): there the keys to ``objects`` stay.
    """
    quote = connection.dialect.identifier_preparer.quote
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        for key in inspector.get_foreign_keys(table.name):
            connection.exec_driver_sql(
                f"ALTER TABLE {quote(table.name)} DROP CONSTRAINT {quote(str(key['name']))}"
            )


def _rebuild_sqlite_table(connection: Connection, name: str) -> None:
    """Make SQLite table ``name`` as the current metadata has it, rows and ids kept (the
    table rebuild SQLite documents for ALTER TABLE changes it cannot make in place)."""
    table = metadata.tables[name]
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    new = f"{name}_v5"
    ddl = str(CreateTable(table).compile(dialect=connection.dialect))
    connection.exec_driver_sql(ddl.replace(f"CREATE TABLE {name} (", f"CREATE TABLE {new} (", 1))
    connection.exec_driver_sql(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {name}")  # noqa: S608
    connection.exec_driver_sql(f"DROP TABLE {name}")
    connection.exec_driver_sql(f"ALTER TABLE {new} RENAME TO {name}")
    for index in table.indexes:
        if index not in PG_DIGEST_INDEXES:  # those are PostgreSQL's only
            index.create(connection, checkfirst=True)


UPGRADES: dict[int, Callable[[Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}


def ensure_schema(engine: Engine, url: str) -> int:
    """Create or upgrade the schema behind ``engine``; return the version this call found.

    Returns 0 when this call created the library, N < SCHEMA_VERSION when it upgraded it
    from version N, SCHEMA_VERSION when there was nothing to do (also when a concurrent
    process did it first). A current library is only read (no lock is taken, so opening
    never waits for a running ingest). Raises LibraryError for a library written by a
    newer cvesweep, or a database that holds tables but is not a cvesweep library.
    Database errors propagate (the caller translates them).
    """
    create_sqlite_file(engine)
    enable_sqlite_wal(engine)
    with engine.connect() as connection, connection.begin():
        if stored_version(connection, url) == SCHEMA_VERSION:
            return SCHEMA_VERSION
    with engine.connect().execution_options(**writer_options()) as connection:
        with connection.begin():
            lock_schema(connection)
            found = stored_version(connection, url)  # again, under the lock
            if found == 0:
                metadata.create_all(connection)
                if connection.dialect.name == "postgresql":
                    drop_postgresql_foreign_keys(connection)
                connection.execute(meta.insert().values(key=VERSION_KEY, value=str(SCHEMA_VERSION)))
                log.info("created library %s (schema %d)", display_url(url), SCHEMA_VERSION)
            elif found < SCHEMA_VERSION:
                _upgrade(connection, found, url)
        return found


def lock_schema(connection: Connection) -> None:
    """Hold the schema lock until the end of ``connection``'s transaction.

    PostgreSQL: ``pg_advisory_xact_lock`` (waits for a holder to commit or roll back).
    SQLite: the ``BEGIN IMMEDIATE`` of a writer connection is already that lock.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def stored_version(connection: Connection, url: str) -> int:
    """Return the schema version of the library on ``connection``; 0 when it has no tables.

    Raises LibraryError for tables without ``meta``, an unreadable version, or a version
    newer than this cvesweep's. Database errors propagate.
    """
    tables = set(inspect(connection).get_table_names())
    if not tables:
        return 0
    if meta.name not in tables:
        raise LibraryError(
            f"{display_url(url)} is not a cvesweep library (it has tables but no "
            f"'{meta.name}' table); choose another --db"
        )
    value = connection.scalar(select(meta.c.value).where(meta.c.key == VERSION_KEY))
    if value is None or not value.isdigit():
        raise LibraryError(f"{display_url(url)} has no valid schema version ({value!r})")
    version = int(value)
    if version > SCHEMA_VERSION:
        raise LibraryError(
            f"the library at {display_url(url)} has schema version {version}, newer than "
            f"version {SCHEMA_VERSION} that this cvesweep understands; upgrade cvesweep",
            hint="install a newer cvesweep, or choose another library with --db",
        )
    return version


def _upgrade(connection: Connection, found: int, url: str) -> None:
    for version in range(found, SCHEMA_VERSION):
        UPGRADES[version](connection)
        log.info("upgraded library %s to schema %d", display_url(url), version + 1)
    connection.execute(
        update(meta).where(meta.c.key == VERSION_KEY).values(value=str(SCHEMA_VERSION))
    )
