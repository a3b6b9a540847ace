"""Token authentication: the gateway URL, the token calls, expiry, renewal, and secrecy."""

from __future__ import annotations

import base64
import json
import logging
import socket
from collections.abc import Callable
from random import Random
from typing import Any

import httpx
import pytest

from cvesweep.errors import (
    ConfigError,
    QualysAuthError,
    QualysConnectionError,
    QualysRateLimited,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.models import CveId, SearchMethod, SearchResult
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys import searchlists
from cvesweep.qualys.auth import BEARER_REFUSED_HINT, AuthMethod, token_grant
from cvesweep.qualys.client import ClientConfig, QualysClient
from cvesweep.qualys.detections import Progress
from cvesweep.qualys.gateway import (
    DEFAULT_LIFETIME_S,
    ClientGrant,
    PasswordGrant,
    gateway_url_for,
    parse_token,
    token_lifetime,
)
from cvesweep.simulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimulatorApp
from cvesweep.simulator.knowledgebase import LOG4SHELL
from tests.conftest import SIM_PASSWORD, SIM_USER, RecordingApp, Sim

SECRET = "s3cr3t-client-Secret-value"
PASSWORD = "pw-Of-the-user-42"


def jwt(claims: dict[str, object] | None = None, *, payload: str | None = None) -> str:
    """A JWT-shaped token with these payload claims (the signature is not checked by us)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = payload if payload is not None else part(json.dumps(claims or {}).encode())
    return f"{header}.{body}.c2lnbmF0dXJl"


# --- the gateway URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_url", "gateway"),
    [
        ("https://qualysapi.qg2.apps.qualys.com", "https://gateway.qg2.apps.qualys.com"),
        ("https://qualysapi.qg3.apps.qualys.com/", "https://gateway.qg3.apps.qualys.com"),
        ("https://QUALYSAPI.QG4.APPS.QUALYS.COM", "https://gateway.qg4.apps.qualys.com"),
        ("https://qualysapi.qualys.com", "https://gateway.qg1.apps.qualys.com"),
        ("https://qualysapi.qualys.com:443", "https://gateway.qg1.apps.qualys.com"),
        ("https://qualysapi.qualys.eu", "https://gateway.qg1.apps.qualys.eu"),
        ("https://qualysapi.qg2.apps.qualys.eu", "https://gateway.qg2.apps.qualys.eu"),
        ("https://qualysapi.qg1.apps.qualys.in", "https://gateway.qg1.apps.qualys.in"),
        ("https://qualysapi.qg1.apps.qualys.ca", "https://gateway.qg1.apps.qualys.ca"),
        ("https://qualysapi.qg1.apps.qualys.ae", "https://gateway.qg1.apps.qualys.ae"),
        ("https://qualysapi.qg1.apps.qualys.co.uk", "https://gateway.qg1.apps.qualys.co.uk"),
        ("https://qualysapi.qg1.apps.qualys.com.au", "https://gateway.qg1.apps.qualys.com.au"),
        ("https://qualysapi.qg1.apps.qualysksa.com", "https://gateway.qg1.apps.qualysksa.com"),
        # loopback: the simulator serves /auth itself, on the same base URL
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://localhost:9443", "https://localhost:9443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_gateway_url_is_derived_from_the_platform(api_url: str, gateway: str) -> None:
    assert gateway_url_for(api_url) == gateway


@pytest.mark.parametrize(
    "api_url",
    [
        "https://qualysapi.customer.example",  # a private cloud platform
        "https://qualysapi.qg2.apps.evil.com",
        "https://qualysapi.qg2.apps.qualys.com.evil.example",
        "https://gateway.qg2.apps.qualys.com",
        "https://api.qg2.apps.qualys.com",
        "https://qualys.test",
    ],
)
def test_an_unknown_platform_asks_for_the_gateway_url(api_url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        gateway_url_for(api_url)
    assert api_url in caught.value.message
    assert caught.value.hint is not None and "--gateway-url" in caught.value.hint
    assert caught.value.exit_code == 2


def test_an_underivable_gateway_fails_before_anything_is_sent(sim: Sim) -> None:
    config = ClientConfig(
        base_url="https://qualysapi.customer.example",
        username="u",
        password=PASSWORD,
        auth=AuthMethod.JWT,
    )
    transport = httpx.WSGITransport(app=sim.recorder)
    with pytest.raises(ConfigError, match="gateway"):
        QualysClient(config, transport=transport)
    assert sim.recorder.requests == []


def test_an_explicit_gateway_url_wins_over_the_derived_one() -> None:
    config = ClientConfig(
        base_url="https://qualysapi.customer.example",
        username="u",
        password=PASSWORD,
        auth=AuthMethod.JWT,
        gateway_url="https://gateway.customer.example/",
    )
    grant = token_grant(config)
    assert grant == PasswordGrant("https://gateway.customer.example", "u", PASSWORD)


# --- the grant of each method ---------------------------------------------------------------


def config_for(method: AuthMethod, **changes: object) -> ClientConfig:
    values: dict[str, object] = {
        "base_url": "https://qualysapi.qg2.apps.qualys.com",
        "username": "acme_ab12",
        "password": PASSWORD,
        "auth": method,
        "client_id": "client-7",
        "client_secret": SECRET,
        **changes,
    }
    return ClientConfig(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", list(AuthMethod))
def test_every_method_has_a_grant_or_basic_auth(method: AuthMethod) -> None:
    grant = token_grant(config_for(method))
    expected = {
        AuthMethod.BASIC: type(None),
        AuthMethod.JWT: PasswordGrant,
        AuthMethod.OAUTH_CLIENT: ClientGrant,
    }[method]
    assert isinstance(grant, expected)
    if grant is not None:
        assert grant.gateway_url == "https://gateway.qg2.apps.qualys.com"


@pytest.mark.parametrize(("client_id", "client_secret"), [(None, SECRET), ("c", None), ("c", "")])
def test_oauth_client_without_id_or_secret_is_a_config_error(
    client_id: str | None, client_secret: str | None
) -> None:
    config = config_for(AuthMethod.OAUTH_CLIENT, client_id=client_id, client_secret=client_secret)
    with pytest.raises(ConfigError, match="client id and secret"):
        token_grant(config)


def test_the_jwt_call_sends_the_credentials_as_a_form_and_no_basic_header() -> None:
    grant = PasswordGrant("https://gateway.qg2.apps.qualys.com", "acme_ab12", PASSWORD)
    with httpx.Client(headers={"X-Requested-With": "cvesweep/test"}) as http:
        request = grant.request(http)
    assert request.method == "POST"
    assert str(request.url) == "https://gateway.qg2.apps.qualys.com/auth"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(httpx.QueryParams(request.content.decode())) == {
        "username": "acme_ab12",
        "password": PASSWORD,
        "token": "true",
    }
    assert "Authorization" not in request.headers
    assert request.headers["X-Requested-With"] == "cvesweep/test"
    assert PASSWORD not in str(request.url)


def test_the_oauth_call_sends_the_client_as_headers_and_no_body() -> None:
    grant = ClientGrant("https://gateway.qg2.apps.qualys.com", "client-7", SECRET)
    with httpx.Client() as http:
        request = grant.request(http)
    assert str(request.url) == "https://gateway.qg2.apps.qualys.com/auth/oauth"
    assert (request.headers["clientId"], request.headers["clientSecret"]) == ("client-7", SECRET)
    assert "Authorization" not in request.headers
    assert request.content == b""
    assert SECRET not in str(request.url)


@pytest.mark.parametrize(
    "thing",
    [
        PasswordGrant("https://g", "u", PASSWORD),
        ClientGrant("https://g", "c", SECRET),
        config_for(AuthMethod.OAUTH_CLIENT),
        parse_token(jwt({"exp": 10, "iat": 0}).encode() + SECRET.encode(), now=0),
    ],
    ids=["password grant", "client grant", "client config", "token"],
)
def test_no_secret_shows_in_a_repr(thing: object) -> None:
    shown = repr(thing)
    assert PASSWORD not in shown
    assert SECRET not in shown


# --- the token reply and its lifetime -------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "now", "lifetime"),
    [
        ({"sub": "u", "iat": 1_700_000_000, "exp": 1_700_014_400}, 5.0, 14_400.0),
        ({"iat": 1000, "exp": 1060}, 9e9, 60.0),  # one clock, the gateway's: local time unused
        ({"exp": 2_000_000_600}, 2_000_000_000.0, 600.0),  # no iat: against the local clock
        ({"sub": "u"}, 0.0, DEFAULT_LIFETIME_S),
        ({"exp": "soon", "iat": 0}, 0.0, DEFAULT_LIFETIME_S),
        ({"exp": True, "iat": 0}, 0.0, DEFAULT_LIFETIME_S),
    ],
)
def test_token_lifetime_is_read_from_the_payload(
    claims: dict[str, object], now: float, lifetime: float
) -> None:
    assert token_lifetime(jwt(claims), now=now) == lifetime


@pytest.mark.parametrize("payload", ["bm90IGpzb24", "WzEsMl0", "!!!", ""])
def test_an_unreadable_payload_means_the_documented_four_hours(payload: str) -> None:
    assert token_lifetime(jwt(payload=payload), now=0.0) == DEFAULT_LIFETIME_S


def test_the_raw_jwt_body_is_the_token() -> None:
    raw = jwt({"iat": 0, "exp": 14_400})
    token = parse_token(raw.encode() + b"\r\n", now=0.0)
    assert (token.value, token.lifetime_s) == (raw, 14_400.0)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Sign in</body></html>",
        json.dumps({"access_token": SECRET}).encode(),
        SECRET.encode(),
        (jwt({}) + " trailing words").encode(),
        b"a." * 20_000 + b"b.c",
    ],
    ids=["empty", "html", "json", "opaque", "spaces", "huge"],
)
def test_a_reply_that_is_not_a_jwt_is_refused_without_quoting_it(body: bytes) -> None:
    with pytest.raises(QualysResponseError) as caught:
        parse_token(body, now=0.0)
    shown = f"{caught.value} {caught.value.hint}"
    assert "not a JWT" in shown
    assert SECRET not in shown and "Sign in" not in shown


# --- end to end against the simulator's gateway (in-process, real HTTP semantics) -----------

LOOPBACK = "http://127.0.0.1:9"  # reached through the WSGI transport; the gateway is derived


class GatewayFaults:
    """Wraps the simulator: the first token calls get ``statuses`` instead of a token.

    The simulator's gateway has no faults of its own, so this stands in front of it; every
    other request, and the token calls after these, reach the real simulator.
    """

    def __init__(self, app: Any, statuses: list[int], headers: list[tuple[str, str]]) -> None:
        self.app = app
        self.statuses = statuses
        self.headers = headers
        self.token_calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/auth"):
            self.token_calls += 1
            if self.statuses:
                status = self.statuses.pop(0)
                start_response(f"{status} Fault", [("Content-Type", "text/plain"), *self.headers])
                return [b"fault\n"]
        return self.app(environ, start_response)


class ExpiringTokens:
    """Wraps the simulator: every API call finds all tokens expired (a tenant refusing them)."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith(("/auth", "/_sim")):
            self.sim.app.tokens.expire_all()
        return self.sim.recorder(environ, start_response)


@pytest.fixture
def token_sim(make_sim: Callable[..., Sim]) -> Callable[..., Sim]:
    """Factory: a simulator of 300 hosts whose gateway tokens live ``lifetime`` seconds."""

    def make(lifetime: int = 4 * 3600) -> Sim:
        sim = make_sim()
        sim.app = SimulatorApp(
            sim.fleet, clock=sim.clock, sleep=sim.clock.sleep, token_lifetime=lifetime
        )
        sim.recorder = RecordingApp(sim.app)
        return sim

    return make


def token_client(
    sim: Sim,
    method: AuthMethod,
    *,
    app: Any = None,
    password: str = SIM_PASSWORD,
    secret: str = DEFAULT_CLIENT_SECRET,
    **config: Any,
) -> QualysClient:
    """A client of ``sim`` authenticating with ``method``; time is the simulator's clock."""
    settings = ClientConfig(
        base_url=LOOPBACK,
        username=SIM_USER,
        password=password,
        auth=method,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=secret,
        **config,
    )
    transport = httpx.WSGITransport(app=app or sim.recorder)
    return QualysClient(
        settings, transport=transport, sleep=sim.clock.sleep, clock=sim.clock, rng=Random(1)
    )


def found(result: SearchResult) -> dict[int, set[int]]:
    """Host id → QIDs of a result (its spool released)."""
    try:
        return {host.id: {d.qid for d in host.detections} for host in result.hosts}
    finally:
        release(result)


def basic_hosts(sim: Sim, method: SearchMethod) -> dict[int, set[int]]:
    """The hosts a Basic search finds, then the simulator's counters forgotten."""
    with sim.client() as client:
        hosts = found(search_vulnerable_hosts(client, CveId(LOG4SHELL), method=method))
    post_control(sim, "/_sim/reset")
    return hosts


def post_control(sim: Sim, path: str) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=sim.app)) as http:
        assert http.post(f"http://sim{path}").status_code == 200


