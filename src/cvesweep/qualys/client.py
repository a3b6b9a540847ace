"""HTTP to Qualys: auth and headers, retries with backoff, rate/concurrency waits, streaming.

This is the one place where httpx errors become cvesweep errors. Policy (SPEC §5):

- 409 with code 1965 (rate limit): wait ``X-RateLimit-ToWait-Sec`` (or ``SECONDS_TO_WAIT``),
  409 with 1960 (concurrency limit): wait with backoff; both only within the wait budget.
- HTTP 5xx, connection resets and timeouts: retry with capped exponential backoff and full
  jitter, ``retries`` tries in all. TLS certificate failures are not retried.
- 400 and 401 (and any other 4xx) are never retried.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from cvesweep import __version__
from cvesweep.errors import (
    QualysAuthError,
    QualysConnectionError,
    QualysError,
    QualysRateLimited,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.qualys.abort import CallAbort
from cvesweep.qualys.auth import (
    BEARER_REFUSED_HINT,
    AuthMethod,
    BearerAuth,
    TokenSource,
    token_grant,
)
from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.qualys.gateway import TOKEN_CALL
from cvesweep.qualys.responses import error_from_reply, parse_simple_return, raise_for_reply

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0
CONCURRENCY_WAIT_S = 2.0
BODY_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ClientConfig:
    """How to reach Qualys. ``verify`` is True, False or a CA bundle path."""

    base_url: str
    username: str
    password: str = field(repr=False)
    verify: bool | str = True
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    retries: int = 4
    wait_budget: float = 300.0
    requested_with: str = f"cvesweep/{__version__}"
    versions: ApiVersions = field(default_factory=ApiVersions)
    auth: AuthMethod = AuthMethod.BASIC
    gateway_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


class TransientError(QualysError):
    """A failure worth retrying (reset, timeout, 5xx, cut-off body); internal to the retry loop.

    ``final`` is the error to report if the failure outlasts the retries (default: a
    QualysServerError for 5xx, else a QualysConnectionError).
    """

    def __init__(
        self,
        message: str,
        *,
        call: str | None = None,
        http_status: int | None = None,
        final: QualysError | None = None,
    ) -> None:
        super().__init__(message, call=call, http_status=http_status)
        self.final = final


class Attempts:
    """Counts tries and the wait budget of one logical call; sleeps between tries."""

    def __init__(self, client: QualysClient, call: str, *, patient: bool = True) -> None:
        self._client = client
        self.call = call
        self.tries = 0
        self.waited = 0.0
        self.patient = patient  # False: one try, no waits (a last attempt while interrupted)

    def retry_after_failure(self, error: QualysError) -> None:
        """Sleep before the next try, or raise ``error`` when the tries are used up.

        Raises Cancelled instead when the run was cancelled (its call was aborted).
        """
        self._client.check_cancel()
        self.tries += 1
        if not self.patient or self.tries >= self._client.config.retries:
            raise as_final(error)
        cap = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (self.tries - 1))
        delay = self._client.random.uniform(cap / 2, cap)
        log.info("%s failed (%s); retry %d in %.1f s", self.call, error, self.tries, delay)
        self._client.sleep(delay)

    def wait_for_limit(self, error: QualysRateLimited, seconds: float) -> None:
        """Sleep ``seconds`` for a rate/concurrency limit, or raise if over the budget."""
        self._client.check_cancel()
        seconds = max(seconds, 1.0)  # never a tight loop, even if Qualys says 0
        if not self.patient or self.waited + seconds > self._client.config.wait_budget:
            raise error
        log.info("%s limited (code %d); waiting %.0f s", self.call, error.code, seconds)
        self.waited += seconds
        self._client.gate.pause(seconds)  # every call of the run waits, not only this one


class Gate:
    """What every call of one client passes before it is sent: a pause after a 409.

    When Qualys refuses a call for its rate or concurrency limit, the calls running in other
    threads (parallel detection ranges) must wait too instead of storming it.
    """

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0
        self._pauser: int | None = None

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` in this thread; calls of other threads wait for the same moment."""
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)
            self._pauser = threading.get_ident()
        self._sleep(seconds)

    def wait(self) -> None:
        """In a thread other than the one that paused, sleep until the pause is over."""
        with self._lock:
            left = self._until - self._clock()
            own = self._pauser == threading.get_ident()
        if left > 0 and not own:
            self._sleep(left)


