"""Writing the STIX 2.1 bundle of a library as it is read, never holding the library.

The bundle is the one :mod:`cvesweep.export.stix` describes, byte for byte: tool objects,
vulnerabilities by CVE, infrastructures in address order, their address SCOs, the
``consists-of`` SROs, then the ``has`` SROs by (address order, CVE). The assets' sort keys
go through an external merge sort (:mod:`cvesweep.export.mergesort`) into a spill of frames
of :data:`BATCH` assets; each object group is one walk over those frames, reading the
assets or links of one frame at a time from the :class:`Source`.

The bundle id, ``stix_id("bundle", *every object id)``, comes first in the bundle, so a
first walk hashes the ids (all derived from values: the links' keys are read without their
findings) and a second writes the objects. UUIDv5 is SHA-1 over the namespace and the name,
so the id is hashed incrementally, never joined in memory. Memory holds the CVEs, one sort
run and one frame of objects, however large the library.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO

from cvesweep.errors import ExportError
from cvesweep.export.mergesort import Frames, Record, sorted_records
from cvesweep.export.stix import (
    NAMESPACE,
    StixObject,
    address_object,
    address_order,
    consists_of_record,
    has_object,
    infrastructure_object,
    stamps,
    stix_id,
    tool_objects,
    vulnerability_object,
)
from cvesweep.library.queries import ExportAsset, ExportCve, ExportData, ExportLink

# ASCII-escaped JSON string, as json.dumps writes it (the C encoder).
_string = json.encoder.encode_basestring_ascii
# Assets per frame: one query of assets (or links) per frame, one write per frame.
BATCH = 500
# Fields of a key record: address_order(value) is (version, number, value).
_VALUE, _ID, _CREATED, _MODIFIED, _SCO = 2, 3, 4, 5, 6


class Source(Protocol):
    """What the bundle is read from (:class:`cvesweep.library.queries.ExportReader`)."""

    def cves(self) -> Sequence[ExportCve]:
        """Every CVE of the export."""

    def asset_keys(self) -> Iterable[tuple[int, str, datetime, datetime]]:
        """(id, value, created, modified) of every asset, in any order."""

    def assets(self, ids: Sequence[int]) -> Sequence[ExportAsset]:
        """The assets of ``ids``, in that order."""

    def link_keys(self, ids: Sequence[int]) -> Iterable[tuple[str, str]]:
        """(asset value, CVE value) of the links of the assets of ``ids``, as :meth:`links`."""

    def links(self, ids: Sequence[int]) -> Sequence[ExportLink]:
        """The links of the assets of ``ids``, with their findings."""


class MemorySource:
    """The :class:`Source` of an :class:`ExportData` already in memory."""

    def __init__(self, data: ExportData) -> None:
        self._data = data
        self._links: defaultdict[str, list[ExportLink]] = defaultdict(list)
        for link in data.links:
            self._links[link.asset].append(link)

    def cves(self) -> Sequence[ExportCve]:
        return self._data.cves

    def asset_keys(self) -> Iterator[tuple[int, str, datetime, datetime]]:
        for i, asset in enumerate(self._data.assets):
            yield i, asset.value, asset.created, asset.modified

    def assets(self, ids: Sequence[int]) -> list[ExportAsset]:
        return [self._data.assets[i] for i in ids]

    def link_keys(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        return [(link.asset, link.cve) for link in self.links(ids)]

    def links(self, ids: Sequence[int]) -> list[ExportLink]:
        values = dict.fromkeys(self._data.assets[i].value for i in ids)
        return [link for value in values for link in self._links.get(value, ())]


def write_bundle(source: Source, stream: TextIO) -> tuple[int, int]:
    """Write the bundle of ``source`` to ``stream``; return how many CVEs and assets it holds.

    Raises ExportError when the stream cannot be written (and whatever ``source`` raises).
    """
    cves = sorted(source.cves(), key=lambda cve: cve.value)
    with Frames(sorted_records(_keys(source)), BATCH) as frames:
        bundle = _Bundle(source, cves, frames)
        writer = _Writer(stream)
        writer.start(bundle.id())
        writer.put(tool_objects())
        writer.put(vulnerability_object(cve) for cve in cves)
        assets = 0
        for frame in frames:
            assets += len(frame)
            writer.put(map(infrastructure_object, source.assets(_ids(frame))))
        for frame in frames:
            writer.put(address_object(r[_VALUE]) for r in frame if r[_SCO] is not None)
        for frame in frames:
            writer.put(_consists_of(r) for r in frame if r[_SCO] is not None)
        for frame in frames:
            writer.put(map(has_object, bundle.links(frame)))
        writer.end()
    return len(cves), assets


class _Bundle:
    """The walks over the frames that need the source: the bundle id, the ``has`` links."""

    def __init__(self, source: Source, cves: Sequence[ExportCve], frames: Frames) -> None:
        self._source, self._cves, self._frames = source, cves, frames
        self._known = {cve.value for cve in cves}

    def id(self) -> str:
        """``stix_id("bundle", *ids)`` of every object in bundle order, hashed as it goes."""
        digest = hashlib.sha1(NAMESPACE.bytes + b"bundle", usedforsecurity=False)
        for object_id in self._ids():
            digest.update(b"|" + object_id.encode())
        return f"bundle--{uuid.UUID(bytes=digest.digest()[:16], version=5)}"

    def links(self, frame: list[Record]) -> list[ExportLink]:
        """The frame's links to the export's CVEs by (address order, CVE)."""
        found = self._source.links(_ids(frame))
        return self._ordered(frame, found, lambda link: (link.asset, link.cve))

    def _ids(self) -> Iterator[str]:
        yield from (str(found["id"]) for found in tool_objects())
        yield from (stix_id("vulnerability", cve.value) for cve in self._cves)
        frames = self._frames
        for frame in frames:
            yield from (stix_id("infrastructure", r[_VALUE]) for r in frame)
        for frame in frames:
            yield from (r[_SCO] for r in frame if r[_SCO] is not None)
        for frame in frames:
            yield from (_consists_of_id(r) for r in frame if r[_SCO] is not None)
        for frame in frames:
            keys = self._source.link_keys(_ids(frame))
            for asset, cve in self._ordered(frame, keys, lambda key: key):
                yield stix_id("relationship", "has", asset, cve)

    def _ordered(self, frame: list[Record], found: Iterable[Any], key: Any) -> list[Any]:
        """``found`` (links or their keys) of the frame's assets and known CVEs, in order."""
        position = {r[_VALUE]: i for i, r in enumerate(frame)}
        chosen = [(key(f), f) for f in found]
        chosen = [(k, f) for k, f in chosen if k[0] in position and k[1] in self._known]
        chosen.sort(key=lambda pair: (position[pair[0][0]], pair[0][1]))
        return [f for _, f in chosen]


