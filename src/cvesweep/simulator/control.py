"""The simulator's control endpoints (no auth, JSON): ``GET /_sim/state``,
``GET|POST /_sim/faults`` and ``POST /_sim/reset``; they exist for tests and demos only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cvesweep.simulator.faults import faults_from_json

if TYPE_CHECKING:
    from cvesweep.simulator.app import SimulatorApp

JSON = "application/json"
MAX_JSON_BYTES = 1024 * 1024


class Control:
    """Answers ``/_sim/*`` requests for one app."""

    def __init__(self, app: SimulatorApp) -> None:
        self._app = app

    def handle(self, environ: Mapping[str, Any], path: str) -> tuple[int, str, bytes]:
        """Return (HTTP status, content type, body) for a control request."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_sim/state"):
            return _json(200, self.state())
        if route == ("GET", "/_sim/faults"):
            return _json(200, {"faults": self._app.faults.faults.as_json()})
        if route == ("POST", "/_sim/faults"):
            return self._set_faults(environ)
        if route == ("POST", "/_sim/reset"):
            self._app.reset_counters()
            return _json(200, self.state())
        return _json(404, {"error": f"no control endpoint {method} {path}"})

    def state(self) -> dict[str, Any]:
        """Return the app's open search lists, call counters, limits and faults."""
        app = self._app
        faults = app.faults.faults
        calls, actions = app.counters()
        rate = app.limiter.snapshot(faults.rate_window_sec, faults.rate_limit)
        concurrency = {
            "running": app.limiter.running(),
            "limit": faults.concurrency_limit,
            "blocked": rate.pop("concurrency_blocked"),
        }
        return {
            "search_lists": [one.as_json() for one in app.search_lists.all()],
            "calls": calls,
            "actions": actions,
            "rate_limit": rate,
            "concurrency": concurrency,
            "faults": faults.as_json(),
        }

    def _set_faults(self, environ: Mapping[str, Any]) -> tuple[int, str, bytes]:
        try:
            changes = json.loads(_read(environ) or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of fault fields")
            faults = faults_from_json(self._app.faults.faults, changes)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return _json(400, {"error": str(exc)})
        self._app.faults.replace(faults)
        return _json(200, {"faults": faults.as_json()})


def _read(environ: Mapping[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if stream is None or not length.isdigit():
        return b""
    return bytes(stream.read(min(int(length), MAX_JSON_BYTES)))


def _json(status: int, data: Mapping[str, Any]) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(data, indent=1, sort_keys=True).encode()
