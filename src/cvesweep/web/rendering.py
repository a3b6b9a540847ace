"""Server-side rendering: the Jinja2 environment (autoescape on), its filters, and the one
place where errors become a response (an HTML error page, a login redirect, or JSON).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException

from cvesweep import __version__
from cvesweep.errors import CvesweepError
from cvesweep.export.table import describe_filters, describe_stored
from cvesweep.library import IngestStats
from cvesweep.web.problems import Problem, problem_for, unexpected_problem
from cvesweep.web.security import SECURITY_HEADERS, csrf_token
from cvesweep.web.views import PAGE_SIZES

log = logging.getLogger(__name__)

SEVERITY_NAMES = {1: "minimal", 2: "medium", 3: "serious", 4: "critical", 5: "urgent"}


@functools.cache
def make_templates() -> Jinja2Templates:
    """Return the templates of the package with autoescape on and strict undefined names.

    One environment serves every app of the process (templates compile once).
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cvesweep.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["qtime"] = _qualys_time
    env.filters["dash"] = _dash
    env.filters["describe_filters"] = describe_filters
    env.filters["describe_stored"] = _describe_stored
    env.filters["literals"] = inline_literals
    env.globals["version"] = __version__
    env.globals["severity_names"] = SEVERITY_NAMES
    env.globals["page_sizes"] = PAGE_SIZES
    return Jinja2Templates(env=env)


def render(
    request: Request, name: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> Response:
    """Return the page ``name`` rendered with ``context`` plus what every page needs."""
    web = request.app.state.web
    full = {
        "csrf_token": csrf_token(request),
        "token_required": web.token is not None,
        "path": request.url.path,
        **(context or {}),
    }
    templates: Jinja2Templates = web.templates
    return templates.TemplateResponse(request, name, full, status_code=status)


def is_api(request: Request) -> bool:
    """True for requests of the JSON API (errors answer in JSON there)."""
    path = request.url.path
    return path.startswith("/api/") or path == "/openapi.json"


def problem_response(request: Request, problem: Problem) -> Response:
    """Return ``problem`` as JSON (API), a redirect to /login (a page needing the token), or
    an error page; each with the problem's HTTP status."""
    if is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
        return JSONResponse({"error": problem.as_json()}, problem.status, headers=headers)
    if problem.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return render(request, "error.html", {"problem": problem}, status=problem.status)


def install_error_handlers(app: FastAPI) -> None:
    """Route our errors, HTTP errors and request validation errors to :func:`problem_response`."""

    async def cvesweep_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CvesweepError)
        return problem_response(request, problem_for(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        problem = Problem(exc.status_code, str(exc.detail), "web")
        response = problem_response(request, problem)
        if exc.headers and exc.status_code != 401:
            response.headers.update(exc.headers)
        return response

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, _validation_problem(exc))

    app.add_exception_handler(CvesweepError, cvesweep_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected_error)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: the error shape (or page) of a 500, with the security headers, never a bare 500.

    Starlette calls this from its outermost middleware, outside ``SecurityHeaders``, so the
    headers are set here. The traceback goes to the server log (Starlette re-raises).
    """
    log.error("unexpected error on %s %s", request.method, request.url.path)
    try:
        response = problem_response(request, unexpected_problem())
    except Exception:  # the page itself could not be rendered: plain text it is
        response = PlainTextResponse(unexpected_problem().message, status_code=500)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = list(exc.errors())
    parts, first = [], None
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
        first = first or where
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return Problem(422, "; ".join(parts) or "invalid request", "input", field=first)


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _qualys_time(value: str | None) -> str:
    """A Qualys ``YYYY-MM-DDTHH:MM:SSZ`` as ``YYYY-MM-DD HH:MM`` (UTC)."""
    if not value:
        return "-"
    return value.replace("T", " ")[:16]


def _describe_stored(stats: IngestStats) -> str:
    """What a run stored, in the words the CLI prints (export.table.describe_stored)."""
    return describe_stored(asdict(stats))


_LITERAL = re.compile(r"``(.+?)``", re.DOTALL)


def inline_literals(text: str) -> Markup:
    """``text`` (a docstring) HTML-escaped, its reST inline literals ````x```` as <code>x</code>."""
    parts = _LITERAL.split(str(text))  # even indexes: prose; odd: the literals' text
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )


def _dash(value: object) -> object:
    return "-" if value is None or value == "" else value
