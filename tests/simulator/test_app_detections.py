"""Detection list filters, ordering, paging and streaming, checked against the fleet's data."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import IG_ONLY_CVE, LOG4SHELL
from cvesweep.simulator.records import SimDetection, SimHost

from .conftest import DETECTION, LISTS, parse

OPEN = {"New", "Active", "Re-Opened"}
Result = dict[int, list[int]]


def expected(
    fleet: Fleet,
    host_ok: Callable[[SimHost], bool] = lambda h: True,
    det_ok: Callable[[SimDetection], bool] = lambda d: d.type != "Info" and d.status in OPEN,
) -> Result:
    """Return {host id: [QIDs]} computed straight from the fleet's records."""
    out: Result = {}
    for index in range(fleet.size):
        host = fleet.host(index)
        if not host_ok(host):
            continue
        qids = [d.qid for d in host.detections if det_ok(d)]
        if qids:
            out[host.id] = qids
    return out


def default_det(d: SimDetection) -> bool:
    return d.type != "Info" and d.status in OPEN


def got(client, **params: str) -> Result:
    response = client.post(DETECTION, data={"action": "list", "truncation_limit": "0", **params})
    assert response.status_code == 200, response.text
    root = parse(response.content)
    assert root.find("RESPONSE/WARNING") is None
    return {
        int(host.findtext("ID")): [
            int(q.text) for q in host.iterfind("DETECTION_LIST/DETECTION/QID")
        ]
        for host in root.iterfind("RESPONSE/HOST_LIST/HOST")
    }


def test_default_returns_open_non_info_detections_in_id_and_qid_order(client, fleet):
    result = got(client)
    assert result == expected(fleet)
    assert list(result) == sorted(result)
    assert all(qids == sorted(qids) for qids in result.values())
    assert len(result) > 20


