"""Both search methods against the simulator: current API versions only, the same answer.

``search-list`` (search list 3.0 + detection 5.0) and ``cve-detection`` (CVE detection 3.0 +
KnowledgeBase 4.0) must find the same hosts and QIDs for any CVE and filters; a CVE Qualys
knows no QID for is told apart from a CVE no host has.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from cvesweep.models import CveId, SearchMethod, SearchOptions
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE
from tests.conftest import Sim

CURRENT = ApiVersions()
SEARCH_LIST_PATHS = {CURRENT.path(Endpoint.SEARCH_LIST), CURRENT.path(Endpoint.DETECTION)}
CVE_DETECTION_PATHS = {CURRENT.path(Endpoint.CVE_DETECTION), CURRENT.path(Endpoint.KNOWLEDGE_BASE)}


def run(sim: Sim, cve: str, method: SearchMethod, options: SearchOptions | None = None, **kw):
    kw.setdefault("max_parallel", 1)  # serial unless a test asks: these tests count calls
    with sim.client() as client:
        result = search_vulnerable_hosts(client, CveId(cve), options, method=method, **kw)
    hosts = {h.id: tuple(d.qid for d in h.detections) for h in result.hosts}
    release(result)
    return result, hosts


def paths(sim: Sim) -> set[str]:
    return {path for path, _form in sim.recorder.requests}


def test_search_list_method_calls_detection_5_and_search_list_3_only(sim: Sim) -> None:
    assert CURRENT.path(Endpoint.DETECTION) == "/api/5.0/fo/asset/host/vm/detection/"
    assert CURRENT.path(Endpoint.SEARCH_LIST) == "/api/3.0/fo/qid/search_list/dynamic/"
    result, hosts = run(sim, LOG4SHELL, SearchMethod.SEARCH_LIST)
    assert hosts and paths(sim) == SEARCH_LIST_PATHS
    actions = [form.get("action") for _path, form in sim.recorder.requests]
    assert actions[:2] == ["create", "list"] and actions[-1] == "delete"
    (read_back,) = [f for f in sim.recorder.forms("/search_list/") if f["action"] == "list"]
    assert read_back["show_qids"] == "1" and read_back["ids"] == str(result.summary.search_list_id)
    assert result.summary.search_list_qids  # the CVE's QIDs, read back from the list
    assert result.summary.method == "search-list"
    assert sim.open_lists() == []


def test_detection_5_is_asked_for_its_new_elements_and_never_for_arf_filters(sim: Sim) -> None:
    run(sim, LOG4SHELL, SearchMethod.SEARCH_LIST)
    (form, *_) = sim.recorder.forms("/api/5.0/fo/asset/host/vm/detection/")
    assert {form[k] for k in ("show_qds", "mitre_attack_details", "vuln_detection_source")} == {"1"}
    assert not any(name.startswith("arf_") for name in form)


def test_cve_detection_method_makes_no_search_list(sim: Sim) -> None:
    result, hosts = run(sim, LOG4SHELL, SearchMethod.CVE_DETECTION)
    assert hosts and paths(sim) == CVE_DETECTION_PATHS
    (form,) = sim.recorder.forms("/cve_detection/")
    assert form["cve"] == LOG4SHELL
    summary = result.summary
    assert summary.search_list_id is None and summary.search_list_qids is None
    assert summary.method == "cve-detection"
    assert sim.state()["actions"].get("search_list.create", 0) == 0


def _sample_cves(sim: Sim, count: int) -> list[str]:
    with_hosts = [cve for cve in sim.fleet.kb.cves() if sim.fleet.host_count_for_cve(cve)]
    rng = random.Random(20261201)
    return sorted(rng.sample(with_hosts, min(count, len(with_hosts))))


FILTERS = [
    SearchOptions(),
    SearchOptions(min_severity=4),
    SearchOptions(since=datetime(2026, 1, 1, tzinfo=UTC)),
]


def test_both_methods_find_the_same_hosts_and_qids_for_many_cves(make_sim) -> None:
    sim = make_sim(size=400, seed=11)
    cves = _sample_cves(sim, 24)
    assert len(cves) >= 20, "the fleet must have at least 20 CVEs with hosts"
    compared = 0
    for number, cve in enumerate(cves):
        for options in FILTERS:
            parallel = {"truncation_limit": 37, "max_parallel": 1 + number % 4}
            listed, by_list = run(sim, cve, SearchMethod.SEARCH_LIST, options, **parallel)
            direct, by_cve = run(sim, cve, SearchMethod.CVE_DETECTION, options, **parallel)
            assert by_cve == by_list, (cve, options)
            assert direct.summary.qids == listed.summary.qids, (cve, options)
            compared += bool(by_list)
    assert compared >= 20
    assert sim.open_lists() == []


def test_both_methods_give_the_same_severities(sim: Sim) -> None:
    with sim.client() as client:
        direct = search_vulnerable_hosts(
            client, CveId(LOG4SHELL), method=SearchMethod.CVE_DETECTION, max_parallel=1
        )
        severities = {(h.id, d.qid): d.severity for h in direct.hosts for d in h.detections}
        release(direct)
    with sim.client() as client:
        again = search_vulnerable_hosts(client, CveId(LOG4SHELL), max_parallel=1)
        expected = {(h.id, d.qid): d.severity for h in again.hosts for d in h.detections}
        release(again)
    assert severities == expected and None not in severities.values()


@pytest.mark.parametrize("cve", [NO_QID_CVE])
def test_a_cve_without_qids_is_not_an_all_clear(sim: Sim, cve: str) -> None:
    result, hosts = run(sim, cve, SearchMethod.SEARCH_LIST)
    assert hosts == {}
    assert result.summary.search_list_qids == () and result.summary.no_qid
    assert result.summary.pages == 0
    assert not sim.recorder.forms("/detection/")  # no detection call was made
    assert sim.open_lists() == []  # and the list was deleted


def test_a_cve_with_qids_but_no_host_is_an_ordinary_empty_result(sim: Sim) -> None:
    no_host = [c for c in sim.fleet.kb.cves() if not sim.fleet.host_count_for_cve(c)]
    assert no_host, "the fleet must know a CVE no host has"
    result, hosts = run(sim, no_host[0], SearchMethod.SEARCH_LIST)
    assert hosts == {} and result.summary.search_list_qids and not result.summary.no_qid


def test_detection_5_facts_arrive_from_the_simulator_end_to_end(sim: Sim) -> None:
    with sim.client() as client:
        result = search_vulnerable_hosts(client, CveId(LOG4SHELL), max_parallel=1)
    detections = [d for h in result.hosts for d in h.detections]
    release(result)
    assert detections
    assert all(d.unique_vuln_id is not None for d in detections)
    assert all(d.qds is not None and d.qds_severity for d in detections)
    assert any(d.mitre_technique_ids for d in detections)
    assert all(d.detection_sources and d.latest_detection_source for d in detections)
