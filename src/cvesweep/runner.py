"""One run of the operation for a front end: open the library, search, store, record.

The CLI and the web UI both call :func:`run_search`, so a run behaves the same wherever
it starts: the library is opened (and checked) before anything is sent to Qualys, the
search result is stored in one transaction, and a run that fails or is cancelled is
recorded as such without touching the stored objects.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx
from sqlalchemy.exc import SQLAlchemyError

from cvesweep.errors import Cancelled as Cancelled
from cvesweep.errors import CvesweepError
from cvesweep.library import IngestStats, Library, RunRecord, StoreFlags, run_parameters
from cvesweep.library.runs import note_run
from cvesweep.models import CveId, SearchOptions, SearchResult
from cvesweep.operation import release, release_after_error, search_vulnerable_hosts
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import Progress, ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.settings import Settings

log = logging.getLogger(__name__)


class Interrupted(CvesweepError):
    """Ctrl-C or SIGTERM stopped the run; the message says what became of its search list."""

    exit_code = 130
    source = "user"


@dataclass(frozen=True)
class RunRequest:
    """What to search for and what to store."""

    cve: CveId
    options: SearchOptions = field(default_factory=SearchOptions)
    flags: StoreFlags = field(default_factory=StoreFlags)
    store: bool = True


@dataclass(frozen=True)
class RunOutcome:
    """A successful run: the result (hosts spooled on disk: ``release`` it) and what was stored."""

    result: SearchResult
    stats: IngestStats | None
    search_lists: tuple[TemporaryList, ...] = ()  # what became of each (``delete_error``)
    run: RunRecord | None = None  # the record stored with the result

    def release(self) -> None:
        """Delete the on-disk spool of hosts."""
        release(self.result)


def run_search(
    settings: Settings,
    request: RunRequest,
    *,
    library_url: str | None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
    on_search_list: Callable[[TemporaryList], None] | None = None,
) -> RunOutcome:
    """Search Qualys for ``request.cve`` and store the result in the library.

    ``library_url`` None (or ``request.store`` False) stores nothing. ``cancel``, when set
    by another thread, aborts the Qualys call in flight (within a second; the search list
    is still deleted) and raises :class:`Cancelled`; ``on_search_list`` is told of the list
    made (its ``deleted`` says, once the run ends, whether it is gone). Once Ctrl-C or
    SIGTERM has stopped the run, further signals are absorbed while it is recorded and the
    library closed (main thread), so the run is always recorded. Raises CvesweepError subclasses.
    """
    library = Library.open(library_url, create=True) if request.store and library_url else None
    try:
        return _run(settings, request, library, progress, cancel, transport, on_search_list)
    except Interrupted:
        with signals_absorbed():
            _close(library)
        raise
    finally:
        _close(library)


def _close(library: Library | None) -> None:
    if library is not None:
        library.close()


def _run(
    settings: Settings,
    request: RunRequest,
    library: Library | None,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    transport: httpx.BaseTransport | None,
    on_search_list: Callable[[TemporaryList], None] | None = None,
) -> RunOutcome:
    started = datetime.now(UTC)
    parameters = search_parameters(settings, request.options, request.flags)
    lists: list[TemporaryList] = []

    def made(search_list: TemporaryList) -> None:
        lists.append(search_list)
        if on_search_list is not None:
            on_search_list(search_list)

    try:
        with QualysClient(settings.client_config(), transport=transport, cancel=cancel) as client:
            result = search_vulnerable_hosts(
                client,
                request.cve,
                request.options,
                method=settings.method,
                max_parallel=settings.max_parallel,
                truncation_limit=settings.truncation_limit,
                progress=cancellable(progress, cancel),
                on_search_list=made,
            )
    except (CvesweepError, KeyboardInterrupt) as error:
        with signals_absorbed(isinstance(error, KeyboardInterrupt)):
            if library is not None:
                record_failure(library, failed_run(request.cve, started, parameters, error, lists))
        if isinstance(error, KeyboardInterrupt):
            raise interrupted(lists) from None
        raise
    if library is None:
        return RunOutcome(result, None, tuple(lists))
    run = RunRecord.from_result(
        result, started_at=started, finished_at=datetime.now(UTC), parameters=parameters
    )
    try:
        stats = library.ingest(result, request.flags, run)
    except BaseException as error:
        # The ingest rolled back; the run is still recorded, in a transaction of its own.
        with signals_absorbed(isinstance(error, KeyboardInterrupt)):
            release_after_error(result)
            record_failure(library, _unstored_run(run, error))
        if isinstance(error, KeyboardInterrupt):
            raise Interrupted("interrupted (Ctrl-C or SIGTERM) while storing the result") from None
        raise
    return RunOutcome(_with_stats(result, stats), stats, tuple(lists), run)


_STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_absorbed(active: bool = True) -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM do nothing: the run is stopping anyway.

    For the wind-down of an interrupted run (its record, the library's close), which a
    second signal must not cut short. The handlers are swapped, not the signals blocked,
    so a signal already on its way when the block starts is dropped too. Only in the main
    thread (the one signals reach) and when ``active``; otherwise it does nothing.
    """
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = [(signum, signal.signal(signum, _ignore)) for signum in _STOPPING]
    try:
        yield
    finally:
        for signum, handler in previous:
            signal.signal(signum, handler)


