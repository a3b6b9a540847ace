"""CVE detection 3.0: parameters, reply shape, paging, and the invariant the client relies on:
for any CVE and filters, its (host id, QID) pairs are those of detection 5.0 restricted to a
search list of that CVE."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.facts import unique_vuln_id
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import IG_ONLY_CVE, LOG4SHELL, NO_QID_CVE, VENDOR_EXAMPLE

from .conftest import CVE_DETECTION, DETECTION, LISTS, make_client, parse

ROOT = "HOST_LIST_CVE_VM_DETECTION_OUTPUT"
ELEMENTS = [
    "VULN_CVE",
    "ASSOCIATED_QID",
    "QID_TITLE",
    "CVSS",
    "CVSS_BASE",
    "CVSS_TEMPORAL",
    "CVSS3.1",
    "CVSS3.1_BASE",
    "CVSS3.1_TEMPORAL",
    "QVS",
    "UNIQUE_VULN_ID",
    "TYPE",
    "SSL",
    "RESULTS",
    "STATUS",
    "FIRST_FOUND_DATETIME",
    "LAST_FOUND_DATETIME",
    "TIMES_FOUND",
    "LAST_TEST_DATETIME",
    "LAST_UPDATE_DATETIME",
    "LAST_PROCESSED_DATETIME",
    "LAST_FIXED_DATETIME",
    "IS_IGNORED",
    "IS_DISABLED",
]


@pytest.fixture(scope="module")
def big() -> Fleet:
    return Fleet(seed=11, size=3000)


def cve_pairs(client, cve: str, **filters: str) -> set[tuple[int, int]]:
    """(host id, QID) of every CVE_DETECTION, following the WARNING/URL pages."""
    params: dict[str, str] | None = {"action": "list", "cve": cve, **filters}
    url = CVE_DETECTION
    found: set[tuple[int, int]] = set()
    while True:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        root = parse(response.content)
        assert root.tag == ROOT
        for host in root.iterfind("RESPONSE/HOST_LIST/HOST"):
            for det in host.iterfind("CVE_DETECTION_LIST/CVE_DETECTION"):
                assert det.findtext("VULN_CVE") == cve
                found.add((int(host.findtext("ID")), int(det.findtext("ASSOCIATED_QID"))))
        next_url = root.findtext("RESPONSE/WARNING/URL")
        if next_url is None:
            return found
        url, params = next_url, None


def detection_pairs(client, cve: str, **filters: str) -> set[tuple[int, int]]:
    """(host id, QID) of detection 5.0 with a search list of ``cve``, all pages."""
    created = client.post(LISTS, data={"action": "create", "title": f"t {cve}", "cve_ids": cve})
    list_id = parse(created.content).findtext("RESPONSE/ITEM_LIST/ITEM/VALUE")
    params: dict[str, str] | None = {
        "action": "list",
        "include_search_list_ids": list_id,
        **filters,
    }
    url, found = DETECTION, set()
    try:
        while True:
            root = parse(
                client.post(url, data=params).content if params else client.get(url).content
            )
            for host in root.iterfind("RESPONSE/HOST_LIST/HOST"):
                for det in host.iterfind("DETECTION_LIST/DETECTION"):
                    found.add((int(host.findtext("ID")), int(det.findtext("QID"))))
            next_url = root.findtext("RESPONSE/WARNING/URL")
            if next_url is None:
                return found
            url, params = next_url, None
    finally:
        client.post(LISTS, data={"action": "delete", "id": list_id})


def some_cves(fleet: Fleet, n: int) -> Iterator[str]:
    """``n`` CVEs spread over the KB (hand-written and filler), the special ones included."""
    cves = fleet.kb.cves()
    step = max(1, len(cves) // n)
    yield from (LOG4SHELL, VENDOR_EXAMPLE, IG_ONLY_CVE, NO_QID_CVE)
    yield from cves[::step][: n - 4]


FILTERS = [
    {},
    {"truncation_limit": "7"},
    {"status": "New,Active,Re-Opened,Fixed", "truncation_limit": "50"},
    {"status": "Fixed"},
    {"include_vuln_type": "potential"},
    {"ips": "10.0.0.0/8", "os_pattern": "Linux|Windows"},
    {"vm_scan_since": "2026-10-01"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "defaults")
def test_cve_detection_pairs_equal_detection_with_a_search_list_for_every_cve(big, filters):
    """Over 20 CVEs, per filter set; at least 3 CVEs have pairs, so sets are not all empty."""
    with make_client(SimulatorApp(big)) as client:
        cves = list(some_cves(big, 24))
        assert len(set(cves)) >= 20
        nonempty = 0
        for cve in cves:
            expected = detection_pairs(client, cve, **filters)
            assert cve_pairs(client, cve, **filters) == expected, cve
            nonempty += bool(expected)
    assert nonempty >= 3


def test_the_invariant_holds_for_host_and_qid_filters(big):
    ids = f"{big.host_id(10)}-{big.host_id(900)},{big.host_id(1500)}"
    groups = ",".join(str(g.id) for g in big.asset_groups[:3])
    with make_client(SimulatorApp(big)) as client:
        for filters in ({"ids": ids}, {"ag_ids": groups}, {"qids": "1-400000"}):
            for cve in (LOG4SHELL, VENDOR_EXAMPLE, "CVE-2024-3094", "CVE-2017-0144"):
                assert cve_pairs(client, cve, **filters) == detection_pairs(client, cve, **filters)


def test_reply_has_the_documented_elements_in_order(client, fleet):
    root = parse(
        client.post(CVE_DETECTION, data={"action": "list", "cve": LOG4SHELL, "show_qvs": "1",
                                         "status": "New,Active,Re-Opened,Fixed"}).content
    )  # fmt: skip
    hosts = root.findall("RESPONSE/HOST_LIST/HOST")
    assert hosts
    detections = [d for h in hosts for d in h.iterfind("CVE_DETECTION_LIST/CVE_DETECTION")]
    for det in detections:
        tags = [child.tag for child in det]
        assert tags == [t for t in ELEMENTS if t in tags]
        assert set(ELEMENTS) - set(tags) <= {"LAST_FIXED_DATETIME", "STATUS"}
        severity = fleet.kb.vuln(int(det.findtext("ASSOCIATED_QID"))).severity
        low = {5: 9.0, 4: 7.0, 3: 4.0}[severity]  # the CVSS band of the QID's severity
        assert low <= float(det.findtext("CVSS3.1")) <= low + 2.0
        assert 1 <= int(det.findtext("QVS")) <= 100
        assert det.findtext("TYPE") in ("Confirmed", "Potential")
    first = hosts[0]
    assert [c.tag for c in first][:1] == ["ID"]
    assert first.find("SEVERITY") is None and first.find(".//SEVERITY") is None
    assert any(d.find("LAST_FIXED_DATETIME") is not None for d in detections)


def test_unique_vuln_id_is_the_detection_replys_one(client, fleet):
    cve_root = parse(client.get(CVE_DETECTION, params={"action": "list", "cve": LOG4SHELL}).content)
    det_root = parse(
        client.get(DETECTION, params={"action": "list", "qids": "730297,376157,45515"}).content
    )
    by_pair = {
        (h.findtext("ID"), d.findtext("QID")): d.findtext("UNIQUE_VULN_ID")
        for h in det_root.iterfind("RESPONSE/HOST_LIST/HOST")
        for d in h.iterfind("DETECTION_LIST/DETECTION")
    }
    pairs = [
        ((h.findtext("ID"), d.findtext("ASSOCIATED_QID")), d.findtext("UNIQUE_VULN_ID"))
        for h in cve_root.iterfind("RESPONSE/HOST_LIST/HOST")
        for d in h.iterfind("CVE_DETECTION_LIST/CVE_DETECTION")
    ]
    assert pairs
    assert all(by_pair[pair] == uid for pair, uid in pairs)
    assert unique_vuln_id  # the same function writes both


def test_one_cve_detection_per_cve_and_qid_and_only_the_cves_asked(client, fleet):
    both = f"{LOG4SHELL},CVE-2021-45046"
    root = parse(
        client.get(
            CVE_DETECTION, params={"action": "list", "cve": both, "truncation_limit": "0"}
        ).content
    )
    seen = []
    for host in root.iterfind("RESPONSE/HOST_LIST/HOST"):
        pairs = [
            (d.findtext("VULN_CVE"), d.findtext("ASSOCIATED_QID"))
            for d in host.iterfind("CVE_DETECTION_LIST/CVE_DETECTION")
        ]
        assert len(pairs) == len(set(pairs))
        seen += pairs
    assert {cve for cve, _ in seen} == {LOG4SHELL, "CVE-2021-45046"}
    assert (LOG4SHELL, "376157") in seen and ("CVE-2021-45046", "376157") in seen


def test_show_qvs_and_show_tags_are_off_by_default(client):
    root = parse(client.get(CVE_DETECTION, params={"action": "list", "cve": LOG4SHELL}).content)
    assert root.find(".//QVS") is None and root.find(".//TAGS") is None
    tagged = parse(
        client.get(
            CVE_DETECTION, params={"action": "list", "cve": LOG4SHELL, "show_tags": "1"}
        ).content
    )
    assert tagged.find("RESPONSE/HOST_LIST/HOST/TAGS/TAG/NAME") is not None


def test_paging_follows_warning_url_with_id_min(client):
    first = parse(
        client.post(
            CVE_DETECTION, data={"action": "list", "cve": LOG4SHELL, "truncation_limit": "2"}
        ).content
    )
    assert [c.tag for c in first.find("RESPONSE")] == ["DATETIME", "HOST_LIST", "WARNING"]
    assert first.findtext("RESPONSE/WARNING/CODE") == "1980"
    url = first.findtext("RESPONSE/WARNING/URL")
    assert url.startswith(f"http://qualys.test{CVE_DETECTION}?action=list&cve={LOG4SHELL}")
    assert "&id_min=" in url
    second = parse(client.get(url).content)
    ids = [int(h.findtext("ID")) for h in first.iterfind(".//HOST")]
    more = [int(h.findtext("ID")) for h in second.iterfind(".//HOST")]
    assert len(ids) == 2 and more and min(more) > max(ids)


@pytest.mark.parametrize("cve", [NO_QID_CVE, IG_ONLY_CVE])
def test_a_cve_without_detected_qids_gives_the_empty_reply(client, cve):
    root = parse(client.get(CVE_DETECTION, params={"action": "list", "cve": cve}).content)
    assert root.tag == ROOT
    assert [c.tag for c in root.find("RESPONSE")] == ["DATETIME"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"action": "list"}, 1903),
        ({"action": "list", "cve": "CVE-21-1"}, 1905),
        ({"action": "list", "cve": f"{LOG4SHELL},log4shell"}, 1905),
        ({"action": "list", "cve": LOG4SHELL, "severities": "5"}, 1901),
        ({"action": "list", "cve": LOG4SHELL, "show_igs": "1"}, 1901),
        ({"action": "list", "cve": LOG4SHELL, "status": "Open"}, 1905),
        ({"action": "list", "cve": LOG4SHELL, "include_vuln_type": "info"}, 1905),
        ({"action": "list", "cve": LOG4SHELL, "os_pattern": "("}, 1905),
        ({"action": "delete", "cve": LOG4SHELL}, 1905),
    ],
)
def test_bad_requests_are_refused_with_the_qualys_codes(client, params, code):
    response = client.get(CVE_DETECTION, params=params)
    assert response.status_code == 400
    assert parse(response.content).findtext("RESPONSE/CODE") == str(code)


def test_documented_but_unmodelled_parameters_are_accepted(client):
    params = {
        "action": "list",
        "cve": LOG4SHELL,
        "filter_superseded_qids": "1",
        "use_tags": "0",
        "host_metadata": "all",
        "show_cloud_tags": "0",
        "network_ids": "1",
        "output_format": "XML",
        "show_asset_id": "1",
    }
    root = parse(client.get(CVE_DETECTION, params=params).content)
    assert root.find("RESPONSE/HOST_LIST/HOST/ASSET_ID") is not None
