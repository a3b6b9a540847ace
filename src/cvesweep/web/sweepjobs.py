"""Background sweep jobs for the web UI: one thread per sweep, live progress, per-CVE rows.

A sweep job runs :func:`cvesweep.sweeprun.run_sweep` in a daemon thread. It reports the
search lists made (one per chunk of CVEs) and the pages and hosts of the detection pull;
cancelling sets the job's event, which aborts the Qualys call in flight within a second
(see cvesweep.qualys.abort; every list is still deleted, and the view counts them). When the
sweep succeeds the job keeps the per-CVE outcomes (small: no hosts) and releases the spool;
the hosts are in the library when stored. At most ``max_running`` sweeps run at once,
``max_kept`` are remembered.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cvesweep.errors import CvesweepError
from cvesweep.library import IngestStats
from cvesweep.qualys.detections import Progress, ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.runner import Cancelled
from cvesweep.sweep import CveOutcome, SweepSummary
from cvesweep.sweeprun import SweepOutcome, SweepRequest
from cvesweep.web.jobs import JobState
from cvesweep.web.problems import Problem, problem_for, unexpected_problem

log = logging.getLogger(__name__)

Sweep = Callable[[ProgressCallback, threading.Event, Callable[[TemporaryList], None]], SweepOutcome]


@dataclass(frozen=True, slots=True)
class SweepView:
    """A consistent snapshot of one sweep job."""

    id: str
    request: SweepRequest
    state: JobState
    progress: Progress
    started_at: datetime
    lists_made: int = 0
    lists_planned: int = 0
    lists_deleted: int = 0  # of lists_made, once the sweep is done
    finished_at: datetime | None = None
    cancel_requested: bool = False
    outcomes: tuple[CveOutcome, ...] = ()
    summary: SweepSummary | None = None
    stats: IngestStats | None = None
    problem: Problem | None = None

    @property
    def done(self) -> bool:
        """True once the sweep has finished, whichever way."""
        return self.state is not JobState.RUNNING

    @property
    def hit(self) -> list[CveOutcome]:
        """The CVEs with vulnerable hosts, most hosts first."""
        found = [o for o in self.outcomes if o.hosts]
        return sorted(found, key=lambda o: (-o.hosts, -(o.highest_severity or 0), o.target.cve))

    @property
    def no_host(self) -> list[str]:
        """The CVEs no host has (with QIDs, or unknown with cve-detection)."""
        return [o.target.cve for o in self.outcomes if not o.hosts and not o.no_qid]

    @property
    def no_qid(self) -> list[str]:
        """The CVEs Qualys knows no QID for."""
        return [o.target.cve for o in self.outcomes if o.no_qid]


class _SweepJob:
    def __init__(self, job_id: str, request: SweepRequest, planned: int) -> None:
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.lists: list[TemporaryList] = []
        self._lock = threading.Lock()
        self._view = SweepView(
            id=job_id,
            request=request,
            state=JobState.RUNNING,
            progress=Progress(pages=0, hosts=0, detections=0),
            started_at=datetime.now(UTC),
            lists_planned=planned,
        )

    def view(self) -> SweepView:
        with self._lock:
            return replace(self._view, cancel_requested=self.cancel.is_set())

    def report(self, progress: Progress) -> None:
        with self._lock:
            self._view = replace(self._view, progress=progress)

    def list_made(self, made: TemporaryList) -> None:
        with self._lock:
            self.lists.append(made)
            self._view = replace(self._view, lists_made=len(self.lists))

    def finish(self, state: JobState, **changes: object) -> None:
        with self._lock:
            deleted = sum(1 for one in self.lists if one.deleted)
            self._view = replace(
                self._view,
                state=state,
                finished_at=datetime.now(UTC),
                lists_deleted=deleted,
                **changes,  # type: ignore[arg-type]
            )


class SweepJobs:
    """Starts, tracks and cancels sweep jobs within their bounds; thread-safe."""

    def __init__(self, *, max_running: int = 1, max_kept: int = 10) -> None:
        self.max_running = max_running
        self.max_kept = max_kept
        self._jobs: dict[str, _SweepJob] = {}
        self._lock = threading.Lock()

    def start(self, request: SweepRequest, sweep: Sweep, planned_lists: int) -> SweepView | None:
        """Start ``sweep`` in a thread; None (nothing started) when too many are running."""
        job = _SweepJob(secrets.token_hex(8), request, planned_lists)
        with self._lock:
            if sum(1 for j in self._jobs.values() if not j.view().done) >= self.max_running:
                return None
            self._jobs[job.view().id] = job
            finished = [i for i, j in self._jobs.items() if j.view().done]
            while len(self._jobs) > self.max_kept and finished:
                del self._jobs[finished.pop(0)]
        job.thread = threading.Thread(target=self._work, args=(job, sweep), daemon=True)
        job.thread.start()
        return job.view()

    def get(self, job_id: str) -> SweepView | None:
        """The view of sweep ``job_id``, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job.view() if job is not None else None

    def cancel(self, job_id: str) -> SweepView | None:
        """Ask sweep ``job_id`` to stop; return its view (None when unknown)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        job.cancel.set()
        return job.view()

    def wait(self, job_id: str, timeout: float | None = None) -> SweepView | None:
        """Wait up to ``timeout`` seconds for sweep ``job_id`` to finish; return its view."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.thread is not None:
            job.thread.join(timeout)
        return job.view()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every running sweep and wait for them to clean up."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)

    def _work(self, job: _SweepJob, sweep: Sweep) -> None:
        try:
            outcome = sweep(job.report, job.cancel, job.list_made)
        except Cancelled:
            job.finish(JobState.CANCELLED)
            return
        except CvesweepError as error:
            job.finish(JobState.FAILED, problem=problem_for(error))
            return
        except Exception:
            log.exception("sweep job %s failed unexpectedly", job.view().id)
            job.finish(JobState.FAILED, problem=unexpected_problem())
            return
        result = outcome.result
        try:
            job.finish(
                JobState.SUCCEEDED,
                outcomes=tuple(result.outcomes[t.cve] for t in result.targets),
                summary=result.summary,
                stats=outcome.stats,
            )
        finally:
            outcome.release()