def _ignore(signum: int, frame: object) -> None:
    """A signal during the wind-down of an interrupted run: nothing more to stop."""


def _unstored_run(run: RunRecord, error: BaseException) -> RunRecord:
    """``run`` (its counts and search list kept) as interrupted or failed while storing."""
    if isinstance(error, KeyboardInterrupt | SystemExit | Cancelled):
        outcome, message = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
    else:
        outcome, message = "failed", str(error) or type(error).__name__
    return replace(
        run, outcome=outcome, error=f"storing the result: {message}", finished_at=datetime.now(UTC)
    )


def _with_stats(result: SearchResult, stats: IngestStats) -> SearchResult:
    if result.summary is None:
        return result
    stored = {
        "assets_created": stats.assets_created,
        "assets_updated": stats.assets_updated,
        "attributes_added": stats.attributes_added,
        "relationships_added": stats.relationships_added,
    }
    return replace(result, summary=replace(result.summary, library=stored))


def cancellable(
    progress: ProgressCallback | None, cancel: threading.Event | None
) -> ProgressCallback | None:
    if cancel is None:
        return progress

    def report(state: Progress) -> None:
        if cancel.is_set():
            raise Cancelled("the search was cancelled; its Qualys search list was deleted")
        if progress is not None:
            progress(state)

    return report


def interrupted(lists: list[TemporaryList]) -> Interrupted:
    """The error of an interrupted run, naming its search lists and whether they are gone."""
    if not lists:
        return Interrupted("interrupted (Ctrl-C or SIGTERM)")
    left = [one for one in lists if not one.deleted]
    ids = ", ".join(str(one.id) for one in lists)
    plural = "s" if len(lists) > 1 else ""
    if not left:
        return Interrupted(
            f"interrupted (Ctrl-C or SIGTERM); the Qualys search list{plural} {ids} "
            f"{'were' if plural else 'was'} deleted"
        )
    named = ", ".join(f"{one.id} ({one.title})" for one in left)
    return Interrupted(
        f"interrupted (Ctrl-C or SIGTERM); the Qualys search list{'s' if len(left) > 1 else ''} "
        f"{named} could NOT be deleted",
        hint="run 'cvesweep cleanup --older-than 0' to remove it",
    )


def failed_run(
    cve: str,
    started: datetime,
    parameters: dict[str, object],
    error: BaseException,
    lists: list[TemporaryList],
) -> RunRecord:
    """The record of a run that failed or was interrupted before it stored anything."""
    was_interrupted = isinstance(error, KeyboardInterrupt | Cancelled)
    if isinstance(error, KeyboardInterrupt):
        message = "interrupted (Ctrl-C or SIGTERM)"
    else:
        message = str(error) or type(error).__name__
    left = [one.id for one in lists if not one.deleted]
    if left:
        ids = ", ".join(map(str, left))
        message += f"; search list {ids} not deleted: run 'cvesweep cleanup --older-than 0'"
    return RunRecord(
        cve=cve,
        started_at=started,
        finished_at=datetime.now(UTC),
        outcome="interrupted" if was_interrupted else "failed",
        error=message,
        parameters=parameters,
        search_list_id=lists[0].id if lists else None,
        search_list_deleted=bool(lists) and not left,
    )


def search_parameters(
    settings: Settings, options: SearchOptions, flags: StoreFlags
) -> dict[str, object]:
    """The JSON-safe ``parameters`` of a run's record (never a secret)."""
    return {
        **run_parameters(
            options,
            flags=flag_dict(flags),
            truncation_limit=settings.truncation_limit,
            base_url=settings.base_url,
            username=settings.username,
        ),
        "method": settings.method.value,
        "auth": settings.auth.value,
        "api_versions": settings.versions.as_dict(),
    }


OUTPUT_LOST = "output cut short: its reader went away (closed pipe, exit 141)"


def record_output_lost(library_url: str | None, run: RunRecord | None) -> None:
    """Note in the stored ``run``'s record that its output was not read to the end.

    Nothing when nothing was stored; a library failure here is logged, never raised.
    """
    if library_url is None or run is None:
        return
    try:
        library = Library.open(library_url)
        try:
            with library.engine.begin() as connection:
                note_run(connection, run, OUTPUT_LOST)
        finally:
            library.close()
    except (CvesweepError, SQLAlchemyError) as failure:
        log.warning("the run's record could not be updated: %s", failure)


def record_failure(library: Library, run: RunRecord) -> None:
    """Record a failed run; a library failure here is logged, never raised over the error."""
    try:
        library.record_run(run)
    except CvesweepError as failure:
        log.warning("the failed run could not be recorded: %s", failure)


def flag_dict(flags: StoreFlags) -> dict[str, bool]:
    return {
        "add_assets": flags.add_assets,
        "add_discovered_assets": flags.add_discovered_assets,
        "tag_cves": flags.tag_cves,
    }
