"""Per-user API rate limit (calls per sliding window) and concurrency limit, as Qualys applies.

The clock is injectable so tests move time instead of sleeping. Limits are read from the
app's current :class:`~cvesweep.simulator.faults.Faults` at each call, so the control
endpoint can change them while the server runs.
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
        """Return the X-RateLimit-* and X-Concurrency-Limit-* headers, in Qualys's order."""
        return [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Window-Sec", str(self.window_sec)),
            ("X-Concurrency-Limit-Limit", str(self.concurrency_limit)),
            ("X-Concurrency-Limit-Running", str(self.running)),
            ("X-RateLimit-ToWait-Sec", str(self.to_wait_sec)),
            ("X-RateLimit-Remaining", str(self.remaining)),
        ]


class Limiter:
    """Counts admitted calls per user in a sliding window and running calls per user."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}
        self._running: dict[str, int] = {}
        self._blocked = {"rate": 0, "concurrency": 0}

    def admit(self, user: str, *, limit: int, window_sec: int, concurrency: int) -> Admission:
        """Admit one call of ``user`` (then call :meth:`release` when it ends) or block it.

        Returns the admission; a blocked call is not counted in the window.
        """
        with self._lock:
            now = self._clock()
            calls = self._window(user, now, window_sec)
            # Qualys reports the calls running besides this one (0 for a lone call, as in
            # http_exchanges_headers_observed_jupiterone_qg3.json).
            running = self._running.get(user, 0)
            common = {"limit": limit, "window_sec": window_sec, "concurrency_limit": concurrency}
            if len(calls) >= limit:
                self._blocked["rate"] += 1
                wait = max(1, math.ceil(calls[len(calls) - limit] + window_sec - now))
                return Admission(
                    **common, remaining=0, to_wait_sec=wait, running=running, blocked=1965
                )
            if running >= concurrency:
                self._blocked["concurrency"] += 1
                return Admission(
                    **common,
                    remaining=limit - len(calls),
                    to_wait_sec=0,
                    running=running,
                    blocked=1960,
                    calls_to_finish=running - concurrency + 1,
                )
            calls.append(now)
            self._running[user] = running + 1
            return Admission(**common, remaining=limit - len(calls), to_wait_sec=0, running=running)

    def release(self, user: str) -> None:
        """Mark one running call of ``user`` as finished."""
        with self._lock:
            self._running[user] = max(0, self._running.get(user, 0) - 1)

    def running(self) -> int:
        """Return how many calls run now, all users together."""
        with self._lock:
            return sum(self._running.values())

    def snapshot(self, window_sec: int, limit: int) -> dict[str, Any]:
        """Return the counters as JSON-ready data for ``/_sim/state``."""
        with self._lock:
            now = self._clock()
            users = {
                user: {
                    "calls_in_window": len(self._window(user, now, window_sec)),
                    "remaining": max(0, limit - len(self._window(user, now, window_sec))),
                }
                for user in sorted(self._calls)
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

    def _window(self, user: str, now: float, window_sec: int) -> deque[float]:
        calls = self._calls.setdefault(user, deque())
        while calls and calls[0] <= now - window_sec:
            calls.popleft()
        return calls
