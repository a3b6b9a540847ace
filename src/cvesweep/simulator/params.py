"""Request parameters of the simulated API: reading query and form body, allow-lists, values.

Every problem is raised as :class:`ApiError`, which the app renders as the Qualys
``SIMPLE_RETURN`` error with the real code and text style (1901, 1903, 1905, 1908).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 16 * 1024 * 1024


class ApiError(Exception):
    """A request the simulated Qualys refuses; rendered as a SIMPLE_RETURN error reply."""

    def __init__(
        self, code: int, text: str, *, status: int = 400, items: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.status = status
        self.items = items


@dataclass(frozen=True, slots=True)
class Params:
    """The request's parameters: ``pairs`` in arrival order (query first, then body)."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """Return the last value given for ``name``, or None when absent."""
        for key, value in reversed(self.pairs):
            if key == name:
                return value
        return None

    def names(self) -> list[str]:
        """Return the distinct parameter names in arrival order."""
        return list(dict.fromkeys(key for key, _ in self.pairs))

    def require(self, name: str) -> str:
        """Return the value of ``name``; raise ApiError 1903 when it is absent or empty."""
        value = self.get(name)
        if value is None or value == "":
            raise ApiError(1903, f"Missing required parameter(s): {name}")
        return value


def read_params(environ: Mapping[str, Any]) -> Params:
    """Return the query-string and form-body parameters of a WSGI request, merged."""
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    content_type = str(environ.get("CONTENT_TYPE", "")).lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = _read_body(environ)
        pairs += parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return Params(tuple(pairs))


def _read_body(environ: Mapping[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length_text.isdigit():
        return bytes(stream.read(min(int(length_text), MAX_BODY_BYTES)))
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read(MAX_BODY_BYTES))
    return b""


def check_allowed(params: Params, action: str, allowed: Iterable[str]) -> None:
    """Raise ApiError 1901 naming the unknown parameters and listing the allowed ones."""
    allowed = tuple(allowed)
    unknown = [name for name in params.names() if name != "action" and name not in allowed]
    if unknown:
        raise ApiError(
            1901,
            f"Unrecognized parameter(s): {', '.join(unknown)} "
            f"(action={action} allows: {', '.join(allowed)})",
        )


def invalid(name: str, value: str, why: str) -> ApiError:
    """Return the 1905 error for ``name``, worded like the real Qualys reply."""
    return ApiError(1905, f"parameter {name} has invalid value: {value} ({why})")


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")]


def int_ranges(name: str, value: str) -> tuple[tuple[int, int], ...]:
    """Return ``1,3-5`` as ((1, 1), (3, 5)); raise ApiError 1905 on anything else."""
    ranges = []
    for item in _items(value):
        low, sep, high = item.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()) or int(low) < 1:
            raise invalid(name, value, f"neither a positive integer nor a range: {item}")
        bounds = (int(low), int(high) if sep else int(low))
        if bounds[0] > bounds[1]:
            raise invalid(name, value, f"range start after its end: {item}")
        ranges.append(bounds)
    return tuple(ranges)


def positive_int(name: str, value: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``; raise ApiError 1905 otherwise."""
    if not value.isdigit() or int(value) < minimum:
        raise invalid(name, value, f"not an integer >= {minimum}")
    return int(value)


def ipv4_ranges(name: str, value: str) -> tuple[tuple[int, int], ...]:
    """Return IPv4 singles, ``a-b`` ranges and CIDR blocks as integer (low, high) pairs."""
    ranges = []
    for item in _items(value):
        try:
            if "/" in item:
                net = ipaddress.IPv4Network(item, strict=False)
                bounds = (int(net.network_address), int(net.broadcast_address))
            else:
                low, _, high = item.partition("-")
                bounds = (int(ipaddress.IPv4Address(low)), int(ipaddress.IPv4Address(high or low)))
        except ValueError:
            raise invalid(name, value, f"not an IPv4 address, range or CIDR: {item}") from None
        if bounds[0] > bounds[1]:
            raise invalid(name, value, f"range start after its end: {item}")
        ranges.append(bounds)
    return tuple(ranges)


def flag(name: str, value: str | None, default: bool) -> bool:
    """Return a 0/1 parameter as a bool (``default`` when absent); 1905 on other values."""
    if value is None:
        return default
    if value not in ("0", "1"):
        raise invalid(name, value, "must be 0 or 1")
    return value == "1"


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")


def utc_datetime(name: str, value: str) -> datetime:
    """Return ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` as an aware UTC datetime."""
    if _DATE_RE.match(value):
        try:
            layout = "%Y-%m-%dT%H:%M:%SZ" if "T" in value else "%Y-%m-%d"
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise invalid(name, value, "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")


def choices(name: str, value: str, allowed: tuple[str, ...]) -> frozenset[str]:
    """Return the comma-separated ``value`` as a set of members of ``allowed``."""
    picked = _items(value)
    for item in picked:
        if item not in allowed:
            raise invalid(name, value, f"{item} is not one of {', '.join(allowed)}")
    return frozenset(picked)


def words(value: str) -> list[str]:
    """Return the non-empty comma-separated items of ``value``."""
    return [item for item in _items(value) if item]
