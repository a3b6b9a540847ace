"""qualysapi 8.1.0 (dev extra) against ``cvesweep simulator --tls``: a raw connector, so every
current path is called through ``request(path, data, api_version=2)``; its own helpers
(``listHosts``) are hard-wired to host list 2.0 and run against ``--serve-eol``."""

from __future__ import annotations

from typing import Any

import pytest

from cvesweep.qualys.endpoints import Endpoint
from tests.thirdparty.conftest import Client, Reference, Simulator, path, value

CLIENT = Client("qualysapi", "qualysapi")
PAGE = 7


@pytest.fixture(scope="module")
def inputs(reference: Reference, simulator: Simulator) -> dict[str, Any]:
    paths = {endpoint.value: path(endpoint) for endpoint in Endpoint}
    cve = max(simulator.cves, key=simulator.cves.__getitem__)
    return {"paths": paths, "qids": reference.detection_qids(2)[:4], "cve": cve, "page": PAGE}


@pytest.fixture(scope="module")
def results(simulator: Simulator, inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    calls = ["about", "detection", "host_list", "knowledge_base", "search_list", "cve_detection"]
    return CLIENT.run(simulator, tmp_path_factory.mktemp("qualysapi"), calls=calls, **inputs)


def test_about_returns_the_platform_versions(results) -> None:
    assert value(results, "about")["root"] == "ABOUT"


def test_detection_page_lists_the_simulators_first_hosts(results, reference: Reference) -> None:
    got = value(results, "detection")
    assert got["host_ids"] == reference.detection_ids(PAGE)
    assert got["truncated"]


def test_host_list_page_lists_the_simulators_first_hosts(results, reference: Reference) -> None:
    assert value(results, "host_list")["host_ids"] == reference.host_ids(PAGE)


def test_knowledge_base_returns_the_qids_asked_for(results, inputs: dict[str, Any]) -> None:
    assert sorted(value(results, "knowledge_base")["qids"]) == sorted(inputs["qids"])


def test_search_list_is_created_listed_then_deleted(results, simulator: Simulator) -> None:
    got = value(results, "search_list")
    assert got["id"] > 0 and got["listed"] and not got["listed_after_delete"]
    assert simulator.state()["search_lists"] == []


def test_cve_detection_finds_every_host_of_the_cve(results, simulator: Simulator, inputs) -> None:
    host_ids = value(results, "cve_detection")["host_ids"]
    assert len(set(host_ids)) == simulator.cves[inputs["cve"]]


def test_its_host_list_2_0_helper_works_with_serve_eol(
    simulator_eol: Simulator, reference_eol: Reference, tmp_path_factory: pytest.TempPathFactory
) -> None:
    got = CLIENT.run(
        simulator_eol,
        tmp_path_factory.mktemp("qualysapi-eol"),
        calls=["legacy_list_hosts"],
        page=PAGE,
    )
    assert value(got, "legacy_list_hosts")["host_ids"] == reference_eol.host_ids(PAGE)