TOKEN_METHODS = [AuthMethod.JWT, AuthMethod.OAUTH_CLIENT]


@pytest.mark.parametrize("search", list(SearchMethod))
@pytest.mark.parametrize("method", TOKEN_METHODS)
def test_a_token_search_finds_the_same_hosts_and_sends_no_basic_header(
    token_sim: Callable[..., Sim], method: AuthMethod, search: SearchMethod
) -> None:
    sim = token_sim()
    expected = basic_hosts(sim, search)
    with token_client(sim, method) as client:
        result = search_vulnerable_hosts(client, CveId(LOG4SHELL), method=search)
        calls = client.api_calls
    assert found(result) == expected and expected
    auth = sim.state()["auth"]
    assert auth == {"basic": 0, "bearer": calls, "none": 0, "tokens_issued": 1}
    if method is AuthMethod.JWT:
        assert sim.recorder.forms("/auth") == [
            {"username": SIM_USER, "password": SIM_PASSWORD, "token": "true"}
        ]
    else:
        assert sim.recorder.forms("/auth/oauth") == [{}]  # the client is in the headers


@pytest.mark.parametrize("max_parallel", [1, 4])
@pytest.mark.parametrize("search", list(SearchMethod))
def test_a_token_expired_mid_run_is_renewed_exactly_once(
    token_sim: Callable[..., Sim], search: SearchMethod, max_parallel: int
) -> None:
    sim = token_sim()
    expected = basic_hosts(sim, search)
    expired: list[Progress] = []

    def expire_once(progress: Progress) -> None:
        if not expired:
            expired.append(progress)
            post_control(sim, "/_sim/tokens/expire")

    with token_client(sim, AuthMethod.OAUTH_CLIENT) as client:
        result = search_vulnerable_hosts(
            client,
            CveId(LOG4SHELL),
            method=search,
            truncation_limit=10,
            progress=expire_once,
            max_parallel=max_parallel,
        )
        calls = client.api_calls
    assert found(result) == expected and expired
    auth = sim.state()["auth"]
    refused = auth["bearer"] - calls  # refused (401) and sent again with the new token
    assert {**auth, "bearer": None} == {"basic": 0, "bearer": None, "none": 0, "tokens_issued": 2}
    if max_parallel == 1:
        assert refused == 1
    else:  # the calls in flight when the token expired were each refused once, one renewal
        assert 1 <= refused <= max_parallel


