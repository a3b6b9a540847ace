"""Pushing the library to a TAXII 2.1 collection: bounded envelopes, each status waited on.

``push`` reads a collection of the library (:mod:`cvesweep.export.taxii_feed`: the objects
of ``export stix``, or of ``export stix --cve …``) a page at a time, in date-added order,
and posts them to the collection at ``PushTarget.url`` (TAXII 2.1 section 5.5 "Add
Objects") in envelopes of at most ``batch_objects`` objects and at most the API root's
``max_content_length`` bytes. After each post it polls the status resource (section 4.3)
until the status is ``complete`` or ``wait`` seconds have passed, and adds up its success,
failure and pending counts.

Re-pushing is idempotent: when the collection can be read, the objects it already holds at
the same version (its manifest, asked for by ``match[id]`` a chunk at a time) are not sent
again; an object without ``modified`` (an address, immutable) is there when its id is. A
write-only collection cannot be asked, so everything is sent, and a server may count the
objects it already had as failures (the OASIS reference server, medallion, does).

Memory is bounded by one page of the library and one envelope, whatever the library's size.
Errors are ConfigError (the server refused the credentials) or ExportError (it cannot be
reached, refused the push, or answered something that is not TAXII 2.1); the password is
never part of a message.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from cvesweep.errors import ConfigError, ExportError, InputError
from cvesweep.export.taxii import MEDIA_TYPE_TAXII, parse_timestamp
from cvesweep.export.taxii_feed import Collection, Entry, Selection, read_page

BATCH_OBJECTS = 500
BATCH_BYTES = 4 * 1024 * 1024
MANIFEST_IDS = 50  # ids per manifest request: about 3 KB of URL
FAILURES_KEPT = 20
_ENVELOPE = ('{"objects": [', "]}")
_POLL_FIRST_S, _POLL_MAX_S = 0.2, 5.0


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where and how to push: the collection URL (ending in ``/collections/ID/``), the login,
    TLS verification (a bool or a CA bundle path) and the bounds."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool | str = True
    timeout: float = 60.0
    wait: float = 300.0
    batch_objects: int = BATCH_OBJECTS
    batch_bytes: int = BATCH_BYTES


@dataclass(frozen=True, slots=True)
class PushReport:
    """What a push did: objects read from the library, skipped (already there), sent, and
    the counts of the status resources; ``failures`` are the first "id: message" lines."""

    objects: int = 0
    skipped: int = 0
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    batches: int = 0
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every object sent was added (nothing failed, nothing left pending)."""
        return self.failed == 0 and self.pending == 0

    def plus(self, other: PushReport) -> PushReport:
        """The sum of two reports (failures kept up to FAILURES_KEPT)."""
        counts = {
            name: getattr(self, name) + getattr(other, name)
            for name in ("objects", "skipped", "sent", "succeeded", "failed", "pending", "batches")
        }
        kept = (self.failures + other.failures)[:FAILURES_KEPT]
        return PushReport(**counts, failures=kept)


Progress = Callable[[PushReport], None]


