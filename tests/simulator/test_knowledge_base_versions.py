"""KnowledgeBase 4.0 (and 2.0/3.0 behind serve_eol): the elements each version adds, ids."""

from __future__ import annotations

import pytest

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.knowledgebase import LOG4SHELL

from .conftest import KB, make_client, parse


def vulns(client, path: str = KB, **params: str):
    response = client.post(path, data={"action": "list", **params})
    assert response.status_code == 200, response.text
    return parse(response.content).findall("RESPONSE/VULN_LIST/VULN")


@pytest.mark.parametrize(
    ("version", "patch", "cvss4"),
    [("2.0", False, False), ("3.0", True, False), ("4.0", True, True)],
)
def test_each_version_adds_its_elements(fleet, version, patch, cvss4):
    qids = ",".join(map(str, fleet.kb.all_qids()))
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        found = vulns(client, ENDPOINTS[Endpoint.KNOWLEDGE_BASE].path(version), ids=qids)
    assert (any(v.find("PATCH_PUBLISHED_DATE") is not None for v in found)) is patch
    assert (any(v.find("CVSS_V4") is not None for v in found)) is cvss4
    for vuln in found:
        if vuln.find("PATCH_PUBLISHED_DATE") is not None:
            assert vuln.findtext("PATCHABLE") == "1"
            assert vuln.findtext("PATCH_PUBLISHED_DATE") >= vuln.findtext("PUBLISHED_DATETIME")
        if vuln.find("CVSS_V4") is not None:
            assert 0.0 < float(vuln.findtext("CVSS_V4/BASE")) <= 10.0
            assert float(vuln.findtext("CVSS_V4/THREAT")) <= float(vuln.findtext("CVSS_V4/BASE"))


def test_qualysetl_4_0_parameters_are_accepted(client):
    found = vulns(
        client,
        ids="45515",
        details="All",
        show_disabled_flag="1",
        show_qid_change_log="1",
        show_supported_modules_info="1",
        show_pci_reasons="1",
    )
    assert [v.findtext("QID") for v in found] == ["45515"]
    assert found[0].findtext("DIAGNOSIS")


def test_ids_takes_qids_and_ranges_and_answers_only_known_ones(client, fleet):
    known = fleet.kb.qids_for_cves([LOG4SHELL])
    text = f"1,{known[0]},{known[1]}-{known[-1]},999999"
    got = [int(v.findtext("QID")) for v in vulns(client, ids=text)]
    assert got == [q for q in fleet.kb.all_qids() if q == known[0] or known[1] <= q <= known[-1]]


def test_details_none_gives_only_qids(client):
    (vuln,) = vulns(client, ids="45515", details="None")
    assert [c.tag for c in vuln] == ["QID"]


@pytest.mark.parametrize(
    "params", [{"details": "Some"}, {"show_pci_reasons": "yes"}, {"cve": LOG4SHELL}]
)
def test_bad_kb_requests_are_refused(client, params):
    response = client.post(KB, data={"action": "list", **params})
    assert response.status_code == 400
