"""The simulator's XML writers on hand-made records: escaping, CDATA, chunking, WARNING."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from cvesweep.simulator.detectionxml import DetectionView, detection_stream, host_xml
from cvesweep.simulator.hostxml import CHUNK, reply_head
from cvesweep.simulator.records import AssetGroup, SimDetection, SimHost, SimTag
from cvesweep.simulator.xmlout import cdata, simple_return

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def detection(qid: int, *, type_: str = "Confirmed", results: str = "found") -> SimDetection:
    info = type_ == "Info"
    return SimDetection(
        qid=qid,
        type=type_,
        severity=None if info else 4,
        status=None if info else "Active",
        port=None if info else 443,
        protocol=None if info else "tcp",
        ssl=not info,
        results=results,
        first_found=T0,
        last_found=T0 + timedelta(days=1),
        times_found=3,
        last_test=T0 + timedelta(days=1),
        last_update=T0 + timedelta(days=2),
        last_processed=T0 + timedelta(days=2),
    )


def host(host_id: int, detections: tuple[SimDetection, ...], **changes: object) -> SimHost:
    values: dict[str, object] = {
        "index": host_id,
        "id": host_id,
        "ip": "10.0.0.1",
        "ipv6": None,
        "tracking_method": "IP",
        "os": "Linux <3> & co",
        "dns": "web1.example.com",
        "netbios": "WEB1",
        "last_scan": T0 + timedelta(days=3),
        "last_vm_scanned": T0 + timedelta(days=3),
        "last_vm_scanned_duration": 120,
        "asset_groups": (AssetGroup(1, "DMZ"),),
        "tags": (SimTag(7, "Prod ]]> tag"),),
        "detections": detections,
    }
    values.update(changes)
    return SimHost(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["plain", "a]]>b", "]]>", "x]]>]]>y", "<tag> & ' \""])
def test_cdata_keeps_any_text_well_formed_and_exact(text):
    element = etree.fromstring(f"<A>{cdata(text)}</A>".encode(), PARSER)
    assert element.text == text


def test_host_xml_has_the_real_element_order_and_values():
    element = etree.fromstring(
        host_xml(
            host(5, (detection(11),)), [detection(11)], DetectionView(show_tags=True)
        ).encode(),
        PARSER,
    )
    assert [child.tag for child in element] == [
        "ID",
        "IP",
        "TRACKING_METHOD",
        "OS",
        "DNS",
        "DNS_DATA",
        "NETBIOS",
        "LAST_SCAN_DATETIME",
        "LAST_VM_SCANNED_DATE",
        "LAST_VM_SCANNED_DURATION",
        "TAGS",
        "DETECTION_LIST",
    ]
    assert element.findtext("OS") == "Linux <3> & co"
    assert element.findtext("DNS_DATA/FQDN") == "web1.example.com"
    assert element.findtext("DNS_DATA/HOSTNAME") == "web1"
    assert element.findtext("TAGS/TAG/NAME") == "Prod ]]> tag"
    assert element.findtext("TAGS/TAG/TAG_ID") == "7"
    assert element.findtext("LAST_SCAN_DATETIME") == "2024-05-04T12:00:00Z"
    found = element.find("DETECTION_LIST/DETECTION")
    assert [child.tag for child in found] == [
        "UNIQUE_VULN_ID",
        "QID",
        "TYPE",
        "SEVERITY",
        "PORT",
        "PROTOCOL",
        "SSL",
        "RESULTS",
        "STATUS",
        "FIRST_FOUND_DATETIME",
        "LAST_FOUND_DATETIME",
        "TIMES_FOUND",
        "LAST_TEST_DATETIME",
        "LAST_UPDATE_DATETIME",
        "IS_IGNORED",
        "IS_DISABLED",
        "LAST_PROCESSED_DATETIME",
    ]


def test_info_detection_has_no_severity_status_or_port_and_results_can_be_hidden():
    info = detection(6, type_="Info")
    element = etree.fromstring(
        host_xml(host(5, (info,)), [info], DetectionView(show_results=False)).encode(), PARSER
    )
    found = element.find("DETECTION_LIST/DETECTION")
    tags = [child.tag for child in found]
    for absent in ("SEVERITY", "STATUS", "PORT", "PROTOCOL", "RESULTS"):
        assert absent not in tags
    assert element.find("TAGS") is None


def test_ipv6_only_host_has_ipv6_and_no_ip():
    one = host(5, (detection(11),), ip=None, ipv6="2001:db8::5", dns=None, netbios=None)
    element = etree.fromstring(host_xml(one, one.detections, DetectionView()).encode(), PARSER)
    assert element.find("IP") is None
    assert element.findtext("IPV6") == "2001:db8::5"
    assert [child.tag for child in element][:3] == ["ID", "IPV6", "TRACKING_METHOD"]


def _stream(hosts, limit):
    return list(
        detection_stream(
            ((h, list(h.detections)) for h in hosts),
            head=reply_head("HOST_LIST_VM_DETECTION_OUTPUT", "http://qualys.test/x.dtd", T0),
            limit=limit,
            view=DetectionView(show_tags=True),
            next_page_url=lambda next_id: f"http://qualys.test/x?action=list&id_min={next_id}",
        )
    )


def test_stream_yields_chunks_of_bounded_size_that_join_into_valid_xml():
    big = "r" * 5000
    hosts = [host(i, (detection(11, results=big),)) for i in range(1, 200)]
    chunks = _stream(hosts, 0)
    assert len(chunks) > 5
    assert max(len(chunk) for chunk in chunks) < CHUNK + 10_000
    root = etree.fromstring(b"".join(chunks), PARSER)
    assert len(root.findall("RESPONSE/HOST_LIST/HOST")) == 199
    assert root.find("RESPONSE/WARNING") is None


def test_stream_truncates_with_the_real_warning_and_next_host_id():
    hosts = [host(i, (detection(11),)) for i in (10, 20, 30)]
    root = etree.fromstring(b"".join(_stream(hosts, 2)), PARSER)
    assert [h.findtext("ID") for h in root.iterfind("RESPONSE/HOST_LIST/HOST")] == ["10", "20"]
    assert root.findtext("RESPONSE/WARNING/CODE") == "1980"
    assert root.findtext("RESPONSE/WARNING/TEXT") == (
        "2 record limit exceeded. Use URL to get next batch of results."
    )
    assert root.findtext("RESPONSE/WARNING/URL") == "http://qualys.test/x?action=list&id_min=30"


def test_stream_with_exactly_limit_hosts_has_no_warning():
    hosts = [host(i, (detection(11),)) for i in (10, 20)]
    root = etree.fromstring(b"".join(_stream(hosts, 2)), PARSER)
    assert root.find("RESPONSE/WARNING") is None


def test_empty_stream_is_a_response_with_only_datetime_and_a_doctype():
    body = b"".join(_stream([], 1000))
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE HOST_LIST_VM')
    root = etree.fromstring(body, PARSER)
    assert [child.tag for child in root.find("RESPONSE")] == ["DATETIME"]


def test_simple_return_escapes_text_and_lists_items():
    body = simple_return("http://q", T0, "a < b & c", code=1905, items=[("KEY1", "v&1")])
    root = etree.fromstring(body, PARSER)
    assert root.findtext("RESPONSE/TEXT") == "a < b & c"
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") == "v&1"
    assert [c.tag for c in root.find("RESPONSE")] == ["DATETIME", "CODE", "TEXT", "ITEM_LIST"]
