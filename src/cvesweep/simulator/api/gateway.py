"""Gateway token auth at the server root: ``POST /auth`` and ``POST /auth/oauth``.

``/auth`` takes the form fields ``username``, ``password`` and ``token=true`` and answers
**201** with the raw JWT as text/plain (no JSON), as docs/qualys-2026.md §4 documents;
``/auth/oauth`` takes the API client's ``clientId`` and ``clientSecret`` request headers.
[unverified] The 201 of /auth/oauth and the short text bodies of 400/401 are assumptions.
An OAuth token acts for the subscription's user (same rate limits, same search lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cvesweep.simulator.auth import Credentials
from cvesweep.simulator.params import Params
from cvesweep.simulator.replies import Reply
from cvesweep.simulator.tokens import TokenIssuer

AUTH_PATH = "/auth"
OAUTH_PATH = "/auth/oauth"
TEXT = "text/plain;charset=UTF-8"


def _text(status: int, text: str) -> Reply:
    return Reply(status, [text.encode()], TEXT, limit_headers=False)


def password_token(method: str, params: Params, creds: Credentials, tokens: TokenIssuer) -> Reply:
    """Handle ``POST /auth``: 201 and a JWT, 400 for a malformed request, 401 if refused."""
    if method != "POST":
        return _text(405, "Method not allowed: use POST\n")
    username, password = params.get("username"), params.get("password")
    if not username or password is None or (params.get("token") or "").lower() != "true":
        return _text(400, "Bad request: username, password and token=true are required\n")
    if not creds.user_ok(username, password):
        return _text(401, "Authentication failed\n")
    return _text(201, tokens.issue(creds.username))


def client_token(
    method: str, environ: Mapping[str, Any], creds: Credentials, tokens: TokenIssuer
) -> Reply:
    """Handle ``POST /auth/oauth``: 201 and a JWT, 400 without the headers, 401 if refused."""
    if method != "POST":
        return _text(405, "Method not allowed: use POST\n")
    client_id = environ.get("HTTP_CLIENTID")
    client_secret = environ.get("HTTP_CLIENTSECRET")
    if not client_id or client_secret is None:
        return _text(400, "Bad request: clientId and clientSecret headers are required\n")
    if not creds.client_ok(str(client_id), str(client_secret)):
        return _text(401, "Authentication failed\n")
    return _text(201, tokens.issue(creds.username))
