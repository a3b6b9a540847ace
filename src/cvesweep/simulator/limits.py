"""Per-user, per-API rate limit (calls per sliding window) and concurrency limit.

Qualys counts both limits per API (the detection API, the KB API, ...), not across all
endpoints, so each (user, API family) pair has its own window and running count. When
both limits are exceeded the concurrency error (1960) wins. The clock is injectable so
tests move time instead of sleeping. Limits are read from the app's current
:class:`~cvesweep.simulator.faults.Faults` at each call, so the control endpoint can
change them while the server runs.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of asking to run one API call, with the values of the limit headers.

    ``blocked`` is None when the call may run, else the Qualys code (1965 rate, 1960
    concurrency); ``calls_to_finish`` is set for 1960.
    """

    limit: int
    window_sec: int
    remaining: int
    to_wait_sec: int
    concurrency_limit: int
    running: int
    blocked: int | None = None
    calls_to_finish: int = 0

    def headers(self) -> list[tuple[str, str]]:
        """Return the X-RateLimit-* and X-Concurrency-Limit-* headers, in Qualys's order.

        A call refused for concurrency (1960) carries no X-RateLimit-ToWait-Sec: waiting
        does not help, a running call must finish.
        """
        headers = [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Window-Sec", str(self.window_sec)),
            ("X-Concurrency-Limit-Limit", str(self.concurrency_limit)),
            ("X-Concurrency-Limit-Running", str(self.running)),
            ("X-RateLimit-ToWait-Sec", str(self.to_wait_sec)),
            ("X-RateLimit-Remaining", str(self.remaining)),
        ]
        if self.blocked == 1960:
            headers = [h for h in headers if h[0] != "X-RateLimit-ToWait-Sec"]
        return headers


Key = tuple[str, str]  # (user, API family)


class Limiter:
    """Counts admitted calls per (user, API) in a sliding window, and running calls."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[Key, deque[float]] = {}
        self._running: dict[Key, int] = {}
        self._blocked = {"rate": 0, "concurrency": 0}

    def admit(
        self, user: str, api: str, *, limit: int, window_sec: int, concurrency: int
    ) -> Admission:
        """Admit one call of ``user`` to ``api`` (then :meth:`release` it) or block it.

        Returns the admission; a blocked call is not counted in the window.
        """
        key = (user, api)
        with self._lock:
            now = self._clock()
            calls = self._window(key, now, window_sec)
            # Qualys reports the calls running besides this one (0 for a lone call, as in
            # http_exchanges_headers_observed_jupiterone_qg3.json).
            running = self._running.get(key, 0)
            common = {"limit": limit, "window_sec": window_sec, "concurrency_limit": concurrency}
            if running >= concurrency:  # checked first: 1960 wins over 1965
                self._blocked["concurrency"] += 1
                return Admission(
                    **common,
                    remaining=max(0, limit - len(calls)),
                    to_wait_sec=0,
                    running=running,
                    blocked=1960,
                    calls_to_finish=running - concurrency + 1,
                )
            if len(calls) >= limit:
                self._blocked["rate"] += 1
                wait = max(1, math.ceil(calls[len(calls) - limit] + window_sec - now))
                return Admission(
                    **common, remaining=0, to_wait_sec=wait, running=running, blocked=1965
                )
            calls.append(now)
            self._running[key] = running + 1
            return Admission(**common, remaining=limit - len(calls), to_wait_sec=0, running=running)

    def release(self, user: str, api: str) -> None:
        """Mark one running call of ``user`` to ``api`` as finished."""
        key = (user, api)
        with self._lock:
            self._running[key] = max(0, self._running.get(key, 0) - 1)

    def running(self) -> int:
        """Return how many calls run now, all users together."""
        with self._lock:
            return sum(self._running.values())

    def snapshot(self, window_sec: int, limit: int) -> dict[str, Any]:
        """Return the counters as JSON-ready data for ``/_sim/state``: per user, per API."""
        with self._lock:
            now = self._clock()
            users: dict[str, dict[str, dict[str, int]]] = {}
            for key in sorted(self._calls):
                in_window = len(self._window(key, now, window_sec))
                users.setdefault(key[0], {})[key[1]] = {
                    "calls_in_window": in_window,
                    "remaining": max(0, limit - in_window),
                }
            return {
                "limit": limit,
                "window_sec": window_sec,
                "users": users,
                "blocked": self._blocked["rate"],
                "concurrency_blocked": self._blocked["concurrency"],
            }

    def reset(self) -> None:
        """Forget the window and blocked counters (running calls are kept: they still run)."""
        with self._lock:
            self._calls.clear()
            self._blocked = {"rate": 0, "concurrency": 0}

    def _window(self, key: Key, now: float, window_sec: int) -> deque[float]:
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - window_sec:
            calls.popleft()
        return calls
