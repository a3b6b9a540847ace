"""Pages to explore the threat library: CVEs, one CVE, assets, one asset, the run history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from cvesweep.library import listing, queries
from cvesweep.library.listing import AssetSort
from cvesweep.web.bounds import ASSET_VALUE_MAX_CHARS, SEARCH_MAX_CHARS, TAG_MAX_CHARS
from cvesweep.web.library_tables import asset_table, cve_table
from cvesweep.web.lookups import find_object
from cvesweep.web.rendering import render
from cvesweep.web.security import require_token
from cvesweep.web.state import Web
from cvesweep.web.tableparams import (
    LIMIT_DEFAULT,
    OffsetParam,
    OrderParam,
    PageLimitParam,
    descending,
)
from cvesweep.web.views import Column, TableState, severity_counts_chart, tag_counts_chart

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_token)])


@router.get("/cves")
def cves_page(request: Request, web: Web) -> Response:
    """Every CVE in the library with its number of assets and highest severity."""
    return render(request, "cves.html", {"cves": queries.cve_summaries(web.library.engine)})


ASSET_COLUMNS = {
    AssetSort.IP: Column("IP", AssetSort.IP),
    AssetSort.HOSTNAME: Column("Hostname", AssetSort.HOSTNAME),
    AssetSort.CVES: Column("CVEs", AssetSort.CVES, first_descending=True),
    AssetSort.SEVERITY: Column("Highest severity", AssetSort.SEVERITY, first_descending=True),
}


@router.get("/cves/{cve}")
def cve_page(
    request: Request,
    cve: str,
    web: Web,
    sort: AssetSort = AssetSort.IP,
    order: OrderParam = None,
    offset: OffsetParam = 0,
    limit: PageLimitParam = LIMIT_DEFAULT,
) -> Response:
    """One CVE: a page of its vulnerable assets and of its findings (sorted on the server),
    charts by severity and tag, downloads (STIX, CSV, JSON)."""
    down = descending(order, default=ASSET_COLUMNS[sort].first_descending)
    table = cve_table(
        web.library.engine, cve, sort=sort, descending=down, offset=offset, limit=limit
    )
    if table.cve != cve:
        return RedirectResponse(f"/cves/{table.cve}", status_code=301)
    overview = table.overview
    context = {
        "cve": table.cve,
        "overview": overview,
        "assets": table.assets,
        "findings": table.findings,
        "table": TableState(f"/cves/{table.cve}", sort, down, "", offset, limit),
        "columns": ASSET_COLUMNS,
        "charts": (
            severity_counts_chart(overview.by_severity),
            tag_counts_chart(overview.by_tag),
        ),
    }
    return render(request, "cve.html", context)


@router.get("/assets")
def assets_page(
    web: Web,
    request: Request,
    q: Annotated[str, Query(max_length=SEARCH_MAX_CHARS)] = "",
    tag: Annotated[str, Query(max_length=TAG_MAX_CHARS)] = "",
    cve: str = "",  # parse_cve bounds it (400 on the page, the bound named)
    sort: AssetSort = AssetSort.IP,
    order: OrderParam = None,
    offset: OffsetParam = 0,
    limit: PageLimitParam = LIMIT_DEFAULT,
) -> Response:
    """Assets, searchable by IP or hostname (``q``), tag and CVE, sorted on the server, a page
    at a time, with the number that match."""
    down = descending(order, default=ASSET_COLUMNS[sort].first_descending)
    page = asset_table(
        web.library.engine,
        cve=cve,
        tag=tag,
        search=q,
        sort=sort,
        descending=down,
        offset=offset,
        limit=limit,
    )
    extra = tuple((k, v) for k, v in (("tag", tag), ("cve", cve)) if v)
    context = {
        "assets": page,
        "query": {"q": q, "tag": tag, "cve": cve},
        "table": TableState("/assets", sort, down, q, offset, limit, extra),
        "columns": ASSET_COLUMNS,
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
def runs_page(
    request: Request, web: Web, offset: OffsetParam = 0, limit: PageLimitParam = LIMIT_DEFAULT
) -> Response:
    """The run history, newest first, a page at a time with the number of runs."""
    page = listing.runs_page(web.library.engine, limit=limit, offset=offset)
    table = TableState("/runs", "started", True, "", offset, limit)
    return render(request, "runs.html", {"runs": page, "table": table})
