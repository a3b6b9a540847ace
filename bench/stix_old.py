"""The stix2-based STIX exporter cvesweep had before the streaming one (issue 11 item 4),
kept here verbatim as the peer of bench/bench_stix.py: it reads the whole library
(``queries.export_records``), builds every stix2 object and the Bundle, then serialises it.

    .venv/bin/python bench/stix_old.py sqlite:///library.db OUT.json

Below the marker: src/cvesweep/export/stix.py as of commit 4282ad8, unchanged.
"""

# --- src/cvesweep/export/stix.py at 4282ad8 --------------------------------------------------

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

import stix2.exceptions  # type: ignore[import-untyped]
import stix2.v21  # type: ignore[import-untyped]

from cvesweep.errors import ExportError
from cvesweep.library.queries import ExportAsset, ExportCve, ExportData, ExportLink, FindingRecord

NAMESPACE = uuid.UUID("700c3fcc-a7ce-46ee-b249-cb85bec18502")
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


def stix_id(object_type: str, *key: str) -> str:
    """Return the deterministic id ``type--UUIDv5(NAMESPACE, "type|key|...")`` of an SDO/SRO."""
    return f"{object_type}--{uuid.uuid5(NAMESPACE, '|'.join((object_type, *key)))}"


IDENTITY_ID = stix_id("identity", "cvesweep")
EXTENSION_ID = stix_id("extension-definition", "cvesweep", EXTENSION_VERSION)
_EXTENSIONS = {EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}


def write_stix(data: ExportData, stream: TextIO) -> None:
    """Write the STIX 2.1 bundle of ``data`` to ``stream`` (JSON, indented, newline-ended).

    Raises ExportError when the data cannot be expressed in STIX or the stream cannot be
    written.
    """
    text = bundle_json(data)
    try:
        stream.write(text)
    except OSError as exc:
        raise ExportError(f"could not write the STIX bundle: {exc.strerror or exc}") from exc


def bundle_json(data: ExportData) -> str:
    """Return the bundle of ``data`` as JSON indented by 2; raises ExportError (invalid data).

    Keys keep stix2's property order (``pretty=True`` would sort them, but in quadratic time).
    """
    return str(build_bundle(data).serialize(indent=2)) + "\n"


def build_bundle(data: ExportData) -> Any:
    """Return the ``stix2.v21.Bundle`` of ``data``: tool objects, SDOs, SCOs, then SROs.

    Raises ExportError when stix2 rejects a value (a translation of its STIXError).
    """
    try:
        objects = [*_tool_objects(), *_stix_objects(data)]
        return stix2.v21.Bundle(
            objects=objects,
            id=stix_id("bundle", *(str(o.id) for o in objects)),
            allow_custom=True,
        )
    except stix2.exceptions.STIXError as exc:
        raise ExportError(f"the library cannot be expressed in STIX 2.1: {exc}") from exc


def _tool_objects() -> list[Any]:
    identity = stix2.v21.Identity(
        id=IDENTITY_ID,
        created=TOOL_TIME,
        modified=TOOL_TIME,
        name="cvesweep",
        identity_class="system",
        description="cvesweep: which hosts in Qualys VM are vulnerable to a CVE.",
    )
    extension = stix2.v21.ExtensionDefinition(
        id=EXTENSION_ID,
        created_by_ref=IDENTITY_ID,
        created=TOOL_TIME,
        modified=TOOL_TIME,
        name="cvesweep Qualys facts",
        description="Qualys attributes of assets and findings behind asset-CVE links.",
        schema=_EXTENSION_SCHEMA,
        version=EXTENSION_VERSION,
        extension_types=["toplevel-property-extension"],
        extension_properties=[ATTRIBUTES_PROPERTY, FINDINGS_PROPERTY],
    )
    return [identity, extension]


def _stix_objects(data: ExportData) -> list[Any]:
    cves = sorted(data.cves, key=lambda cve: cve.value)
    assets = sorted(data.assets, key=lambda asset: _address_order(asset.value))
    links = sorted(data.links, key=lambda link: (_address_order(link.asset), link.cve))
    known_assets = {asset.value for asset in assets}
    known_cves = {cve.value for cve in cves}
    addresses = {asset.value: _address(asset.value) for asset in assets}
    return [
        *(vulnerability(cve) for cve in cves),
        *(infrastructure(asset) for asset in assets),
        *(address for address in addresses.values() if address is not None),
        *(
            _consists_of(asset, address)
            for asset in assets
            if (address := addresses[asset.value]) is not None
        ),
        *(has(link) for link in links if link.asset in known_assets and link.cve in known_cves),
    ]