class _Writer:
    """The bundle's JSON as stix2 indents it (2 spaces), one write per group of objects."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._separator = "    "

    def start(self, bundle_id: str) -> None:
        self._write(f'{{\n  "type": "bundle",\n  "id": {json.dumps(bundle_id)},\n  "objects": [\n')

    def put(self, found: Iterable[StixObject | None]) -> None:
        parts = []
        for item in found:
            # JSON strings hold no raw newline: every "\n" is the indenter's.
            parts.append(self._separator + indented(item, "    "))
            self._separator = ",\n    "
        if parts:
            self._write("".join(parts))

    def end(self) -> None:
        self._write("\n  ]\n}\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
        except OSError as exc:
            raise ExportError(f"could not write the STIX bundle: {exc.strerror or exc}") from exc


def indented(value: Any, pad: str = "") -> str:
    """``value`` as ``json.dumps(value, indent=2)`` writes it, each line after the first
    prefixed by ``pad`` (for JSON of dicts, lists, strings, ints, bools and None).

    Leaves (strings, ints) are written inline, so that most values cost no call.
    """
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is not dict and kind is not list:
        return json.dumps(value)  # int, bool, None
    if not value:
        return "{}" if kind is dict else "[]"
    inner = pad + "  "
    items = []
    pairs = value.items() if kind is dict else ((None, item) for item in value)
    for key, item in pairs:
        leaf = type(item)
        if leaf is str:
            text = _string(item)
        elif leaf is int:
            text = int.__repr__(item)
        else:
            text = indented(item, inner)
        items.append(f"{inner}{text}" if key is None else f"{inner}{_string(key)}: {text}")
    close = "}" if kind is dict else "]"
    return ("{\n" if kind is dict else "[\n") + ",\n".join(items) + "\n" + pad + close


def _keys(source: Source) -> Iterator[Record]:
    """The sort records of the assets: (*address_order, id, created, modified, SCO id)."""
    for object_id, value, created, modified in source.asset_keys():
        address = address_object(value)
        sco = None if address is None else str(address["id"])
        yield (*address_order(value), object_id, *stamps(created, modified), sco)


def _ids(frame: list[Record]) -> list[int]:
    return [r[_ID] for r in frame]


def _consists_of(record: Record) -> StixObject:
    address = {"value": record[_VALUE], "id": record[_SCO]}
    return consists_of_record(record[_VALUE], address, record[_CREATED], record[_MODIFIED])


def _consists_of_id(record: Record) -> str:
    return stix_id("relationship", "consists-of", record[_VALUE], record[_VALUE])
