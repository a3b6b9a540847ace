"""Gateway JWTs of one simulator instance: issue, verify, expire them all at once.

A token has the real shape ``b64url(header).b64url(payload).b64url(HMAC-SHA256)`` with a
random per-app key; the payload holds ``sub``, ``iat`` and ``exp`` (seconds since the
epoch). Lifetime 4 h by default, as Qualys documents (docs/qualys-2026.md §4). Time comes
from the app's injectable clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable

DEFAULT_LIFETIME_SEC = 4 * 3600
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and checks the JWTs of one app. Thread-safe.

    ``expire_all`` changes the signing key, so every token issued so far stops being
    accepted at once, as if it had expired (tests expire a token mid-run with it).
    """

    def __init__(
        self, *, lifetime_sec: int = DEFAULT_LIFETIME_SEC, clock: Callable[[], float]
    ) -> None:
        if lifetime_sec < 1:
            raise ValueError(f"token lifetime must be >= 1 second, not {lifetime_sec}")
        self.lifetime_sec = lifetime_sec
        self._clock = clock
        self._epoch_offset = time.time() - clock()
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)
        self.issued = 0

    def now(self) -> int:
        """Return the app clock as whole seconds since the epoch."""
        return int(self._epoch_offset + self._clock())

    def issue(self, subject: str) -> str:
        """Return a new token for ``subject`` valid for ``lifetime_sec`` from now."""
        issued_at = self.now()
        payload = {"sub": subject, "iat": issued_at, "exp": issued_at + self.lifetime_sec}
        signing_input = (
            f"{_b64(json.dumps(_HEADER, separators=(',', ':')).encode())}."
            f"{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
        )
        with self._lock:
            self.issued += 1
            key = self._key
        return f"{signing_input}.{_b64(_sign(key, signing_input))}"

    def subject(self, token: str) -> str | None:
        """Return the subject of a valid, unexpired token; None for anything else."""
        head, dot, signature = token.strip().rpartition(".")
        if not dot or head.count(".") != 1:
            return None
        with self._lock:
            key = self._key
        try:
            good = hmac.compare_digest(_unb64(signature), _sign(key, head))
            payload = json.loads(_unb64(head.partition(".")[2]))
        except (ValueError, binascii.Error):  # json.JSONDecodeError is a ValueError
            return None
        if not good or not isinstance(payload, dict):
            return None
        sub, exp = payload.get("sub"), payload.get("exp")
        if not isinstance(sub, str) or not isinstance(exp, int) or exp <= self.now():
            return None
        return sub

    def expire_all(self) -> None:
        """Make every token issued so far invalid (new tokens are accepted)."""
        with self._lock:
            self._key = secrets.token_bytes(32)


def _sign(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
