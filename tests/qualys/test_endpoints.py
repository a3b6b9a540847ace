"""The one table of Qualys endpoints and versions: paths, accepted spellings, dropped params."""

from __future__ import annotations

import pytest

from cvesweep.errors import InputError
from cvesweep.qualys.endpoints import ENDPOINTS, ApiVersions, Endpoint, Lifecycle, parse_version

DETECTION_PARAMS = {
    "action": "list",
    "arf_kernel_filter": "1",
    "mitre_attack_details": "1",
    "vuln_detection_source": "1",
}


def test_defaults_are_what_qualys_serves_on_2026_12_01() -> None:
    versions = ApiVersions()
    assert versions.as_dict() == {
        "detection": "5.0",
        "knowledge_base": "4.0",
        "search_list": "3.0",
        "host_list": "5.0",
        "cve_detection": "3.0",
    }
    assert versions.outdated() == []
    assert versions.path(Endpoint.DETECTION) == "/api/5.0/fo/asset/host/vm/detection/"
    assert versions.path(Endpoint.CVE_DETECTION) == "/api/3.0/fo/asset/host/vm/cve_detection/"


def test_every_endpoint_has_its_default_among_its_versions_and_distinct_paths() -> None:
    paths = set()
    for endpoint in Endpoint:
        spec = ENDPOINTS[endpoint]
        assert spec.lifecycle[spec.default] is Lifecycle.CURRENT
        for version in spec.versions:
            paths.add(spec.path(version))
            assert f"/api/{version}/" in spec.path(version)
    assert len(paths) == sum(len(ENDPOINTS[e].versions) for e in Endpoint)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5.0", "5.0"), ("5", "5.0"), ("v5.0", "5.0"), (" 4.0 ", "4.0"), (3, "3.0")],
)
def test_version_spellings(value: object, expected: str) -> None:
    assert parse_version(Endpoint.DETECTION, value, field="f") == expected


@pytest.mark.parametrize("value", ["6.0", "5.1", "", "latest", True, None, 5.5])
def test_unknown_versions_are_input_errors_naming_the_accepted_ones(value: object) -> None:
    with pytest.raises(InputError) as caught:
        parse_version(Endpoint.DETECTION, value, field="qualys.versions.detection")
    assert "qualys.versions.detection" in str(caught.value)
    assert "2.0, 3.0, 4.0, 5.0" in str(caught.value)


@pytest.mark.parametrize(
    ("version", "kept"),
    [
        ("2.0", {"action", "arf_kernel_filter"}),
        ("3.0", {"action"}),
        ("4.0", {"action", "mitre_attack_details"}),
        ("5.0", {"action", "mitre_attack_details", "vuln_detection_source"}),
    ],
)
def test_a_version_is_never_sent_a_parameter_it_does_not_take(version: str, kept: set[str]) -> None:
    versions = ApiVersions(detection=version)
    assert set(versions.supported(Endpoint.DETECTION, DETECTION_PARAMS)) == kept


def test_retired_versions_are_reported_as_outdated() -> None:
    versions = ApiVersions(detection="2.0", search_list="2.0")
    assert versions.outdated() == [
        (Endpoint.DETECTION, "2.0", Lifecycle.END_OF_LIFE),
        (Endpoint.SEARCH_LIST, "2.0", Lifecycle.END_OF_SUPPORT),
    ]
