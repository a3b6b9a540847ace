"""The TAXII 2.1 server of ``cvesweep serve``: the library as read-only collections.

Routes, under ``/taxii2/`` (TAXII 2.1 sections 4 and 5)::

    GET /taxii2/                                     discovery: one API root, the default
    GET /taxii2/cvesweep/                            the API root
    GET /taxii2/cvesweep/collections/                the library's collection, one per CVE
    GET /taxii2/cvesweep/collections/{id}/           one collection ({id}: its id or alias)
    GET /taxii2/cvesweep/collections/{id}/objects/   an envelope of objects
    GET /taxii2/cvesweep/collections/{id}/objects/{object-id}/            one object
    GET /taxii2/cvesweep/collections/{id}/objects/{object-id}/versions/   its versions
    GET /taxii2/cvesweep/collections/{id}/manifest/  id, date_added, version per object

Objects and manifests take ``added_after``, ``limit`` (at most :data:`MAX_PAGE`, the
default), ``next``, ``match[id]``, ``match[type]``, ``match[version]`` and
``match[spec_version]``, comma-separated or repeated. Every answer, errors included, is
``application/taxii+json;version=2.1``; a request whose ``Accept`` allows neither it nor
``*/*`` gets 406. Access is the web UI's (:func:`cvesweep.web.security.require_token`):
with an access token, a client sends ``Authorization: Bearer TOKEN`` or HTTP Basic with
any user name and the token as password. Writing is refused (403): the collections are
the library, which only searches change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from cvesweep.errors import CvesweepError, InputError
from cvesweep.export import taxii
from cvesweep.export.taxii_feed import (
    Collection,
    Page,
    Selection,
    collections,
    find_collection,
    read_page,
)
from cvesweep.library.changes import FeedKey
from cvesweep.web.limits import MAX_BODY_BYTES
from cvesweep.web.problems import problem_for
from cvesweep.web.security import require_token
from cvesweep.web.state import Web

log = logging.getLogger(__name__)

API_ROOT = "cvesweep"
MAX_PAGE = 1_000
MAX_IDS = 100
MAX_VALUES = 20
VALUE_MAX_CHARS = 256
_CHALLENGE = 'Basic realm="cvesweep", Bearer realm="cvesweep"'
_VERSION_WORDS = frozenset({"first", "last", "all"})


class TaxiiRoute(APIRoute):
    """A route whose every error, its dependencies' included, is a TAXII error message."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def taxii_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except StarletteHTTPException as exc:
                return _error(exc.status_code, str(exc.detail), exc.headers)
            except RequestValidationError:
                return _error(400, "the request's parameters are malformed")
            except CvesweepError as exc:
                problem = problem_for(exc)
                return _error(problem.status, problem.message)
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return _error(500, "an unexpected error occurred in cvesweep")

        return taxii_handler


def check_accept(request: Request) -> None:
    """Dependency: raise 406 unless ``Accept`` (when sent) allows the TAXII 2.1 media type."""
    header = request.headers.get("accept")
    if header is not None and not any(_accepts(item) for item in header.split(",")):
        raise HTTPException(406, f"this TAXII server answers {taxii.MEDIA_TYPE_TAXII} only")


def _accepts(item: str) -> bool:
    media, *parameters = (part.strip().lower() for part in item.split(";"))
    if media in ("*/*", "application/*"):
        return True
    versions = [p.partition("=")[2].strip('"') for p in parameters if p.startswith("version=")]
    return media == "application/taxii+json" and versions in ([], ["2.1"])


router = APIRouter(
    prefix="/taxii2",
    route_class=TaxiiRoute,
    include_in_schema=False,
    dependencies=[Depends(require_token), Depends(check_accept)],
)
_COLLECTION = f"/{API_ROOT}/collections/{{collection_id}}"


@router.get("/")
def discovery(request: Request) -> Response:
    """The discovery resource, naming the one API root."""
    return _reply(taxii.discovery(f"{request.base_url}taxii2/{API_ROOT}/"))


@router.get(f"/{API_ROOT}/")
def api_root() -> Response:
    """The API root resource."""
    return _reply(taxii.api_root(MAX_BODY_BYTES))


@router.get(f"/{API_ROOT}/collections/")
def get_collections(web: Web) -> Response:
    """The library's collection, then one per CVE of the library."""
    return _reply(taxii.collections(collections(web.library.engine)))


@router.get(f"{_COLLECTION}/")
def get_collection(collection_id: str, web: Web) -> Response:
    """One collection, by id or alias."""
    return _reply(taxii.collection(_collection(web, collection_id)))


@router.get(f"{_COLLECTION}/objects/")
def get_objects(collection_id: str, request: Request, web: Web) -> Response:
    """An envelope of the collection's objects, filtered and paged."""
    found = _collection(web, collection_id)
    selection, after, limit = _filters(request.query_params)
    page = read_page(web.library.engine, found, selection, after, limit)
    return _reply(taxii.envelope(page), taxii.date_headers(page.entries))