class QualysClient:
    """A connection to one Qualys API server; use as a context manager.

    ``transport`` lets tests reach the simulator in-process; ``sleep`` and ``rng`` make the
    waits observable and deterministic in tests; ``clock`` (monotonic seconds) times the
    renewal of gateway tokens. With ``--auth jwt|oauth-client``, ``tokens`` is the token
    source; raises ConfigError (nothing sent) when its gateway URL cannot be derived.
    ``cancel``, when set by another thread, aborts the calls in flight and makes every later
    call, retry or wait raise Cancelled, except those inside :meth:`cleaning_up` (see abort).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        cancel: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.abort = CallAbort(cancel) if cancel is not None else None
        if self.abort is not None:
            sleep = self.abort.sleeper(sleep)
        self.sleep = sleep
        self.random = rng or random.Random()
        self.api_calls = 0
        self.concurrency_limit: int | None = None  # X-Concurrency-Limit-Limit, once seen
        self.gate = Gate(clock, sleep)
        self._count_lock = threading.Lock()
        timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
        grant = token_grant(config)  # before anything opens: it may raise ConfigError
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            auth=None if grant else httpx.BasicAuth(config.username, config.password),
            headers={
                "X-Requested-With": config.requested_with,
                "User-Agent": f"cvesweep/{__version__}",
            },
            timeout=timeout,
            verify=_verify_setting(config.verify),
            transport=transport,
            follow_redirects=False,
        )
        self.tokens: TokenSource | None = None
        if grant is not None:
            self.tokens = TokenSource(
                self._http, grant, attempts=lambda: Attempts(self, TOKEN_CALL), clock=clock
            )
            self._http.auth = BearerAuth(self.tokens)

    def __enter__(self) -> QualysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (and stop watching the cancel event)."""
        self._http.close()
        if self.abort is not None:
            self.abort.close()

    @contextmanager
    def cleaning_up(self) -> Iterator[None]:
        """Calls made in this block (this thread) are sent even after a cancel: a clean-up."""
        if self.abort is None:
            yield
            return
        with self.abort.shielded():
            yield

    def check_cancel(self) -> None:
        """Raise Cancelled when the run was cancelled (outside :meth:`cleaning_up`)."""
        if self.abort is not None:
            self.abort.check()

    def path(self, endpoint: Endpoint) -> str:
        """The request path of ``endpoint`` at the configured API version."""
        return self.config.versions.path(endpoint)

    def post(self, path: str, data: Mapping[str, str], *, call: str, patient: bool = True) -> bytes:
        """POST a form and return the whole body of a successful reply.

        ``patient`` False makes one try with no retry or limit wait. Raises the typed
        QualysError for error replies (including 2001 with HTTP 200), limits beyond the
        budget, and failures that outlast the retries.
        """
        attempts = Attempts(self, call, patient=patient)
        while True:
            response = self.open(path, data, attempts)
            try:
                body = b"".join(iter_body(response, call))
            except TransientError as error:
                attempts.retry_after_failure(error)
                continue
            finally:
                response.close()
            raise_for_reply(body, call=call, http_status=response.status_code)
            return body

    @contextmanager
    def stream(
        self, path: str, data: Mapping[str, str], attempts: Attempts, *, method: str = "POST"
    ) -> Iterator[httpx.Response]:
        """Open a call whose successful (2xx) reply the caller streams, then close it.

        ``method`` GET sends ``data`` as the query string (for endpoints seen only with GET).
        Errors before the body (limits, 5xx, 4xx) are handled as in :meth:`post`; a failure
        while the caller reads the body is the caller's to retry with ``attempts``.
        """
        response = self.open(path, data, attempts, method=method)
        try:
            yield response
        finally:
            response.close()

    def open(
        self, path: str, data: Mapping[str, str], attempts: Attempts, *, method: str = "POST"
    ) -> httpx.Response:
        """Send until a 2xx reply arrives (retrying and waiting per the policy); return it open."""
        while True:
            try:
                response = self._send(path, data, attempts.call, method)
            except TransientError as error:
                attempts.retry_after_failure(error)
                continue
            self._note_limits(response.headers)
            if response.status_code < 300:
                return response
            try:
                limited, seconds = self._refusal(response, attempts.call)
            except TransientError as error:
                attempts.retry_after_failure(error)
                continue
            finally:
                response.close()
            attempts.wait_for_limit(limited, seconds)

    def _note_limits(self, headers: httpx.Headers) -> None:
        value = headers.get("X-Concurrency-Limit-Limit", "").strip()
        if value.isdigit() and int(value) > 0:
            self.concurrency_limit = int(value)

    def _send(
        self, path: str, data: Mapping[str, str], call: str, method: str = "POST"
    ) -> httpx.Response:
        # The trace hook tells the abort which sockets to shut down on a cancel.
        extensions = {"trace": self.abort.trace} if self.abort is not None else None
        if method == "GET":
            request = self._http.build_request(
                "GET", path, params=dict(data), extensions=extensions
            )
        else:
            request = self._http.build_request("POST", path, data=dict(data), extensions=extensions)
        self.gate.wait()
        self.check_cancel()
        with self._count_lock:
            self.api_calls += 1
        log.debug("%s %s (%s)", method, path, call)
        try:
            return self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            self.check_cancel()  # the socket was shut down by a cancel: not a network failure
            raise translate_transport_error(exc, call, self.config.base_url) from exc

    def _refusal(self, response: httpx.Response, call: str) -> tuple[QualysRateLimited, float]:
        """Turn a non-2xx reply into an error; return (error, seconds) when it is worth a wait."""
        status = response.status_code
        body = b"".join(iter_body(response, call))
        reply = parse_simple_return(body)
        if status >= 500:
            code = reply.code if reply else None
            text = reply.text if reply and reply.text else f"HTTP {status}"
            message = f"Qualys failed on the {call} (HTTP {status}: {text})"
            final = QualysServerError(
                f"{message} and kept failing", code=code, call=call, http_status=status
            )
            raise TransientError(message, call=call, http_status=status, final=final)
        if reply is None or reply.code is None:
            raise QualysResponseError(
                f"the server answered HTTP {status} to the {call}, without a Qualys error reply",
                call=call,
                http_status=status,
                hint="check that the URL is the Qualys API server's base URL, without a path "
                "(e.g. https://qualysapi.qg2.apps.qualys.com)",
            )
        error = error_from_reply(reply, call=call, http_status=status)
        if isinstance(error, QualysAuthError) and self.tokens is not None:
            error.hint = BEARER_REFUSED_HINT  # a fresh token was refused too (BearerAuth)
        if isinstance(error, QualysRateLimited):
            return error, _limit_wait(error, response.headers)
        raise error


