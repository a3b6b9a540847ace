"""Detection 4.0/5.0: the elements each version adds, QDS and its filter, and ``ids=`` on a
host-id range costing what ``id_min``/``id_max`` does."""

from __future__ import annotations

import pytest

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.facts import TRURISK_STATUSES
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.records import SimHost

from .conftest import DETECTION, make_client, parse

ALL_OPEN = {"action": "list", "truncation_limit": "0", "status": "New,Active,Re-Opened,Fixed"}


def detections_of(root):
    return [
        (int(h.findtext("ID")), d)
        for h in root.iterfind("RESPONSE/HOST_LIST/HOST")
        for d in h.iterfind("DETECTION_LIST/DETECTION")
    ]


def test_5_0_lists_each_cve_of_the_detections_qid_when_asked(client, fleet):
    found = detections_of(parse(client.post(DETECTION, data={**ALL_OPEN, "show_cve": "1"}).content))
    with_cve = 0
    for _, det in found:
        qid = int(det.findtext("QID"))
        assert [c.text for c in det.iterfind("CVE")] == list(fleet.kb.vuln(qid).cves)
        with_cve += det.find("CVE") is not None
    assert 0 < with_cve < len(found)  # some QIDs have CVEs, some have none


def test_unique_vuln_ids_are_unique_and_stable(client, fleet):
    first = detections_of(parse(client.post(DETECTION, data=ALL_OPEN).content))
    ids = [det.findtext("UNIQUE_VULN_ID") for _, det in first]
    assert len(ids) == len(set(ids))
    again = detections_of(parse(client.post(DETECTION, data=ALL_OPEN).content))
    assert [det.findtext("UNIQUE_VULN_ID") for _, det in again] == ids


def test_qds_is_shown_on_request_with_the_real_sample_shape(client):
    plain = parse(client.post(DETECTION, data=ALL_OPEN).content)
    assert plain.find(".//QDS") is None
    root = parse(
        client.post(DETECTION, data={**ALL_OPEN, "show_qds": "1", "show_qds_factors": "1"}).content
    )
    for _, det in detections_of(root):
        qds = det.find("QDS")
        if det.findtext("TYPE") == "Info":
            assert qds is None
            continue
        score = int(qds.text)
        band = (
            "LOW"
            if score < 40
            else "MEDIUM"
            if score < 70
            else "HIGH"
            if score < 90
            else "CRITICAL"
        )
        assert qds.get("severity") == band
        names = [f.get("name") for f in det.iterfind("QDS_FACTORS/QDS_FACTOR")]
        assert names == ["CVSS", "CVSS_version", "epss", "CVSS_vector"]


@pytest.mark.parametrize(("low", "high"), [(70, 100), (0, 39), (55, 55)])
def test_qds_min_and_max_keep_detections_in_the_range(client, low, high):
    data = {**ALL_OPEN, "show_qds": "1", "qds_min": str(low), "qds_max": str(high)}
    found = detections_of(parse(client.post(DETECTION, data=data).content))
    assert all(low <= int(det.findtext("QDS")) <= high for _, det in found)
    everything = detections_of(
        parse(client.post(DETECTION, data={**ALL_OPEN, "show_qds": "1"}).content)
    )
    expected = [
        d
        for _, d in everything
        if d.find("QDS") is not None and low <= int(d.findtext("QDS")) <= high
    ]
    assert len(found) == len(expected)


def test_mitre_elements_on_4_0_and_5_0_only_with_mitre_attack_details(fleet):
    data = {**ALL_OPEN, "mitre_attack_details": "1"}
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        for version in ("4.0", "5.0"):
            path = ENDPOINTS[Endpoint.DETECTION].path(version)
            root = parse(client.post(path, data=data).content)
            for _, det in detections_of(root):
                if det.findtext("TYPE") == "Info":
                    assert det.find("MITRE_TACTIC_ID") is None
                    continue
                tactics = det.findtext("MITRE_TACTIC_ID").split(",")
                names = det.findtext("MITRE_TACTIC_NAME").split(",")
                assert all(t.startswith("TA") for t in tactics) and len(names) == len(tactics)
                techniques = det.findtext("MITRE_TECHNIQUE_ID").split(",")
                assert all(t.startswith("T1") for t in techniques)
            assert (
                parse(client.post(path, data=ALL_OPEN).content).find(".//MITRE_TACTIC_ID") is None
            )
        old = ENDPOINTS[Endpoint.DETECTION].path("3.0")
        assert client.post(old, data=data).status_code == 400  # 1901 before 4.0


