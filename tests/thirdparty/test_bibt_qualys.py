"""bibt-qualys 0.0.28 (.venv-clients/bibt-qualys) against ``cvesweep simulator --tls
--serve-eol``: ``Client.list_hosts`` is hard-wired to host list 2.0 (End-of-Life) and follows
the truncation URL page by page."""

from __future__ import annotations

import pytest

from tests.thirdparty.conftest import Client, Reference, Simulator, value

CLIENT = Client("bibt-qualys", "bibt.qualys", venv="bibt-qualys")
PAGE = 23


@pytest.fixture(scope="module")
def results(simulator_eol: Simulator, tmp_path_factory: pytest.TempPathFactory):
    return CLIENT.run(simulator_eol, tmp_path_factory.mktemp("bibt-qualys"), page=PAGE)


def test_list_hosts_follows_every_page(results, reference_eol: Reference) -> None:
    assert value(results, "host_list_all_pages")["host_ids"] == reference_eol.host_ids(0)
