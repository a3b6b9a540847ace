"""TAXII 2.1 resources as bytes: discovery, API root, collections, envelopes, manifests, errors.

Pure functions over :mod:`cvesweep.export.taxii_feed` pages (no HTTP here): the web server
(:mod:`cvesweep.web.taxii`) sends what they return with :data:`MEDIA_TYPE_TAXII`. An
envelope holds each object exactly as ``export stix`` serialises it (the same ids and the
same property order: the bytes of one object are those of ``obj.serialize()``).

Timestamps (``added_after``, ``match[version]``, ``date_added``) are RFC 3339 in UTC;
``date_added`` is given to the microsecond, so a client that passes back the
``X-TAXII-Date-Added-Last`` of its last page as ``added_after`` gets exactly what was added
after it. ``next`` is opaque to clients: the key of the last object of the page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cvesweep.errors import InputError
from cvesweep.export.taxii_feed import Collection, Entry, Page, format_timestamp
from cvesweep.library.changes import FeedKey

MEDIA_TYPE_TAXII = "application/taxii+json;version=2.1"
MEDIA_TYPE_STIX = "application/stix+json;version=2.1"
TIMESTAMP_MAX_CHARS = 64
NEXT_MAX_CHARS = 128

_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_timestamp(text: str, field: str) -> datetime:
    """Return the UTC instant of an RFC 3339 timestamp (fractions beyond microseconds are cut).

    Raises InputError naming ``field`` unless ``text`` is ``YYYY-MM-DDTHH:MM:SS[.fff…]`` with
    ``Z`` or a ``±HH:MM`` offset, of at most TIMESTAMP_MAX_CHARS characters.
    """
    match = _TIMESTAMP.fullmatch(text.strip()) if len(text) <= TIMESTAMP_MAX_CHARS else None
    if match is None:
        raise InputError(field, "expected an RFC 3339 timestamp, e.g. 2026-01-02T03:04:05.123Z")
    day, clock, fraction, _, sign, hours, minutes = match.groups()
    micro = (fraction or "")[:6].ljust(6, "0")
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}.{micro}").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(field, f"{text.strip()!r} is not a valid date and time") from None
    if sign:
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        moment -= offset if sign == "+" else -offset
    return moment


def encode_next(key: FeedKey) -> str:
    """The ``next`` value that resumes after ``key`` (URL-safe, no padding)."""
    text = f"{format_timestamp(key.date_added)}|{key.part}|{key.key}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_next(text: str) -> FeedKey:
    """The key a ``next`` value of :func:`encode_next` resumes after.

    Raises InputError (field ``next``) for anything this server did not give.
    """
    try:
        if len(text) > NEXT_MAX_CHARS:
            raise ValueError("too long")
        padded = text + "=" * (-len(text) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
        moment, part, key = raw.split("|")
        return FeedKey(parse_timestamp(moment, "next"), int(part), int(key))
    except (ValueError, InputError, binascii.Error):
        raise InputError("next", "not a 'next' value this server gave") from None


def discovery(api_root_url: str) -> bytes:
    """The discovery resource: one API root, the default."""
    return _dumps(
        {
            "title": "cvesweep",
            "description": "The cvesweep threat library (Qualys VM findings) as TAXII 2.1.",
            "default": api_root_url,
            "api_roots": [api_root_url],
        }
    )


def api_root(max_content_length: int) -> bytes:
    """The API root resource."""
    return _dumps(
        {
            "title": "cvesweep library",
            "description": "Read-only collections of the cvesweep threat library.",
            "versions": [MEDIA_TYPE_TAXII],
            "max_content_length": max_content_length,
        }
    )


def collection(found: Collection) -> bytes:
    """The collection resource of ``found``."""
    return _dumps(_collection(found))


def collections(found: Sequence[Collection]) -> bytes:
    """The collections resource."""
    return _dumps({"collections": [_collection(c) for c in found]})


def _collection(found: Collection) -> dict[str, object]:
    """A collection: read-only, STIX 2.1."""
    return {
        "id": found.id,
        "title": found.title,
        "description": found.description,
        "alias": found.alias,
        "can_read": True,
        "can_write": False,
        "media_types": [MEDIA_TYPE_STIX],
    }


def envelope(page: Page) -> bytes:
    """The envelope of ``page``: each object as ``export stix`` serialises it; ``{}`` if empty."""
    if not page.entries:
        return b"{}"
    head = _paging(page)
    objects = ", ".join(entry.json() for entry in page.entries)
    return f'{{{head}, "objects": [{objects}]}}'.encode()


def manifest(page: Page) -> bytes:
    """The manifest resource of ``page``: id, date_added, version, media type per object."""
    if not page.entries:
        return b"{}"
    records = [
        {
            "id": entry.id,
            "date_added": format_timestamp(entry.date_added),
            "version": entry.version,
            "media_type": MEDIA_TYPE_STIX,
        }
        for entry in page.entries
    ]
    return f'{{{_paging(page)}, "objects": {json.dumps(records)}}}'.encode()


def versions(page: Page) -> bytes:
    """The versions resource of ``page`` (the objects of one id: one version here)."""
    if not page.entries:
        return b"{}"
    return (
        f'{{{_paging(page)}, "versions": {json.dumps([e.version for e in page.entries])}}}'.encode()
    )


def date_headers(entries: Sequence[Entry]) -> dict[str, str]:
    """``X-TAXII-Date-Added-First`` and ``-Last`` of a page's entries (none when empty)."""
    if not entries:
        return {}
    return {
        "X-TAXII-Date-Added-First": format_timestamp(entries[0].date_added),
        "X-TAXII-Date-Added-Last": format_timestamp(entries[-1].date_added),
    }


def error(status: int, title: str, description: str | None = None) -> bytes:
    """A TAXII error message."""
    body: dict[str, object] = {"title": title, "http_status": str(status)}
    if description:
        body["description"] = description
    return _dumps(body)


def _paging(page: Page) -> str:
    text = f'"more": {json.dumps(page.more)}'
    if page.more and page.next is not None:
        text += f', "next": {json.dumps(encode_next(page.next))}'
    return text


def _dumps(resource: object) -> bytes:
    return json.dumps(resource).encode()
