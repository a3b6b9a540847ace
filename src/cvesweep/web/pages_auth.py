"""Signing in to a server that has an access token: ``/login`` and ``/logout``.

The token is entered once in a form (never in a URL, where it would land in the history and
server logs); a correct token sets an HttpOnly session cookie holding its HMAC.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from cvesweep.web.rendering import render
from cvesweep.web.security import SESSION_COOKIE, check_csrf, local_path, set_session
from cvesweep.web.state import Web

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form (the token field and where to go next)."""
    return render(request, "login.html", {"next": local_path(next), "failed": False})


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request, web: Web) -> Response:
    """Check the token entered; on success set the session cookie and go on, else 401."""
    form = await request.form()
    given, target = form.get("token"), form.get("next")
    target = local_path(target if isinstance(target, str) else None)
    if web.token is None:
        return RedirectResponse(target, status_code=303)
    if not isinstance(given, str) or not hmac.compare_digest(
        given.strip().encode(), web.token.encode()
    ):
        return render(request, "login.html", {"next": target, "failed": True}, status=401)
    response = RedirectResponse(target, status_code=303)
    set_session(response, web.token)
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout() -> Response:
    """Forget the session cookie and show the sign-in form."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
