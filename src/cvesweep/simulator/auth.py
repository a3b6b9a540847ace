"""Who is calling: the simulator's credentials and the check of an Authorization header.

FO calls and ``/msp/about.php`` accept ``Basic`` (user and password) or ``Bearer`` (a JWT
from the gateway endpoints of :mod:`cvesweep.simulator.api.gateway`). Secrets are compared
in constant time and never appear in a repr, a log line or an error.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cvesweep.simulator.tokens import TokenIssuer

Scheme = Literal["basic", "bearer", "none"]


def same(given: str, expected: str) -> bool:
    """Return True when the two secrets are equal (constant time)."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class Credentials:
    """The user and API client the simulated subscription accepts."""

    username: str
    password: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)

    def user_ok(self, username: str, password: str) -> bool:
        """Return True for the right user name and password."""
        return same(username, self.username) & same(password, self.password)

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        """Return True for the right API client id and secret."""
        return same(client_id, self.client_id) & same(client_secret, self.client_secret)


@dataclass(frozen=True, slots=True)
class Caller:
    """The outcome of checking a request: the scheme it used and the user, None if refused."""

    scheme: Scheme
    user: str | None


def identify(environ: Mapping[str, Any], creds: Credentials, tokens: TokenIssuer) -> Caller:
    """Return who makes this request according to its Authorization header."""
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return Caller("basic", _basic_user(value, creds))
    if scheme.lower() == "bearer":
        return Caller("bearer", tokens.subject(value))
    return Caller("none", None)


def _basic_user(encoded: str, creds: Credentials) -> str | None:
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user if sep and creds.user_ok(user, password) else None