def vulnerability(cve: ExportCve) -> Any:
    """Return the ``vulnerability`` SDO of a CVE indicator."""
    return stix2.v21.Vulnerability(
        id=stix_id("vulnerability", cve.value),
        created_by_ref=IDENTITY_ID,
        **_times(cve.created, cve.modified),
        name=cve.value,
        external_references=[{"source_name": "cve", "external_id": cve.value}],
        **_labels(cve.tags),
    )


def infrastructure(asset: ExportAsset) -> Any:
    """Return the ``infrastructure`` SDO of an asset (hostname as alias, attributes custom)."""
    extra: dict[str, Any] = {}
    if asset.hostname:
        extra["aliases"] = [asset.hostname]
    if asset.attributes:
        extra["extensions"] = _EXTENSIONS
        extra[ATTRIBUTES_PROPERTY] = [
            {"name": name, "value": value} for name, value in sorted(set(asset.attributes))
        ]
    return stix2.v21.Infrastructure(
        id=stix_id("infrastructure", asset.value),
        created_by_ref=IDENTITY_ID,
        **_times(asset.created, asset.modified),
        name=asset.value,
        infrastructure_types=list(INFRASTRUCTURE_TYPES),
        **_labels(asset.tags),
        **extra,
        allow_custom=True,
    )


def has(link: ExportLink) -> Any:
    """Return the ``has`` relationship (infrastructure → vulnerability) with its findings."""
    extra: dict[str, Any] = {}
    if link.findings:
        extra["extensions"] = _EXTENSIONS
        extra[FINDINGS_PROPERTY] = [
            finding_record(f) for f in sorted(link.findings, key=lambda f: f.qid)
        ]
    return stix2.v21.Relationship(
        id=stix_id("relationship", "has", link.asset, link.cve),
        created_by_ref=IDENTITY_ID,
        **_times(link.created, link.modified),
        relationship_type="has",
        source_ref=stix_id("infrastructure", link.asset),
        target_ref=stix_id("vulnerability", link.cve),
        **extra,
        allow_custom=True,
    )


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


def _consists_of(asset: ExportAsset, address: Any) -> Any:
    return stix2.v21.Relationship(
        id=stix_id("relationship", "consists-of", asset.value, str(address.value)),
        created_by_ref=IDENTITY_ID,
        **_times(asset.created, asset.modified),
        relationship_type="consists-of",
        source_ref=stix_id("infrastructure", asset.value),
        target_ref=address.id,
    )


def _address(value: str) -> Any:
    """The ``ipv4-addr``/``ipv6-addr`` SCO of an asset value, or None when it is no IP."""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        return None
    if parsed.version == 4:
        return stix2.v21.IPv4Address(value=value)
    return stix2.v21.IPv6Address(value=value)


def _address_order(value: str) -> tuple[int, int, str]:
    """Sort key: IPv4 numerically, then IPv6 numerically, then anything else by text."""
    try:
        parsed = ipaddress.ip_address(value)
    except ValueError:
        return (7, 0, value)
    return (parsed.version, int(parsed), value)


def _times(created: datetime, modified: datetime) -> Mapping[str, datetime]:
    created = _utc(created)
    return {"created": created, "modified": max(created, _utc(modified))}


def _utc(moment: datetime) -> datetime:
    """Naive datetimes from the library are UTC (SQLite keeps no offset)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _labels(tags: Iterable[str]) -> Mapping[str, list[str]]:
    labels = sorted(set(tags))
    return {"labels": labels} if labels else {}


def _main() -> None:
    import sys

    from cvesweep.library import Library
    from cvesweep.library.queries import export_records

    url, output = sys.argv[1], sys.argv[2]
    with Library.open(url) as library:
        data = export_records(library.engine)
    with open(output, "w", encoding="utf-8", newline="") as stream:
        write_stix(data, stream)


if __name__ == "__main__":
    _main()
