"""Library reads shared by pages and API, with "not in the library" turned into a 404."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import Engine

from cvesweep.errors import InputError
from cvesweep.library import queries
from cvesweep.library.queries import AssetSummary, ObjectDetail
from cvesweep.models import CveId, parse_cve

ASSET_PAGE = 200


def find_object(engine: Engine, value: str, *, kind: str) -> ObjectDetail:
    """Return the object ``value`` of ``kind`` ("asset" or "indicator").

    Raises HTTPException 404 when the library has no such object, LibraryError on read failure.
    """
    try:
        detail = queries.object_detail(engine, value)
    except InputError as error:
        # queries reports a missing object as an InputError (exit 2 in the CLI); here it
        # is a 404. Its field is VALUE; any other InputError would be a real bad input.
        if error.field != "VALUE":
            raise
        raise HTTPException(404, error.message) from error
    if detail.kind != kind:
        raise HTTPException(404, f"{value!r} is not {'an asset' if kind == 'asset' else 'a CVE'}")
    return detail


def find_cve(engine: Engine, text: str) -> tuple[CveId, ObjectDetail, list[AssetSummary]]:
    """Return the CVE ``text`` (any case), its object and its vulnerable assets.

    Raises InputError (400) for a malformed CVE id, HTTPException 404 when it is not stored,
    LibraryError on read failure.
    """
    cve = parse_cve(text)
    detail = find_object(engine, cve, kind="indicator")
    return cve, detail, queries.assets(engine, cve=cve)


def search_assets(
    engine: Engine,
    *,
    cve: str | None,
    tag: str | None,
    search: str | None,
    limit: int = ASSET_PAGE,
    offset: int = 0,
) -> tuple[list[AssetSummary], bool]:
    """Return a page of assets matching the filters and whether more follow.

    Blank filters are ignored. Raises InputError for a malformed CVE id, HTTPException 404
    for a CVE that is not stored, LibraryError on read failure.
    """
    cve_id = parse_cve(cve, field="cve") if cve and cve.strip() else None
    try:
        found = queries.assets(
            engine,
            cve=cve_id,
            tag=tag if tag and tag.strip() else None,
            search=search.strip() if search and search.strip() else None,
            limit=limit + 1,
            offset=offset,
        )
    except InputError as error:
        raise HTTPException(404, error.message) from error
    return found[:limit], len(found) > limit