def push(
    engine: Engine,
    collection: Collection,
    target: PushTarget,
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> PushReport:
    """Push ``collection`` of the library at ``engine`` to ``target``; return the report.

    ``progress`` is called with the report so far after each envelope. Raises ConfigError
    when the server refuses the credentials, ExportError when it cannot be reached, refuses
    the push or answers something else than TAXII 2.1, LibraryError when the library
    cannot be read. Objects that the server counts as failed are in the report, not raised.
    """
    target = replace(target, url=collection_url(target.url))
    api_root_url = _api_root_url(target.url)
    with _Server(target, transport) as server:
        info = server.get(target.url, "the collection")
        if not info.get("can_write"):
            raise ExportError(f"the TAXII collection {target.url} does not accept objects")
        limit = _max_bytes(server.get(api_root_url, "the API root"), target.batch_bytes)
        pusher = _Pusher(server, target, api_root_url, limit, bool(info.get("can_read")), sleep)
        report = PushReport()
        for page in _pages(engine, collection, target.batch_objects):
            report = report.plus(pusher.send(page))
            if progress is not None:
                progress(report)
    return report


def _pages(engine: Engine, collection: Collection, size: int) -> Iterator[Sequence[Entry]]:
    after = None
    while True:
        page = read_page(engine, collection, Selection(), after, size)
        if page.entries:
            yield page.entries
        if not page.more:
            return
        after = page.next


def collection_url(url: str, *, found_in: str = "--url") -> str:
    """``url`` as a collection URL ending in ``/``.

    Raises InputError naming ``found_in`` unless its path ends ``/collections/ID``.
    """
    base = url.rstrip("/")
    _, marker, rest = base.rpartition("/collections/")
    if not marker or not rest or "/" in rest:
        raise InputError(
            found_in,
            "expected the URL of a TAXII collection: https://HOST/API-ROOT/collections/ID/",
        )
    return f"{base}/"


def _api_root_url(url: str) -> str:
    """The API root of a collection URL ``…/API-ROOT/collections/ID/``."""
    return f"{collection_url(url).rpartition('/collections/')[0]}/"


def _max_bytes(api_root: Mapping[str, Any], ours: int) -> int:
    """The envelope size bound: ours, or the API root's ``max_content_length`` if smaller."""
    theirs = api_root.get("max_content_length")
    if isinstance(theirs, int) and not isinstance(theirs, bool) and theirs > 0:
        return min(ours, theirs)
    return ours


class _Pusher:
    """Sends pages of entries: skips what is there, packs envelopes, waits on statuses."""

    def __init__(
        self,
        server: _Server,
        target: PushTarget,
        api_root_url: str,
        max_bytes: int,
        can_read: bool,
        sleep: Callable[[float], None],
    ) -> None:
        self.server, self.target, self.api_root_url = server, target, api_root_url
        self.max_bytes, self.can_read, self.sleep = max_bytes, can_read, sleep

    def send(self, entries: Sequence[Entry]) -> PushReport:
        """Push one page of entries; return what it did."""
        fresh = self._absent(entries) if self.can_read else list(entries)
        report = PushReport(objects=len(entries), skipped=len(entries) - len(fresh))
        for batch in _envelopes(fresh, self.max_bytes, self.target.batch_objects):
            status = self.server.post(self.target.url, batch.body)
            report = report.plus(_counted(self._settled(status), len(batch)))
        return report

    def _absent(self, entries: Sequence[Entry]) -> list[Entry]:
        """The entries the collection does not hold at their version."""
        present: set[tuple[str, Any]] = set()
        for start in range(0, len(entries), MANIFEST_IDS):
            chunk = entries[start : start + MANIFEST_IDS]
            present |= self._manifest(sorted({e.id for e in chunk}))
        ids = {found_id for found_id, _ in present}
        return [
            e
            for e in entries
            if not ((e.id, _instant(e.version)) in present or (e.obj.get("modified") is None
                    and e.id in ids))
        ]  # fmt: skip

    def _manifest(self, ids: list[str]) -> set[tuple[str, Any]]:
        params = {"match[id]": ",".join(ids), "match[version]": "all"}
        found: set[tuple[str, Any]] = set()
        url = f"{self.target.url}manifest/"
        for _ in range(10_000):  # a bound on a server that always says "more"
            page = self.server.get(url, "the collection's manifest", params, missing_ok=True)
            for record in page.get("objects") or []:
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    found.add((record["id"], _instant(record.get("version"))))
            if not page.get("more") or not isinstance(page.get("next"), str):
                break
            params = {**params, "next": page["next"]}
        return found

    def _settled(self, status: Mapping[str, Any]) -> Mapping[str, Any]:
        """``status`` polled until it is complete or ``wait`` seconds have passed."""
        deadline = time.monotonic() + self.target.wait
        interval = _POLL_FIRST_S
        while status.get("status") != "complete" and time.monotonic() < deadline:
            self.sleep(interval)
            interval = min(interval * 2, _POLL_MAX_S)
            status_url = f"{self.api_root_url}status/{_status_id(status)}/"
            status = self.server.get(status_url, "the status resource")
        return status


@dataclass(frozen=True, slots=True)
class _Envelope:
    body: bytes
    count: int

    def __len__(self) -> int:
        return self.count


def _envelopes(entries: Sequence[Entry], max_bytes: int, max_objects: int) -> Iterator[_Envelope]:
    """Envelopes of at most ``max_objects`` entries and ``max_bytes`` bytes each.

    Raises ExportError for one object larger than ``max_bytes`` on its own.
    """
    overhead = sum(len(part) for part in _ENVELOPE)
    parts: list[bytes] = []
    size = overhead
    for entry in entries:
        data = entry.json().encode()
        if overhead + len(data) > max_bytes:
            raise ExportError(
                f"{entry.id} takes {len(data):,} bytes, more than the {max_bytes:,} the TAXII "
                "server takes in one request"
            )
        if parts and (size + 2 + len(data) > max_bytes or len(parts) == max_objects):
            yield _wrap(parts)
            parts, size = [], overhead
        size += len(data) + (2 if parts else 0)
        parts.append(data)
    if parts:
        yield _wrap(parts)


def _wrap(parts: list[bytes]) -> _Envelope:
    head, tail = (part.encode() for part in _ENVELOPE)
    return _Envelope(head + b", ".join(parts) + tail, len(parts))


def _counted(status: Mapping[str, Any], sent: int) -> PushReport:
    """The report of one envelope of ``sent`` objects from its (last) status resource."""
    succeeded, failed = _count(status, "success_count"), _count(status, "failure_count")
    pending = _count(status, "pending_count")
    if status.get("status") != "complete":  # given up waiting: what is not done is pending
        pending = max(pending, sent - succeeded - failed)
    failures = tuple(
        f"{item.get('id', '?')}: {str(item.get('message') or 'failed')[:200]}"
        for item in status.get("failures") or []
        if isinstance(item, dict)
    )
    return PushReport(
        sent=sent, succeeded=succeeded, failed=failed, pending=pending, batches=1,
        failures=failures[:FAILURES_KEPT],
    )  # fmt: skip


def _count(status: Mapping[str, Any], name: str) -> int:
    value = status.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _status_id(status: Mapping[str, Any]) -> str:
    given = status.get("id")
    if not isinstance(given, str) or not given or "/" in given or len(given) > 256:
        raise ExportError("the TAXII server answered a status without a usable id")
    return given


def _instant(text: object) -> Any:
    """A version as an instant (formats differ between servers); None when unreadable."""
    if not isinstance(text, str):
        return None
    try:
        return parse_timestamp(text, "version")
    except InputError:
        return None


class _Server:
    """The TAXII server: JSON over httpx, its errors translated at this one boundary."""

    def __init__(self, target: PushTarget, transport: httpx.BaseTransport | None) -> None:
        auth = None
        if target.user is not None:
            auth = httpx.BasicAuth(target.user, target.password or "")
        verify: bool | ssl.SSLContext = target.verify if isinstance(target.verify, bool) else (
            ssl.create_default_context(cafile=target.verify))  # fmt: skip
        self.http = httpx.Client(
            auth=auth,
            verify=verify,
            timeout=target.timeout,
            transport=transport,
            headers={"Accept": MEDIA_TYPE_TAXII},
            follow_redirects=False,  # never send the login to another place
        )

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(
        self,
        url: str,
        what: str,
        params: Mapping[str, str] | None = None,
        *,
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        """GET ``url`` (naming it ``what`` in errors); its JSON object. 404 → {} if missing_ok."""
        reply = self._send("GET", url, what, params=params)
        if missing_ok and reply.status_code == 404:
            return {}
        return _json(_checked(reply, url, what), url)

    def post(self, url: str, body: bytes) -> dict[str, Any]:
        """POST an envelope to the objects of the collection ``url``; the status resource."""
        reply = self._send("POST", f"{url}objects/", "adding objects", content=body,
                           headers={"Content-Type": MEDIA_TYPE_TAXII})  # fmt: skip
        return _json(_checked(reply, url, "adding objects"), url)

    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ExportError(
                f"could not reach the TAXII server for {what} at {_host(url)}: "
                f"{type(exc).__name__}",
                hint="check the URL, the network and the TLS settings (--ca-bundle)",
            ) from exc


def _checked(reply: httpx.Response, url: str, what: str) -> httpx.Response:
    status = reply.status_code
    if status in (200, 201, 202):
        return reply
    detail = _detail(reply)
    if status == 401:
        raise ConfigError(
            f"the TAXII server at {_host(url)} refused the login for {what} (401){detail}",
            hint="check --user and the password (CVESWEEP_TAXII_PASSWORD or the config file)",
        )
    reasons = {
        403: "refused access to",
        404: "has nothing at",
        406: "does not answer TAXII 2.1 for",
        413: "found the envelope too large at",
        415: "does not take TAXII 2.1 envelopes at",
    }
    reason = reasons.get(status, f"answered HTTP {status} for")
    raise ExportError(f"the TAXII server {reason} {what} ({url}){detail}")


def _detail(reply: httpx.Response) -> str:
    """ ": TITLE: DESCRIPTION" of a TAXII error message, cut to 300 characters; "" if none."""
    try:
        body = reply.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    words = [str(body[k]) for k in ("title", "description") if body.get(k)]
    return f": {': '.join(words)[:300]}" if words else ""


def _json(reply: httpx.Response, url: str) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ExportError(f"the TAXII server at {_host(url)} answered something that is not JSON")
    return body


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
