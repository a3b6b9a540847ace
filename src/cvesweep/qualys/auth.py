"""How cvesweep authenticates to Qualys: HTTP Basic, or a Bearer JWT from the gateway.

(The token flow itself is being built; this module holds the choices for now.)
"""

from __future__ import annotations

from enum import StrEnum


class AuthMethod(StrEnum):
    """``basic``: HTTP Basic on every call. ``jwt``: a token from ``POST {gateway}/auth`` with
    the username and password. ``oauth-client``: a token from ``POST {gateway}/auth/oauth``
    with a Qualys API client id and secret."""

    BASIC = "basic"
    JWT = "jwt"
    OAUTH_CLIENT = "oauth-client"
