"""Token authentication: the gateway URL, the token calls, expiry, renewal, and secrecy."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from cvesweep.errors import ConfigError, QualysResponseError
from cvesweep.qualys.auth import AuthMethod, token_grant
from cvesweep.qualys.client import ClientConfig, QualysClient
from cvesweep.qualys.gateway import (
    DEFAULT_LIFETIME_S,
    ClientGrant,
    PasswordGrant,
    gateway_url_for,
    parse_token,
    token_lifetime,
)
from tests.conftest import Sim

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
