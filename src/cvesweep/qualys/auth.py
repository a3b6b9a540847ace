"""How cvesweep authenticates to Qualys: HTTP Basic, or a Bearer JWT minted by the gateway.

With ``jwt`` or ``oauth-client`` no request carries a Basic header: the token call sends
the username and password as a form (``jwt``) or the client id and secret as headers
(``oauth-client``), see :mod:`cvesweep.qualys.gateway`; every API call then carries
``Authorization: Bearer <token>`` (and the client's ``X-Requested-With``). A token is minted
on the first call, reused until shortly before it expires, and renewed once when a call is
answered 401, which is then retried once.

[unverified] FO endpoints taking a gateway Bearer token: Qualys documents it for OIDC
(10.32 API release notes) and n8n-nodes-qualys for API clients, while n8n also reports
username-password tokens refused by the VMDR API (docs/qualys-2026.md §4, [C]). Basic
remains the default.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, assert_never

import httpx

from cvesweep.errors import (
    ConfigError,
    QualysAuthError,
    QualysConnectionError,
    QualysError,
    QualysRateLimited,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.qualys.gateway import (
    TOKEN_CALL,
    ClientGrant,
    Grant,
    PasswordGrant,
    Token,
    gateway_url_for,
    parse_token,
)

if TYPE_CHECKING:
    from cvesweep.qualys.client import ClientConfig

log = logging.getLogger(__name__)

RENEW_MARGIN_S = 300.0  # renew this long before expiry (at most a tenth of the lifetime)
LIMIT_WAIT_S = 2.0  # a 429 without a usable Retry-After

# The gateway's 401 carries no Qualys code; it is reported as 2000 ("bad login"), the code
# of the same refusal on the API server, and a 429 as 1965 (rate limit). [unverified]
REFUSED_CODE = 2000
RATE_LIMIT_CODE = 1965

BEARER_REFUSED_HINT = (
    "Qualys refused a fresh gateway token for this API; this subscription may not accept "
    "tokens here (docs/qualys-2026.md §4): try --auth basic, or check the user's API access"
)


class AuthMethod(StrEnum):
    """``basic``: HTTP Basic on every call. ``jwt``: a token from ``POST {gateway}/auth`` with
    the username and password. ``oauth-client``: a token from ``POST {gateway}/auth/oauth``
    with a Qualys API client id and secret."""

    BASIC = "basic"
    JWT = "jwt"
    OAUTH_CLIENT = "oauth-client"


def token_grant(config: ClientConfig) -> Grant | None:
    """Return what ``config`` mints tokens with, or None for Basic auth.

    The gateway is ``config.gateway_url``, else derived from ``config.base_url``. Raises
    ConfigError (before anything is sent) when it cannot be derived or, for
    ``oauth-client``, when the client id or secret is missing.
    """
    method = config.auth
    if method is AuthMethod.BASIC:
        return None
    gateway = (config.gateway_url or gateway_url_for(config.base_url)).rstrip("/")
    if method is AuthMethod.JWT:
        return PasswordGrant(gateway, config.username, config.password)
    if method is AuthMethod.OAUTH_CLIENT:
        if not config.client_id or not config.client_secret:
            raise ConfigError("--auth oauth-client needs a Qualys API client id and secret")
        return ClientGrant(gateway, config.client_id, config.client_secret)
    assert_never(method)


class RetryPolicy(Protocol):
    """The client's policy for one logical call (``client.Attempts`` is one)."""

    def retry_after_failure(self, error: QualysError) -> None:
        """Sleep before the next try, or raise ``error`` when the tries are used up."""

    def wait_for_limit(self, error: QualysRateLimited, seconds: float) -> None:
        """Sleep ``seconds`` for a limit, or raise ``error`` beyond the wait budget."""