def pick(fleet: Fleet, attribute: str):
    """Return a value of ``attribute`` found on some mid-fleet host."""
    return getattr(fleet.host(fleet.size // 2), attribute)


def ip_number(ip: str | None) -> int:
    return -1 if ip is None else int(ipaddress.IPv4Address(ip))


def test_filter_ips_single_range_and_list(client, fleet):
    ips = [h.ip for h in (fleet.host(i) for i in range(fleet.size)) if h.ip][:40]
    low, high = sorted(ips[5:15], key=ip_number)[0], sorted(ips[5:15], key=ip_number)[-1]
    text = f"{ips[0]},{low}-{high}"
    wanted = {ip_number(ips[0])}

    def host_ok(h: SimHost) -> bool:
        n = ip_number(h.ip)
        return n in wanted or ip_number(low) <= n <= ip_number(high)

    result = got(client, ips=text)
    assert result == expected(fleet, host_ok)
    assert result


def test_ips_filter_never_matches_ipv6_only_hosts(client, fleet):
    ipv6_only = [h for h in (fleet.host(i) for i in range(fleet.size)) if h.ip is None]
    assert ipv6_only, "the fleet should have IPv6-only hosts"
    result = got(client, ips="0.0.0.0-255.255.255.255")
    assert not {h.id for h in ipv6_only} & set(result)


def test_filter_asset_groups_by_id_and_title(client, fleet):
    group = fleet.asset_groups[0]
    by_id = got(client, ag_ids=str(group.id))
    by_title = got(client, ag_titles=group.title)
    assert by_id == by_title == expected(fleet, lambda h: group in h.asset_groups)
    assert by_id


@pytest.mark.parametrize("severities", ["5", "3-5", "1,2"])
def test_filter_severities(client, fleet, severities):
    levels = {
        int(s) for part in severities.split(",") for s in range(int(part[0]), int(part[-1]) + 1)
    }
    result = got(client, severities=severities)
    assert result == expected(fleet, det_ok=lambda d: default_det(d) and d.severity in levels)


@pytest.mark.parametrize("status", ["Fixed", "New,Re-Opened", "Active"])
def test_filter_status(client, fleet, status):
    wanted = set(status.split(","))
    result = got(client, status=status)
    assert result == expected(fleet, det_ok=lambda d: d.type != "Info" and d.status in wanted)
    assert result


def test_show_igs_adds_info_detections(client, fleet):
    result = got(client, show_igs="1")
    assert result == expected(fleet, det_ok=lambda d: d.type == "Info" or d.status in OPEN)
    assert result != got(client)


def test_filter_qids_list_and_range(client, fleet):
    qids = sorted(fleet.kb.qids_for_cves([LOG4SHELL]))
    text = f"{qids[0]},{qids[-1]}-{qids[-1] + 5}"
    wanted = {qids[0], *range(qids[-1], qids[-1] + 6)}
    result = got(client, qids=text)
    assert result == expected(fleet, det_ok=lambda d: default_det(d) and d.qid in wanted)
    assert result


def create(client, title: str, cve: str) -> int:
    response = client.post(
        LISTS,
        data={"action": "create", "title": title, "cve_ids": cve, "global": "1"},
    )
    return int(parse(response.content).findtext("RESPONSE/ITEM_LIST/ITEM/VALUE"))


def test_search_list_by_id_and_title_restricts_to_its_qids(client, fleet):
    list_id = create(client, "log4shell", LOG4SHELL)
    qids = set(fleet.kb.qids_for_cves([LOG4SHELL]))
    want = expected(fleet, det_ok=lambda d: default_det(d) and d.qid in qids)
    assert got(client, include_search_list_ids=str(list_id)) == want
    assert got(client, include_search_list_titles="log4shell") == want
    assert len(want) == fleet.host_count_for_cve(LOG4SHELL) > 0


def test_search_list_and_qids_are_anded(client, fleet):
    list_id = create(client, "log4shell", LOG4SHELL)
    qid = sorted(fleet.kb.qids_for_cves([LOG4SHELL]))[0]
    result = got(client, include_search_list_ids=str(list_id), qids=f"{qid},1-5")
    assert result == expected(fleet, det_ok=lambda d: default_det(d) and d.qid == qid)


def test_ig_only_cve_needs_show_igs(client, fleet):
    list_id = create(client, "ig", IG_ONLY_CVE)
    assert got(client, include_search_list_ids=str(list_id)) == {}
    with_igs = got(client, include_search_list_ids=str(list_id), show_igs="1")
    qids = set(fleet.kb.qids_for_cves([IG_ONLY_CVE]))
    assert with_igs == expected(
        fleet, det_ok=lambda d: (d.type == "Info" or d.status in OPEN) and d.qid in qids
    )
    assert with_igs


def middle_datetime(fleet: Fleet, field: str) -> datetime:
    values = sorted(getattr(d, field) for i in range(fleet.size) for d in fleet.host(i).detections)
    return values[len(values) // 2]


@pytest.mark.parametrize(
    ("param", "field"),
    [("detection_last_tested_since", "last_test"), ("detection_updated_since", "last_update")],
)
def test_detection_date_filters(client, fleet, param, field):
    since = middle_datetime(fleet, field)
    text = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = got(client, **{param: text})
    assert result == expected(fleet, det_ok=lambda d: default_det(d) and getattr(d, field) >= since)
    assert result


def test_vm_scan_since_filters_hosts_and_accepts_a_plain_date(client, fleet):
    scans = sorted(fleet.host(i).last_vm_scanned for i in range(fleet.size))
    day = scans[len(scans) // 2].date()
    since = datetime(day.year, day.month, day.day, tzinfo=UTC)
    result = got(client, vm_scan_since=day.isoformat())
    assert result == expected(fleet, lambda h: h.last_vm_scanned >= since)
    assert result


def test_id_min_id_max_and_ids(client, fleet):
    low, high = fleet.host_id(100), fleet.host_id(150)
    assert got(client, id_min=str(low), id_max=str(high)) == expected(
        fleet, lambda h: low <= h.id <= high
    )
    assert got(client, ids=f"{low}-{high}") == expected(fleet, lambda h: low <= h.id <= high)


def test_show_tags_adds_tags_between_scan_dates_and_detections(client, fleet):
    response = client.post(
        DETECTION, data={"action": "list", "show_tags": "1", "truncation_limit": "0"}
    )
    hosts = parse(response.content).findall("RESPONSE/HOST_LIST/HOST")
    tagged = [h for h in hosts if h.find("TAGS") is not None]
    assert tagged
    for element in tagged:
        record = fleet.host(fleet.index_at_or_after(int(element.findtext("ID"))))
        assert [
            (int(t.findtext("TAG_ID")), t.findtext("NAME")) for t in element.iterfind("TAGS/TAG")
        ] == [(tag.id, tag.name) for tag in record.tags]
        tags = [child.tag for child in element]
        assert (
            tags.index("LAST_SCAN_DATETIME")
            < tags.index("TAGS")
            == tags.index("DETECTION_LIST") - 1
        )
    plain = client.post(DETECTION, data={"action": "list", "truncation_limit": "0"})
    assert b"<TAGS>" not in plain.content


def test_results_are_shown_by_default_and_hidden_with_show_results_0(client):
    shown = client.post(DETECTION, data={"action": "list", "truncation_limit": "5"})
    hidden = client.post(
        DETECTION, data={"action": "list", "truncation_limit": "5", "show_results": "0"}
    )
    assert b"<RESULTS>" in shown.content
    assert b"<RESULTS>" not in hidden.content


def test_empty_result_is_a_response_with_only_datetime(client):
    response = client.post(DETECTION, data={"action": "list", "ips": "203.0.113.1"})
    root = parse(response.content)
    assert response.status_code == 200
    assert [child.tag for child in root.find("RESPONSE")] == ["DATETIME"]
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE ')


def follow_pages(client, first: dict[str, str]) -> tuple[Result, int]:
    pages, result, data = 0, {}, first
    while True:
        response = client.post(DETECTION, data=data)
        root = parse(response.content)
        pages += 1
        for host in root.iterfind("RESPONSE/HOST_LIST/HOST"):
            host_id = int(host.findtext("ID"))
            assert host_id not in result, "a host was repeated across pages"
            result[host_id] = [int(q.text) for q in host.iterfind("DETECTION_LIST/DETECTION/QID")]
        warning = root.find("RESPONSE/WARNING")
        if warning is None:
            return result, pages
        url = urlsplit(warning.findtext("URL"))
        assert url.path == DETECTION
        data = dict(parse_qsl(url.query))


def test_paging_through_warning_urls_loses_and_repeats_no_host(client, fleet):
    everything = got(client, show_igs="1")
    paged, pages = follow_pages(
        client, {"action": "list", "show_igs": "1", "truncation_limit": "7"}
    )
    assert paged == everything
    assert pages == -(-len(everything) // 7)


def test_warning_url_repeats_the_original_parameters_and_replaces_id_min(client, fleet):
    response = client.post(
        DETECTION,
        data={"action": "list", "truncation_limit": "3", "qids": "1-999999", "id_min": "1"},
        params={"show_tags": "1"},
    )
    root = parse(response.content)
    url = root.findtext("RESPONSE/WARNING/URL")
    hosts = [int(h.findtext("ID")) for h in root.iterfind("RESPONSE/HOST_LIST/HOST")]
    next_id = min(h for h in got(client, qids="1-999999") if h > hosts[-1])
    assert url == (
        f"http://qualys.test{DETECTION}"
        f"?show_tags=1&action=list&truncation_limit=3&qids=1-999999&id_min={next_id}"
    )


def test_default_truncation_limit_is_1000(fleet):
    big = Fleet(seed=3, size=2500)
    app = SimulatorApp(big)
    from .conftest import make_client

    with make_client(app) as c:
        root = parse(c.post(DETECTION, data={"action": "list", "show_igs": "1"}).content)
    assert len(root.findall("RESPONSE/HOST_LIST/HOST")) == 1000
    assert root.findtext("RESPONSE/WARNING/TEXT").startswith("1000 record limit exceeded.")


def test_get_and_post_give_the_same_hosts(client):
    params = {"action": "list", "severities": "4-5", "truncation_limit": "0"}
    by_get = parse(client.get(DETECTION, params=params).content)
    by_post = parse(client.post(DETECTION, data=params).content)
    ids = lambda root: [h.findtext("ID") for h in root.iterfind("RESPONSE/HOST_LIST/HOST")]  # noqa: E731
    assert ids(by_get) == ids(by_post)
    assert ids(by_get)


def test_a_million_host_reply_streams_its_first_chunk_without_building_the_page():
    app = SimulatorApp(Fleet(seed=1, size=1_000_000))
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": DETECTION,
        "QUERY_STRING": "action=list&truncation_limit=0&show_igs=1",
        "HTTP_AUTHORIZATION": "Basic c2ltdXNlcjpzaW1wYXNz",
        "HTTP_X_REQUESTED_WITH": "test",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "qualys.test",
    }
    statuses = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    chunks = iter(body)
    first, second = next(chunks), next(chunks)
    body.close()
    assert statuses == ["200 OK"]
    assert first.startswith(b"<?xml") and b"<HOST>" in second
    assert 16_000 < len(first) < 200_000
    assert app.limiter.running() == 0
