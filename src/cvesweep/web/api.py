"""The JSON API under ``/api/``: start and follow searches, read the library, export STIX.

Errors answer ``{"error": {status, message, source, hint, code, field}}`` with the status
of :mod:`cvesweep.web.problems`. ``/openapi.json`` describes it; ``/docs`` lists it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from cvesweep.errors import InputError
from cvesweep.export.stix import spool_library_stix
from cvesweep.library import queries
from cvesweep.models import CVE_MAX_LENGTH, parse_cve
from cvesweep.web.bounds import (
    ASSET_VALUE_MAX_CHARS,
    CVE_PATTERN,
    CVES_PER_EXPORT_MAX,
    JOB_ID_PATTERN,
    OFFSET_MAX,
    PAGE_MAX,
    SEARCH_MAX_CHARS,
    TAG_MAX_CHARS,
    CveText,
)
from cvesweep.web.jobs import JobView
from cvesweep.web.lookups import find_cve, find_object, search_assets
from cvesweep.web.rendering import render
from cvesweep.web.schemas import (
    AssetModel,
    AssetPageModel,
    CveDetailModel,
    CveModel,
    ErrorResponse,
    ObjectModel,
    RunModel,
    SearchRequestModel,
    SearchStatusModel,
    search_status,
)
from cvesweep.web.search_input import SearchInput, check_search
from cvesweep.web.security import require_token
from cvesweep.web.state import Web

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse}
    for status in (400, 401, 403, 404, 413, 422, 429, 500, 502, 503, 504)
}
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the id POST answered")]
router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)
meta = APIRouter(include_in_schema=False, dependencies=[Depends(require_token)])


@router.post("/searches", status_code=202, response_model=SearchStatusModel, tags=["searches"])
def start_search(body: SearchRequestModel, response: Response, web: Web) -> SearchStatusModel:
    """Start a search in the background; follow it at ``GET /api/searches/{id}``.

    A body off its schema (types, bounds) answers 422; filters the CLI would refuse 400
    naming the option (as the CLI words it); unusable server settings 422; 429 when too
    many searches are running.
    """
    given = SearchInput(
        cve=body.cve,
        ips=body.ips or "",
        since=body.since or "",
        min_severity="" if body.min_severity is None else str(body.min_severity),
        asset_groups=body.asset_groups or "",
        add_assets=body.add_assets,
        add_discovered_assets=body.add_discovered_assets,
        tag_cves=body.tag_cves,
        store=body.store,
    )
    checked = check_search(given)
    error = checked.first_error()
    if error is not None or checked.request is None:
        raise error or InputError("cve", "the search could not be checked")
    view = web.start_search(checked.request)
    if view is None:
        raise HTTPException(429, "too many searches are running; try again later")
    response.headers["Location"] = f"/api/searches/{view.id}"
    return search_status(view)


@router.get("/searches/{job_id}", response_model=SearchStatusModel, tags=["searches"])
def get_search(
    web: Web,
    job_id: JobId,
    hosts: Annotated[
        bool, Query(description="include the hosts found when the search succeeded")
    ] = True,
) -> SearchStatusModel:
    """A search's state and progress; when it succeeded, its hosts and summary; or its error."""
    return search_status(_job(web.jobs.get(job_id), job_id), with_hosts=hosts)


@router.post("/searches/{job_id}/cancel", status_code=202, tags=["searches"])
def cancel_search(job_id: JobId, web: Web) -> SearchStatusModel:
    """Ask a running search to stop; its Qualys search list is deleted all the same."""
    return search_status(_job(web.jobs.cancel(job_id), job_id), with_hosts=False)


@router.get("/cves", response_model=list[CveModel], tags=["library"])
def list_cves(web: Web) -> list[CveModel]:
    """Every CVE of the library with its number of assets and highest severity."""
    found = queries.cve_summaries(web.library.engine)
    return [CveModel.model_validate(cve) for cve in found]


@router.get("/cves/{cve}", response_model=CveDetailModel, tags=["library"])
def read_cve(
    cve: Annotated[str, Path(pattern=CVE_PATTERN, max_length=CVE_MAX_LENGTH)], web: Web
) -> CveDetailModel:
    """One CVE with its findings and vulnerable assets."""
    _, detail, assets = find_cve(web.library.engine, cve)
    return CveDetailModel(
        cve=ObjectModel.model_validate(detail),
        assets=[AssetModel.model_validate(asset) for asset in assets],
    )


@router.get("/assets", response_model=AssetPageModel, tags=["library"])
def list_assets(
    web: Web,
    cve: Annotated[
        str | None,
        Query(
            pattern=CVE_PATTERN,
            max_length=CVE_MAX_LENGTH,
            description="only assets vulnerable to this CVE",
        ),
    ] = None,
    tag: Annotated[
        str | None,
        Query(max_length=TAG_MAX_CHARS, description="only assets with this tag (any case)"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=SEARCH_MAX_CHARS,
            description="only assets whose IP or hostname contains this",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 200,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> AssetPageModel:
    """Assets in IP order, filtered, a page at a time."""
    found, more = search_assets(
        web.library.engine, cve=cve, tag=tag, search=q, limit=limit, offset=offset
    )
    page = [AssetModel.model_validate(asset) for asset in found]
    return AssetPageModel(assets=page, offset=offset, limit=limit, more=more)


@router.get("/assets/{value}", response_model=ObjectModel, tags=["library"])
def read_asset(
    value: Annotated[str, Path(max_length=ASSET_VALUE_MAX_CHARS)], web: Web
) -> ObjectModel:
    """One asset with its attributes, tags, related CVEs and findings."""
    return ObjectModel.model_validate(find_object(web.library.engine, value, kind="asset"))


@router.get("/runs", response_model=list[RunModel], tags=["library"])
def list_runs(web: Web, limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50) -> list[RunModel]:
    """The run history, newest first."""
    return [RunModel.model_validate(run) for run in queries.runs(web.library.engine, limit)]


@router.get(
    "/export/stix",
    tags=["export"],
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "a STIX 2.1 bundle"}},
)
def export_stix(
    web: Web,
    cve: Annotated[
        list[CveText] | None,
        Query(max_length=CVES_PER_EXPORT_MAX, description="CVEs to export (repeat); none: all"),
    ] = None,
) -> Response:
    """Download the STIX 2.1 bundle of the given CVEs (and their assets), or of everything."""
    cves = [parse_cve(text, field="cve") for text in cve] if cve else None
    try:
        # Written as read into a temporary file (memory stays flat), then sent from it.
        size, chunks = spool_library_stix(web.library.engine, cves)
    except InputError as error:
        raise HTTPException(404, error.message) from error
    name = f"cvesweep-{cves[0] if cves and len(cves) == 1 else 'library'}.stix.json"
    return StreamingResponse(
        chunks,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Content-Length": str(size)},
    )  # fmt: skip


@meta.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    """The OpenAPI description of the JSON API."""
    return JSONResponse(request.app.openapi())


@meta.get("/docs")
def docs(request: Request) -> Response:
    """The API reference, rendered from the OpenAPI description (no CDN scripts)."""
    spec = request.app.openapi()
    operations = [
        {"method": method.upper(), "path": path, **operation}
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]
    return render(request, "docs.html", {"operations": operations})


def _job(view: JobView | None, job_id: str) -> JobView:
    if view is None:
        raise HTTPException(404, f"no search {job_id!r} (searches are kept only for a while)")
    return view