def _limit_wait(error: QualysRateLimited, headers: httpx.Headers) -> float:
    """Seconds to wait for a 409: the header, else the SECONDS_TO_WAIT item, else a pause."""
    header = headers.get("X-RateLimit-ToWait-Sec")
    if error.code == 1965:
        if header and header.strip().isdigit() and int(header) > 0:
            return float(header)
        if error.retry_after:
            return float(error.retry_after)
    return CONCURRENCY_WAIT_S


def iter_body(response: httpx.Response, call: str) -> Iterator[bytes]:
    """Yield the body's bytes; a reset or cut-off body becomes a TransientError."""
    try:
        yield from response.iter_bytes(BODY_CHUNK)
    except httpx.HTTPError as exc:
        raise TransientError(
            f"the connection failed while reading the {call} reply ({type(exc).__name__})",
            call=call,
            http_status=response.status_code,
        ) from exc


def translate_transport_error(exc: httpx.HTTPError, call: str, base_url: str) -> QualysError:
    """Map an httpx error raised before a reply into a cvesweep error."""
    if _is_certificate_error(exc):
        return QualysConnectionError(
            f"TLS certificate verification failed for {base_url} during the {call}: {exc}",
            call=call,
            hint="give the server's CA with --ca-bundle PATH (or, for tests only, --no-verify-ssl)",
        )
    wrong_scheme = _wrong_scheme(exc, base_url)
    if wrong_scheme is not None:
        return QualysConnectionError(
            f"the connection to {base_url} failed during the {call}: {exc}",
            call=call,
            hint=wrong_scheme,
        )
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return TransientError(
        f"the connection to {base_url} {kind} during the {call} ({type(exc).__name__}: {exc})",
        call=call,
    )


def _wrong_scheme(exc: httpx.HTTPError, base_url: str) -> str | None:
    """A hint when the URL's scheme does not match what the server speaks (never retried).

    https to a plain HTTP port fails the TLS handshake with WRONG_VERSION_NUMBER; http to a
    TLS port (only allowed on loopback) is reset before any reply.
    """
    text = str(exc)
    if base_url.startswith("https://") and "WRONG_VERSION_NUMBER" in text:
        return "the server does not speak TLS on that port: use http:// (loopback only)"
    # Only a reset (not a stale keep-alive closed after idling, RemoteProtocolError).
    if base_url.startswith("http://") and isinstance(exc, httpx.ReadError) and "reset" in text:
        return "the server reset the connection before any reply: if it speaks TLS, use https://"
    return None


def as_final(error: QualysError) -> QualysError:
    """The user-facing form of an error that outlasted its retries."""
    if not isinstance(error, TransientError):
        return error
    if error.final is not None:
        return error.final
    if error.http_status is not None and error.http_status >= 500:
        return QualysServerError(
            f"{error.message} and kept failing", call=error.call, http_status=error.http_status
        )
    return QualysConnectionError(
        f"{error.message}, and kept failing after retries", call=error.call
    )


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _verify_setting(verify: bool | str) -> bool | ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
