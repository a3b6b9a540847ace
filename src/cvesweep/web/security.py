"""The web UI's defences: access token, CSRF tokens, same-origin and Host checks, headers.

- **Access token** (optional; required by ``cvesweep serve`` off loopback). An API client
  sends ``Authorization: Bearer TOKEN``, or HTTP Basic with any user name and the token as
  password (what TAXII clients send), compared with :func:`hmac.compare_digest`; a
  browser enters the token once on ``/login`` and gets an HttpOnly cookie holding a random
  session id of :class:`~cvesweep.web.sessions.SessionStore` (never the token), which
  expires and which signing out revokes. Wrong tokens, on ``/login`` or as Bearer headers,
  are throttled per client address (:class:`~cvesweep.web.sessions.Throttle`): past the
  free ones, a token is not even compared until the client's delay is over (429).
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

import base64
import binascii
import hmac
import ipaddress
import math
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cvesweep.web.sessions import Throttle

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
MAX_NEXT_CHARS = 2_048
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def require_token(request: Request) -> None:
    """Dependency: pass a request with a live session or the right Bearer token.

    Raises HTTPException 401 otherwise, or 429 (with ``Retry-After``) while the client is
    throttled for wrong tokens: its Bearer token is then not compared at all.
    """
    web = request.app.state.web
    token: str | None = web.token
    if token is None or web.sessions.is_live(request.cookies.get(SESSION_COOKIE, "")):
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":  # TAXII clients: any user name, the token as password
        given = _basic_password(given)
    if scheme.lower() in ("bearer", "basic") and given.strip():
        client = client_address(request)
        refuse_if_throttled(web.throttle, client)
        if hmac.compare_digest(given.strip().encode(), token.encode()):
            web.throttle.succeeded(client)
            return
        web.throttle.failed(client)
    raise HTTPException(
        401,
        "this cvesweep server requires its access token "
        "(Authorization: Bearer TOKEN, or sign in on /login)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _basic_password(credentials: str) -> str:
    """The password of HTTP Basic ``credentials`` (base64 of ``user:password``); "" if malformed."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def refuse_if_throttled(throttle: Throttle, client: str) -> None:
    """Raise HTTPException 429 with ``Retry-After`` while ``client`` must wait (see Throttle)."""
    wait = throttle.wait_left(client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            429,
            f"too many wrong access tokens from this address; the next one is checked in "
            f"{seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def client_address(request: Request) -> str:
    """The address wrong tokens are counted against: the peer's IP (a proxy's, behind one)."""
    return request.client.host if request.client else "unknown"


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
    """Return the CSRF token of ``request`` (the one :class:`SecurityHeaders` set up)."""
    return str(request.state.csrf_token)


class SecurityHeaders:
    """ASGI middleware: give each request a CSRF token, add the security headers to responses.

    A plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which runs the app in a
    task group and so turns an HTTPException raised while reading the body, such as
    web.limits' 413, into an ExceptionGroup that FastAPI reports as a 400).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = Request(scope).cookies.get(CSRF_COOKIE)
        fresh = not cookie or len(cookie) < 32
        token = secrets.token_urlsafe(32) if fresh or cookie is None else cookie
        scope.setdefault("state", {})["csrf_token"] = token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {**SECURITY_HEADERS, "Cache-Control": "no-store"}.items():
                    headers.setdefault(name, value)
                if fresh:
                    headers.append("set-cookie", _csrf_cookie(token))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _csrf_cookie(token: str) -> str:
    """The Set-Cookie value of the CSRF cookie (the token is URL-safe: no quoting needed)."""
    return f"{CSRF_COOKIE}={token}; HttpOnly; Path=/; SameSite=strict"


def set_session(response: Response, session_id: str, lifetime: float) -> None:
    """Set the session cookie holding ``session_id``; it expires after ``lifetime`` seconds."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(lifetime),
        httponly=True,
        samesite="lax",
        path="/",
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
    """Return ``target`` when it is a path on this site (of at most MAX_NEXT_CHARS), else ``/``.

    No open redirects, and no 60,000-character target copied into a page.
    """
    if (
        target
        and len(target) <= MAX_NEXT_CHARS
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
    ):
        return target
    return "/"


def _host_name(host_header: str) -> str:
    """The host of a Host header, without port or IPv6 brackets, lower-case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
