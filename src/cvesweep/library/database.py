"""Opening a library database: URL resolution, the engine, SQLite settings, error translation.

On SQLite every connection runs in WAL mode with a busy timeout and foreign keys on, and
SQLAlchemy (not the sqlite3 driver) emits ``BEGIN``: deferred for readers, ``BEGIN
IMMEDIATE`` for a connection opened with :func:`writer_options`, so that a writer takes the
write lock up front and waits for another writer instead of failing half-way.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from cvesweep.errors import LibraryError

log = logging.getLogger(__name__)

ENV_VAR = "CVESWEEP_DB"
BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "cvesweep_begin_immediate"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def default_library_url() -> str:
    """Return ``sqlite:///<user data dir>/library.db``, creating the directory (mode 0700).

    The library is an inventory of vulnerable hosts: its directory is private to the user,
    also when an older version created it 0755. Raises LibraryError when the directory
    cannot be created.
    """
    directory = Path(platformdirs.user_data_dir("cvesweep"))
    try:
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            directory.chmod(PRIVATE_DIR_MODE)
    except OSError as exc:
        raise LibraryError(f"cannot create the library directory {directory}: {exc}") from exc
    return f"sqlite:///{directory / 'library.db'}"


def resolve_library_url(flag: str | None, environ: Mapping[str, str]) -> str:
    """Return the library URL: ``--db`` value, else ``CVESWEEP_DB``, else the default.

    A value without ``://`` is a path to a SQLite file. Raises LibraryError if the default
    directory cannot be created.
    """
    for candidate in (flag, environ.get(ENV_VAR)):
        if candidate and candidate.strip():
            value = candidate.strip()
            if "://" in value:
                return value
            return f"sqlite:///{Path(value).expanduser().resolve()}"
    return default_library_url()


def display_url(url: str) -> str:
    """Return ``url`` fit for messages: any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable library URL>"


def writer_options() -> dict[str, Any]:
    """Execution options for a connection that will write (BEGIN IMMEDIATE on SQLite)."""
    return {_IMMEDIATE: True}


def create_library_engine(url: str) -> Engine:
    """Return an engine for ``url`` with the SQLite settings above. Raises LibraryError.

    Nothing is created or connected to yet (a SQLite file is made by
    :func:`create_sqlite_file`, which only writers call).
    """
    try:
        engine = create_engine(url, **_engine_options(url))
    except (SQLAlchemyError, ArgumentError, ImportError) as exc:
        hint = None
        if isinstance(exc, ImportError) and "psycopg" in str(exc):
            hint = "install the PostgreSQL driver: pip install 'cvesweep[postgres]'"
        raise LibraryError(
            f"cannot open the library at {display_url(url)}: {exc}", hint=hint
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _engine_options(url: str) -> dict[str, Any]:
    """Driver options: psycopg must not prepare statements on its own.

    After five runs psycopg prepares a statement and PostgreSQL may keep one generic plan
    for it; an ingest's lookups are first planned while its tables are still empty, and
    that plan (a sequential scan) would then be used on every later batch: measured, the
    lookups of a 27,371-host ingest took 114 s instead of under 1.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return {}  # create_engine reports it
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
        return {"connect_args": {"prepare_threshold": None}}
    return {}


def sqlite_file(engine: Engine) -> Path | None:
    """Return the file of a SQLite ``engine``; None for another backend or an in-memory one."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def sqlite_file_missing(engine: Engine) -> bool:
    """True when ``engine`` is a SQLite file that does not exist (connecting would create it)."""
    path = sqlite_file(engine)
    return path is not None and not path.exists()


def create_sqlite_file(engine: Engine) -> None:
    """Create a new SQLite library file 0600 before SQLite does (it would follow the umask).

    SQLite gives its ``-wal`` and ``-shm`` files the main file's mode, so they are private
    too. An existing file is left as it is; other backends and in-memory databases have none.
    """
    path = sqlite_file(engine)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except OSError:
        return  # exists already, or cannot be made: opening it reports the latter
    os.close(fd)


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Let SQLAlchemy emit BEGIN itself (the sqlite3 driver's legacy mode skips it for SELECT).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def enable_sqlite_wal(engine: Engine) -> None:
    """Switch a SQLite library file to WAL mode (persistent); writers call it, readers never
    (the switch rewrites the file's header: reading must leave an old library as it is)."""
    if engine.dialect.name != "sqlite" or sqlite_file(engine) is None:
        return
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None  # an open connection has its sqlite3 connection
        cursor = raw.cursor()  # outside any transaction: journal_mode cannot change inside one
        try:
            mode = _enable_wal(cursor)
        finally:
            cursor.close()
    if mode not in {"wal", "memory"}:
        log.warning("SQLite refused WAL mode (journal_mode=%s)", mode)


def _enable_wal(cursor: Any) -> str:
    """Switch the file to WAL (persistent once done); return the journal mode in force.

    On a new file, the switch needs an exclusive lock and SQLite may answer "database is
    locked" at once, without waiting the busy timeout, while another process creates the
    schema (seen in CI with two writers opening a new library together): retry briefly.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() in {"wal", "memory"}:
            return str(mode).lower()
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
            return str(mode).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def library_errors(url: str, action: str) -> Iterator[None]:
    """Translate SQLAlchemy and OS errors raised inside into LibraryError naming ``url``."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = None
        if "unable to open database file" in detail:
            hint = "check that the library's directory exists and is writable (--db, CVESWEEP_DB)"
        raise LibraryError(
            f"library {display_url(url)}: {action} failed: {detail}", hint=hint
        ) from exc


def is_locked(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) is SQLite's "database is locked/busy"."""
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


# PostgreSQL's "deadlock detected" and "could not serialize": the transaction was rolled
# back only because of another one running at the same time; running it again succeeds.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(exc: BaseException | None) -> bool:
    """True when ``exc`` failed a transaction only because of a concurrent one (SQLite's
    lock outlasting the busy timeout, a PostgreSQL deadlock or serialization failure), so
    that running the whole transaction again is the remedy."""
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES or (
        isinstance(exc, OperationalError) and is_locked(exc)
    )
