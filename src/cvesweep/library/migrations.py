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
  so there the step only bumps the version.

Team safety: creating and upgrading happen in ONE write transaction that first takes a lock
— ``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite — and reads the
version again under it. Any number of processes may open an empty or old database at once:
the first one creates or upgrades it, the others wait for its commit and find it current.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, text, update

from cvesweep.errors import LibraryError
from cvesweep.library.database import create_sqlite_file, display_url, writer_options
from cvesweep.library.schema import (
    PG_DIGEST_INDEXES,
    PG_REPLACED_CONSTRAINTS,
    PG_REPLACED_INDEXES,
    SCHEMA_VERSION,
    V2_INDEXES,
    V3_FINDING_COLUMNS,
    V4_TEXT_COLUMNS,
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


UPGRADES: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


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
    with engine.connect() as connection, connection.begin():
        if stored_version(connection, url) == SCHEMA_VERSION:
            return SCHEMA_VERSION
    with engine.connect().execution_options(**writer_options()) as connection:
        with connection.begin():
            lock_schema(connection)
            found = stored_version(connection, url)  # again, under the lock
            if found == 0:
                metadata.create_all(connection)
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
