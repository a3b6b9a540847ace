"""STIX 2.1 export: the SPEC §7 mapping, exact deterministic ids, validator-clean bundles."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from stix2validator import ValidationOptions, validate_string

from cvesweep.export.stix import bundle_json, write_stix
from cvesweep.library import StoreFlags
from cvesweep.library.queries import (
    ExportAsset,
    ExportCve,
    ExportData,
    ExportLink,
    FindingRecord,
    export_records,
)
from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from tests.conftest import FakeClock, Sim
from tests.library.test_queries import DISCOVERED, SECOND, Filled, fill_standard

# Written out again here, not imported, so that a change of namespace fails the tests.
NAMESPACE = uuid.UUID("700c3fcc-a7ce-46ee-b249-cb85bec18502")
# The STIX 2.1 namespace for deterministic SCO ids (spec section 2.9).
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=2, seconds=7)
CVE = LOG4SHELL
IP = "10.0.0.2"
IP6 = "2001:db8::7"


def assert_valid_stix(text: str) -> list[str]:
    """Validate ``text`` with stix2-validator (STIX 2.1): zero errors; return the warnings."""
    results = validate_string(text, ValidationOptions(version="2.1"))
    errors = [str(error) for error in results.errors]
    assert errors == [], errors
    assert results.is_valid
    return [str(warning) for warning in results.warnings]


def sdo_id(object_type: str, key: str) -> str:
    return f"{object_type}--{uuid.uuid5(NAMESPACE, f'{object_type}|{key}')}"


def sco_id(object_type: str, value: str) -> str:
    canonical = json.dumps({"value": value}, separators=(",", ":"))  # RFC 8785 form
    return f"{object_type}--{uuid.uuid5(SCO_NAMESPACE, canonical)}"


def finding(qid: int, **facts: object) -> FindingRecord:
    return FindingRecord(asset=IP, cve=CVE, qid=qid, **facts)  # type: ignore[arg-type]


def sample() -> ExportData:
    return ExportData(
        cves=(ExportCve(CVE, T0, T1, ("Production", "Linux Servers")),),
        assets=(
            ExportAsset(
                IP, T0, T1, "web01.example.com", ("Production",), (("Operating System", "Linux"),)
            ),
            ExportAsset(IP6, T0, T0),
            ExportAsset("web02", T0, T0),
        ),
        links=(
            ExportLink(
                IP,
                CVE,
                T0,
                T1,
                (
                    finding(45507, severity=5, status="Active", type="Confirmed"),
                    finding(376160, severity=4, first_found="2025-01-01T00:00:00Z"),
                ),
            ),
            ExportLink(IP6, CVE, T0, T0),
        ),
    )


def objects_by_id(text: str) -> dict[str, dict[str, object]]:
    return {o["id"]: o for o in json.loads(text)["objects"]}


def test_sample_bundle_passes_the_validator_with_only_uuid_version_warnings() -> None:
    warnings = assert_valid_stix(bundle_json(sample()))
    # UUIDv5 (deterministic) ids are what we want; the validator prefers v4 (check 103).
    assert warnings
    assert all("{103}" in warning for warning in warnings), warnings


def test_empty_library_exports_a_valid_bundle_of_the_tool_objects() -> None:
    text = bundle_json(ExportData())
    assert_valid_stix(text)
    types = [o["type"] for o in json.loads(text)["objects"]]
    assert types == ["identity", "extension-definition"]


def test_ids_are_uuid5_of_natural_keys_and_stix_sco_rule() -> None:
    objects = objects_by_id(bundle_json(sample()))
    identity = sdo_id("identity", "cvesweep")
    expected = {
        identity,
        sdo_id("extension-definition", "cvesweep|1.0.0"),
        sdo_id("vulnerability", CVE),
        sdo_id("infrastructure", IP),
        sdo_id("infrastructure", IP6),
        sdo_id("infrastructure", "web02"),
        sco_id("ipv4-addr", IP),
        sco_id("ipv6-addr", IP6),
        sdo_id("relationship", f"consists-of|{IP}|{IP}"),
        sdo_id("relationship", f"consists-of|{IP6}|{IP6}"),
        sdo_id("relationship", f"has|{IP}|{CVE}"),
        sdo_id("relationship", f"has|{IP6}|{CVE}"),
    }
    assert set(objects) == expected
    assert objects[identity]["identity_class"] == "system"
    assert objects[identity]["name"] == "cvesweep"


def test_every_sdo_and_sro_is_created_by_the_cvesweep_identity() -> None:
    objects = json.loads(bundle_json(sample()))["objects"]
    identity = sdo_id("identity", "cvesweep")
    for obj in objects:
        if obj["type"] in ("identity", "ipv4-addr", "ipv6-addr"):
            assert "created_by_ref" not in obj
        else:
            assert obj["created_by_ref"] == identity, obj["id"]


def test_cve_maps_to_vulnerability_with_cve_reference_and_sorted_labels() -> None:
    vuln = objects_by_id(bundle_json(sample()))[sdo_id("vulnerability", CVE)]
    assert vuln["name"] == CVE
    assert vuln["external_references"] == [{"source_name": "cve", "external_id": CVE}]
    assert vuln["labels"] == ["Linux Servers", "Production"]
    assert (vuln["created"], vuln["modified"]) == (
        "2026-03-01T12:00:00.000Z",
        "2026-03-03T12:00:07.000Z",
    )


def test_asset_maps_to_infrastructure_linked_to_its_address() -> None:
    objects = objects_by_id(bundle_json(sample()))
    infra = objects[sdo_id("infrastructure", IP)]
    assert infra["name"] == IP
    assert infra["infrastructure_types"] == ["unknown"]
    assert infra["aliases"] == ["web01.example.com"]
    assert infra["labels"] == ["Production"]
    assert infra["x_cvesweep_attributes"] == [{"name": "Operating System", "value": "Linux"}]
    link = objects[sdo_id("relationship", f"consists-of|{IP}|{IP}")]
    assert (link["relationship_type"], link["source_ref"], link["target_ref"]) == (
        "consists-of",
        infra["id"],
        sco_id("ipv4-addr", IP),
    )
    assert objects[sco_id("ipv6-addr", IP6)]["value"] == IP6


def test_asset_without_extras_has_no_labels_aliases_or_extension() -> None:
    infra = objects_by_id(bundle_json(sample()))[sdo_id("infrastructure", IP6)]
    for absent in ("labels", "aliases", "extensions", "x_cvesweep_attributes"):
        assert absent not in infra


def test_has_relationship_carries_the_findings_sorted_by_qid_without_unknowns() -> None:
    objects = objects_by_id(bundle_json(sample()))
    has = objects[sdo_id("relationship", f"has|{IP}|{CVE}")]
    assert has["relationship_type"] == "has"
    assert has["source_ref"] == sdo_id("infrastructure", IP)
    assert has["target_ref"] == sdo_id("vulnerability", CVE)
    assert has["x_cvesweep_findings"] == [
        {"qid": 45507, "severity": 5, "status": "Active", "type": "Confirmed"},
        {"qid": 376160, "severity": 4, "first_found": "2025-01-01T00:00:00Z"},
    ]
    extension = sdo_id("extension-definition", "cvesweep|1.0.0")
    assert has["extensions"] == {extension: {"extension_type": "toplevel-property-extension"}}


def test_same_data_in_any_order_gives_byte_identical_bundles() -> None:
    data = sample()
    shuffled = ExportData(
        cves=data.cves,
        assets=tuple(reversed(data.assets)),
        links=tuple(reversed(data.links)),
    )
    assert bundle_json(data) == bundle_json(shuffled)


def test_objects_come_in_type_groups_with_addresses_in_numeric_order() -> None:
    assets = tuple(ExportAsset(ip, T0, T0) for ip in ("10.0.0.10", "10.0.0.9", "10.0.0.100"))
    objects = json.loads(bundle_json(ExportData(assets=assets)))["objects"]
    names = [o["name"] for o in objects if o["type"] == "infrastructure"]
    assert names == ["10.0.0.9", "10.0.0.10", "10.0.0.100"]
    types = [o["type"] for o in objects]
    assert (
        types
        == ["identity", "extension-definition"]
        + ["infrastructure"] * 3
        + ["ipv4-addr"] * 3
        + ["relationship"] * 3
    )


@pytest.mark.parametrize(
    ("created", "modified", "expected_modified"),
    [
        (T0, T1, "2026-03-03T12:00:07.000Z"),
        (T1, T0, "2026-03-03T12:00:07.000Z"),  # modified never precedes created
        (T0.replace(tzinfo=None), T0.replace(tzinfo=None), "2026-03-01T12:00:00.000Z"),
        (T0.astimezone(UTC).astimezone(), T0, "2026-03-01T12:00:00.000Z"),
    ],
)
def test_timestamps_come_from_the_data_in_utc(
    created: datetime, modified: datetime, expected_modified: str
) -> None:
    text = bundle_json(ExportData(cves=(ExportCve(CVE, created, modified),)))
    assert_valid_stix(text)
    assert objects_by_id(text)[sdo_id("vulnerability", CVE)]["modified"] == expected_modified


def test_links_to_objects_outside_the_export_are_left_out() -> None:
    data = ExportData(cves=(ExportCve(CVE, T0, T0),), links=(ExportLink(IP, CVE, T0, T0),))
    types = [o["type"] for o in json.loads(bundle_json(data))["objects"]]
    assert "relationship" not in types


def test_write_stix_writes_the_same_text_as_bundle_json() -> None:
    stream = io.StringIO()
    write_stix(sample(), stream)
    assert stream.getvalue() == bundle_json(sample())
    assert stream.getvalue().endswith("}\n")


# --- bundles of a library filled by real searches of the simulator ---------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    library = fill_standard(tmp_path_factory.mktemp("stix"))
    yield library
    library.library.close()


def library_bundle(filled: Filled, cves: list[str] | None = None) -> str:
    return bundle_json(export_records(filled.library.engine, cves))


def test_library_bundle_passes_the_validator_with_only_uuid_version_warnings(
    filled: Filled,
) -> None:
    warnings = assert_valid_stix(library_bundle(filled))
    assert all("{103}" in warning for warning in warnings), warnings


def test_library_bundle_maps_every_stored_cve_asset_and_link(filled: Filled) -> None:
    objects = objects_by_id(library_bundle(filled))
    for cve in (LOG4SHELL, SECOND, VENDOR_EXAMPLE, DISCOVERED):
        assert objects[sdo_id("vulnerability", cve)]["name"] == cve
    for value, host in filled.vulnerable(LOG4SHELL).items():
        infra = objects[sdo_id("infrastructure", value)]
        assert infra["labels"] == sorted(t.name for t in host.tags)
        assert objects[sco_id("ipv4-addr", value)]["value"] == value
        has = objects[sdo_id("relationship", f"has|{value}|{LOG4SHELL}")]
        assert [f["qid"] for f in has["x_cvesweep_findings"]] == sorted(
            int(d.qid) for d in host.detections
        )


def test_library_bundle_of_one_cve_holds_only_it_and_its_assets(filled: Filled) -> None:
    text = library_bundle(filled, [VENDOR_EXAMPLE])
    assert_valid_stix(text)
    objects = json.loads(text)["objects"]
    assert [o["name"] for o in objects if o["type"] == "vulnerability"] == [VENDOR_EXAMPLE]
    names = {o["name"] for o in objects if o["type"] == "infrastructure"}
    assert names == set(filled.vulnerable(VENDOR_EXAMPLE))


def test_same_library_exports_byte_identical_bundles(filled: Filled) -> None:
    assert library_bundle(filled) == library_bundle(filled)


def test_export_is_identical_after_an_idempotent_re_ingest(tmp_path: Path) -> None:
    filled = fill_standard(tmp_path)
    before = library_bundle(filled)
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    for cve in (LOG4SHELL, SECOND, VENDOR_EXAMPLE):
        filled.ingest(sim, cve)
    filled.ingest(sim, DISCOVERED, StoreFlags(add_assets=False))
    after = library_bundle(filled)
    filled.library.close()
    assert len(before) > 10_000
    assert after == before
