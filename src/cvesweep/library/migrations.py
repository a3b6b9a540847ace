"""Schema versioning: create a new library, upgrade an older one, refuse a newer one.

The version lives in ``meta`` (key ``schema_version``). Each upgrade step is a function
from version N to N+1, applied in one transaction with the version bump, so a library is
never left half-upgraded. History:

* version 1 — the first schema (every table of :mod:`cvesweep.library.schema`);
* version 2 — the lookup indexes of :data:`cvesweep.library.schema.V2_INDEXES`;
* version 3 — the detection 5.0 finding columns of
  :data:`cvesweep.library.schema.V3_FINDING_COLUMNS` (``ALTER TABLE … ADD COLUMN``, nullable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select, update

from cvesweep.errors import LibraryError
from cvesweep.library.database import display_url, writer_options
from cvesweep.library.schema import (
    SCHEMA_VERSION,
    V2_INDEXES,
    V3_FINDING_COLUMNS,
    findings,
    meta,
    metadata,
)

log = logging.getLogger(__name__)

VERSION_KEY = "schema_version"


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


UPGRADES: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def ensure_schema(engine: Engine, url: str) -> int:
    """Create or upgrade the schema behind ``engine``; return the version found on open.

    Returns 0 for a library created just now. A current library is only read (no write
    lock is taken, so opening never waits for a running ingest). Raises LibraryError for a
    library written by a newer cvesweep, or a database that holds tables but is not a
    cvesweep library. Database errors propagate (the caller translates them).
    """
    with engine.connect() as connection, connection.begin():
        found = _stored_version(connection, url)
    if found == SCHEMA_VERSION:
        return found
    with engine.connect().execution_options(**writer_options()) as connection:
        with connection.begin():
            found = _stored_version(connection, url)  # again: another process may have won
            if found == 0:
                metadata.create_all(connection)
                connection.execute(meta.insert().values(key=VERSION_KEY, value=str(SCHEMA_VERSION)))
                log.info("created library %s (schema %d)", display_url(url), SCHEMA_VERSION)
            elif found < SCHEMA_VERSION:
                _upgrade(connection, found, url)
        return found


def _stored_version(connection: Connection, url: str) -> int:
    tables = set(inspect(connection).get_table_names())
    if not tables:
        return 0
    if meta.name not in tables:
        raise LibraryError(
            f"{display_url(url)} is not a cvesweep library (it has tables but no "
            f"'{meta.name}' table); choose another --db"
        )
    text = connection.scalar(select(meta.c.value).where(meta.c.key == VERSION_KEY))
    if text is None or not text.isdigit():
        raise LibraryError(f"{display_url(url)} has no valid schema version ({text!r})")
    version = int(text)
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
