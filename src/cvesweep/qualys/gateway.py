"""The Qualys gateway's token calls, as data: its URL, the two token requests, the token reply.

Facts (docs/qualys-2026.md §4 has them with their sources):

- The gateway of platform ``qualysapi.<pod>.apps.qualys.<tld>`` is
  ``gateway.<pod>.apps.qualys.<tld>`` (docs/qualys-2026.md §4: ``gateway.<pod>.apps.qualys.com``;
  the other TLDs by analogy [unverified]); US1 (``qualysapi.qualys.com``) and EU1
  (``qualysapi.qualys.eu``) have ``gateway.qg1.apps.qualys.com`` and ``…qualys.eu`` (the
  platform table of Qualys's API Postman collection README).
- ``POST {gateway}/auth`` with the form ``username``, ``password``, ``token=true`` answers
  **201** with the raw JWT as the body (no JSON), valid 4 hours, with no refresh token: a new
  one is minted by the same call (Qualys OCA and PM "generate JWT token" pages) [unverified:
  no recorded reply].
- ``POST {gateway}/auth/oauth`` with the ``clientId`` and ``clientSecret`` *headers* mints the
  same kind of token for a subscription-level Qualys API client (Qualys OAuth phase 2 pages;
  n8n-nodes-qualys) [unverified: no recorded reply].

Nothing here sends anything; :mod:`cvesweep.qualys.auth` does.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import ClassVar, TypeGuard
from urllib.parse import urlsplit

import httpx

from cvesweep.errors import ConfigError, QualysResponseError

TOKEN_CALL = "token request"  # noqa: S105  (the name of a call, not a token)
DEFAULT_LIFETIME_S = 4 * 3600.0  # "valid for 4 hours" (docs/qualys-2026.md §4)
MAX_TOKEN_CHARS = 16 * 1024

_SHARED_PLATFORMS = {
    "qualysapi.qualys.com": "gateway.qg1.apps.qualys.com",  # US1
    "qualysapi.qualys.eu": "gateway.qg1.apps.qualys.eu",  # EU1
}
# qualys.com, .eu, .in, .ca, .ae, .co.uk, .com.au, qualysksa.com (the platform table)
_POD_PLATFORM = re.compile(
    r"qualysapi\.(?P<pod>[a-z0-9-]+)\.apps\."
    r"(?P<domain>qualys(?:ksa)?\.(?:[a-z]{2,3}|co\.uk|com\.au))"
)
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def gateway_url_for(api_url: str) -> str:
    """Return the gateway base URL of the Qualys platform whose API server is ``api_url``.

    ``https://qualysapi.qg2.apps.qualys.com`` → ``https://gateway.qg2.apps.qualys.com``; a
    loopback URL (the simulator, which serves the token calls itself) → ``api_url`` unchanged.
    Raises ConfigError asking for ``--gateway-url`` for any other host (e.g. a private cloud
    platform), before anything is sent.
    """
    host = (urlsplit(api_url).hostname or "").lower()
    if _is_loopback(host):
        return api_url.rstrip("/")
    gateway = _SHARED_PLATFORMS.get(host)
    match = _POD_PLATFORM.fullmatch(host)
    if gateway is None and match is not None:
        gateway = f"gateway.{match['pod']}.apps.{match['domain']}"
    if gateway is None:
        raise ConfigError(
            f"the Qualys gateway URL cannot be derived from the API URL {api_url}",
            hint="give it with --gateway-url (or gateway_url in the [qualys] table of the "
            "config file), e.g. https://gateway.qg2.apps.qualys.com",
        )
    return f"https://{gateway}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class PasswordGrant:
    """``--auth jwt``: the username and password, sent as a form to ``{gateway}/auth``."""

    gateway_url: str
    username: str
    password: str = field(repr=False)
    credentials: ClassVar[str] = "username and password"

    def request(self, http: httpx.Client) -> httpx.Request:
        """The token request (the client's default headers, such as X-Requested-With, added)."""
        form = {"username": self.username, "password": self.password, "token": "true"}
        return http.build_request("POST", f"{self.gateway_url}/auth", data=form)

    @property
    def refused_hint(self) -> str:
        """What to check when the gateway refuses this grant (never the secret itself)."""
        return (
            f"check the Qualys username and password (--auth jwt sends them to "
            f"{self.gateway_url}/auth) and that the user may use the API"
        )


@dataclass(frozen=True)
class ClientGrant:
    """``--auth oauth-client``: a Qualys API client id and secret, as headers to ``/auth/oauth``."""

    gateway_url: str
    client_id: str
    client_secret: str = field(repr=False)
    credentials: ClassVar[str] = "API client id and secret"

    def request(self, http: httpx.Client) -> httpx.Request:
        """The token request (the client's default headers, such as X-Requested-With, added)."""
        headers = {"clientId": self.client_id, "clientSecret": self.client_secret}
        return http.build_request("POST", f"{self.gateway_url}/auth/oauth", headers=headers)

    @property
    def refused_hint(self) -> str:
        """What to check when the gateway refuses this grant (never the secret itself)."""
        return (
            "check the Qualys API client id and secret (CVESWEEP_QUALYS_CLIENT_ID and "
            "CVESWEEP_QUALYS_CLIENT_SECRET, or client_id and client_secret in the config "
            f"file) and that it is a subscription-level client ({self.gateway_url}/auth/oauth)"
        )


Grant = PasswordGrant | ClientGrant


@dataclass(frozen=True)
class Token:
    """A Bearer token and how many seconds it lives from when it was received."""

    value: str = field(repr=False)
    lifetime_s: float


def parse_token(body: bytes, *, now: float) -> Token:
    """Return the token of a successful token reply: the raw JWT text of its body.

    ``now`` (wall-clock seconds) is used only for a token with ``exp`` but no ``iat``.
    Raises QualysResponseError when the body is not a JWT; the error never quotes the body.
    """
    text = body.decode("ascii", "replace").strip()
    if len(text) > MAX_TOKEN_CHARS or not _JWT.fullmatch(text):
        raise QualysResponseError(
            f"the gateway's {TOKEN_CALL} reply is not a JWT (expected the raw token text)",
            call=TOKEN_CALL,
            hint="check --gateway-url: it must be the Qualys gateway, "
            "e.g. https://gateway.qg2.apps.qualys.com",
        )
    return Token(text, token_lifetime(text, now=now))


def token_lifetime(jwt: str, *, now: float) -> float:
    """Seconds the token lives: ``exp - iat`` when it has both, ``exp - now`` with only
    ``exp``, else 4 hours (the documented lifetime).

    ``exp - iat`` comes from one clock, the gateway's, so a skewed local clock does not matter.
    """
    claims = _claims(jwt)
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp):
        return DEFAULT_LIFETIME_S
    if _is_number(iat):
        return float(exp) - float(iat)
    return float(exp) - now


def _claims(jwt: str) -> dict[str, object]:
    """The JWT's payload claims (its signature is the gateway's business); {} if unreadable."""
    parts = jwt.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
