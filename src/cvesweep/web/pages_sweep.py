"""Pages to sweep many CVEs: the form (pasted ids or an uploaded KEV/id file), progress, result.

The form takes the same filters and storage flags as a single search and checks them with the
same validators; the CVE list with :mod:`cvesweep.cvelists` (a pasted list, or a file: a CISA
KEV JSON catalog is recognised by its ``vulnerabilities`` list, anything else is an id file).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from cvesweep.cvelists import (
    MAX_FILE_BYTES,
    CveTarget,
    fold,
    from_arguments,
    from_id_file,
    from_kev,
)
from cvesweep.errors import CvesweepError, InputError
from cvesweep.inputs import FILTER_HELP
from cvesweep.qualys.detections import ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.sweep import CHUNK
from cvesweep.sweeprun import SweepOutcome, SweepRequest, run_sweep
from cvesweep.web.bounds import JOB_ID_MAX_CHARS
from cvesweep.web.problems import problem_for
from cvesweep.web.rendering import render
from cvesweep.web.search_input import SearchInput, check_search
from cvesweep.web.security import check_csrf, require_token
from cvesweep.web.state import Web, WebState
from cvesweep.web.sweepjobs import SweepJobs, SweepView

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_token)])

BUSY = "a sweep is running; wait for it to finish and try again"
PASTE_MAX_CHARS = 200_000  # ~10,000 ids; the sweep itself takes at most 5,000
JobId = Annotated[str, Path(max_length=JOB_ID_MAX_CHARS)]
PLACEHOLDER_CVE = "CVE-1999-0001"  # lets check_search validate the filters of a sweep


def sweep_jobs(request: Request) -> SweepJobs:
    """The application's sweep jobs (made on first use)."""
    state = request.app.state
    if not hasattr(state, "sweeps"):
        state.sweeps = SweepJobs()
    return cast(SweepJobs, state.sweeps)


Sweeps = Annotated[SweepJobs, Depends(sweep_jobs)]


@router.get("/sweep")
def sweep_page(request: Request) -> Response:
    """The sweep form: a CVE list to paste or a file to upload, the filters, the flags."""
    return _form(request, SearchInput(), "", {})


@router.post("/sweep", dependencies=[Depends(check_csrf)])
async def start_sweep(request: Request, web: Web, sweeps: Sweeps) -> Response:
    """Check the form; show it again with messages (400), or start the sweep and follow it."""
    async with request.form() as form:  # closes the uploaded file's spool at the end
        pasted = form.get("cves")
        pasted_text = pasted if isinstance(pasted, str) else ""
        given = SearchInput.from_form({**form, "cve": PLACEHOLDER_CVE})
        checked = check_search(given)
        errors = checked.messages()
        targets: tuple[CveTarget, ...] = ()
        try:
            targets = await _targets(pasted_text, form.get("file"))
        except InputError as error:
            errors["cves"] = error.message
    if errors or checked.request is None:
        return _form(request, given, pasted_text, errors, status=400)
    base = checked.request
    sweep_request = SweepRequest(targets, base.options, base.flags, base.store)
    view = _start(web, sweeps, sweep_request)
    if view is None:
        raise HTTPException(429, BUSY)
    return RedirectResponse(f"/sweep/{view.id}", status_code=303)


@router.get("/sweep/{job_id}")
def sweep_job_page(request: Request, job_id: JobId, sweeps: Sweeps) -> Response:
    """A sweep: progress while it runs, then the per-CVE table, or its error."""
    return render(request, "sweep_job.html", {"job": _job(sweeps, job_id)})


@router.post("/sweep/{job_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel_sweep(job_id: JobId, sweeps: Sweeps) -> Response:
    """Cancel a running sweep (every Qualys search list is still deleted) and show it."""
    if sweeps.cancel(job_id) is None:
        raise HTTPException(404, f"no sweep {job_id!r} (sweeps are kept only for a while)")
    return RedirectResponse(f"/sweep/{job_id}", status_code=303)


async def _targets(pasted: str, upload: object) -> tuple[CveTarget, ...]:
    """The CVEs pasted (any separators) and those of an uploaded file. Raises InputError."""
    if len(pasted) > PASTE_MAX_CHARS:
        raise InputError("CVE list", f"longer than {PASTE_MAX_CHARS:,} characters")
    found = from_arguments(pasted.replace("\n", ",").replace(" ", ",").replace(";", ",").split(","))
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_FILE_BYTES + 1)
        found += _from_file(upload.filename, data)
    if not found:
        raise InputError("CVE list", "paste CVE ids or choose a file (a KEV catalog or a list)")
    return fold(found)


def _from_file(name: str, data: bytes) -> list[CveTarget]:
    if len(data) > MAX_FILE_BYTES:
        raise InputError(name, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    if text.lstrip().startswith("{"):
        return from_kev(name, text)
    return from_id_file(name, text)


def _start(web: WebState, sweeps: SweepJobs, request: SweepRequest) -> SweepView | None:
    try:
        settings = web.settings()
    except CvesweepError as error:  # unusable settings: nothing starts
        raise HTTPException(problem_for(error).status, error.message) from error
    planned = -(-len(request.targets) // CHUNK)

    def sweep(
        progress: ProgressCallback,
        cancel: threading.Event,
        on_list: Callable[[TemporaryList], None],
    ) -> SweepOutcome:
        return run_sweep(
            settings,
            request,
            library_url=web.library.url,
            progress=progress,
            cancel=cancel,
            transport=web.qualys_transport,
            on_search_list=on_list,
        )

    return sweeps.start(request, sweep, planned)


def _job(sweeps: SweepJobs, job_id: str) -> SweepView:
    view = sweeps.get(job_id)
    if view is None:
        raise HTTPException(404, f"no sweep {job_id!r} (sweeps are kept only for a while)")
    return view


def _form(
    request: Request, given: SearchInput, pasted: str, errors: dict[str, str], status: int = 200
) -> Response:
    context = {"form": given, "pasted": pasted, "errors": errors, "help": FILTER_HELP}
    return render(request, "sweep.html", context, status=status)
