"""The simulator's WSGI application: routing, auth, limits, faults, headers, streaming.

``SimulatorApp(fleet)`` is a plain WSGI callable (PEP 3333), served by
:mod:`cvesweep.simulator.server` or reached in-process through ``httpx.WSGITransport``.
A request goes: control endpoints (``/_sim/``, no auth) → gateway token endpoints
(``/auth``, ``/auth/oauth``) → the router (:mod:`.router`) → Basic or Bearer auth → the
per-API limits → the family's handler (:mod:`.api`) → headers and body faults.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cvesweep.simulator import bodies, replies, router
from cvesweep.simulator.api import gateway
from cvesweep.simulator.api.call import Call
from cvesweep.simulator.auth import Credentials, identify
from cvesweep.simulator.control import Control
from cvesweep.simulator.counters import Counters
from cvesweep.simulator.faults import Faults, FaultState
from cvesweep.simulator.limits import Admission, Limiter
from cvesweep.simulator.params import ApiError, read_params
from cvesweep.simulator.protocol import StartResponse
from cvesweep.simulator.replies import Reply
from cvesweep.simulator.searchlists import SearchListStore
from cvesweep.simulator.tokens import DEFAULT_LIFETIME_SEC, TokenIssuer

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet

logger = logging.getLogger(__name__)

DEFAULT_USERNAME = "simuser"
DEFAULT_PASSWORD = "simpass"  # noqa: S105 - the simulator's documented demo credential
DEFAULT_CLIENT_ID = "simclient"
DEFAULT_CLIENT_SECRET = "simsecret"  # noqa: S105 - the simulator's documented demo secret

ROUTES = router.build_routes()
STATUS_LINES = {
    200: "200 OK",
    201: "201 Created",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    409: "409 Conflict",
    410: "410 Gone",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


class SimulatorApp:
    """A simulated Qualys VM API over ``fleet`` with its own search lists, limits and faults.

    ``serve_eol`` keeps serving the versions Qualys retired; ``token_lifetime`` is the
    lifetime of gateway JWTs in seconds (4 h, as on Qualys). Raises ValueError for a
    token lifetime below 1 second.
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        serve_eol: bool = False,
        token_lifetime: int = DEFAULT_LIFETIME_SEC,
    ) -> None:
        self.fleet = fleet
        self.username = username
        self.serve_eol = serve_eol
        self._creds = Credentials(username, password, client_id, client_secret)
        self.tokens = TokenIssuer(lifetime_sec=token_lifetime, clock=clock)
        self.faults = FaultState(faults or Faults())
        self.limiter = Limiter(clock)
        self.search_lists = SearchListStore()
        self.counters = Counters()
        self._sleep = sleep
        self._control = Control(
            self.faults, self.limiter, self.search_lists, self.counters, self.tokens
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/_sim/"):
            status, content_type, body = self._control.handle(environ, path)
            start_response(
                STATUS_LINES.get(status, f"{status} Error"),
                [("Content-Type", content_type), ("Content-Length", str(len(body)))],
            )
            return [body]
        self.counters.path(path)
        if path.rstrip("/") in (gateway.AUTH_PATH, gateway.OAUTH_PATH):
            return self._send(start_response, self._gateway(environ, path.rstrip("/")), None)
        route = router.find(ROUTES, path)
        self.counters.call(route.name if route else "not_found")
        if route is None:
            return self._send(start_response, replies.not_found(), None)
        return self._api(environ, start_response, route)

    def _gateway(self, environ: Mapping[str, Any], path: str) -> Reply:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if path == gateway.AUTH_PATH:
            reply = gateway.password_token(method, read_params(environ), self._creds, self.tokens)
        else:
            reply = gateway.client_token(method, environ, self._creds, self.tokens)
        if reply.status == 201:
            self.counters.auth("tokens_issued")
        return reply

    def _api(
        self, environ: dict[str, Any], start_response: StartResponse, route: router.Route
    ) -> Iterable[bytes]:
        base_url = _base_url(environ)
        now = datetime.now(UTC).replace(microsecond=0)
        caller = identify(environ, self._creds, self.tokens)
        self.counters.auth(caller.scheme)
        if caller.user is None:
            # [unverified] An invalid or expired Bearer token gets the bad-login reply
            # (401, SIMPLE_RETURN 2000) too: Qualys's FO reply to a bad JWT is not recorded.
            return self._send(start_response, replies.bad_login(base_url, now), None)
        user = caller.user
        faults = self.faults.faults
        if faults.expired_account:
            return self._send(start_response, replies.account_expired(base_url, now), None)
        admission = self.limiter.admit(
            user,
            route.name,
            limit=faults.rate_limit,
            window_sec=faults.rate_window_sec,
            concurrency=faults.concurrency_limit,
        )
        if admission.blocked is not None:
            return self._send(start_response, replies.blocked(admission, base_url, now), admission)
        try:
            reply = self._dispatch(environ, route, user, base_url, now)
        except BaseException:
            self.limiter.release(user, route.name)
            raise
        release = functools.partial(self.limiter.release, user, route.name)
        if faults.reply_latency > 0 and faults.latency_endpoint in ("any", route.name):
            reply = dataclasses.replace(
                reply, body=bodies.delayed(iter(reply.body), faults.reply_latency, self._sleep)
            )
        return self._send(start_response, reply, admission, release)

    def _dispatch(
        self,
        environ: dict[str, Any],
        route: router.Route,
        user: str,
        base_url: str,
        now: datetime,
    ) -> Reply:
        try:
            params = read_params(environ)
            self.counters.action(f"{route.name}.{params.get('action') or '-'}")
            if route.requires_xrw and not environ.get("HTTP_X_REQUESTED_WITH"):
                # Qualys rejects API calls without X-Requested-With (SPEC §4, §8).
                raise ApiError(
                    1903, "Missing required parameter(s): X-Requested-With (HTTP request header)"
                )
            method = environ.get("REQUEST_METHOD", "GET").upper()
            if method not in ("GET", "POST", "HEAD"):
                raise ApiError(1908, f"Request method {method} is not supported (use GET or POST)")
            if route.end_of_life and not self.serve_eol:
                raise router.end_of_life_error(route)
            status = self.faults.take_error(route.name)
            if status is not None:
                return replies.server_fault(status, base_url, now, user)
            return route.handler(self._call(environ, route, params, user, base_url, now))
        except ApiError as error:
            return replies.from_error(error, base_url, now)

    def _call(
        self,
        environ: Mapping[str, Any],
        route: router.Route,
        params: Any,
        user: str,
        base_url: str,
        now: datetime,
    ) -> Call:
        latency = self.faults.faults.host_latency
        return Call(
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=environ.get("PATH_INFO") or "/",
            version=route.version or "",
            params=params,
            user=user,
            base_url=base_url,
            now=now,
            fleet=self.fleet,
            lists=self.search_lists,
            on_host=(lambda: self._sleep(latency)) if latency > 0 else None,
        )

    def _send(
        self,
        start_response: StartResponse,
        reply: Reply,
        admission: Admission | None,
        on_close: Callable[[], None] | None = None,
    ) -> Iterable[bytes]:
        headers = [("Server", "Qualys")]
        if reply.limit_headers and admission is not None:
            headers += admission.headers()
        headers.append(("Content-Type", reply.content_type))
        body: Iterator[bytes] = iter(reply.body)
        if reply.detection:
            body = self._with_faults(body)
        start_response(STATUS_LINES.get(reply.status, f"{reply.status} Error"), headers)
        return bodies.ClosingBody(body, on_close)

    def _with_faults(self, body: Iterator[bytes]) -> Iterator[bytes]:
        latency = self.faults.faults.page_latency
        if latency > 0:
            body = bodies.delayed(body, latency, self._sleep)
        if self.faults.take_malformed():
            body = bodies.garbled(body)
        drop_after = self.faults.take_drop()
        if drop_after is not None:
            body = bodies.dropped(body, drop_after)
        return body

    def state(self) -> dict[str, Any]:
        """Return what ``GET /_sim/state`` shows."""
        return self._control.state()

    def reset_counters(self) -> None:
        """Forget the call counters and the rate-limit windows."""
        self._control.reset()


def _base_url(environ: Mapping[str, Any]) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}"