def test_a_token_is_renewed_shortly_before_it_expires(token_sim: Callable[..., Sim]) -> None:
    sim = token_sim(lifetime=600)
    expected = basic_hosts(sim, SearchMethod.SEARCH_LIST)

    started = sim.clock.now

    def near_expiry(progress: Progress) -> None:
        if sim.clock.now == started:
            sim.clock.now += 550  # once: past renewal (600 - 60), before expiry (600)

    with token_client(sim, AuthMethod.JWT) as client:
        result = search_vulnerable_hosts(
            client, CveId(LOG4SHELL), truncation_limit=10, progress=near_expiry
        )
        calls = client.api_calls
    assert found(result) == expected
    # renewed before the call: no call was refused
    assert sim.state()["auth"] == {"basic": 0, "bearer": calls, "none": 0, "tokens_issued": 2}


@pytest.mark.parametrize(
    ("method", "changes", "credentials"),
    [
        (AuthMethod.OAUTH_CLIENT, {"secret": SECRET}, "client id and secret"),
        (AuthMethod.JWT, {"password": PASSWORD}, "username and password"),
    ],
)
def test_refused_credentials_are_an_auth_error_with_a_hint_and_no_secret(
    token_sim: Callable[..., Sim],
    caplog: pytest.LogCaptureFixture,
    method: AuthMethod,
    changes: dict[str, str],
    credentials: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = token_sim()
    with token_client(sim, method, **changes) as client, pytest.raises(QualysAuthError) as caught:
        search_vulnerable_hosts(client, CveId(LOG4SHELL))
    error = caught.value
    assert (error.exit_code, error.http_status, error.call) == (3, 401, "token request")
    assert error.hint is not None and credentials in error.hint
    shown = f"{error} {error.hint} {error!r} {caplog.text}"
    assert SECRET not in shown and PASSWORD not in shown
    state = sim.state()
    assert state["calls"] == {} and state["auth"]["tokens_issued"] == 0  # nothing else sent


def test_a_token_refused_twice_says_the_api_may_not_take_tokens(sim: Sim) -> None:
    with (
        token_client(sim, AuthMethod.JWT, app=ExpiringTokens(sim)) as client,
        pytest.raises(QualysAuthError) as caught,
    ):
        searchlists.list_all(client)
    assert caught.value.hint == BEARER_REFUSED_HINT
    assert caught.value.code == 2000
    auth = sim.state()["auth"]
    assert (auth["tokens_issued"], auth["bearer"], auth["basic"]) == (2, 2, 0)


def test_the_gateway_rate_limit_is_waited_out_for_retry_after(
    token_sim: Callable[..., Sim],
) -> None:
    sim = token_sim()
    gateway = GatewayFaults(sim.recorder, [429, 429], [("Retry-After", "7")])
    with token_client(sim, AuthMethod.JWT, app=gateway) as client:
        found(search_vulnerable_hosts(client, CveId(LOG4SHELL)))
    assert sim.clock.sleeps == [7.0, 7.0]
    assert gateway.token_calls == 3
    assert sim.state()["auth"]["tokens_issued"] == 1


def test_a_gateway_rate_limit_beyond_the_budget_is_reported(token_sim: Callable[..., Sim]) -> None:
    sim = token_sim()
    gateway = GatewayFaults(sim.recorder, [429] * 5, [("Retry-After", "60")])
    with (
        token_client(sim, AuthMethod.JWT, app=gateway, wait_budget=100.0) as client,
        pytest.raises(QualysRateLimited) as caught,
    ):
        searchlists.list_all(client)
    assert (caught.value.exit_code, caught.value.http_status) == (3, 429)
    assert sim.clock.sleeps == [60.0]
    assert sim.state()["calls"] == {}


def test_gateway_failures_are_retried_then_reported(token_sim: Callable[..., Sim]) -> None:
    sim = token_sim()
    gateway = GatewayFaults(sim.recorder, [503] * 3, [])
    with (
        token_client(sim, AuthMethod.OAUTH_CLIENT, app=gateway, retries=3) as client,
        pytest.raises(QualysServerError) as caught,
    ):
        searchlists.list_all(client)
    assert (caught.value.exit_code, caught.value.http_status) == (4, 503)
    assert "gateway" in caught.value.message
    assert (gateway.token_calls, len(sim.clock.sleeps)) == (3, 2)


def test_a_gateway_failure_then_success_goes_on(token_sim: Callable[..., Sim]) -> None:
    sim = token_sim()
    gateway = GatewayFaults(sim.recorder, [500], [])
    with token_client(sim, AuthMethod.OAUTH_CLIENT, app=gateway) as client:
        assert found(search_vulnerable_hosts(client, CveId(LOG4SHELL)))
    assert gateway.token_calls == 2 and len(sim.clock.sleeps) == 1


@pytest.mark.parametrize("status", [404, 400])
def test_a_wrong_gateway_is_a_response_error_naming_it(
    token_sim: Callable[..., Sim], status: int
) -> None:
    sim = token_sim()
    gateway = GatewayFaults(sim.recorder, [status], [])
    with (
        token_client(sim, AuthMethod.JWT, app=gateway) as client,
        pytest.raises(QualysResponseError) as caught,
    ):
        searchlists.list_all(client)
    assert f"HTTP {status}" in caught.value.message and LOOPBACK in caught.value.message
    assert caught.value.hint is not None and "--gateway-url" in caught.value.hint
    assert gateway.token_calls == 1  # never retried


def test_an_unreachable_gateway_is_a_connection_error_naming_it(sim: Sim) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = f"http://127.0.0.1:{port}"
    config = ClientConfig(
        base_url=LOOPBACK,
        username=SIM_USER,
        password=SIM_PASSWORD,
        auth=AuthMethod.JWT,
        gateway_url=gateway,
        retries=2,
        connect_timeout=2.0,
    )
    # a real socket: no transport, so the API server (LOOPBACK) would be refused too
    with (
        QualysClient(config, sleep=sim.clock.sleep) as client,
        pytest.raises(QualysConnectionError) as caught,
    ):
        searchlists.list_all(client)
    assert gateway in caught.value.message and "token request" in caught.value.message
    assert len(sim.clock.sleeps) == 1
