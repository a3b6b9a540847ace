"""Browser sessions kept on the server, and the throttle on wrong access tokens.

- :class:`SessionStore`: signing in creates a random session id; the cookie holds only that
  id. The server keeps a digest of each live id with its expiry, so signing out *revokes*
  the session (a copy of the cookie is worthless afterwards), and a session ends after
  ``lifetime`` seconds whatever the browser does with the cookie. At most ``max_sessions``
  are kept: the one closest to expiry is dropped for a new one. Sessions live in memory:
  a restarted server asks everybody to sign in again.
- :class:`Throttle`: per client address, the first ``free_failures`` wrong tokens cost
  nothing; after them each attempt is refused unheard (429 with ``Retry-After``) until a
  delay has passed that doubles with every further failure (1 s, 2 s, 4 s... capped at
  ``max_delay``). A right token forgets the client's failures, and so does an hour without
  any. At most ``max_clients`` addresses are remembered (the one whose latest failure is
  oldest is forgotten first). Behind a reverse proxy every client has the proxy's address.

Both take a ``clock`` (seconds, monotonic) so that tests can move time without sleeping.
Both are thread-safe: the routes that use them run in the server's worker threads.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

SESSION_LIFETIME_S = 12 * 3600
MAX_SESSIONS = 1_000
FREE_FAILURES = 5
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 300.0
MAX_CLIENTS = 10_000
FORGET_AFTER_S = 3600.0


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """The live browser sessions: create on sign-in, check on every request, revoke on sign-out."""

    def __init__(
        self,
        *,
        lifetime: float = SESSION_LIFETIME_S,
        max_sessions: int = MAX_SESSIONS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self._clock = clock
        self._expiry: dict[str, float] = {}  # digest of the session id -> when it ends
        self._lock = threading.Lock()

    def create(self) -> str:
        """Return a new session id (the cookie value), valid for ``lifetime`` seconds."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            while len(self._expiry) >= self.max_sessions:
                del self._expiry[min(self._expiry, key=self._expiry.__getitem__)]
            self._expiry[_digest(session_id)] = now + self.lifetime
        return session_id

    def is_live(self, session_id: str) -> bool:
        """True when ``session_id`` was created here, is not revoked and has not expired."""
        if not session_id:
            return False
        with self._lock:
            ends = self._expiry.get(_digest(session_id))
        return ends is not None and self._clock() < ends

    def revoke(self, session_id: str) -> None:
        """End the session ``session_id`` now (nothing happens for an unknown id)."""
        with self._lock:
            self._expiry.pop(_digest(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._expiry)

    def _drop_expired(self, now: float) -> None:
        for key in [key for key, ends in self._expiry.items() if ends <= now]:
            del self._expiry[key]


@dataclass(slots=True)
class _Failures:
    count: int
    last: float  # clock time of the latest failure


class Throttle:
    """Wrong access tokens, counted per client address, with an exponential delay."""

    def __init__(
        self,
        *,
        free_failures: int = FREE_FAILURES,
        first_delay: float = FIRST_DELAY_S,
        max_delay: float = MAX_DELAY_S,
        max_clients: int = MAX_CLIENTS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.max_clients = max_clients
        self._clock = clock
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def wait_left(self, client: str) -> float:
        """Seconds ``client`` must still wait before its next token is checked (0: now)."""
        with self._lock:
            failures = self._failures.get(client)
            if failures is None or failures.count < self.free_failures:
                return 0.0
            due = failures.last + self._delay(failures.count)
        return max(0.0, due - self._clock())

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client``."""
        now = self._clock()
        with self._lock:
            failures = self._failures.pop(client, None)
            if failures is None or now - failures.last > FORGET_AFTER_S:
                failures = _Failures(0, now)
            failures.count, failures.last = failures.count + 1, now
            self._failures[client] = failures  # re-inserted: dict order is age order
            while len(self._failures) > self.max_clients:
                del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        """Forget the failures of ``client`` (it gave the right token)."""
        with self._lock:
            self._failures.pop(client, None)

    def _delay(self, count: int) -> float:
        """The wait after ``count`` failures: first_delay, doubling per failure, capped."""
        steps = count - self.free_failures
        if steps >= 64:  # 2**64 s is past any cap; keeps the float finite
            return self.max_delay
        return min(self.max_delay, self.first_delay * math.pow(2, steps))
