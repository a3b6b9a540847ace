"""The threat library: where search results are kept as CVE indicators and Assets (SPEC §6).

Typical use::

    url = resolve_library_url(args.db, os.environ)
    with Library.open(url, create=True) as library:   # a writer: schema made ready now
        stats = library.ingest(result, StoreFlags(), run)

Every database failure surfaces as :class:`cvesweep.errors.LibraryError` naming the
library URL (never its password). The tables are described in :mod:`.schema`, what each
flag stores in :mod:`.mapping`. Whatever the flags (all off included), an ingest records
the CVE indicator and the run; it commits everything or nothing, and an unchanged re-run
changes nothing but adding its run row.

Opening for reading (``create=False``, the default) writes nothing: no file, no table, no
upgrade (:mod:`.reading`). The schema is created or upgraded by a writer — ``create=True``,
or the first ``ingest``/``record_run`` — under the schema lock of :mod:`.migrations`, so
processes sharing one database can all start at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TypeVar

from sqlalchemy import Connection, Engine

from cvesweep.errors import LibraryError
from cvesweep.library.database import (
    create_library_engine,
    default_library_url,
    display_url,
    is_transient,
    library_errors,
    resolve_library_url,
    sqlite_file_missing,
    writer_options,
)
from cvesweep.library.ingest import StoreFlags, ingest_result, ingest_results
from cvesweep.library.migrations import ensure_schema, stored_version
from cvesweep.library.runs import IngestStats, RunRecord, insert_run, run_parameters
from cvesweep.models import SearchResult

__all__ = [
    "IngestStats",
    "Library",
    "RunRecord",
    "StoreFlags",
    "default_library_url",
    "resolve_library_url",
    "run_parameters",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_Work = Callable[[Connection], _T]

# A writer waits up to the busy timeout for the lock at BEGIN IMMEDIATE (SQLite); when even
# that is not enough (another long ingest), or PostgreSQL rolled the transaction back for a
# deadlock with another writer, the whole transaction is retried from the start.
LOCK_RETRIES = 4


class Library:
    """An open threat library; a context manager that closes it."""

    def __init__(self, engine: Engine, url: str, *, ready: bool = False) -> None:
        self.engine = engine
        self.url = url
        self._ready = ready  # the schema was found current or made so

    @classmethod
    def open(cls, url: str, *, create: bool = False) -> Library:
        """Open the library at ``url``; with ``create``, create or upgrade its schema now.

        Without ``create`` nothing is written: the version is checked when there is a
        library (a missing SQLite file is neither created nor opened), and the first write
        makes the schema ready. Writers pass ``create=True`` so that a database they cannot
        write fails before anything else is done. Returns the open Library. Raises
        LibraryError when the database cannot be reached, is not a cvesweep library, or
        was written by a newer cvesweep.
        """
        engine = create_library_engine(url)
        try:
            with library_errors(url, "opening"):
                if create:
                    ensure_schema(engine, url)
                elif not sqlite_file_missing(engine):
                    with engine.connect() as connection, connection.begin():
                        stored_version(connection, url)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url, ready=create)

    def ingest(self, result: SearchResult, flags: StoreFlags, run: RunRecord) -> IngestStats:
        """Store ``result`` per ``flags`` with its ``run`` record in ONE transaction.

        Returns what changed. Raises LibraryError; on any failure nothing is stored.
        """
        # A one-shot iterator cannot be read again, so only a re-iterable one is retried.
        retry = not isinstance(result.hosts, Iterator)
        return self._write(
            "storing the result", lambda c: ingest_result(c, result, flags, run), retry=retry
        )

    def ingest_many(
        self, results: Sequence[SearchResult], flags: StoreFlags, run: RunRecord
    ) -> IngestStats:
        """Store each CVE's result of a sweep, and its one ``run``, in ONE transaction.

        Returns the summed changes. Raises LibraryError; on any failure nothing is stored.
        """
        return self._write(
            "storing the sweep", lambda c: ingest_results(c, results, flags, run), retry=True
        )

    def record_run(self, run: RunRecord) -> int:
        """Record a run that stored nothing (e.g. it failed first); return its id.

        Raises LibraryError.
        """
        return self._write("recording the run", lambda c: insert_run(c, run, None))

    def _write(self, action: str, work: _Work[_T], *, retry: bool = True) -> _T:
        if not self._ready:
            with library_errors(self.url, "preparing the schema"):
                ensure_schema(self.engine, self.url)
            self._ready = True
        for attempt in range(LOCK_RETRIES + 1 if retry else 1):
            try:
                with library_errors(self.url, action):
                    return self._transaction(work)
            except LibraryError as error:
                last = attempt == LOCK_RETRIES or not retry
                if last or not is_transient(error.__cause__):
                    raise
                log.warning("library %s is busy; retrying the transaction", display_url(self.url))
                time.sleep(0.2 * 2**attempt + random.uniform(0, 0.2))
        raise AssertionError("unreachable")

    def _transaction(self, work: _Work[_T]) -> _T:
        connection = self.engine.connect().execution_options(**writer_options())
        with connection, connection.begin():
            return work(connection)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
