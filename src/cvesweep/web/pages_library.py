"""Pages to explore the threat library: CVEs, one CVE, assets, one asset, the run history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from cvesweep.library import queries
from cvesweep.web.bounds import ASSET_VALUE_MAX_CHARS, OFFSET_MAX, SEARCH_MAX_CHARS, TAG_MAX_CHARS
from cvesweep.web.lookups import ASSET_PAGE, find_cve, find_object, search_assets
from cvesweep.web.rendering import render
from cvesweep.web.security import require_token
from cvesweep.web.state import Web
from cvesweep.web.views import severity_chart, tag_chart

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_token)])

RUNS_SHOWN = 200


@router.get("/cves")
def cves_page(request: Request, web: Web) -> Response:
    """Every CVE in the library with its number of assets and highest severity."""
    return render(request, "cves.html", {"cves": queries.cve_summaries(web.library.engine)})


@router.get("/cves/{cve}")
def cve_page(request: Request, cve: str, web: Web) -> Response:
    """One CVE: its vulnerable assets, findings, charts by severity and tag, STIX download."""
    cve_id, detail, assets = find_cve(web.library.engine, cve)
    if cve_id != cve:
        return RedirectResponse(f"/cves/{cve_id}", status_code=301)
    context = {
        "cve": cve_id,
        "detail": detail,
        "assets": assets,
        "charts": (severity_chart(assets), tag_chart(assets)),
    }
    return render(request, "cve.html", context)


@router.get("/assets")
def assets_page(
    web: Web,
    request: Request,
    q: Annotated[str, Query(max_length=SEARCH_MAX_CHARS)] = "",
    tag: Annotated[str, Query(max_length=TAG_MAX_CHARS)] = "",
    cve: str = "",  # parse_cve bounds it (400 on the page, the bound named)
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> Response:
    """Assets, searchable by IP or hostname (``q``), tag and CVE, a page at a time."""
    found, more = search_assets(web.library.engine, cve=cve, tag=tag, search=q, offset=offset)
    context = {
        "assets": found,
        "more": more,
        "query": {"q": q, "tag": tag, "cve": cve},
        "offset": offset,
        "page": ASSET_PAGE,
    }
    return render(request, "assets.html", context)


@router.get("/assets/{value}")
def asset_page(
    request: Request, value: Annotated[str, Path(max_length=ASSET_VALUE_MAX_CHARS)], web: Web
) -> Response:
    """One asset: attributes, tags, related CVEs, findings."""
    detail = find_object(web.library.engine, value, kind="asset")
    return render(request, "asset.html", {"detail": detail})


@router.get("/runs")
def runs_page(request: Request, web: Web) -> Response:
    """The run history, newest first."""
    found = queries.runs(web.library.engine, limit=RUNS_SHOWN)
    return render(request, "runs.html", {"runs": found, "limit": RUNS_SHOWN})
