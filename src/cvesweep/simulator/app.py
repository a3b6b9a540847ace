"""The simulator's WSGI application: routing, Basic auth, limits, faults, headers, streaming.

``SimulatorApp(fleet)`` is a plain WSGI callable (PEP 3333), served by
:mod:`cvesweep.simulator.server` or reached in-process through ``httpx.WSGITransport``.
Control endpoints under ``/_sim/`` (no auth) expose its state and change its faults.
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cvesweep.simulator import endpoints, replies, router
from cvesweep.simulator.control import Control
from cvesweep.simulator.faults import Faults, FaultState
from cvesweep.simulator.limits import Admission, Limiter
from cvesweep.simulator.params import ApiError, read_params
from cvesweep.simulator.protocol import DropConnection, StartResponse
from cvesweep.simulator.replies import Reply
from cvesweep.simulator.searchlists import SearchListStore

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet

logger = logging.getLogger(__name__)

DEFAULT_USERNAME = "simuser"
DEFAULT_PASSWORD = "simpass"  # noqa: S105 - the simulator's documented demo credential

ROUTES = router.build_routes()
STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    409: "409 Conflict",
    410: "410 Gone",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


class SimulatorApp:
    """A simulated Qualys VM API over ``fleet`` with its own search lists, limits and faults."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        serve_eol: bool = False,
    ) -> None:
        self.fleet = fleet
        self.serve_eol = serve_eol
        self.username = username
        self._password = password
        self.faults = FaultState(faults or Faults())
        self.limiter = Limiter(clock)
        self.search_lists = SearchListStore()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._actions: Counter[str] = Counter()
        self._control = Control(self)

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
        route = router.find(ROUTES, path)
        self.count("calls", route.name if route else "not_found")
        base_url = _base_url(environ)
        if route is None:
            return self._send(start_response, replies.not_found(), None)
        now = datetime.now(UTC).replace(microsecond=0)
        user = self._authenticate(environ)
        if user is None:
            return self._send(start_response, replies.bad_login(base_url, now), None)
        faults = self.faults.faults
        if faults.expired_account:
            return self._send(start_response, replies.account_expired(base_url, now), None)
        admission = self.limiter.admit(
            user,
            limit=faults.rate_limit,
            window_sec=faults.rate_window_sec,
            concurrency=faults.concurrency_limit,
        )
        if admission.blocked is not None:
            return self._send(start_response, replies.blocked(admission, base_url, now), admission)
        try:
            reply = self._dispatch(environ, route, user, base_url, now)
        except BaseException:
            self.limiter.release(user)
            raise
        return self._send(start_response, reply, admission, lambda: self.limiter.release(user))

    def _dispatch(
        self,
        environ: dict[str, Any],
        route: router.Route,
        user: str,
        base_url: str,
        now: datetime,
    ) -> Reply:
        name, handler = route.name, route.handler
        try:
            params = read_params(environ)
            self.count("actions", f"{name}.{params.get('action') or '-'}")
            if not environ.get("HTTP_X_REQUESTED_WITH"):
                # Qualys rejects API calls without X-Requested-With (SPEC §4, §8).
                raise ApiError(
                    1903, "Missing required parameter(s): X-Requested-With (HTTP request header)"
                )
            method = environ.get("REQUEST_METHOD", "GET").upper()
            if method not in ("GET", "POST", "HEAD"):
                raise ApiError(1908, f"Request method {method} is not supported (use GET or POST)")
            if route.end_of_life and not self.serve_eol:
                raise router.end_of_life_error(route)
            status = self.faults.take_error(name)
            if status is not None:
                return replies.server_fault(status, base_url, now, user)
            latency = self.faults.faults.host_latency
            call = endpoints.Call(
                method=method,
                path=environ.get("PATH_INFO") or "/",
                params=params,
                user=user,
                base_url=base_url,
                now=now,
                fleet=self.fleet,
                lists=self.search_lists,
                on_host=(lambda: self._sleep(latency)) if latency > 0 else None,
            )
            return handler(call)
        except ApiError as error:
            return replies.from_error(error, base_url, now)

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
        return ClosingBody(body, on_close)

    def _with_faults(self, body: Iterator[bytes]) -> Iterator[bytes]:
        latency = self.faults.faults.page_latency
        if latency > 0:
            body = _delayed(body, latency, self._sleep)
        if self.faults.take_malformed():
            body = _garbled(body)
        drop_after = self.faults.take_drop()
        if drop_after is not None:
            body = _dropped(body, drop_after)
        return body

    def _authenticate(self, environ: Mapping[str, Any]) -> str | None:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        same_user = hmac.compare_digest(user.encode(), self.username.encode())
        same_password = hmac.compare_digest(password.encode(), self._password.encode())
        return user if sep and same_user and same_password else None

    def count(self, kind: str, name: str) -> None:
        """Add one to the ``kind`` ("calls" or "actions") counter ``name``."""
        with self._lock:
            (self._calls if kind == "calls" else self._actions)[name] += 1

    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        """Return copies of the calls-per-endpoint and calls-per-action counters."""
        with self._lock:
            return dict(self._calls), dict(self._actions)

    def reset_counters(self) -> None:
        """Forget the call counters and the rate-limit windows."""
        with self._lock:
            self._calls.clear()
            self._actions.clear()
        self.limiter.reset()


class ClosingBody:
    """A WSGI body that runs ``on_close`` exactly once when the server closes it."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None] | None) -> None:
        self._chunks = chunks
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Stop the body generator and release the call's concurrency slot."""
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


def _base_url(environ: Mapping[str, Any]) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}"


def _delayed(
    body: Iterator[bytes], seconds: float, sleep: Callable[[float], None]
) -> Iterator[bytes]:
    sleep(seconds)
    yield from body


def _garbled(body: Iterator[bytes]) -> Iterator[bytes]:
    """Cut the body inside its first chunk and end it with text no XML parser accepts."""
    first = next(body, b"")
    yield first[: max(1, len(first) * 2 // 3)] + b"<<!-- simulator fault: malformed XML"


def _dropped(body: Iterator[bytes], after: int) -> Iterator[bytes]:
    sent = 0
    for chunk in body:
        if sent + len(chunk) > after:
            if after > sent:
                yield chunk[: after - sent]
            logger.info("dropping the connection after %d body bytes (fault)", after)
            raise DropConnection(f"simulated connection drop after {after} bytes")
        sent += len(chunk)
        yield chunk