@router.post(f"{_COLLECTION}/objects/")
def add_objects(collection_id: str, web: Web) -> Response:
    """Refused: the collections are read-only."""
    _collection(web, collection_id)
    raise HTTPException(403, "the collections of cvesweep are read-only")


@router.get(f"{_COLLECTION}/objects/{{object_id}}/")
def get_object(collection_id: str, object_id: str, request: Request, web: Web) -> Response:
    """An envelope of the object ``object_id`` (404 when the collection has no such object)."""
    page = _object_page(web, collection_id, object_id, request.query_params)
    return _reply(taxii.envelope(page), taxii.date_headers(page.entries))


@router.get(f"{_COLLECTION}/objects/{{object_id}}/versions/")
def get_versions(collection_id: str, object_id: str, request: Request, web: Web) -> Response:
    """The versions of the object ``object_id``: its current one."""
    page = _object_page(web, collection_id, object_id, request.query_params)
    return _reply(taxii.versions(page), taxii.date_headers(page.entries))


@router.get(f"{_COLLECTION}/manifest/")
def get_manifest(collection_id: str, request: Request, web: Web) -> Response:
    """The manifest of the collection's objects, filtered and paged as objects are."""
    found = _collection(web, collection_id)
    selection, after, limit = _filters(request.query_params)
    page = read_page(web.library.engine, found, selection, after, limit)
    return _reply(taxii.manifest(page), taxii.date_headers(page.entries))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str, request: Request) -> Response:
    """Anything else under /taxii2/: a TAXII 404; a GET without the final slash TAXII URLs
    have is redirected to the URL with it."""
    if request.method == "GET" and rest and not rest.endswith("/"):
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{request.url.path}/{query}", status_code=307)
    raise HTTPException(404, "no such TAXII resource on this server")


def _collection(web: Web, name: str) -> Collection:
    if len(name) > VALUE_MAX_CHARS:
        raise HTTPException(404, "no such collection")
    found = find_collection(web.library.engine, name)
    if found is None:
        raise HTTPException(404, f"no collection {name!r} (GET collections/ lists them)")
    return found


def _object_page(web: Web, collection_id: str, object_id: str, params: QueryParams) -> Page:
    found = _collection(web, collection_id)
    if len(object_id) > VALUE_MAX_CHARS:
        raise HTTPException(404, "no such object")
    selection, after, limit = _filters(params, object_id=object_id)
    page = read_page(web.library.engine, found, selection, after, limit)
    filtered = any(name in params for name in ("added_after", "next", "match[version]"))
    if not page.entries and not filtered and "match[spec_version]" not in params:
        raise HTTPException(404, f"the collection has no object {object_id!r}")
    return page


def _filters(
    params: QueryParams, *, object_id: str | None = None
) -> tuple[Selection, FeedKey | None, int]:
    """The selection, the key to resume after and the page size a request asks for.

    Raises InputError (answered 400) naming the parameter that is malformed.
    """
    added = params.get("added_after")
    ids = _values(params, "match[id]", MAX_IDS)
    if object_id is not None:
        ids = frozenset({object_id}) if ids is None or object_id in ids else frozenset()
    selection = Selection(
        added_after=None if added is None else taxii.parse_timestamp(added, "added_after"),
        ids=ids,
        types=_values(params, "match[type]", MAX_VALUES),
        versions=_versions(_values(params, "match[version]", MAX_VALUES)),
        spec_versions=_values(params, "match[spec_version]", MAX_VALUES),
    )
    after = params.get("next")
    return selection, None if after is None else taxii.decode_next(after), _limit(params)


def _values(params: QueryParams, name: str, most: int) -> frozenset[str] | None:
    """The comma-separated (or repeated) values of ``name``; None when it is not given."""
    if name not in params:
        return None
    values = {v.strip() for given in params.getlist(name) for v in given.split(",") if v.strip()}
    if len(values) > most or any(len(v) > VALUE_MAX_CHARS for v in values):
        raise InputError(name, f"at most {most} values of at most {VALUE_MAX_CHARS} characters")
    return frozenset(values)


def _versions(values: frozenset[str] | None) -> tuple[datetime, ...] | None:
    """None (every version) when "first", "last" or "all" is asked for, else the instants."""
    if values is None or values & _VERSION_WORDS:
        return None
    return tuple(sorted(taxii.parse_timestamp(v, "match[version]") for v in values))


def _limit(params: QueryParams) -> int:
    text = params.get("limit")
    if text is None:
        return MAX_PAGE
    try:
        limit = int(text)
    except ValueError:
        raise InputError("limit", "expected a whole number of objects") from None
    if limit < 1:
        raise InputError("limit", "expected at least 1")
    return min(limit, MAX_PAGE)


def _reply(body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, media_type=taxii.MEDIA_TYPE_TAXII, headers=dict(headers or {}))


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error(status: int, description: str, headers: Mapping[str, str] | None = None) -> Response:
    extra = dict(headers or {})
    if status == 401:
        extra["WWW-Authenticate"] = _CHALLENGE
    body = taxii.error(status, _title(status), description)
    return Response(body, status_code=status, media_type=taxii.MEDIA_TYPE_TAXII, headers=extra)
