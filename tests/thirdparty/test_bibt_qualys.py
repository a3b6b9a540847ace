"""bibt-qualys 0.0.28 (.venv-clients/bibt-qualys) against ``cvesweep simulator --tls
--serve-eol``: ``Client.list_hosts`` is hard-wired to host list 2.0 (End-of-Life) and sends
``show_attributes=ALL``, an asset-group parameter the host list does not take.

Client limitation, not a simulator defect: Qualys refuses an unknown parameter with HTTP 400,
CODE 1901 "Unrecognized parameter(s): ..." (the real reply in
tests/data/qualys-samples/error_1901_unrecognized_param_lists_allowed_detection_params_powerqualys.xml),
so ``list_hosts`` cannot work against Qualys either; the simulator answers the same.
"""

from __future__ import annotations

import pytest

from tests.thirdparty.conftest import Client, Simulator

CLIENT = Client("bibt-qualys", "bibt.qualys", venv="bibt-qualys")
PAGE = 23


@pytest.fixture(scope="module")
def results(simulator_eol: Simulator, tmp_path_factory: pytest.TempPathFactory):
    return CLIENT.run(simulator_eol, tmp_path_factory.mktemp("bibt-qualys"), page=PAGE)


def test_list_hosts_is_refused_1901_for_its_stray_show_attributes(results) -> None:
    record = results["host_list_all_pages"]
    assert not record["ok"]
    assert "400" in record["error"] and "<CODE>1901</CODE>" in record["error"]
    assert "Unrecognized parameter(s): show_attributes" in record["error"]
