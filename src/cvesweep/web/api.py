"""The JSON API under ``/api/``: start and follow searches, read the library, export STIX.

Errors answer ``{"error": {status, message, source, hint, code, field}}`` with the status
of :mod:`cvesweep.web.problems`. ``/openapi.json`` describes it; ``/docs`` lists it.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from cvesweep.errors import InputError
from cvesweep.export.stix import spool_library_stix
from cvesweep.library import listing, queries
from cvesweep.library.listing import AssetSort
from cvesweep.models import CVE_MAX_LENGTH, parse_cve
from cvesweep.web.bounds import (
    ASSET_VALUE_MAX_CHARS,
    CVE_PATTERN,
    CVES_PER_EXPORT_MAX,
    JOB_ID_PATTERN,
    PAGE_MAX,
    SEARCH_MAX_CHARS,
    TAG_MAX_CHARS,
    CveText,
)
from cvesweep.web.cve_export import write_cve_csv, write_cve_json
from cvesweep.web.jobs import JobState, JobView
from cvesweep.web.library_tables import asset_table
from cvesweep.web.lookups import find_object
from cvesweep.web.rendering import render
from cvesweep.web.results import ExportFormat, HostSort
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
from cvesweep.web.streaming import stream_text
from cvesweep.web.tableparams import (
    LIMIT_DEFAULT,
    FilterParam,
    LimitParam,
    OffsetParam,
    OrderParam,
    descending,
)

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
        bool, Query(description="include a page of the hosts found when the search succeeded")
    ] = True,
    sort: HostSort = HostSort.IP,
    order: OrderParam = None,
    q: FilterParam = "",
    offset: OffsetParam = 0,
    limit: LimitParam = LIMIT_DEFAULT,
) -> SearchStatusModel:
    """A search's state and progress; when it succeeded, its summary and a page of its hosts
    (``offset``/``limit``, sorted by ``sort``, filtered by ``q``); or its error.

    The whole result is at ``GET /api/searches/{id}/result`` while the server keeps it.
    """
    view = _job(web.jobs.get(job_id), job_id)
    page = None
    if hosts and view.result is not None and not view.result.expired:
        down = descending(order, default=sort in (HostSort.QIDS, HostSort.SEVERITY))
        page = view.result.page(sort=sort, descending=down, search=q, offset=offset, limit=limit)
    return search_status(view, with_hosts=hosts, hosts=page)


@router.get(
    "/searches/{job_id}/result",
    tags=["searches"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/json": {}},
            "description": "the whole result, as the CLI's --format csv or json, streamed",
        }
    },
)
def download_result(
    web: Web,
    job_id: JobId,
    format: Annotated[ExportFormat, Query(description="csv or json")] = ExportFormat.CSV,
) -> StreamingResponse:
    """Download the whole result of a search that succeeded ("Don't store" ones too) while
    the server keeps it (one hour after it finished, or until the server stops); 410 after."""
    view = _job(web.jobs.get(job_id), job_id)
    kept = view.result
    if kept is None or kept.expired:
        raise HTTPException(410, _gone(view))
    name = f"cvesweep-{view.request.cve}-{view.id}.{format.value}"
    media = "text/csv; charset=utf-8" if format is ExportFormat.CSV else "application/json"
    return StreamingResponse(
        stream_text(functools.partial(kept.write, format)),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


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
    cve: Annotated[str, Path(pattern=CVE_PATTERN, max_length=CVE_MAX_LENGTH)],
    web: Web,
    offset: OffsetParam = 0,
    limit: LimitParam = LIMIT_DEFAULT,
) -> CveDetailModel:
    """One CVE with a page of its vulnerable assets (IP order) and a page of its findings
    (by asset IP, QID): both from ``offset``, at most ``limit``; the totals say how many."""
    engine = web.library.engine
    assets = asset_table(
        engine, cve=cve, tag="", search="", sort=AssetSort.IP, descending=False,
        offset=offset, limit=limit,
    )  # fmt: skip
    found = listing.object_page(engine, cve, limit=limit, offset=offset)
    return CveDetailModel(
        cve=ObjectModel.model_validate(found.detail),
        assets=[AssetModel.model_validate(asset) for asset in assets.items],
        assets_total=assets.total,
        findings_total=found.findings_total,
        offset=offset,
        limit=limit,
    )


@router.get(
    "/cves/{cve}/export",
    tags=["export"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}, "application/json": {}},
            "description": "every asset of the CVE with its findings, streamed",
        }
    },
)
def export_cve(
    cve: Annotated[str, Path(pattern=CVE_PATTERN, max_length=CVE_MAX_LENGTH)],
    web: Web,
    format: Annotated[ExportFormat, Query(description="csv or json")] = ExportFormat.CSV,
) -> StreamingResponse:
    """Download a CVE's assets (numeric IP order) and findings: CSV, one row per finding, or
    JSON, one object per asset with its findings. 404 when the CVE is not stored."""
    cve_id = parse_cve(cve)
    try:
        listing.cve_overview(web.library.engine, cve_id)  # 404 before the body starts
    except InputError as error:
        raise HTTPException(404, f"{cve_id!r} is not in the library") from error
    writer = write_cve_csv if format is ExportFormat.CSV else write_cve_json
    media = "text/csv; charset=utf-8" if format is ExportFormat.CSV else "application/json"
    name = f"cvesweep-{cve_id}-assets.{format.value}"
    return StreamingResponse(
        stream_text(functools.partial(writer, web.library.engine, cve_id)),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
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
    sort: AssetSort = AssetSort.IP,
    order: OrderParam = None,
    limit: LimitParam = LIMIT_DEFAULT,
    offset: OffsetParam = 0,
) -> AssetPageModel:
    """Assets in numeric IP order (or by ``sort``), filtered, a page at a time: ``offset``
    and ``limit`` choose the page, ``total`` says how many match, ``more`` whether another
    page follows at ``offset + limit``."""
    page = asset_table(
        web.library.engine,
        cve=cve or "",
        tag=tag or "",
        search=q or "",
        sort=sort,
        descending=descending(order, default=sort in (AssetSort.CVES, AssetSort.SEVERITY)),
        offset=offset,
        limit=limit,
    )
    found = [AssetModel.model_validate(asset) for asset in page.items]
    return AssetPageModel(
        assets=found, offset=offset, limit=limit, more=page.more > 0, total=page.total
    )


@router.get("/assets/{value}", response_model=ObjectModel, tags=["library"])
def read_asset(
    value: Annotated[str, Path(max_length=ASSET_VALUE_MAX_CHARS)], web: Web
) -> ObjectModel:
    """One asset with its attributes, tags, related CVEs and findings."""
    return ObjectModel.model_validate(find_object(web.library.engine, value, kind="asset"))


@router.get(
    "/runs",
    response_model=list[RunModel],
    tags=["library"],
    responses={
        200: {
            "description": "a page of runs",
            "headers": {
                "X-Total-Count": {
                    "description": "how many runs the library holds (all pages)",
                    "schema": {"type": "integer"},
                }
            },
        }
    },
)
def list_runs(
    web: Web,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="rows in the page at most")] = 50,
    offset: OffsetParam = 0,
) -> list[RunModel]:
    """The run history, newest first, a page at a time (``X-Total-Count``: all runs)."""
    page = listing.runs_page(web.library.engine, limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(page.total)
    return [RunModel.model_validate(run) for run in page.items]


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


def _gone(view: JobView) -> str:
    if view.state is not JobState.SUCCEEDED:
        return f"search {view.id!r} has no result ({view.state.value})"
    return f"the result of search {view.id!r} is no longer kept (results are kept one hour)"


def _job(view: JobView | None, job_id: str) -> JobView:
    if view is None:
        raise HTTPException(404, f"no search {job_id!r} (searches are kept only for a while)")
    return view