class TokenSource:
    """Mints Bearer tokens at the gateway and keeps the current one; safe across threads.

    ``http`` sends the token calls (with no auth: they carry their own credentials);
    ``attempts`` gives the retry policy of one token call; ``clock`` is monotonic seconds,
    ``wall_clock`` the time of day (only read for a token without ``iat``).
    """

    def __init__(
        self,
        http: httpx.Client,
        grant: Grant,
        *,
        attempts: Callable[[], RetryPolicy],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self.grant = grant
        self._attempts = attempts
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._renew_at = 0.0
        self.minted = 0

    def current(self) -> str:
        """The token to send now: the cached one, or a new one when it is due for renewal.

        Raises QualysAuthError when the gateway refuses the credentials, and the client's
        errors when it cannot be reached or keeps failing.
        """
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._store(self._mint())
            assert self._token is not None
            return self._token.value

    def renew(self, refused: str) -> str:
        """A new token after ``refused`` was answered 401 (unless another call renewed it)."""
        with self._lock:
            if self._token is None or self._token.value == refused:
                self._store(self._mint())
            assert self._token is not None
            return self._token.value

    def _store(self, token: Token) -> None:
        lifetime = max(token.lifetime_s, 0.0)
        self._token = token
        self._renew_at = self._clock() + lifetime - min(RENEW_MARGIN_S, lifetime / 10)
        self.minted += 1
        log.debug("new token from %s, valid %.0f s", self.grant.gateway_url, lifetime)

    def _mint(self) -> Token:
        """One token call, retried and waited for per the client's policy."""
        attempts = self._attempts()
        while True:
            try:
                response = self._http.send(self.grant.request(self._http), auth=None)
            except httpx.HTTPError as exc:
                attempts.retry_after_failure(self._unreachable(exc))
                continue
            status = response.status_code
            if status < 300:
                return parse_token(response.content, now=self._wall_clock())
            if status == 429:
                limited, seconds = _rate_limited(response)
                attempts.wait_for_limit(limited, seconds)
            elif status >= 500:
                attempts.retry_after_failure(self._failed(status))
            else:
                raise self._refused(status)

    def _unreachable(self, exc: httpx.HTTPError) -> QualysConnectionError:
        """The error for a failed connection; a TLS certificate failure is raised at once."""
        gateway = self.grant.gateway_url
        if _is_certificate_error(exc):
            raise QualysConnectionError(
                f"TLS certificate verification failed for {gateway} during the {TOKEN_CALL}",
                call=TOKEN_CALL,
                hint="give the gateway's CA with --ca-bundle PATH",
            ) from exc
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return QualysConnectionError(
            f"the connection to the gateway {gateway} {kind} during the {TOKEN_CALL} "
            f"({type(exc).__name__}: {exc})",
            call=TOKEN_CALL,
            hint="check --gateway-url, the network and the TLS settings (--ca-bundle)",
        )

    def _failed(self, status: int) -> QualysServerError:
        return QualysServerError(
            f"the gateway {self.grant.gateway_url} failed on the {TOKEN_CALL} (HTTP {status})",
            call=TOKEN_CALL,
            http_status=status,
        )

    def _refused(self, status: int) -> QualysError:
        gateway = self.grant.gateway_url
        if status in (401, 403):
            return QualysAuthError(
                REFUSED_CODE,
                f"the gateway {gateway} refused the {self.grant.credentials} (HTTP {status})",
                call=TOKEN_CALL,
                http_status=status,
                hint=self.grant.refused_hint,
            )
        return QualysResponseError(
            f"the gateway {gateway} answered HTTP {status} to the {TOKEN_CALL}",
            call=TOKEN_CALL,
            http_status=status,
            hint="check --gateway-url: it must be the Qualys gateway of your platform, "
            "e.g. https://gateway.qg2.apps.qualys.com",
        )


def _rate_limited(response: httpx.Response) -> tuple[QualysRateLimited, float]:
    """A gateway 429 and the seconds its ``Retry-After`` asks for (docs/qualys-2026.md §6)."""
    header = response.headers.get("Retry-After", "").strip()
    seconds = float(header) if header.isdigit() and int(header) > 0 else LIMIT_WAIT_S
    error = QualysRateLimited(
        RATE_LIMIT_CODE,
        "the gateway answered HTTP 429 Too Many Requests",
        retry_after=seconds,
        call=TOKEN_CALL,
        http_status=429,
    )
    return error, seconds


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BearerAuth(httpx.Auth):
    """httpx auth sending ``Authorization: Bearer`` from a :class:`TokenSource`.

    A reply of HTTP 401 renews the token once and sends the request once more (its body is
    an in-memory form, so it can be sent again); a second 401 is the caller's to report.
    Only for ``httpx.Client`` (the token calls are synchronous).
    """

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        response.read()
        log.info("Qualys answered 401 to the token; renewing it and sending the call again")
        request.headers["Authorization"] = f"Bearer {self.tokens.renew(token)}"
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise NotImplementedError("BearerAuth works with httpx.Client only")
        yield request  # pragma: no cover  (makes this an async generator)
