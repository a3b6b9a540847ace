"""What the app has seen, for ``/_sim/state``: calls per API and action, auth, paths."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

MAX_PATHS = 1000  # distinct paths kept; more are counted under OTHER_PATHS
OTHER_PATHS = "(other)"


class Counters:
    """Thread-safe counters of one app; :meth:`reset` forgets them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._actions: Counter[str] = Counter()
        self._auth: Counter[str] = Counter()
        self._paths: Counter[str] = Counter()

    def call(self, api: str) -> None:
        """Count one call of the API family ``api`` ("not_found" for an unknown path)."""
        with self._lock:
            self._calls[api] += 1

    def action(self, name: str) -> None:
        """Count one ``api.action`` pair."""
        with self._lock:
            self._actions[name] += 1

    def auth(self, kind: str) -> None:
        """Count one request by the scheme it presented ("basic", "bearer", "none"),
        accepted or not, or one token issued ("tokens_issued")."""
        with self._lock:
            self._auth[kind] += 1

    def path(self, path: str) -> None:
        """Count one request to ``path`` (every path received, refused ones included)."""
        with self._lock:
            if path not in self._paths and len(self._paths) >= MAX_PATHS:
                path = OTHER_PATHS
            self._paths[path] += 1

    def as_json(self) -> dict[str, Any]:
        """Return ``calls``, ``actions``, ``auth`` and ``paths`` as JSON-ready dicts."""
        with self._lock:
            auth = {kind: self._auth[kind] for kind in ("basic", "bearer", "none")}
            return {
                "calls": dict(self._calls),
                "actions": dict(self._actions),
                "auth": {**auth, "tokens_issued": self._auth["tokens_issued"]},
                "paths": dict(self._paths),
            }

    def reset(self) -> None:
        """Forget every counter."""
        with self._lock:
            for counter in (self._calls, self._actions, self._auth, self._paths):
                counter.clear()
