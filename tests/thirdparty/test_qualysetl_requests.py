"""The requests of qualysetl 0.9.37 (Qualys's own "API Best Practices" ETL blueprint), replayed.

qualysetl itself cannot run on this machine: ``qetl_manage_user`` exits at once as root
("Cannot run qetl_manage_user as root user") and on a machine without swap
(``if_swap_space_total_is_zero_abort``); the tests and CI run as root, without swap. So its
exact requests are replayed here with plain httpx, copied from its source
(qualys_etl/etld_lib/etld_lib_config.py and etld_lib_authentication_objects.py, 0.9.37):
every one must be served as on Qualys, whose own blueprint sends them to current versions.
"""

from __future__ import annotations

from lxml import etree

from cvesweep.qualys.endpoints import Endpoint
from tests.thirdparty.conftest import SAFE_XML, Simulator, path

HEADERS = {"X-Requested-With": "qualysetl_v0.9.37", "User-Agent": "qualysetl_v0.9.37"}
# host_list_detection_payload_default for a non-2.0 endpoint: the arf_*_filter keys removed,
# show_arf_data / arf_filter_keys added (3.0+), mitre_attack_details added (4.0+).
DETECTION = {
    "action": "list", "show_asset_id": "1", "show_reopened_info": "1", "show_tags": "0",
    "show_results": "1", "show_igs": "1", "status": "Active,New,Re-Opened,Fixed",
    "include_ignored": "1", "include_disabled": "1", "show_qds": "1", "show_qds_factors": "1",
    "show_arf_data": "1", "arf_filter_keys": "non-running-kernel", "mitre_attack_details": "1",
    "truncation_limit": "5",
}  # fmt: skip
KNOWLEDGE_BASE = {
    "action": "list", "details": "All", "show_disabled_flag": "1", "show_qid_change_log": "1",
    "show_supported_modules_info": "1", "show_pci_reasons": "1",
}  # fmt: skip
HOST_LIST = {
    "action": "list", "details": "All", "truncation_limit": "5", "show_tags": "1",
    "show_cloud_tags": "1", "show_asset_id": "1", "host_metadata": "all",
    "show_trurisk": "1", "show_trurisk_factors": "1",
}  # fmt: skip


def post(simulator: Simulator, url: str, form: dict[str, str]) -> etree._Element:
    with simulator.http() as http:
        reply = http.post(url, data=form, headers=HEADERS)
    assert reply.status_code == 200, reply.text[:1500]
    return etree.fromstring(reply.content, SAFE_XML)


def test_about_by_post_as_its_connectivity_check(simulator: Simulator) -> None:
    assert post(simulator, "/msp/about.php", {}).tag == "ABOUT"


def test_detection_5_0_with_its_payload(simulator: Simulator) -> None:
    root = post(simulator, path(Endpoint.DETECTION), DETECTION)
    assert root.tag == "HOST_LIST_VM_DETECTION_OUTPUT" and root.xpath("//HOST/ID")


def test_knowledge_base_4_0_with_its_payload(simulator: Simulator) -> None:
    qid = post(simulator, path(Endpoint.DETECTION), {"action": "list", "truncation_limit": "1"})
    ids = qid.xpath("//DETECTION/QID/text()")[:2]
    root = post(simulator, path(Endpoint.KNOWLEDGE_BASE), {**KNOWLEDGE_BASE, "ids": ",".join(ids)})
    assert sorted(root.xpath("//VULN/QID/text()")) == sorted(ids)


def test_host_list_5_0_with_its_payload(simulator: Simulator) -> None:
    root = post(simulator, path(Endpoint.HOST_LIST), HOST_LIST)
    assert root.tag == "HOST_LIST_OUTPUT" and len(root.xpath("//HOST/ID")) == 5
