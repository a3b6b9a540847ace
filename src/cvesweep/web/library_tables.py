"""The library's paged tables as pages and API read them, "not stored" turned into a 404.

Shared by :mod:`cvesweep.web.pages_library` and :mod:`cvesweep.web.api` so that a page and
its API call show the same rows in the same order (numeric IP, see library.listing).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy import Engine

from cvesweep.errors import InputError
from cvesweep.library import listing
from cvesweep.library.listing import AssetFilter, AssetSort, CveOverview, Page
from cvesweep.library.queries import AssetSummary, FindingRecord
from cvesweep.models import CveId, parse_cve


@dataclass(frozen=True, slots=True)
class CveTable:
    """A CVE's overview, a page of its assets and the findings of those assets."""

    cve: CveId
    overview: CveOverview
    assets: Page[AssetSummary]
    findings: tuple[FindingRecord, ...]


def asset_table(
    engine: Engine,
    *,
    cve: str,
    tag: str,
    search: str,
    sort: AssetSort,
    descending: bool,
    offset: int,
    limit: int,
) -> Page[AssetSummary]:
    """Return a page of the assets matching the (blank: ignored) filters.

    Raises InputError (400) for a malformed CVE id, HTTPException 404 for a CVE that is not
    stored, LibraryError on read failure.
    """
    cve_id = parse_cve(cve, field="cve") if cve.strip() else None
    where = AssetFilter(cve_id, tag.strip() or None, search.strip() or None)
    try:
        return listing.asset_page(
            engine, where, sort=sort, descending=descending, limit=limit, offset=offset
        )
    except InputError as error:
        raise HTTPException(404, error.message) from error


def cve_table(
    engine: Engine, text: str, *, sort: AssetSort, descending: bool, offset: int, limit: int
) -> CveTable:
    """Return the CVE ``text`` (any case) with a page of its assets (from ``offset``, at most
    ``limit``) and the findings of the CVE on those assets.

    Raises InputError (400) for a malformed CVE id, HTTPException 404 when it is not stored,
    LibraryError on read failure.
    """
    cve = parse_cve(text)
    try:
        overview = listing.cve_overview(engine, cve)
    except InputError as error:
        raise HTTPException(404, f"{cve!r} is not in the library") from error
    assets = listing.asset_page(
        engine, AssetFilter(cve), sort=sort, descending=descending, limit=limit, offset=offset
    )
    found = listing.findings_of_assets(engine, cve, [asset.value for asset in assets.items])
    return CveTable(cve, overview, assets, found)
