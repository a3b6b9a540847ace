"""qualysdk 0.4.0 (.venv-clients/qualysdk, Python >= 3.12) against ``cvesweep simulator --tls
--serve-eol``: its call schema still uses knowledge base 3.0 and host list 3.0 (End-of-Life;
``get_hld`` lists host ids from host list 3.0 before calling detection 5.0), so it runs
against the simulator that keeps serving retired versions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree

from cvesweep.qualys.endpoints import Endpoint
from tests.thirdparty.conftest import SAFE_XML, Client, Reference, Simulator, path, value

CLIENT = Client("qualysdk", "qualysdk", venv="qualysdk")
TITLE = "thirdparty qualysdk list"


@pytest.fixture(scope="module")
def search_list(simulator_eol: Simulator) -> Iterator[int]:
    """A dynamic search list the client should see, created and deleted with plain httpx."""
    cve = next(iter(simulator_eol.cves))
    with simulator_eol.http() as http:
        form = {"action": "create", "title": TITLE, "cve_ids": cve}
        reply = http.post(path(Endpoint.SEARCH_LIST), data=form)
        list_id = int(etree.fromstring(reply.content, SAFE_XML).findtext(".//ITEM/VALUE") or 0)
        yield list_id
        http.post(path(Endpoint.SEARCH_LIST), data={"action": "delete", "id": str(list_id)})


@pytest.fixture(scope="module")
def inputs(reference_eol: Reference, simulator_eol: Simulator) -> dict[str, Any]:
    cve = max(simulator_eol.cves, key=simulator_eol.cves.__getitem__)
    return {"qids": reference_eol.detection_qids(2)[:4], "cve": cve, "chunk": 50}


@pytest.fixture(scope="module")
def results(simulator_eol, inputs, search_list, tmp_path_factory: pytest.TempPathFactory):
    return CLIENT.run(simulator_eol, tmp_path_factory.mktemp("qualysdk"), **inputs)


def test_test_login_reads_the_limit_headers_of_about(results) -> None:
    got = value(results, "about")
    assert got["X-RateLimit-Limit"] > 0 and got["X-Concurrency-Limit-Limit"] > 0


def test_gateway_auth_returns_a_jwt(results) -> None:
    got = value(results, "gateway_token")
    assert got["segments"] == 3 and got["token_length"] > 20


def test_threaded_host_list_finds_every_host(results, reference_eol) -> None:
    assert value(results, "host_list")["host_ids"] == sorted(reference_eol.host_ids(0))


def test_threaded_detection_finds_every_host_with_detections(results, reference_eol) -> None:
    got = value(results, "detection")
    assert got["host_ids"] == sorted(reference_eol.detection_ids(0)), got["errors"]
    assert got["detections"] > 0


def test_cve_detection_finds_every_host_of_the_cve(results, simulator_eol, inputs) -> None:
    assert len(value(results, "cve_detection")["host_ids"]) == simulator_eol.cves[inputs["cve"]]


def test_knowledge_base_returns_the_qids_asked_for(results, inputs) -> None:
    assert value(results, "knowledge_base")["qids"] == sorted(inputs["qids"])


def test_dynamic_search_lists_include_the_one_created(results) -> None:
    assert TITLE in value(results, "search_lists")["titles"]
