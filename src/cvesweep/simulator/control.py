"""The simulator's control endpoints (no auth, JSON), for tests and demos only.

``GET /_sim/state``, ``GET|POST /_sim/faults``, ``POST /_sim/reset`` and
``POST /_sim/tokens/expire`` (every gateway token issued so far stops being accepted).
It works on the parts of an app handed to it, so it does not import the app.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cvesweep.simulator.counters import Counters
from cvesweep.simulator.faults import FaultState, faults_from_json
from cvesweep.simulator.limits import Limiter
from cvesweep.simulator.searchlists import SearchListStore
from cvesweep.simulator.tokens import TokenIssuer

JSON = "application/json"
MAX_JSON_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Control:
    """Answers ``/_sim/*`` requests over one app's state."""

    faults: FaultState
    limiter: Limiter
    lists: SearchListStore
    counters: Counters
    tokens: TokenIssuer

    def handle(self, environ: Mapping[str, Any], path: str) -> tuple[int, str, bytes]:
        """Return (HTTP status, content type, body) for a control request."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_sim/state"):
            return _json(200, self.state())
        if route == ("GET", "/_sim/faults"):
            return _json(200, {"faults": self.faults.faults.as_json()})
        if route == ("POST", "/_sim/faults"):
            return self._set_faults(environ)
        if route == ("POST", "/_sim/reset"):
            self.reset()
            return _json(200, self.state())
        if route == ("POST", "/_sim/tokens/expire"):
            self.tokens.expire_all()
            return _json(200, {"expired": True, "tokens_issued": self.tokens.issued})
        return _json(404, {"error": f"no control endpoint {method} {path}"})

    def state(self) -> dict[str, Any]:
        """Return the open search lists, counters (calls, actions, auth, paths), limits, faults."""
        faults = self.faults.faults
        rate = self.limiter.snapshot(faults.rate_window_sec, faults.rate_limit)
        concurrency = {
            "running": self.limiter.running(),
            "limit": faults.concurrency_limit,
            "blocked": rate.pop("concurrency_blocked"),
        }
        return {
            "search_lists": [one.as_json() for one in self.lists.all()],
            **self.counters.as_json(),
            "rate_limit": rate,
            "concurrency": concurrency,
            "faults": faults.as_json(),
        }

    def reset(self) -> None:
        """Forget the counters and the rate-limit windows (search lists and tokens stay)."""
        self.counters.reset()
        self.limiter.reset()

    def _set_faults(self, environ: Mapping[str, Any]) -> tuple[int, str, bytes]:
        try:
            changes = json.loads(_read(environ) or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of fault fields")
            faults = faults_from_json(self.faults.faults, changes)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return _json(400, {"error": str(exc)})
        self.faults.replace(faults)
        return _json(200, {"faults": faults.as_json()})


def _read(environ: Mapping[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if stream is None or not length.isdigit():
        return b""
    return bytes(stream.read(min(int(length), MAX_JSON_BYTES)))


def _json(status: int, data: Mapping[str, Any]) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(data, indent=1, sort_keys=True).encode()
