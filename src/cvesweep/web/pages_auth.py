"""Signing in to a server that has an access token: ``/login`` and ``/logout``.

The token is entered once in a form (never in a URL, where it would land in the history and
server logs); a correct token starts a server-side session whose random id is the HttpOnly
cookie. Wrong tokens are throttled per client address; signing out revokes the session.
"""

from __future__ import annotations

import hmac
import math

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from cvesweep.web.rendering import render
from cvesweep.web.security import (
    SESSION_COOKIE,
    check_csrf,
    client_address,
    local_path,
    set_session,
)
from cvesweep.web.state import Web

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form (the token field and where to go next)."""
    return _form(request, local_path(next))


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, web: Web) -> Response:
    """Check the token entered: on success start a session and go on; else 401.

    While the client is throttled the token is not compared: 429 with ``Retry-After``.
    """
    form = await request.form()
    given, target = form.get("token"), form.get("next")
    target = local_path(target if isinstance(target, str) else None)
    if web.token is None:
        return RedirectResponse(target, status_code=303)
    client = client_address(request)
    wait = web.throttle.wait_left(client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        response = _form(request, target, wait=seconds, status=429)
        response.headers["Retry-After"] = str(seconds)
        return response
    if not isinstance(given, str) or not hmac.compare_digest(
        given.strip().encode(), web.token.encode()
    ):
        web.throttle.failed(client)
        return _form(request, target, failed=True, status=401)
    web.throttle.succeeded(client)
    web.sessions.revoke(request.cookies.get(SESSION_COOKIE, ""))  # no session fixation
    response = RedirectResponse(target, status_code=303)
    set_session(response, web.sessions.create(), web.sessions.lifetime)
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, web: Web) -> Response:
    """Revoke the session (a copy of its cookie is worthless now), show the sign-in form."""
    web.sessions.revoke(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


def _form(
    request: Request, target: str, *, failed: bool = False, wait: int = 0, status: int = 200
) -> Response:
    context = {"next": target, "failed": failed, "wait": wait}
    return render(request, "login.html", context, status=status)
