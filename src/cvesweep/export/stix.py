"""STIX 2.1 export of the threat library (SPEC §7): one deterministic bundle per library state.

Mapping: CVE → ``vulnerability``; asset → ``infrastructure`` with its IP as an
``ipv4-addr``/``ipv6-addr`` linked by ``consists-of``; asset–CVE → ``relationship`` ``has``
carrying the findings; tags → ``labels``; cvesweep → an ``identity`` that is the
``created_by_ref`` of every SDO and SRO. Qualys facts that STIX has no property for travel as
``x_cvesweep_*`` top-level properties declared by one ``extension-definition``.

Determinism: SDO/SRO ids are ``type--UUIDv5(NAMESPACE, "type|natural|key")``, SCO ids follow
the STIX deterministic-id rule (UUIDv5 of the canonical JSON of ``value``), timestamps come
from the library (never "now"), objects are sorted, so the same library gives byte-identical
bundles.

Each object is built here as a plain dict whose keys are in the order the stix2 library
serialises them (its properties' order, then the custom ones), with timestamps formatted as
stix2 formats them; :mod:`cvesweep.export.stixbundle` writes them as they are read from the
library. The bytes are those of the stix2-built bundles this module wrote before (golden
files in tests/export/data), at over ten times the objects per second. The stix2 objects of
the same dicts (:func:`vulnerability`, :func:`infrastructure`, :func:`has`, ...) remain for
the TAXII feed.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, TextIO

from sqlalchemy import Engine

from cvesweep.library.queries import ExportAsset, ExportCve, ExportData, ExportLink, FindingRecord

NAMESPACE = uuid.UUID("700c3fcc-a7ce-46ee-b249-cb85bec18502")
# The STIX 2.1 namespace of deterministic SCO ids (STIX 2.1 section 2.9).
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
_NAMESPACE_BYTES, _SCO_NAMESPACE_BYTES = NAMESPACE.bytes, SCO_NAMESPACE.bytes
# The identity and the extension definition are the tool's own; their time is fixed so
# that they never change between exports.
TOOL_TIME = datetime(2025, 1, 1, tzinfo=UTC)
EXTENSION_VERSION = "1.0.0"
ATTRIBUTES_PROPERTY = "x_cvesweep_attributes"
FINDINGS_PROPERTY = "x_cvesweep_findings"
INFRASTRUCTURE_TYPES = ("unknown",)
_EXTENSION_SCHEMA = (
    "Top-level properties added by cvesweep. On infrastructure: x_cvesweep_attributes, a list "
    "of {name, value} strings (the asset's attributes in the cvesweep library, e.g. Qualys "
    "Host ID, Operating System). On relationship 'has': x_cvesweep_findings, a list of "
    "{qid (integer), severity (integer 1-5), status, type, first_found, last_found, last_scan "
    "(UTC timestamps YYYY-MM-DDTHH:MM:SSZ)}, one per Qualys QID detected; absent keys are unknown."
)
StixObject = dict[str, Any]
# Bytes per chunk of a spooled bundle (spool_library_stix).
CHUNK = 1 << 16


def stix_id(object_type: str, *key: str) -> str:
    """Return the deterministic id ``type--UUIDv5(NAMESPACE, "type|key|...")`` of an SDO/SRO."""
    return f"{object_type}--{uuid5_text(_NAMESPACE_BYTES, '|'.join((object_type, *key)))}"


def uuid5_text(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))``, without building UUID objects."""
    digest = bytearray(hashlib.sha1(namespace + name.encode(), usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


IDENTITY_ID = stix_id("identity", "cvesweep")
EXTENSION_ID = stix_id("extension-definition", "cvesweep", EXTENSION_VERSION)
_EXTENSIONS = {EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}


def write_stix(data: ExportData, stream: TextIO) -> None:
    """Write the STIX 2.1 bundle of ``data`` to ``stream`` (JSON, indented, newline-ended).

    Raises ExportError when the stream cannot be written.
    """
    from cvesweep.export.stixbundle import MemorySource, write_bundle

    write_bundle(MemorySource(data), stream)


def write_library_stix(
    engine: Engine, stream: TextIO, cves: Iterable[str] | None = None
) -> tuple[int, int]:
    """Write the bundle of the library (or of ``cves`` and their assets) as it is read.

    Never holds the library in memory. Returns how many CVEs and assets it holds. Raises
    InputError (--cve) for a CVE that is not stored, LibraryError, ExportError (writing).
    """
    from cvesweep.export.stixbundle import write_bundle
    from cvesweep.library.queries import export_reader

    with export_reader(engine, None if cves is None else list(cves)) as reader:
        return write_bundle(reader, stream)


def spool_library_stix(
    engine: Engine, cves: Iterable[str] | None = None
) -> tuple[int, Iterator[bytes]]:
    """Write the library's bundle (as :func:`write_library_stix`) into a nameless temporary
    file; return its size in bytes and its chunks, read back as they are iterated.

    For a web reply: every error (InputError, LibraryError, ExportError) is raised here,
    before a byte is sent; the file goes when the chunks are done (or dropped).
    """
    spool = tempfile.TemporaryFile(prefix="cvesweep-", suffix=".stix.json")  # noqa: SIM115
    try:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        write_library_stix(engine, text, cves)
        text.flush()
        text.detach()
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return size, _chunks(spool)


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk


def bundle_json(data: ExportData) -> str:
    """Return the bundle of ``data`` as JSON indented by 2 (what :func:`write_stix` writes)."""
    with io.StringIO() as stream:
        write_stix(data, stream)
        return stream.getvalue()


def tool_objects() -> list[StixObject]:
    """The identity of cvesweep and the definition of its extension (always first)."""
    identity = {
        "type": "identity", "spec_version": "2.1", "id": IDENTITY_ID,
        "created": timestamp(TOOL_TIME), "modified": timestamp(TOOL_TIME), "name": "cvesweep",
        "description": "cvesweep: which hosts in Qualys VM are vulnerable to a CVE.",
        "identity_class": "system",
    }  # fmt: skip
    extension = {
        "type": "extension-definition", "spec_version": "2.1", "id": EXTENSION_ID,
        "created_by_ref": IDENTITY_ID, "created": timestamp(TOOL_TIME),
        "modified": timestamp(TOOL_TIME), "name": "cvesweep Qualys facts",
        "description": "Qualys attributes of assets and findings behind asset-CVE links.",
        "schema": _EXTENSION_SCHEMA, "version": EXTENSION_VERSION,
        "extension_types": ["toplevel-property-extension"],
        "extension_properties": [ATTRIBUTES_PROPERTY, FINDINGS_PROPERTY],
    }  # fmt: skip
    return [identity, extension]


def vulnerability_object(cve: ExportCve) -> StixObject:
    """The ``vulnerability`` SDO of a CVE indicator."""
    return {
        **_head("vulnerability", stix_id("vulnerability", cve.value), cve.created, cve.modified),
        "name": cve.value,
        **_labels(cve.tags),
        "external_references": [{"source_name": "cve", "external_id": cve.value}],
    }


def infrastructure_object(asset: ExportAsset) -> StixObject:
    """The ``infrastructure`` SDO of an asset (hostname as alias, attributes custom)."""
    found = {
        **_head("infrastructure", stix_id("infrastructure", asset.value), asset.created,
                asset.modified),
        "name": asset.value,
        "infrastructure_types": list(INFRASTRUCTURE_TYPES),
    }  # fmt: skip
    if asset.hostname:
        found["aliases"] = [asset.hostname]
    found.update(_labels(asset.tags))
    if asset.attributes:
        found["extensions"] = _EXTENSIONS
        found[ATTRIBUTES_PROPERTY] = [
            {"name": name, "value": value} for name, value in sorted(set(asset.attributes))
        ]
    return found


def has_object(link: ExportLink) -> StixObject:
    """The ``has`` relationship (infrastructure → vulnerability) with its findings."""
    found = {
        **_head("relationship", stix_id("relationship", "has", link.asset, link.cve),
                link.created, link.modified),
        "relationship_type": "has",
        "source_ref": stix_id("infrastructure", link.asset),
        "target_ref": stix_id("vulnerability", link.cve),
    }  # fmt: skip
    if link.findings:
        found["extensions"] = _EXTENSIONS
        found[FINDINGS_PROPERTY] = [
            finding_record(f) for f in sorted(link.findings, key=lambda f: f.qid)
        ]
    return found


def address_object(value: str) -> StixObject | None:
    """The ``ipv4-addr``/``ipv6-addr`` SCO of an asset value, or None when it is no IP."""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        return None
    kind = "ipv4-addr" if parsed.version == 4 else "ipv6-addr"
    canonical = json.dumps({"value": value}, separators=(",", ":"))  # RFC 8785, one key
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid5_text(_SCO_NAMESPACE_BYTES, canonical)}",
        "value": value,
    }


