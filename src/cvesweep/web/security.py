"""The web UI's defences: access token, CSRF tokens, same-origin and Host checks, headers.

- **Access token** (optional; required by ``cvesweep serve`` off loopback). An API client
  sends ``Authorization: Bearer TOKEN``; a browser enters the token once on ``/login`` and
  gets an HttpOnly cookie holding an HMAC of the token (never the token itself). Both are
  compared with :func:`hmac.compare_digest`.
- **CSRF**: double-submit. Every response sets a random ``cvesweep_csrf`` cookie
  (SameSite=Strict, HttpOnly) when the request had none; every form carries it in a hidden
  ``csrf_token`` field, and a form POST whose field does not match the cookie gets 403.
- **Same origin**: a POST, PUT, PATCH or DELETE whose ``Origin`` header names another
  origin (or ``null``) gets 403, which also covers the JSON API against cross-site forms.
- **Host check**: when ``allowed_hosts`` is set (loopback without a token), another
  ``Host`` header gets 400, which defeats DNS rebinding.
- **Headers** on every response: the Content-Security-Policy below (no inline script or
  style anywhere), ``X-Content-Type-Options``, ``Referrer-Policy``, ``X-Frame-Options``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response

CSRF_COOKIE = "cvesweep_csrf"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "cvesweep_session"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": with it Chromium sends "Origin: null" on same-origin form posts,
    # which the same-origin check must refuse. "same-origin" sends nothing to other sites.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

NextCall = Callable[[Request], Awaitable[Response]]


def session_value(token: str) -> str:
    """Return the session cookie value for ``token``: an HMAC, so the cookie never holds it."""
    return hmac.new(token.encode(), b"cvesweep web session", hashlib.sha256).hexdigest()


def token_matches(request: Request, token: str) -> bool:
    """True when ``request`` carries ``token`` as a Bearer header or its session cookie."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def require_token(request: Request) -> None:
    """Dependency: raise HTTPException 401 unless the request carries the access token."""
    token: str | None = request.app.state.web.token
    if token is not None and not token_matches(request, token):
        raise HTTPException(
            401,
            "this cvesweep server requires its access token "
            "(Authorization: Bearer TOKEN, or sign in on /login)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_request_origin(request: Request) -> None:
    """Dependency: raise 400 for a Host not allowed, 403 for a cross-origin unsafe request."""
    allowed: tuple[str, ...] | None = request.app.state.web.allowed_hosts
    if allowed is not None and _host_name(request.headers.get("host", "")) not in allowed:
        raise HTTPException(400, "unexpected Host header; open the UI by its loopback address")
    origin = request.headers.get("origin")
    if request.method in _UNSAFE_METHODS and origin is not None:
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != request.headers.get("host", "").lower():
            raise HTTPException(403, "cross-origin requests are refused")


async def check_csrf(request: Request) -> None:
    """Dependency of form POSTs: raise HTTPException 403 unless the CSRF field matches."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if (
        not isinstance(given, str)
        or not cookie
        or not hmac.compare_digest(given.encode(), cookie.encode())
    ):
        raise HTTPException(
            403, "the form's CSRF token is missing or wrong; reload the page and try again"
        )


def csrf_token(request: Request) -> str:
    """Return the CSRF token of ``request`` (the one :func:`security_headers` set up)."""
    return str(request.state.csrf_token)


async def security_headers(request: Request, call_next: NextCall) -> Response:
    """Middleware: give the request a CSRF token, add the security headers to the response."""
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = not cookie or len(cookie) < 32
    request.state.csrf_token = secrets.token_urlsafe(32) if fresh else cookie
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, request.state.csrf_token, httponly=True, samesite="strict", path="/"
        )
    return response


def set_session(response: Response, token: str) -> None:
    """Set the session cookie that stands for ``token`` on ``response``."""
    response.set_cookie(
        SESSION_COOKIE, session_value(token), httponly=True, samesite="lax", path="/"
    )


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or an address) is a loopback address."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_path(target: str | None) -> str:
    """Return ``target`` when it is a path on this site, else ``/`` (no open redirects)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _host_name(host_header: str) -> str:
    """The host of a Host header, without port or IPv6 brackets, lower-case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