def test_detection_sources_on_5_0_with_vuln_detection_source(client, fleet):
    data = {**ALL_OPEN, "vuln_detection_source": "1"}
    found = detections_of(parse(client.post(DETECTION, data=data).content))
    agents = {
        fleet.host(i).id for i in range(fleet.size) if fleet.host(i).tracking_method == "AGENT"
    }
    assert agents
    for host_id, det in found:
        sources = det.findtext("VULNERABILITY_DETECTION_SOURCES").split(",")
        assert det.findtext("LATEST_VULNERABILITY_DETECTION_SOURCE") in sources
        assert ("Cloud Agent" in sources) or host_id not in agents
    assert (
        parse(client.post(DETECTION, data=ALL_OPEN).content).find(
            ".//LATEST_VULNERABILITY_DETECTION_SOURCE"
        )
        is None
    )


def test_5_0_sends_cve_and_trurisk_elimination_status_only_when_asked(client):
    # qualysdk 0.4.0 reads 5.0 into a closed field set (THIRDPARTY.md D1): not by default.
    root = parse(client.post(DETECTION, data=ALL_OPEN).content)
    assert root.find(".//DETECTION/CVE") is None
    assert root.find(".//DETECTION/TRURISK_ELIMINATION_STATUS") is None
    assert detections_of(root)


@pytest.mark.parametrize("name", ["show_cve", "show_trurisk_elimination"])
def test_the_new_5_0_switches_are_0_or_1_and_refused_before_5_0(client, fleet, name):
    bad = client.post(DETECTION, data={**ALL_OPEN, name: "yes"})
    assert bad.status_code == 400 and "must be 0 or 1" in bad.text
    with make_client(SimulatorApp(fleet, serve_eol=True)) as old:
        refused = old.post(ENDPOINTS[Endpoint.DETECTION].path("4.0"), data={**ALL_OPEN, name: "1"})
    assert refused.status_code == 400 and f"Unrecognized parameter(s): {name} " in refused.text


def test_trurisk_elimination_status_on_some_5_0_detections(client):
    data = {**ALL_OPEN, "show_trurisk_elimination": "1"}
    found = detections_of(parse(client.post(DETECTION, data=data).content))
    statuses = [det.findtext("TRURISK_ELIMINATION_STATUS") for _, det in found]
    shown = [s for s in statuses if s is not None]
    assert 0 < len(shown) < len(statuses) / 4
    assert set(shown) <= set(TRURISK_STATUSES)


def test_2_0_has_none_of_the_newer_elements(fleet):
    data = {**ALL_OPEN, "show_qds": "1"}
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        root = parse(client.post(ENDPOINTS[Endpoint.DETECTION].path("2.0"), data=data).content)
    tags = {child.tag for _, det in detections_of(root) for child in det}
    assert "UNIQUE_VULN_ID" in tags and "QDS" in tags  # both are in real 2.0-era replies
    assert not tags & {"CVE", "MITRE_TACTIC_ID", "TRURISK_ELIMINATION_STATUS"}


class CountingFleet(Fleet):
    """A fleet that counts the hosts it builds."""

    built = 0

    def host(self, index: int, *, with_detections: bool = True) -> SimHost:
        CountingFleet.built += 1
        return super().host(index, with_detections=with_detections)


@pytest.mark.parametrize("qids", [None, "376157,730297,45515"])
def test_ids_range_builds_only_the_hosts_of_the_range_like_id_min_id_max(qids):
    fleet = CountingFleet(seed=1, size=20_000)
    low, high = fleet.host_id(10_000), fleet.host_id(10_199)
    extra = {} if qids is None else {"qids": qids}
    costs, bodies = [], []
    with make_client(SimulatorApp(fleet)) as client:
        for params in ({"ids": f"{low}-{high}"}, {"id_min": str(low), "id_max": str(high)}):
            CountingFleet.built = 0
            response = client.get(
                DETECTION, params={"action": "list", "truncation_limit": "0", **extra, **params}
            )
            costs.append(CountingFleet.built)
            bodies.append(response.text.split("<HOST_LIST>", 1)[1])
    assert bodies[0] == bodies[1]
    assert costs[0] == costs[1] <= 200


def test_several_ids_ranges_and_singles_in_any_order(client, fleet):
    a, b, c = fleet.host_id(300), fleet.host_id(10), fleet.host_id(20)
    text = f"{a},{b}-{c},{fleet.host_id(15)}"
    root = parse(client.get(DETECTION, params={**ALL_OPEN, "ids": text}).content)
    wanted = {fleet.host_id(i) for i in (*range(10, 21), 300)}
    ids = [int(h.findtext("ID")) for h in root.iterfind(".//HOST")]
    assert ids == sorted(ids) and set(ids) <= wanted and fleet.host_id(300) in ids


def test_log4shell_cves_appear_on_its_qids(client):
    params = {**ALL_OPEN, "qids": "376157", "show_cve": "1"}
    root = parse(client.get(DETECTION, params=params).content)
    cves = {c.text for c in root.iterfind(".//DETECTION/CVE")}
    assert cves == {LOG4SHELL, "CVE-2021-45046"}
