"""Pages to run a search (form, live progress, cancel, result) and to see and test the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import RedirectResponse

from cvesweep.errors import CvesweepError
from cvesweep.inputs import FILTER_HELP
from cvesweep.qualys.auth import AuthMethod
from cvesweep.qualys.gateway import gateway_url_for
from cvesweep.settings import Settings
from cvesweep.web.bounds import JOB_ID_MAX_CHARS
from cvesweep.web.connection_check import check_connection
from cvesweep.web.jobs import JobView
from cvesweep.web.problems import problem_for
from cvesweep.web.rendering import render
from cvesweep.web.results import HostSort
from cvesweep.web.search_input import SearchInput, check_search
from cvesweep.web.security import check_csrf, require_token
from cvesweep.web.state import Web, WebState
from cvesweep.web.tableparams import (
    LIMIT_DEFAULT,
    FilterParam,
    OffsetParam,
    OrderParam,
    PageLimitParam,
    descending,
)
from cvesweep.web.views import Column, TableState, host_row

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_token)])

BUSY = "too many searches are running; wait for one to finish and try again"
JobId = Annotated[str, Path(max_length=JOB_ID_MAX_CHARS)]


@router.get("/")
@router.get("/search")
def search_page(request: Request, web: Web) -> Response:
    """The search form, empty, all storage flags on, and the recent searches."""
    return _form(request, SearchInput(), {}, recent=web.jobs.recent())


@router.post("/search", dependencies=[Depends(check_csrf)])
async def start_search(request: Request, web: Web) -> Response:
    """Check the form; show it again with messages (400), or start the search and follow it."""
    given = SearchInput.from_form(await request.form())
    checked = check_search(given)
    if checked.request is None:
        return _form(request, given, checked.messages(), status=400)
    view = web.start_search(checked.request)
    if view is None:
        raise HTTPException(429, BUSY)
    return RedirectResponse(f"/search/{view.id}", status_code=303)


HOST_COLUMNS = {
    HostSort.IP: Column("IP", HostSort.IP),
    HostSort.HOSTNAME: Column("Hostname", HostSort.HOSTNAME),
    HostSort.QIDS: Column("QIDs", HostSort.QIDS, first_descending=True),
    HostSort.SEVERITY: Column("Severity", HostSort.SEVERITY, first_descending=True),
}


@router.get("/search/{job_id}")
def job_page(
    request: Request,
    job_id: JobId,
    web: Web,
    sort: HostSort = HostSort.IP,
    order: OrderParam = None,
    q: FilterParam = "",
    offset: OffsetParam = 0,
    limit: PageLimitParam = LIMIT_DEFAULT,
) -> Response:
    """A search: live progress while it runs, then its summary and a page of its hosts
    (sorted and filtered here, on the server), or its error."""
    view = _job(web, job_id)
    first = HOST_COLUMNS[sort].first_descending
    down = descending(order, default=first)
    table = TableState(f"/search/{view.id}", sort, down, q, offset, limit)
    page = None
    if view.result is not None and not view.result.expired:
        page = view.result.page(sort=sort, descending=down, search=q, offset=offset, limit=limit)
    context = {
        "job": view,
        "rows": [host_row(host) for host in page.items] if page else [],
        "page": page,
        "table": table,
        "columns": HOST_COLUMNS,
        "kept_minutes": round(web.jobs.kept_for / 60),
    }
    return render(request, "job.html", context)


@router.post("/search/{job_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel_search(job_id: JobId, web: Web) -> Response:
    """Cancel a running search (its Qualys search list is still deleted) and show it."""
    if web.jobs.cancel(job_id) is None:
        raise HTTPException(404, f"no search {job_id!r} (searches are kept only for a while)")
    return RedirectResponse(f"/search/{job_id}", status_code=303)


@router.get("/settings")
def settings_page(request: Request, web: Web) -> Response:
    """The Qualys connection: URL, username, TLS verification (never the password)."""
    return _settings(request, web, {})


@router.post("/settings/test", dependencies=[Depends(check_csrf)])
def test_connection(request: Request, web: Web) -> Response:
    """Call Qualys /msp/about.php with the configured credentials and show what happened."""
    try:
        check = check_connection(web.settings(), transport=web.qualys_transport)
    except CvesweepError as error:
        problem = problem_for(error)
        return _settings(request, web, {"test_problem": problem}, status=problem.status)
    return _settings(request, web, {"check": check})


def _job(web: WebState, job_id: str) -> JobView:
    view = web.jobs.get(job_id)
    if view is None:
        raise HTTPException(404, f"no search {job_id!r} (searches are kept only for a while)")
    return view


def _form(
    request: Request,
    given: SearchInput,
    errors: dict[str, str],
    status: int = 200,
    recent: list[JobView] | None = None,
) -> Response:
    context = {"form": given, "errors": errors, "help": FILTER_HELP, "recent": recent or []}
    return render(request, "search.html", context, status=status)


def _settings(
    request: Request, web: WebState, extra: dict[str, object], status: int = 200
) -> Response:
    settings: Settings | None = None
    try:
        settings = web.settings()
    except CvesweepError as error:
        extra = {**extra, "config_problem": problem_for(error)}
        settings = web.incomplete_settings()  # the URL and username, the password missing
    shown = _public_settings(settings) if settings is not None else None
    context = {"settings": shown, "check": None, "test_problem": None, "config_problem": None}
    return render(request, "settings.html", {**context, **extra}, status=status)


def _public_settings(settings: Settings) -> dict[str, object]:
    """What the settings page shows: never the password or client secret, not even its length."""
    return {
        "url": settings.base_url,
        "auth": settings.auth.value,
        "gateway_url": _gateway(settings),
        "client_id": settings.client_id if settings.auth is AuthMethod.OAUTH_CLIENT else None,
        "username": settings.username,
        "verify_ssl": settings.verify_ssl,
        "ca_bundle": str(settings.ca_bundle) if settings.ca_bundle else None,
        "truncation_limit": settings.truncation_limit,
        "retries": settings.retries,
        "read_timeout": settings.read_timeout,
    }


def _gateway(settings: Settings) -> str | None:
    """The gateway tokens come from (None with Basic auth), or why there is none."""
    if settings.auth is AuthMethod.BASIC:
        return None
    try:
        return settings.gateway_url or gateway_url_for(settings.base_url)
    except CvesweepError as error:
        return f"none: {error.message}; set gateway_url"