def consists_of_object(asset: ExportAsset, address: Mapping[str, Any]) -> StixObject:
    """The ``consists-of`` relationship of an asset's infrastructure to its address SCO."""
    return consists_of_record(asset.value, address, *stamps(asset.created, asset.modified))


def consists_of_record(
    value: str, address: Mapping[str, Any], created: str, modified: str
) -> StixObject:
    """:func:`consists_of_object` of an asset known by its value and :func:`stamps`."""
    return {
        **_head_text("relationship",
                     stix_id("relationship", "consists-of", value, str(address["value"])),
                     created, modified),
        "relationship_type": "consists-of",
        "source_ref": stix_id("infrastructure", value),
        "target_ref": address["id"],
    }  # fmt: skip


def finding_record(finding: FindingRecord) -> dict[str, object]:
    """Return the ``x_cvesweep_findings`` item of a finding; unknown facts are left out.

    The detection 5.0 facts (unique id, QDS, the detection's CVEs, MITRE ATT&CK tactics and
    techniques, detection sources) appear only when Qualys gave them.
    """
    record: dict[str, object] = {
        "qid": finding.qid,
        "severity": finding.severity,
        "status": finding.status,
        "type": finding.type,
        "first_found": finding.first_found,
        "last_found": finding.last_found,
        "last_scan": finding.last_scan,
        "unique_vuln_id": finding.unique_vuln_id,
        "qds": finding.qds,
        "qds_severity": finding.qds_severity,
        "cves": list(finding.cves),
        "mitre_tactic_ids": list(finding.mitre_tactic_ids),
        "mitre_tactic_names": list(finding.mitre_tactic_names),
        "mitre_technique_ids": list(finding.mitre_technique_ids),
        "mitre_technique_names": list(finding.mitre_technique_names),
        "detection_sources": list(finding.detection_sources),
        "latest_detection_source": finding.latest_detection_source,
    }
    return {key: value for key, value in record.items() if value not in (None, [])}


