"""pyqualys 0.1.1 (dev extra) against ``cvesweep simulator --tls``: host list 5.0 and detection
5.0 (POST), one page and every page through its own truncation-URL paging."""

from __future__ import annotations

import math

import pytest

from tests.thirdparty.conftest import Client, Reference, Simulator, value

CLIENT = Client("pyqualys", "pyqualys")
PAGE = 23


@pytest.fixture(scope="module")
def results(simulator: Simulator, tmp_path_factory: pytest.TempPathFactory):
    return CLIENT.run(simulator, tmp_path_factory.mktemp("pyqualys"), page=PAGE)


def test_detection_page_lists_the_simulators_first_hosts(results, reference: Reference) -> None:
    assert value(results, "detection_page")["host_ids"] == reference.detection_ids(PAGE)


def test_detection_paging_follows_every_truncation_url(results, reference: Reference) -> None:
    got, expected = value(results, "detection_all_pages"), reference.detection_ids(0)
    assert got["host_ids"] == expected
    assert got["pages"] == math.ceil(len(expected) / PAGE)


def test_host_list_paging_lists_every_host(results, reference: Reference) -> None:
    assert value(results, "host_list_all_pages")["host_ids"] == reference.host_ids(0)
