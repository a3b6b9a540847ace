"""The library as TAXII 2.1 collections: pages of the STIX objects ``export stix`` writes, in
the order they were added, each with its TAXII ``date_added`` and ``version``.

A collection is the whole library (:data:`MAIN`, alias ``cvesweep``) or what
``export stix --cve`` exports for some CVEs (:func:`for_cves`; one collection per stored
CVE, alias its id). Objects are built by the per-object builders of
:mod:`cvesweep.export.stix` from the rows :mod:`cvesweep.library.changes` reads, so ids and
bytes are those of the export. Each object's ``date_added`` is the instant its current
version came to be (the export's ``modified``; an address's creation), so an object added
or changed after a moment is exactly one whose ``date_added`` is later, and the collection
holds one version of each object: its current one. The tool's own objects (the identity and
the extension definition) are in every collection, added at ``stix.TOOL_TIME``.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import stix2.exceptions  # type: ignore[import-untyped]
import stix2.utils  # type: ignore[import-untyped]
from sqlalchemy import Engine

from cvesweep.errors import ExportError
from cvesweep.export import stix
from cvesweep.library import changes
from cvesweep.library.changes import FeedKey, FeedQuery, FeedRow, NaturalKey, Part
from cvesweep.library.queries import ExportAsset

MAIN_ALIAS = "cvesweep"
SPEC_VERSION = "2.1"
# The STIX 2.1 namespace of deterministic SCO ids (STIX 2.1 section 2.9).
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
_TOOL_PART = 0  # the tool's objects sort before the library's at the same instant


def format_timestamp(moment: datetime) -> str:
    """``moment`` as a TAXII timestamp: UTC, in microseconds (``2026-01-02T03:04:05.000006Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def collection_id(name: str) -> str:
    """The collection id of ``name`` ("cvesweep" or a CVE id): a UUIDv5, the same forever."""
    return str(uuid.uuid5(stix.NAMESPACE, f"taxii-collection|{name}"))


@dataclass(frozen=True, slots=True)
class Collection:
    """A read-only collection: the whole library (``cves`` None) or what it holds for ``cves``."""

    id: str
    alias: str
    title: str
    description: str
    cves: tuple[str, ...] | None = None


MAIN = Collection(
    id=collection_id(MAIN_ALIAS),
    alias=MAIN_ALIAS,
    title="cvesweep threat library",
    description="Every CVE of the cvesweep library, the Qualys assets vulnerable to it and "
    "the findings behind each asset-CVE link (STIX 2.1, as 'cvesweep export stix' writes).",
)


def for_cves(cves: Iterable[str]) -> Collection:
    """The collection of what ``export stix --cve`` exports for ``cves`` (upper-case ids)."""
    chosen = tuple(sorted({cve.upper() for cve in cves}))
    name = ",".join(chosen)
    return Collection(
        id=collection_id(name),
        alias=name,
        title=f"cvesweep: {name}",
        description=f"{name} and the Qualys assets of the cvesweep library vulnerable to it.",
        cves=chosen,
    )


def collections(engine: Engine) -> list[Collection]:
    """Every collection: the library's, then one per stored CVE. Raises LibraryError."""
    return [MAIN, *(for_cves([cve]) for cve in changes.stored_cves(engine))]


def find_collection(engine: Engine, name: str) -> Collection | None:
    """The collection whose id or alias is ``name``, or None. Raises LibraryError."""
    if name in (MAIN.id, MAIN.alias):
        return MAIN
    if name.upper().startswith("CVE-"):
        stored = changes.stored_cves(engine, [name])
        return for_cves(stored) if stored else None
    return next((c for c in collections(engine)[1:] if c.id == name), None)


@dataclass(frozen=True, slots=True)
class Selection:
    """The filters of a TAXII request (``added_after``, ``match[...]``); None: no filter.

    ``versions`` lists the wanted versions as instants; None stands for "first", "last" and
    "all", which are all the same version here.
    """

    added_after: datetime | None = None
    ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    versions: tuple[datetime, ...] | None = None
    spec_versions: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One object of a collection with its TAXII facts."""

    key: FeedKey
    obj: Any  # a stix2 object

    @property
    def id(self) -> str:
        """The STIX id."""
        return str(self.obj["id"])

    @property
    def date_added(self) -> datetime:
        """When this version of the object was added to the collection."""
        return self.key.date_added

    @property
    def version(self) -> str:
        """The version: the object's ``modified`` as serialised, else (an SCO) its date added."""
        modified = self.obj.get("modified")
        if modified is None:
            return format_timestamp(self.date_added)
        return str(stix2.utils.format_datetime(modified))

    def json(self) -> str:
        """The object as ``export stix`` serialises it, compact."""
        return str(self.obj.serialize())


@dataclass(frozen=True, slots=True)
class Page:
    """Up to ``limit`` entries; ``next`` is the key to read on from when ``more``."""

    entries: tuple[Entry, ...]
    more: bool
    next: FeedKey | None


@dataclass(frozen=True, slots=True)
class _Tool:
    key: FeedKey
    obj: Any


@dataclass(frozen=True, slots=True)
class _Plan:
    query: FeedQuery | None  # None: no library row can match
    tools: tuple[_Tool, ...]


def read_page(
    engine: Engine,
    collection: Collection,
    selection: Selection,
    after: FeedKey | None,
    limit: int,
) -> Page:
    """Return the first ``limit`` (≥ 1) objects of ``collection`` matching ``selection`` after
    the key ``after``, in date-added order.

    Raises LibraryError when the library cannot be read, ExportError when an object
    cannot be expressed in STIX.
    """
    plan = _plan(engine, collection, selection)
    entries: list[Entry] = []
    position = after
    while True:
        want = limit - len(entries)
        candidates = _candidates(engine, plan, position, want + 1)
        entries += [e for e in map(_entry, candidates[:want]) if e is not None]
        if len(candidates) <= want:
            return Page(tuple(entries), more=False, next=None)
        position = candidates[want - 1].key
        if len(entries) == limit:
            return Page(tuple(entries), more=True, next=position)
        # Some rows built no object (an asset whose value is no IP address): read on.


def _candidates(
    engine: Engine, plan: _Plan, after: FeedKey | None, count: int
) -> list[FeedRow | _Tool]:
    """The next ``count`` library rows and tool objects after ``after``, merged in order."""
    rows: list[FeedRow | _Tool] = []
    if plan.query is not None:
        rows += changes.read_feed(engine, replace(plan.query, after=after, limit=count))
    rows += [tool for tool in plan.tools if after is None or tool.key > after]
    return sorted(rows, key=lambda row: row.key)[:count]


def _entry(candidate: FeedRow | _Tool) -> Entry | None:
    if isinstance(candidate, _Tool):
        return Entry(candidate.key, candidate.obj)
    try:
        built = _BUILDERS[Part(candidate.key.part)](candidate.record)
    except stix2.exceptions.STIXError as exc:
        raise ExportError(f"the library cannot be expressed in STIX 2.1: {exc}") from exc
    return None if built is None else Entry(candidate.key, built)


def _membership(asset: ExportAsset) -> Any:
    address = stix._address(asset.value)
    return None if address is None else stix._consists_of(asset, address)


_BUILDERS: dict[Part, Callable[[Any], Any]] = {
    Part.CVE: stix.vulnerability,
    Part.ASSET: stix.infrastructure,
    Part.ADDRESS: lambda asset: stix._address(asset.value),
    Part.MEMBERSHIP: _membership,
    Part.LINK: stix.has,
}


# --- from a selection to the rows to read -------------------------------------------------


@functools.cache
def _tools() -> tuple[_Tool, ...]:
    """The identity and the extension definition, keyed at their fixed time."""
    built = stix._tool_objects()
    return tuple(_Tool(FeedKey(stix.TOOL_TIME, _TOOL_PART, i), o) for i, o in enumerate(built))


_TYPE_PARTS: dict[str, tuple[Part, ...]] = {
    "vulnerability": (Part.CVE,),
    "infrastructure": (Part.ASSET,),
    "ipv4-addr": (Part.ADDRESS,),
    "ipv6-addr": (Part.ADDRESS,),
    "relationship": (Part.MEMBERSHIP, Part.LINK),
}


def _plan(engine: Engine, collection: Collection, selection: Selection) -> _Plan:
    if selection.spec_versions is not None and SPEC_VERSION not in selection.spec_versions:
        return _Plan(None, ())
    tools = tuple(t for t in _tools() if _tool_selected(t, selection))
    parts, versions = frozenset(Part), frozenset({4, 6})
    if selection.types is not None:
        parts = frozenset(p for t in selection.types for p in _TYPE_PARTS.get(t, ()))
        versions = frozenset(v for v in (4, 6) if f"ipv{v}-addr" in selection.types)
    keys = None
    if selection.ids is not None:
        keys = _resolve(engine, collection, selection.ids, parts)
    query = FeedQuery(
        cves=collection.cves,
        added_after=selection.added_after,
        dates=selection.versions,
        parts=parts,
        address_versions=versions,
        keys=keys,
    )
    nothing = not parts or (keys is not None and not any(keys.values()))
    return _Plan(None if nothing else query, tools)


def _tool_selected(tool: _Tool, selection: Selection) -> bool:
    obj = tool.obj
    return (
        (selection.added_after is None or tool.key.date_added > selection.added_after)
        and (selection.ids is None or obj["id"] in selection.ids)
        and (selection.types is None or obj["type"] in selection.types)
        and (selection.versions is None or tool.key.date_added in selection.versions)
    )


def _resolve(
    engine: Engine, collection: Collection, ids: frozenset[str], parts: frozenset[Part]
) -> dict[Part, frozenset[int]]:
    """The rows of each part whose STIX id is one of ``ids``.

    STIX ids are one-way digests of the rows' values, so the rows of the parts the ids'
    types name are read (keys and values only, a chunk at a time) and their ids computed.
    """
    wanted = {p for i in ids for p in _TYPE_PARTS.get(i.partition("--")[0], ())} & parts
    found: dict[Part, frozenset[int]] = {}
    for part in sorted(wanted):
        naturals = changes.natural_keys(engine, part, collection.cves)
        found[part] = frozenset(n.key for n in naturals if stix_id_of(n) in ids)
    return found


def stix_id_of(natural: NaturalKey) -> str | None:
    """The STIX id of the object an entry builds (as export/stix.py derives it), or None."""
    value = natural.values[0]
    if natural.part == Part.CVE:
        return stix.stix_id("vulnerability", value)
    if natural.part == Part.ASSET:
        return stix.stix_id("infrastructure", value)
    if natural.part == Part.LINK:
        return stix.stix_id("relationship", "has", value, natural.values[1])
    address = address_id(value)
    if natural.part == Part.ADDRESS or address is None:
        return address
    return stix.stix_id("relationship", "consists-of", value, value)


def address_id(value: str) -> str | None:
    """The deterministic id of the ipv4-addr/ipv6-addr SCO of ``value``; None for no IP.

    STIX 2.1 section 2.9: UUIDv5 in the SCO namespace of the canonical JSON (RFC 8785) of
    the id-contributing properties, here ``{"value": ...}`` (ASCII: plain compact JSON).
    """
    try:
        version = ipaddress.ip_address(value).version
    except ValueError:
        return None
    canonical = json.dumps({"value": value}, separators=(",", ":"))
    return f"ipv{version}-addr--{uuid.uuid5(_SCO_NAMESPACE, canonical)}"
