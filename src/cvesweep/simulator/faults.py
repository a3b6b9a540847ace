"""Fault knobs of one simulator instance (latency, limits, 5xx, dropped and malformed bodies).

A :class:`Faults` value is immutable; :class:`FaultState` holds the current one for an app,
swaps it when the control endpoint changes it, and counts down the ``*_times`` budgets
(thread-safe: the HTTP server is multi-threaded).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENDPOINTS = (
    "detection",
    "cve_detection",
    "host_list",
    "search_list",
    "knowledge_base",
    "about",
)
ERROR_ENDPOINTS = ("any", *ENDPOINTS)


@dataclass(frozen=True, slots=True)
class Faults:
    """Every fault and limit of a simulator instance; the defaults never get in the way.

    A ``*_times`` field bounds how many more replies the fault applies to (``None`` = every
    reply while the fault is armed); it counts down as the fault fires, so
    ``Faults(error_rate=1.0, error_times=2, error_endpoint="detection")`` fails exactly the
    next two detection calls.
    """

    page_latency: float = 0.0  # seconds before each detection body starts
    host_latency: float = 0.0  # seconds per host streamed in a detection body
    # Seconds before the reply of a latency_endpoint call is sent, after the call took
    # effect (a search list create has created the list): a reply "in flight".
    reply_latency: float = 0.0
    latency_endpoint: str = "any"  # "any" or one of ENDPOINTS
    rate_limit: int = 10_000  # API calls per window and user (Qualys default: 300 / 3600 s)
    rate_window_sec: int = 3600
    concurrency_limit: int = 10  # calls running at once per user (Qualys default: 2)
    error_rate: float = 0.0  # fraction of calls answered with error_status, spread evenly
    error_status: int = 503  # 500 (999 internal error) or 503 (1999 maintenance)
    error_endpoint: str = "any"  # "any" or one of ENDPOINTS
    error_times: int | None = None
    drop_after_bytes: int | None = None  # cut the connection after that many body bytes
    drop_times: int | None = None
    malformed_xml: bool = False  # detection body garbled into invalid XML, status 200
    malformed_times: int | None = None
    expired_account: bool = False  # every API call gets the real 2001 reply on HTTP 200

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    def as_json(self) -> dict[str, Any]:
        """Return the faults as a JSON-ready dict (field name → value)."""
        return dataclasses.asdict(self)


def _problems(f: Faults) -> list[str]:
    checks = [
        (min(f.page_latency, f.host_latency, f.reply_latency) >= 0, "latencies must be >= 0"),
        (
            f.latency_endpoint in ERROR_ENDPOINTS,
            f"latency_endpoint must be one of {ERROR_ENDPOINTS}",
        ),
        (f.rate_limit >= 1 and f.rate_window_sec >= 1, "rate_limit and window must be >= 1"),
        (f.concurrency_limit >= 1, "concurrency_limit must be >= 1"),
        (0.0 <= f.error_rate <= 1.0, "error_rate must be within 0..1"),
        (f.error_status in (500, 503), "error_status must be 500 or 503"),
        (f.error_endpoint in ERROR_ENDPOINTS, f"error_endpoint must be one of {ERROR_ENDPOINTS}"),
        (f.drop_after_bytes is None or f.drop_after_bytes >= 0, "drop_after_bytes must be >= 0"),
    ]
    for name in ("error_times", "drop_times", "malformed_times"):
        value = getattr(f, name)
        checks.append((value is None or value >= 0, f"{name} must be >= 0 or null"))
    return [message for ok, message in checks if not ok]


_KINDS: dict[str, tuple[type, ...]] = {
    "float": (int, float),
    "int": (int,),
    "str": (str,),
    "bool": (bool,),
    "int | None": (int, type(None)),
}


def faults_from_json(current: Faults, changes: Mapping[str, Any]) -> Faults:
    """Return ``current`` with ``changes`` applied; raise ValueError on unknown fields/values."""
    known = {f.name: str(f.type) for f in dataclasses.fields(Faults)}
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
    for name, value in changes.items():
        kinds = _KINDS[known[name]]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ValueError(f"{name}: {value!r} is not a valid {known[name]}")
    return dataclasses.replace(current, **changes)


class FaultState:
    """The current faults of one app and the counters that decide when a fault fires."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._faults = faults
        self._error_calls = 0

    @property
    def faults(self) -> Faults:
        """Return the faults in force now."""
        with self._lock:
            return self._faults

    def replace(self, faults: Faults) -> Faults:
        """Put ``faults`` in force (restarting the error spreading) and return them."""
        with self._lock:
            self._faults = faults
            self._error_calls = 0
            return faults

    def take_error(self, endpoint: str) -> int | None:
        """Return the HTTP status to fail this call with, or None when it must succeed.

        ``error_rate`` is spread evenly and deterministically: the n-th eligible call fails
        when floor(n * rate) grows, so 0.5 fails every second call and 1.0 every call.
        """
        with self._lock:
            f = self._faults
            if f.error_rate <= 0 or f.error_times == 0:
                return None
            if f.error_endpoint not in ("any", endpoint):
                return None
            before = self._error_calls
            self._error_calls += 1
            if math.floor(self._error_calls * f.error_rate) <= math.floor(before * f.error_rate):
                return None
            self._faults = _spend(f, "error_times")
            return f.error_status

    def take_drop(self) -> int | None:
        """Return after how many body bytes to drop this detection reply, or None."""
        with self._lock:
            f = self._faults
            if f.drop_after_bytes is None or f.drop_times == 0:
                return None
            self._faults = _spend(f, "drop_times")
            return f.drop_after_bytes

    def take_malformed(self) -> bool:
        """Return True when this detection reply must be garbled into invalid XML."""
        with self._lock:
            f = self._faults
            if not f.malformed_xml or f.malformed_times == 0:
                return False
            self._faults = _spend(f, "malformed_times")
            return True


def _spend(faults: Faults, field: str) -> Faults:
    left = getattr(faults, field)
    if left is None:
        return faults
    return dataclasses.replace(faults, **{field: left - 1})
