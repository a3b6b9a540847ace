"""Background search jobs: one thread per search, live progress, a bounded result, cancel.

A job runs a search (normally :func:`cvesweep.runner.run_search`) in a daemon thread. Its
progress is updated by the search's progress callback; cancelling sets the job's
``threading.Event``, which aborts the Qualys call in flight within a second (see
cvesweep.qualys.abort; the Qualys search list is still deleted, and the view says so).
When the search succeeds the job keeps its whole result on disk as a
:class:`~cvesweep.web.results.KeptResult` (the search's nameless spool, private to this
process, "Don't store" runs included) for ``kept_for`` seconds, then frees it; it is freed
too when the job is forgotten or the manager shuts down.

Bounds: at most ``max_running`` jobs run at once (``start`` refuses more), and at most
``max_kept`` jobs are remembered (the oldest finished ones are forgotten first).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from cvesweep.errors import CvesweepError
from cvesweep.library import IngestStats
from cvesweep.models import SearchSummary
from cvesweep.operation import release_after_error
from cvesweep.qualys.detections import Progress, ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.runner import Cancelled, RunOutcome, RunRequest
from cvesweep.web.problems import Problem, problem_for, unexpected_problem
from cvesweep.web.results import KEPT_FOR_S, KeptResult

log = logging.getLogger(__name__)

# (progress callback, cancel event, told of each Qualys search list made) → the outcome
Search = Callable[[ProgressCallback, threading.Event, Callable[[TemporaryList], None]], RunOutcome]


class JobState(StrEnum):
    """Where a job is: running, or finished one of three ways."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class JobView:
    """A consistent snapshot of one job, safe to read from any thread."""

    id: str
    request: RunRequest
    state: JobState
    progress: Progress
    started_at: datetime
    finished_at: datetime | None = None
    cancel_requested: bool = False
    result: KeptResult | None = None
    hosts_total: int = 0
    summary: SearchSummary | None = None
    stats: IngestStats | None = None
    problem: Problem | None = None
    lists_made: int = 0
    lists_deleted: int = 0  # of lists_made, once the job is done

    @property
    def done(self) -> bool:
        """True once the job has finished, whichever way."""
        return self.state is not JobState.RUNNING

    @property
    def result_expired(self) -> bool:
        """True when the search succeeded but its kept result has been freed since."""
        return self.state is JobState.SUCCEEDED and (self.result is None or self.result.expired)


class _Job:
    """The mutable state of one job behind a lock; read it through :meth:`view`."""

    def __init__(self, job_id: str, request: RunRequest) -> None:
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.lists: list[TemporaryList] = []
        self._lock = threading.Lock()
        self._view = JobView(
            id=job_id,
            request=request,
            state=JobState.RUNNING,
            progress=Progress(pages=0, hosts=0, detections=0),
            started_at=datetime.now(UTC),
        )

    def view(self) -> JobView:
        with self._lock:
            return replace(self._view, cancel_requested=self.cancel.is_set())

    def report(self, progress: Progress) -> None:
        with self._lock:
            self._view = replace(self._view, progress=progress)

    def list_made(self, made: TemporaryList) -> None:
        with self._lock:
            self.lists.append(made)
            self._view = replace(self._view, lists_made=len(self.lists))

    def finish(
        self,
        state: JobState,
        *,
        problem: Problem | None = None,
        result: KeptResult | None = None,
        hosts_total: int = 0,
        outcome: RunOutcome | None = None,
    ) -> None:
        with self._lock:
            self._view = replace(
                self._view,
                state=state,
                finished_at=datetime.now(UTC),
                problem=problem,
                result=result,
                hosts_total=hosts_total,
                summary=outcome.result.summary if outcome else None,
                stats=outcome.stats if outcome else None,
                lists_deleted=sum(1 for one in self.lists if one.deleted),
            )


class JobManager:
    """Starts, tracks and cancels search jobs within the bounds above; thread-safe."""

    def __init__(
        self, *, max_running: int = 2, max_kept: int = 20, kept_for: float = KEPT_FOR_S
    ) -> None:
        self.max_running = max_running
        self.max_kept = max_kept
        self.kept_for = kept_for
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def start(self, request: RunRequest, search: Search) -> JobView | None:
        """Start ``search`` for ``request`` in a thread; return its view.

        Returns None, starting nothing, when ``max_running`` jobs are already running.
        """
        job = _Job(secrets.token_hex(8), request)
        with self._lock:
            running = sum(1 for j in self._jobs.values() if not j.view().done)
            if running >= self.max_running:
                return None
            self._jobs[job.view().id] = job
            self._forget_old()
        job.thread = threading.Thread(
            target=self._work, args=(job, search), name=f"search-{request.cve}", daemon=True
        )
        job.thread.start()
        return job.view()

    def get(self, job_id: str) -> JobView | None:
        """Return the view of job ``job_id``, or None when there is no such job (any more)."""
        self.expire()
        with self._lock:
            job = self._jobs.get(job_id)
        return job.view() if job is not None else None

    def expire(self, now: float | None = None) -> None:
        """Free the kept results whose time is up (``now``: monotonic seconds)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            views = [job.view() for job in self._jobs.values()]
        for view in views:
            if view.result is not None and view.result.expires_at <= moment:
                view.result.close()

    def recent(self) -> list[JobView]:
        """Return the remembered jobs, newest first (running ones included)."""
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted((job.view() for job in jobs), key=lambda v: v.started_at, reverse=True)

    def cancel(self, job_id: str) -> JobView | None:
        """Ask job ``job_id`` to stop (a finished job is left as it is); return its view."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        if not job.view().done:
            job.cancel.set()
        return job.view()

    def wait(self, job_id: str, timeout: float | None = None) -> JobView | None:
        """Wait up to ``timeout`` seconds for job ``job_id`` to finish; return its view."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.thread is not None:
            job.thread.join(timeout)
        return job.view()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every running job and wait (up to ``timeout`` each) for them to clean up."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)
        for job in jobs:
            _close_result(job)

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.view().done]
        while len(self._jobs) > self.max_kept and finished:
            _close_result(self._jobs.pop(finished.pop(0)))

    def _work(self, job: _Job, search: Search) -> None:
        try:
            outcome = search(job.report, job.cancel, job.list_made)
        except Cancelled:
            job.finish(JobState.CANCELLED)
            return
        except CvesweepError as error:
            job.finish(JobState.FAILED, problem=problem_for(error))
            return
        except Exception:
            log.exception("search job %s failed unexpectedly", job.view().id)
            job.finish(JobState.FAILED, problem=unexpected_problem())
            return
        try:
            kept = KeptResult(outcome.result, kept_for=self.kept_for)
        except Exception:
            log.exception("search job %s: reading the result failed", job.view().id)
            release_after_error(outcome.result)
            job.finish(JobState.FAILED, problem=unexpected_problem())
            return
        job.finish(JobState.SUCCEEDED, result=kept, hosts_total=kept.total, outcome=outcome)


def _close_result(job: _Job) -> None:
    """Free the kept result of ``job``, if it has one."""
    result = job.view().result
    if result is not None:
        result.close()