def address_order(value: str) -> tuple[int, int, str]:
    """Sort key of assets: IPv4 numerically, then IPv6 numerically, then anything else by text."""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        return (7, 0, value)
    return (parsed.version, int(parsed), value)


def timestamp(moment: datetime) -> str:
    """A ``created``/``modified`` value as stix2 writes it: UTC, at least milliseconds."""
    m = _utc(moment)
    fraction = f"{m.microsecond:06d}".rstrip("0").ljust(3, "0")
    day = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    return f"{day}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{fraction}Z"


# --- the same objects as stix2 objects, for the TAXII feed ----------------------------------


def vulnerability(cve: ExportCve) -> Any:
    """Return the ``vulnerability`` SDO of a CVE indicator as a stix2 object."""
    return _stix2(vulnerability_object(cve))


def infrastructure(asset: ExportAsset) -> Any:
    """Return the ``infrastructure`` SDO of an asset as a stix2 object."""
    return _stix2(infrastructure_object(asset))


def has(link: ExportLink) -> Any:
    """Return the ``has`` relationship of a link as a stix2 object."""
    return _stix2(has_object(link))


def _tool_objects() -> list[Any]:
    return [_stix2(found) for found in tool_objects()]


def _address(value: str) -> Any:
    """The address SCO of an asset value as a stix2 object, or None when it is no IP."""
    found = address_object(value)
    return None if found is None else _stix2(found)


def _consists_of(asset: ExportAsset, address: Any) -> Any:
    return _stix2(consists_of_object(asset, address))


def _stix2(found: StixObject) -> Any:
    """The stix2 object of a dict of this module (stix2 checks it); ExportError if invalid."""
    import stix2  # type: ignore[import-untyped]  # slow to import: only when asked for
    import stix2.exceptions  # type: ignore[import-untyped]

    from cvesweep.errors import ExportError

    try:
        return stix2.parse(found, allow_custom=True, version="2.1")
    except stix2.exceptions.STIXError as exc:
        raise ExportError(f"the library cannot be expressed in STIX 2.1: {exc}") from exc


def stamps(created: datetime, modified: datetime) -> tuple[str, str]:
    """The ``created`` and ``modified`` texts of an object; ``modified`` never precedes it."""
    created = _utc(created)
    return timestamp(created), timestamp(max(created, _utc(modified)))


def _head(kind: str, object_id: str, created: datetime, modified: datetime) -> StixObject:
    """The leading properties of an SDO/SRO; ``modified`` never precedes ``created``."""
    return _head_text(kind, object_id, *stamps(created, modified))


def _head_text(kind: str, object_id: str, created: str, modified: str) -> StixObject:
    return {
        "type": kind,
        "spec_version": "2.1",
        "id": object_id,
        "created_by_ref": IDENTITY_ID,
        "created": created,
        "modified": modified,
    }


def _utc(moment: datetime) -> datetime:
    """Naive datetimes from the library are UTC (SQLite keeps no offset)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _labels(tags: Iterable[str]) -> Mapping[str, list[str]]:
    labels = sorted(set(tags))
    return {"labels": labels} if labels else {}
