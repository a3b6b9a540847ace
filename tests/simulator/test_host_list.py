"""Host list 5.0: details levels, filters, WARNING/URL paging, and speed on 200,000 hosts."""

from __future__ import annotations

import time

import pytest

from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.fleet import Fleet

from .conftest import HOST_LIST, make_client, parse

ROOT = "HOST_LIST_OUTPUT"


def ids_of(root) -> list[int]:
    found = root.findall("RESPONSE/ID_SET/ID") or root.findall("RESPONSE/HOST_LIST/HOST/ID")
    return [int(e.text) for e in found]


def all_ids(client, **params: str) -> list[int]:
    """Every host id of the listing, following the WARNING/URL pages."""
    response = client.get(HOST_LIST, params={"action": "list", **params})
    found: list[int] = []
    while True:
        assert response.status_code == 200, response.text
        root = parse(response.content)
        assert root.tag == ROOT
        found += ids_of(root)
        url = root.findtext("RESPONSE/WARNING/URL")
        if url is None:
            return found
        response = client.get(url)


def test_default_lists_1000_hosts_with_basic_details_and_a_warning(fleet):
    big = Fleet(seed=7, size=1500)
    with make_client(SimulatorApp(big)) as client:
        root = parse(client.get(HOST_LIST, params={"action": "list"}).content)
    hosts = root.findall("RESPONSE/HOST_LIST/HOST")
    assert len(hosts) == 1000
    assert root.findtext("RESPONSE/WARNING/CODE") == "1980"
    assert root.findtext("RESPONSE/WARNING/URL").endswith(f"&id_min={big.host_id(1000)}")
    first = hosts[0]
    assert first.findtext("ID") == str(big.host_id(0))
    tags = [child.tag for child in first]
    assert tags[0] == "ID" and "TRACKING_METHOD" in tags
    assert not {"LAST_VM_SCANNED_DATE", "DETECTION_LIST", "TAGS", "TRURISK_SCORE"} & set(tags)


def test_details_none_gives_an_id_set_of_every_host_in_id_order(fleet):
    with make_client(SimulatorApp(fleet)) as client:
        root = parse(
            client.get(
                HOST_LIST, params={"action": "list", "details": "None", "truncation_limit": "0"}
            ).content
        )
    assert [c.tag for c in root.find("RESPONSE")] == ["DATETIME", "ID_SET"]
    assert ids_of(root) == [fleet.host_id(i) for i in range(fleet.size)]


def test_pages_of_ids_join_into_the_whole_fleet(client, fleet):
    ids = all_ids(client, details="None", truncation_limit="37")
    assert ids == [fleet.host_id(i) for i in range(fleet.size)]


def test_all_details_add_scan_dates_groups_tags_and_trurisk(client, fleet):
    params = {
        "action": "list",
        "details": "All/AGs",
        "show_tags": "1",
        "show_trurisk": "1",
        "show_asset_id": "1",
        "truncation_limit": "20",
    }
    hosts = parse(client.get(HOST_LIST, params=params).content).findall(".//HOST")
    assert len(hosts) == 20
    for element, index in zip(hosts, range(20), strict=True):
        host = fleet.host(index)
        assert element.findtext("ID") == str(host.id)
        assert element.findtext("ASSET_ID") is not None
        assert element.findtext("LAST_VM_SCANNED_DURATION") == str(host.last_vm_scanned_duration)
        groups = element.findtext("ASSET_GROUP_IDS").split(",")
        assert groups == [str(group.id) for group in host.asset_groups]
        assert 0 <= int(element.findtext("TRURISK_SCORE")) <= 1000
        assert 1 <= int(element.findtext("ASSET_CRITICALITY_SCORE")) <= 5
    assert any(h.find("TAGS/TAG") is not None for h in hosts)


def test_filters_match_the_fleet(client, fleet):
    hosts = [fleet.host(i) for i in range(fleet.size)]
    group = fleet.asset_groups[0]
    low, high = fleet.host_id(50), fleet.host_id(120)
    cases = [
        (
            {"ids": f"{low}-{high},{fleet.host_id(300)}"},
            lambda h: low <= h.id <= high or h.index == 300,
        ),
        ({"id_min": str(low), "id_max": str(high)}, lambda h: low <= h.id <= high),
        ({"ag_ids": str(group.id)}, lambda h: group in h.asset_groups),
        ({"ag_titles": group.title}, lambda h: group in h.asset_groups),
        ({"os_pattern": "^Windows"}, lambda h: h.os.startswith("Windows")),
        ({"ips": "10.0.0.0/8"}, lambda h: h.ip is not None and h.ip.startswith("10.")),
        ({"vm_scan_since": "2026-10-01"}, lambda h: h.last_vm_scanned.isoformat() >= "2026-10-01"),
    ]
    for params, keep in cases:
        for details in ("None", "Basic"):
            expected = [h.id for h in hosts if keep(h)]
            got = all_ids(client, details=details, truncation_limit="0", **params)
            assert got == expected, (params, details)
            assert expected, params


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"details": "Everything"}, 1905),
        ({"ids": "abc"}, 1905),
        ({"truncation_limit": "-1"}, 1905),
        ({"os_pattern": "("}, 1905),
        ({"ag_ids": "999999"}, 1905),
        ({"qids": "6"}, 1901),
    ],
)
def test_bad_requests_are_refused(client, params, code):
    response = client.get(HOST_LIST, params={"action": "list", **params})
    assert response.status_code == 400
    assert parse(response.content).findtext("RESPONSE/CODE") == str(code)


def test_post_works_like_get(client):
    got = parse(client.get(HOST_LIST, params={"action": "list", "truncation_limit": "5"}).content)
    posted = parse(client.post(HOST_LIST, data={"action": "list", "truncation_limit": "5"}).content)
    assert ids_of(got) == ids_of(posted)


def test_the_ids_of_200000_hosts_are_listed_in_well_under_a_second():
    huge = Fleet(seed=1, size=200_000)
    with make_client(SimulatorApp(huge), timeout=60) as client:
        started = time.perf_counter()
        response = client.get(
            HOST_LIST, params={"action": "list", "details": "None", "truncation_limit": "0"}
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.text.count("<ID>") == 200_000
    # About 0.3 s here; the bound leaves room for a loaded machine.
    assert elapsed < 8.0, f"{elapsed:.2f} s"
