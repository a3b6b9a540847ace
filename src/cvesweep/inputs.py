"""Pure validators that turn the user's text for the search filters into validated values.

Each validator raises :class:`~cvesweep.errors.InputError` whose ``field`` names the option
(``--ips``, ``--since``...) and whose message states the accepted form, so a bad value is
refused before any Qualys call (SPEC §2). Nothing here does I/O.

Choices made here, and why:

- ``--ips`` takes IPv4 only. The Qualys documentation of ``ips`` speaks of IP addresses and
  ranges with IPv4 examples only ("An IP range is specified with a hyphen (for example,
  10.10.10.1-10.10.10.100)"), and the list of parameters the detection API accepts (recorded
  in ``qualys-samples/error_1901_unrecognized_param_lists_allowed_detection_params_*.xml``)
  has no IPv6 filter. An IPv6 value is refused with a message saying so.
- A CIDR block with host bits set (``10.1.0.7/24``) means its whole network
  (``10.1.0.0-10.1.0.255``), as a user who pastes an interface address expects.
- A range whose ends are equal becomes the single address; a start after the end is an error.
- Duplicates are dropped, first occurrence wins, order is kept.
- ``--since`` without an offset is UTC; a date in the future is legal (it finds nothing).
- ``--url`` may use plain http only for a loopback host (the simulator): anywhere else it
  would send the password unencrypted. Credentials inside the URL are refused (they would
  show in the process list).
- Every value has a length bound (:data:`BOUNDS`), checked before anything else is done
  with it: a value past its bound is refused naming the option and the bound, so a 1 MB
  paste never reaches Qualys, the run record or a regular expression. The bounds are ours
  (Qualys documents none for these parameters): generous for a person, small for a server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cvesweep.errors import InputError
from cvesweep.models import SearchOptions

IPS_FORM = (
    "comma-separated IPv4 addresses, ranges a-b or CIDR blocks, "
    'e.g. "10.0.0.1, 10.0.0.5-10.0.0.9, 10.1.0.0/24"'
)
SINCE_FORM = (
    '"YYYY-MM-DD HH:MM" (UTC), "YYYY-MM-DD" (midnight UTC) or ISO 8601 with an offset, '
    'e.g. "2020-04-01 17:35" or "2020-04-01T17:35:00+02:00"'
)
SEVERITY_FORM = "a whole number from 1 to 5"
ASSET_GROUPS_FORM = (
    'comma-separated asset group titles, e.g. "DMZ, Servers", or their numeric ids, e.g. '
    '"1403056, 1403081" (ids when every item is a number)'
)
TRUNCATION_MAX = 1_000_000  # Qualys: "1-999 or 1001-1000000", 0 for no limit
TRUNCATION_FORM = f"a whole number from 0 (no limit) to {TRUNCATION_MAX:,}"

IPS_MAX_CHARS = 20_000  # about 1,300 addresses, or 600 ranges, written out
IPS_MAX_ITEMS = 1_000
SINCE_MAX_CHARS = 40  # "2024-01-01T05:00:00.123456+02:00" is 32
NUMBER_MAX_CHARS = 20  # a whole number typed as text: severity, page size, port
ASSET_GROUPS_MAX_CHARS = 10_000
ASSET_GROUPS_MAX_ITEMS = 100
ASSET_GROUP_TITLE_MAX_CHARS = 256
URL_MAX_CHARS = 2_048
HOSTNAME_MAX_CHARS = 253  # DNS: 253 characters in all

# The length bounds by option, for the README and the web API's schema.
BOUNDS = {
    "--ips": f"at most {IPS_MAX_CHARS:,} characters and {IPS_MAX_ITEMS:,} items",
    "--since": f"at most {SINCE_MAX_CHARS} characters",
    "--min-severity": f"at most {NUMBER_MAX_CHARS} characters",
    "--asset-groups": f"at most {ASSET_GROUPS_MAX_CHARS:,} characters and "
    f"{ASSET_GROUPS_MAX_ITEMS} items of at most {ASSET_GROUP_TITLE_MAX_CHARS} characters each",
    "--truncation-limit": f"at most {NUMBER_MAX_CHARS} characters",
    "--url": f"at most {URL_MAX_CHARS:,} characters",
    "--hostname": f"at most {HOSTNAME_MAX_CHARS} characters",
    "--port": f"at most {NUMBER_MAX_CHARS} characters",
}

# Help texts for the filter options, so the CLI, the web UI and the messages agree.
FILTER_HELP = {
    "--ips": "only hosts with these IPv4 addresses: " + IPS_FORM + " (a CIDR block means its "
    "whole network, host bits ignored)",
    "--since": "only detections last found at or after this moment: " + SINCE_FORM,
    "--min-severity": "only detections of this severity or higher: " + SEVERITY_FORM,
    "--asset-groups": "only hosts in these asset groups: " + ASSET_GROUPS_FORM,
}

_SINCE_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$",
    re.IGNORECASE | re.ASCII,
)
_INT_RE = re.compile(r"^\s*\+?[0-9]+\s*$")
URL_FORM = "http(s)://HOST[:PORT], e.g. https://qualysapi.qg2.apps.qualys.com"
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def parse_ips(text: str, *, field: str = "--ips") -> tuple[str, ...]:
    """Return the Qualys ``ips=`` items for ``text``: addresses and ``a-b`` ranges.

    CIDR blocks become ranges (a /32 becomes its address); duplicates are dropped.
    Raises InputError naming ``field`` for an empty list or item, a malformed address,
    an IPv6 value, a bad prefix, or a range whose start is after its end.
    """
    items = _split_items(text, field, IPS_FORM, max_chars=IPS_MAX_CHARS, max_items=IPS_MAX_ITEMS)
    return _unique(_ip_item(item, field) for item in items)


def _ip_item(item: str, field: str) -> str:
    if ":" in item:
        raise InputError(
            field,
            f"{item!r} is IPv6; the Qualys ips filter takes IPv4 only ({IPS_FORM})",
        )
    if "/" in item:
        return _cidr_item(item, field)
    if "-" in item:
        return _range_item(item, field)
    return str(_ipv4(item, field))


def _cidr_item(item: str, field: str) -> str:
    address, _, prefix = (part.strip() for part in item.partition("/"))
    start = _ipv4(address, field)
    if not prefix.isdigit() or not 0 <= int(prefix) <= 32:
        raise InputError(
            field, f"{item!r} has a bad prefix length; a CIDR prefix is /0 to /32 ({IPS_FORM})"
        )
    network = ipaddress.IPv4Network((start, int(prefix)), strict=False)
    first, last = network.network_address, network.broadcast_address
    return str(first) if first == last else f"{first}-{last}"


def _range_item(item: str, field: str) -> str:
    parts = [part.strip() for part in item.split("-")]
    if len(parts) != 2:
        raise InputError(field, f"{item!r} is not a range a-b ({IPS_FORM})")
    start, end = _ipv4(parts[0], field), _ipv4(parts[1], field)
    if start > end:
        raise InputError(
            field, f"range {item!r} starts after it ends; write the lower address first"
        )
    return str(start) if start == end else f"{start}-{end}"


def _ipv4(text: str, field: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise InputError(field, f"{text!r} is not an IPv4 address ({IPS_FORM})") from None


def parse_since(text: str, *, field: str = "--since") -> datetime:
    """Return ``text`` as a timezone-aware UTC datetime.

    Accepts "YYYY-MM-DD HH:MM", "YYYY-MM-DD", and ISO 8601 with seconds, fractions, ``Z`` or
    an offset; a value without an offset is UTC. Raises InputError naming ``field`` for
    any other form, an impossible date, a year before 1970, or more than SINCE_MAX_CHARS.
    """
    value = check_length(text, field, SINCE_MAX_CHARS).strip()
    if not _SINCE_RE.match(value):
        raise InputError(field, f"{text!r} is not a date; expected {SINCE_FORM}")
    try:
        moment = datetime.fromisoformat(value.upper())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InputError(
            field, f"{text!r} is not a valid date ({exc}); expected {SINCE_FORM}"
        ) from None
    if moment.year < 1970:
        raise InputError(field, f"{text!r} is before 1970; expected {SINCE_FORM}")
    return moment


def format_qualys_datetime(moment: datetime) -> str:
    """Return an aware datetime as Qualys writes it, ``YYYY-MM-DDTHH:MM:SSZ`` in UTC.

    Fractions of a second are dropped. Raises ValueError for a naive datetime (a bug, not
    a user error: :func:`parse_since` never returns one).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("format_qualys_datetime needs a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_min_severity(value: int | str, *, field: str = "--min-severity") -> int:
    """Return the minimum severity as an int from 1 to 5; raise InputError otherwise."""
    return _bounded_int(value, 1, 5, field, SEVERITY_FORM)


def parse_truncation_limit(value: int | str, *, field: str = "--truncation-limit") -> int:
    """Return the hosts-per-page limit, 0 (no limit) to 1,000,000; raise InputError otherwise.

    The bounds are Qualys's: "a value less than the default (1-999) or greater than the
    default (1001-1000000)", and 0 for no truncation (Host List Detection API docs).
    """
    return _bounded_int(value, 0, TRUNCATION_MAX, field, TRUNCATION_FORM)


def _bounded_int(value: int | str, low: int, high: int, field: str, form: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(field, f"{value!r} is not {form}")
    if isinstance(value, str):
        # Bounded first: int() of a 5,000-digit text raises ValueError (CPython's 4,300
        # digit limit), and a long text says nothing a short one cannot.
        if not _INT_RE.match(check_length(value, field, NUMBER_MAX_CHARS)):
            raise InputError(field, f"{value!r} is not {form}")
        value = int(value)
    if not low <= value <= high:
        raise InputError(field, f"{value} is out of range; expected {form}")
    return value


def parse_asset_groups(text: str, *, field: str = "--asset-groups") -> tuple[str, ...]:
    """Return the asset group titles in ``text``, stripped, duplicates dropped.

    Raises InputError naming ``field`` when the value is blank, an item is empty, or a
    bound is passed (ASSET_GROUPS_MAX_CHARS, _MAX_ITEMS, ASSET_GROUP_TITLE_MAX_CHARS).
    """
    items = _split_items(
        text,
        field,
        ASSET_GROUPS_FORM,
        max_chars=ASSET_GROUPS_MAX_CHARS,
        max_items=ASSET_GROUPS_MAX_ITEMS,
    )
    for item in items:
        if len(item) > ASSET_GROUP_TITLE_MAX_CHARS:
            raise InputError(
                field,
                f"an asset group title is {len(item):,} characters long; at most "
                f"{ASSET_GROUP_TITLE_MAX_CHARS} characters are accepted",
            )
    return _unique(items)


def check_length(text: str, field: str, max_chars: int) -> str:
    """Return ``text`` when it has at most ``max_chars`` characters.

    Raises InputError naming ``field`` and the bound otherwise (the value is not echoed).
    """
    if len(text) > max_chars:
        raise InputError(
            field,
            f"the value is {len(text):,} characters long; "
            f"at most {max_chars:,} characters are accepted",
        )
    return text


def _split_items(text: str, field: str, form: str, *, max_chars: int, max_items: int) -> list[str]:
    check_length(text, field, max_chars)
    count = text.count(",") + 1
    if count > max_items:
        raise InputError(
            field, f"the value has {count:,} items; at most {max_items:,} items are accepted"
        )
    if not text.strip():
        raise InputError(field, f"the value is empty; expected {form}")
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise InputError(
            field, f"{text!r} has an empty item (a doubled or trailing comma?); expected {form}"
        )
    return items


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def build_options(
    *,
    ips: str | None,
    since: str | None,
    min_severity: int | str | None,
    asset_groups: str | None,
) -> SearchOptions:
    """Return validated SearchOptions; ``None`` means the filter was not given.

    Raises InputError for the first invalid value, naming its option.
    """
    return SearchOptions(
        ips=parse_ips(ips) if ips is not None else (),
        since=parse_since(since) if since is not None else None,
        min_severity=parse_min_severity(min_severity) if min_severity is not None else None,
        asset_groups=parse_asset_groups(asset_groups) if asset_groups is not None else (),
    )


def parse_url(text: str, *, field: str = "--url") -> str:
    """Return the Qualys base URL ``text`` stripped of surrounding blanks and trailing slashes.

    Raises InputError naming ``field`` unless it is ``http(s)://HOST[:PORT][/PATH]`` with no
    credentials, query or fragment, uses https unless the host is loopback, and has at most
    URL_MAX_CHARS characters.
    """
    value = check_length(text, field, URL_MAX_CHARS).strip()
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InputError(field, f"{value!r} is not a URL; expected {URL_FORM}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise InputError(field, f"{value!r} is not a URL; expected {URL_FORM}")
    if "@" in parts.netloc:
        raise InputError(field, "the URL must not hold credentials; set the username and "
                         "password as settings instead")  # fmt: skip
    if parts.query or parts.fragment:
        raise InputError(field, f"{value!r} has a query or fragment; expected {URL_FORM}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InputError(
            field,
            f"{value!r} uses plain http, which would send the password unencrypted; "
            "use https (http is accepted only for loopback hosts such as the simulator)",
        )
    return value.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_hostname(text: str, *, field: str = "--hostname") -> str:
    """Return the Qualys API host name (or IP address) ``text``; raise InputError if malformed."""
    value = check_length(text.strip(), field, HOSTNAME_MAX_CHARS)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _HOSTNAME_RE.match(value):
        raise InputError(
            field,
            f"{value!r} is not a host name; expected e.g. qualysapi.qg2.apps.qualys.com",
            hint="give a full base URL with --url instead" if "/" in value else None,
        )
    return value


def parse_port(value: int | str, *, field: str = "--port") -> int:
    """Return a TCP port number from 1 to 65535; raise InputError otherwise."""
    return _bounded_int(value, 1, 65535, field, "a port number from 1 to 65535")
