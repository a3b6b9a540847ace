"""One sweep for a front end: open the library, sweep Qualys, store every CVE, record one run.

The sweep counterpart of :mod:`cvesweep.runner`, shared by the CLI and the web UI: the
library is opened before anything is sent, every CVE's result is stored in ONE transaction
with one run record listing the CVEs and their counts, and a sweep that fails or is
interrupted is recorded as such without touching the stored objects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import httpx

from cvesweep.cvelists import CveTarget
from cvesweep.errors import CvesweepError
from cvesweep.library import IngestStats, Library, RunRecord, StoreFlags
from cvesweep.library.runs import SWEEP_RUN_CVE
from cvesweep.models import SearchOptions
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.runner import (
    cancellable,
    failed_run,
    interrupted,
    record_failure,
    search_parameters,
)
from cvesweep.settings import Settings
from cvesweep.sweep import SweepResult, sweep


@dataclass(frozen=True)
class SweepRequest:
    """What to sweep, filtered how, and what to store."""

    targets: tuple[CveTarget, ...]
    options: SearchOptions = field(default_factory=SearchOptions)
    flags: StoreFlags = field(default_factory=StoreFlags)
    store: bool = True


@dataclass(frozen=True)
class SweepOutcome:
    """A successful sweep (hosts spooled on disk: ``release`` it) and what was stored."""

    result: SweepResult
    stats: IngestStats | None

    def release(self) -> None:
        """Delete the on-disk spool of hosts."""
        self.result.close()


def run_sweep(
    settings: Settings,
    request: SweepRequest,
    *,
    library_url: str | None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
    on_search_list: Callable[[TemporaryList], None] | None = None,
) -> SweepOutcome:
    """Sweep Qualys for ``request.targets`` and store each CVE's result in the library.

    As :func:`cvesweep.runner.run_search`: ``library_url`` None stores nothing; ``cancel``
    stops the sweep at the next progress report (every list is still deleted);
    ``on_search_list`` is told of each list as it is made. Raises CvesweepError subclasses.
    """
    library = Library.open(library_url, create=True) if request.store and library_url else None
    try:
        return _run(settings, request, library, progress, cancel, transport, on_search_list)
    finally:
        if library is not None:
            library.close()


def _run(
    settings: Settings,
    request: SweepRequest,
    library: Library | None,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    transport: httpx.BaseTransport | None,
    on_search_list: Callable[[TemporaryList], None] | None,
) -> SweepOutcome:
    started = datetime.now(UTC)
    parameters = {
        **search_parameters(settings, request.options, request.flags),
        "cves": [t.cve for t in request.targets],
    }
    lists: list[TemporaryList] = []

    def made(search_list: TemporaryList) -> None:
        lists.append(search_list)
        if on_search_list is not None:
            on_search_list(search_list)

    try:
        with QualysClient(settings.client_config(), transport=transport, cancel=cancel) as client:
            result = sweep(
                client,
                request.targets,
                request.options,
                method=settings.method,
                truncation_limit=settings.truncation_limit,
                progress=cancellable(progress, cancel),
                on_search_list=made,
                max_parallel=settings.max_parallel,
            )
    except (CvesweepError, KeyboardInterrupt) as error:
        if library is not None:
            record_failure(library, failed_run(SWEEP_RUN_CVE, started, parameters, error, lists))
        if isinstance(error, KeyboardInterrupt):
            raise interrupted(lists) from None
        raise
    if library is None:
        return SweepOutcome(result, None)
    return SweepOutcome(result, _store(library, request, result, started, parameters))


def _store(
    library: Library,
    request: SweepRequest,
    result: SweepResult,
    started: datetime,
    parameters: dict[str, object],
) -> IngestStats:
    run = sweep_record(result, started, {**parameters, **per_cve(result)})
    try:
        return library.ingest_many(
            [result.result_of(t.cve) for t in request.targets], request.flags, run
        )
    except BaseException as error:
        result.close()
        outcome = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        message = "interrupted (Ctrl-C or SIGTERM)" if outcome == "interrupted" else str(error)
        record_failure(
            library,
            replace(run, outcome=outcome, error=f"storing the sweep: {message}"),
        )
        raise


def per_cve(result: SweepResult) -> dict[str, object]:
    """The per-CVE counts a sweep's run record keeps (CVEs with no host are listed apart)."""
    hit = {
        cve: {"hosts": o.hosts, "detections": o.detections, "qids": list(o.qids or ())}
        for cve, o in result.outcomes.items()
        if o.hosts
    }
    return {
        "per_cve": hit,
        "cves_without_qid": [cve for cve, o in result.outcomes.items() if o.no_qid],
        "search_list_ids": [one.id for one in result.summary.search_lists],
    }


def sweep_record(
    result: SweepResult, started: datetime, parameters: dict[str, object]
) -> RunRecord:
    """The "success" run record of a sweep."""
    summary = result.summary
    lists: Sequence[TemporaryList] = summary.search_lists
    return RunRecord(
        cve=SWEEP_RUN_CVE,
        started_at=started,
        finished_at=datetime.now(UTC),
        outcome="success",
        parameters=parameters,
        hosts=summary.hosts,
        detections=summary.detections,
        pages=summary.pages,
        api_calls=summary.api_calls,
        search_list_id=lists[0].id if lists else None,
        search_list_deleted=summary.lists_deleted,
    )


__all__ = ["SWEEP_RUN_CVE", "SweepOutcome", "SweepRequest", "run_sweep"]
