"""Reading the library without writing to it: no schema is created or changed, no file made.

Readers (``cvesweep library …``, ``export stix``, the web UI's pages and API) get their
connection from :func:`reading_connection`. A database that holds no library yet — a
missing SQLite file, an empty PostgreSQL database — reads as an empty library: the query
runs on an in-memory stand-in holding the current schema, empty, and nothing is created
where the library will be (the first search that stores creates it). A library of schema
version :data:`READABLE_FROM` or later is read as it is; an older one is refused with the
hint that a search upgrades it (reading never does).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine

from cvesweep.errors import LibraryError, LibraryUpgradeNeeded
from cvesweep.library.database import library_errors, sqlite_file_missing
from cvesweep.library.migrations import stored_version
from cvesweep.library.schema import metadata

# Version 5 added the view every attribute query reads (object_attributes) and moved the
# finding attributes into it: the queries cannot read an older library.
READABLE_FROM = 5

# Engines whose library was found readable; a library never goes back to having no schema.
_READABLE: weakref.WeakSet[Engine] = weakref.WeakSet()


@contextmanager
def reading_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a read transaction on ``engine``'s library, or on an empty one.

    Raises LibraryError when the library cannot be read: a database error, tables that are
    not a cvesweep library, or a schema version too new for this cvesweep; its subclass
    LibraryUpgradeNeeded for a schema version too old (``cvesweep library upgrade``).
    """
    url = engine.url.render_as_string(hide_password=True)
    with library_errors(url, "reading"):
        if engine in _READABLE or _has_library(engine, url):
            with engine.connect() as connection, connection.begin():
                yield connection
        else:
            with _empty_library() as connection:
                yield connection


def upgrade_needed(engine: Engine) -> LibraryUpgradeNeeded | None:
    """The error every read of ``engine``'s library would raise because its schema is too
    old, or None (readable, no library yet, or unreadable for another reason, which the
    reads themselves report). For a server's start-up warning; never writes."""
    try:
        with reading_connection(engine):
            return None
    except LibraryUpgradeNeeded as error:
        return error
    except LibraryError:
        return None


def _has_library(engine: Engine, url: str) -> bool:
    """True when ``engine`` holds a readable library; False when there is none (yet)."""
    if sqlite_file_missing(engine):
        return False  # connecting would create the file
    with engine.connect() as connection, connection.begin():
        version = stored_version(connection, url)
    if version == 0:
        return False
    if version < READABLE_FROM:
        raise LibraryUpgradeNeeded(
            f"the library at {url} has schema version {version}, older than version "
            f"{READABLE_FROM} that this cvesweep reads, and needs upgrading; reading never "
            "changes it",
            hint="run 'cvesweep library upgrade' (with the same --db), or one search that stores",
        )
    _READABLE.add(engine)
    return True


@contextmanager
def _empty_library() -> Iterator[Connection]:
    """A connection to a new in-memory library with the current schema and no rows."""
    engine = create_engine("sqlite://")  # one connection per thread: the same database
    try:
        with engine.begin() as connection:
            metadata.create_all(connection)
        with engine.connect() as connection, connection.begin():
            yield connection
    finally:
        engine.dispose()
