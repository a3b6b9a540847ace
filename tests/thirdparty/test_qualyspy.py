"""QualysPy 0.5.10.9 (dev extra) against ``cvesweep simulator --tls``: ``VmdrAPI()`` (about.php
with a trailing slash), detection 5.0, host list 5.0 and knowledge base 4.0 (GET), each reply
read by its strict pydantic-xml models."""

from __future__ import annotations

import pytest

from tests.thirdparty.conftest import Client, Reference, Simulator, value

CLIENT = Client("qualyspy", "qualyspy")
PAGE = 7


@pytest.fixture(scope="module")
def qids(reference: Reference) -> list[int]:
    return reference.detection_qids(2)[:4]


@pytest.fixture(scope="module")
def results(simulator: Simulator, qids: list[int], tmp_path_factory: pytest.TempPathFactory):
    return CLIENT.run(simulator, tmp_path_factory.mktemp("qualyspy"), qids=qids, page=PAGE)


def test_client_builds_and_reads_the_rate_limit_headers(results) -> None:
    assert value(results, "about")["ratelimit_limit"] > 0


def test_detection_page_parses_into_its_models(results, reference: Reference) -> None:
    got, expected = value(results, "detection"), reference.detection_ids(PAGE)
    assert got["host_ids"] == expected
    assert got["truncated"] and got["next_id_min"] > expected[-1]
    assert got["detections"] > 0


def test_host_list_page_parses_into_its_models(results, reference: Reference) -> None:
    got = value(results, "host_list")
    assert got["host_ids"] == reference.host_ids(PAGE) and got["truncated"]


def test_knowledge_base_returns_the_qids_asked_for(results, qids: list[int]) -> None:
    assert sorted(value(results, "knowledge_base")["qids"]) == qids
