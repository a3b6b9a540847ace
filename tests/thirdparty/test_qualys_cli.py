"""qualys-cli 0.2.0 (.venv-clients/qualys-cli) against ``cvesweep simulator --tls --serve-eol``:
its VM commands call ``/api/2.0/...`` only (End-of-Life); ``QUALYS_FO_API_VERSION=4`` moves the
knowledge base to 4.0 with a gateway JWT (``POST /auth``, then ``Authorization: Bearer``)."""

from __future__ import annotations

import pytest

from tests.thirdparty.conftest import Client, Reference, Simulator, value

CLIENT = Client("qualys-cli", "qualys_cli", venv="qualys-cli")
PAGE = 7


@pytest.fixture(scope="module")
def qids(reference_eol: Reference) -> list[int]:
    return reference_eol.detection_qids(2)[:4]


@pytest.fixture(scope="module")
def results(simulator_eol: Simulator, qids, tmp_path_factory: pytest.TempPathFactory):
    return CLIENT.run(simulator_eol, tmp_path_factory.mktemp("qualys-cli"), qids=qids, page=PAGE)


def test_vm_host_detection_lists_the_simulators_first_hosts(results, reference_eol) -> None:
    assert value(results, "detection")["host_ids"] == reference_eol.detection_ids(PAGE)


def test_vm_host_list_lists_the_simulators_first_hosts(results, reference_eol) -> None:
    assert value(results, "host_list")["host_ids"] == reference_eol.host_ids(PAGE)


def test_vm_kb_list_returns_the_qids_asked_for(results, qids: list[int]) -> None:
    assert sorted(value(results, "knowledge_base")["qids"]) == qids


def test_vm_kb_list_on_4_0_with_a_gateway_jwt(results, qids: list[int]) -> None:
    assert sorted(value(results, "knowledge_base_v4")["qids"]) == qids
