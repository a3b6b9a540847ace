"""Tests of the streaming detection parser against the real Qualys samples and hand-made XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvesweep.errors import (
    InputError,
    QualysAuthError,
    QualysRequestError,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.models import Detection, Host, Tag
from cvesweep.qualys.xml import (
    MAX_FEED,
    DetectionParser,
    PageEnd,
    Truncation,
    iter_hosts,
    parse_detection_file,
)

# (sample, [(host id, ip, qids)], RESPONSE/DATETIME, WARNING id_min) — read off the files.
DETECTION_SAMPLES = [
    ("detection_empty_no_host_list_jupiterone_qg3.xml", [], "2020-09-27T01:23:33Z", None),
    (
        "detection_multi_host_5hosts_jupiterone_qg3.xml",
        [
            (92661485, "10.55.26.62", (11, 38739)),
            (92662027, "10.55.46.210", (11827, 38170, 38174, 38739)),
            (93010479, "10.55.30.81", (197595, 197617, 197652)),
            (93010480, "10.55.186.65", (197595, 197617, 197652)),
            (
                93011161,
                "10.55.2.21",
                (
                    197146,
                    197234,
                    197236,
                    197246,
                    197291,
                    197301,
                    197339,
                    197347,
                    197371,
                    197375,
                    197401,
                    197424,
                    197553,
                    197599,
                    197608,
                    197760,
                    197784,
                ),
            ),
        ],
        "2020-04-23T02:50:36Z",
        None,
    ),
    (
        "detection_qds_factors_warning_mockderived_elastic.xml",
        [(12048633, "10.50.2.111", (197595, 197597))],
        "2023-07-03T06:51:41Z",
        5641289,
    ),
    (
        "detection_single_host_qualys_doccenter_sample1.xml",
        [(6506432, "10.10.10.11", (38170, 38173, 38601))],
        "2018-04-26T11:25:58Z",
        None,
    ),
    (
        "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml",
        [
            (
                2973339,
                "1.26.130.55",
                (6, 43113, 45017, 45039, 45099, 70022, 70030, 90107, 90235, 105504),
            )
        ],
        "2014-11-13T21:59:59Z",
        3700609,
    ),
    (
        "detection_two_hosts_dns_data_potential_new_demisto.xml",
        [
            (143111841, "1.1.1.1", (11827, 15033, 15034, 15068, 38628, 38794)),
            (10112200, "1.2.2.2", (38726, 38739)),
        ],
        "2023-05-24T09:59:43Z",
        None,
    ),
]
DETECTION_FILES = [row[0] for row in DETECTION_SAMPLES]


def parse_all(data: bytes, chunk: int | None = None, **kw: object) -> tuple[list[Host], PageEnd]:
    """Feed ``data`` in chunks of ``chunk`` bytes (all at once if None); return hosts, end."""
    parser = DetectionParser(**kw)  # type: ignore[arg-type]
    size = chunk or max(len(data), 1)
    hosts = [h for i in range(0, len(data), size) for h in parser.feed(data[i : i + size])]
    return hosts, parser.close()


def summary(hosts: list[Host]) -> list[tuple[int, str | None, tuple[int, ...]]]:
    return [(h.id, h.ip, tuple(d.qid for d in h.detections)) for h in hosts]


@pytest.mark.parametrize(("name", "expected", "datetime", "id_min"), DETECTION_SAMPLES)
@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
def test_every_detection_sample_parses_to_exact_hosts_and_qids(
    samples_dir: Path, name: str, expected: list, datetime: str, id_min: int | None, chunk: int
) -> None:
    hosts, end = parse_all((samples_dir / name).read_bytes(), chunk)
    assert summary(hosts) == expected
    assert end.hosts == len(expected)
    assert end.datetime == datetime
    assert (end.truncation.next_id_min if end.truncation else None) == id_min


def test_every_xml_sample_is_covered_by_a_test(samples_dir: Path) -> None:
    tested = set(DETECTION_FILES) | {p.name for p in samples_dir.glob("error_*")}
    others = {p.name for p in samples_dir.glob("*.xml")} - tested
    assert all(n.startswith(("kb_", "searchlist_")) for n in others), others


def test_truncation_warning_carries_code_text_url_and_next_id_min(samples_dir: Path) -> None:
    name = "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml"
    _, end = parse_all((samples_dir / name).read_bytes())
    assert end.truncation == Truncation(
        code=1980,
        text="1000 record limit exceeded. Use URL to get next batch of results.",
        url="https://qualysapi.qg2.apps.qualys.com/api/2.0/fo/asset/host/vm/detection/"
        "?action=list&show_igs=1&qids=90235,90107,45017,45017,6,45039,70030,43113,105054,"
        "45099,105059,70022,105060,105504,105001&id_min=3700609",
        next_id_min=3700609,
    )


def test_info_detections_have_no_status_or_severity(samples_dir: Path) -> None:
    name = "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml"
    (host,), _ = parse_all((samples_dir / name).read_bytes())
    assert {(d.type, d.status, d.severity, d.port) for d in host.detections} == {
        ("Info", None, None, None)
    }
    assert host.detections[0].results == "IP address\tHost name\n1.26.130.55\tbrcwnt3b.ce.corp.com"
    assert (host.tracking_method, host.netbios) == ("NETBIOS", "BRCWNT3B")


def test_optional_host_and_detection_elements_are_really_optional(samples_dir: Path) -> None:
    (first, second), _ = parse_all(
        (samples_dir / "detection_two_hosts_dns_data_potential_new_demisto.xml").read_bytes()
    )
    assert (first.os, first.fqdn, first.dns) == ("Linux 3.13", "one.one.one.one", "one.one.one.one")
    assert second.os is None  # host without OS
    assert second.fqdn == "ec2-11-111-111-111.compute-1.amazonaws.com"
    potential = second.detections[0]
    assert (potential.qid, potential.type, potential.status) == (38726, "Potential", "New")
    assert (potential.port, potential.protocol) == (None, None)  # detection without PORT
    assert first.detections[0].last_fixed == "2022-12-07T10:06:40Z"


def test_cdata_wrapped_in_whitespace_is_stripped(samples_dir: Path) -> None:
    (host,), _ = parse_all(
        (samples_dir / "detection_qds_factors_warning_mockderived_elastic.xml").read_bytes()
    )
    assert (host.os, host.dns, host.fqdn, host.netbios) == (
        "Windows 2016/2019/10",
        "adfssrvr.adfs.local",
        "adfssrvr.adfs.local",
        "ADFSSRVR",
    )


def test_detection_fields_are_typed(samples_dir: Path) -> None:
    (host,), _ = parse_all(
        (samples_dir / "detection_single_host_qualys_doccenter_sample1.xml").read_bytes()
    )
    assert host.detections[0] == Detection(
        qid=38170,  # type: ignore[arg-type]
        type="Confirmed",
        severity=2,
        status="Active",
        port=3389,
        protocol="tcp",
        ssl=True,
        results="Certificate #0 CN=2k8r2-u-10-11 (2k8r2-u-10-11) doesn&apos;t resolve",
        first_found="2018-01-26T04:45:50Z",
        last_found="2018-04-13T03:48:50Z",
        times_found=111,
        last_test="2018-04-13T03:48:50Z",
        last_update="2018-04-13T03:49:05Z",
        last_fixed=None,
        is_ignored=False,
        is_disabled=False,
    )
    assert (host.last_scan, host.last_vm_scanned) == (
        "2018-04-13T03:49:05Z",
        "2018-04-13T03:48:50Z",
    )


def test_ipv6_only_host_tags_and_unknown_elements(data_dir: Path) -> None:
    (v6, v4), end = parse_all((data_dir / "detection_ipv6_tags_unknown_elements.xml").read_bytes())
    assert (v6.id, v6.ip, v6.ipv6, v6.address) == (7000001, None, "2001:db8::17", "2001:db8::17")
    assert v6.tags == (Tag(name="Production & <DMZ>", id=7001), Tag(name="Cloud Agent", id=None))
    (detection,) = v6.detections
    assert (detection.qid, detection.status, detection.is_disabled, detection.ssl) == (
        376157,
        "Re-Opened",
        True,
        True,
    )
    assert (v4.ip, v4.tags, v4.detections[0].type) == ("10.0.0.2", (), "Info")
    assert end == PageEnd(datetime="2024-05-02T10:11:12Z", truncation=None, hosts=2)


def test_hosts_come_out_as_soon_as_their_end_tag_is_fed(samples_dir: Path) -> None:
    data = (samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml").read_bytes()
    cut = data.index(b"</HOST>") + len(b"</HOST>") + 1
    parser = DetectionParser()
    assert [h.id for h in parser.feed(data[:cut])] == [92661485]
    assert [h.id for h in parser.feed(data[cut:])] == [92662027, 93010479, 93010480, 93011161]
    assert parser.close().hosts == 5


def test_processed_hosts_are_dropped_from_the_tree(samples_dir: Path) -> None:
    data = (samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml").read_bytes()
    parser = DetectionParser()
    assert len(parser.feed(data[: data.index(b"<ID>93011161</ID>")])) == 4
    # White-box, because this is the memory guarantee: the tree keeps only the last host
    # (emptied) and the one being parsed, whatever the number of hosts before them.
    host_list = parser._root.find("RESPONSE/HOST_LIST")
    assert [len(host) for host in host_list] == [0, 0]
    assert sum(1 for _ in parser._root.iter("DETECTION")) == 0


def test_a_text_node_over_10_mb_in_one_feed_over_10_mb_parses() -> None:
    results = "x" * (12 * 1024 * 1024)
    data = (
        "<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST><HOST><ID>1</ID><DETECTION_LIST>"
        f"<DETECTION><QID>6</QID><RESULTS>{results}</RESULTS></DETECTION>"
        "</DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"
    ).encode()
    assert len(data) > 10 * MAX_FEED
    (host,), end = parse_all(data)  # one feed() of 12 MB: sliced to 1 MiB inside
    assert host.detections[0].results == results
    assert end.hosts == 1


def cut_offsets(data: bytes) -> list[int]:
    """Offsets inside the root element (a cut after the root's end tag leaves a whole doc)."""
    end = data.index(b"</HOST_LIST_VM_DETECTION_OUTPUT>") + len("</HOST_LIST_VM_DETECTION_OUTPUT")
    return sorted({0, 1, end // 7, end // 3, end // 2, end - end // 5, end - 9, end - 1, end})


@pytest.mark.parametrize("name", DETECTION_FILES)
def test_a_sample_cut_anywhere_raises_never_a_short_success(samples_dir: Path, name: str) -> None:
    data = (samples_dir / name).read_bytes()
    for offset in cut_offsets(data):
        with pytest.raises(QualysResponseError, match="not well-formed XML or was cut off"):
            parse_all(data[:offset])


def test_a_cut_off_reply_raises_after_earlier_hosts_were_returned(samples_dir: Path) -> None:
    data = (samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml").read_bytes()
    stream = iter_hosts([data[: len(data) // 2]])
    seen = []
    with pytest.raises(QualysResponseError) as caught:
        seen.extend(stream)
    assert [h.id for h in seen] == [92661485, 92662027, 93010479, 93010480]  # not final yet
    assert caught.value.call == "detection list"


def test_malformed_xml_raises_as_soon_as_it_is_fed() -> None:
    parser = DetectionParser(http_status=200)
    with pytest.raises(QualysResponseError, match="not well-formed") as caught:
        parser.feed(b"<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE></HOST_LIST>")
    assert caught.value.http_status == 200
    with pytest.raises(QualysResponseError):
        parser.close()  # the parser stays failed


@pytest.mark.parametrize(
    ("name", "error", "code"),
    [
        ("error_2001_account_expired_http200_jupiterone_qg3.xml", QualysAuthError, 2001),
        ("error_1905_invalid_ids_detection_http400_jupiterone_qg3.xml", QualysRequestError, 1905),
        ("error_999_generic_return_internal_error_qualys_doc_sample.txt", QualysServerError, 999),
    ],
)
def test_an_error_reply_in_place_of_detections_raises_its_typed_error(
    samples_dir: Path, name: str, error: type, code: int
) -> None:
    with pytest.raises(error) as caught:
        parse_all((samples_dir / name).read_bytes(), 16, http_status=200)
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.http_status) == (code, 200)


@pytest.mark.parametrize(
    "name",
    [
        "kb_vuln_150208_jupiterone_qg3.xml",
        "searchlist_dynamic_list_qids_minimal_kcare_test.xml",
        "searchlist_create_success_simple_return_kcare_test.xml",
    ],
)
def test_another_document_in_place_of_detections_is_a_response_error(
    samples_dir: Path, name: str
) -> None:
    with pytest.raises(QualysResponseError, match="reply is a"):
        parse_all((samples_dir / name).read_bytes())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<HOST><DETECTION_LIST/></HOST>", "no ID"),
        (b"<HOST><ID>x1</ID><DETECTION_LIST/></HOST>", "invalid literal"),
        (b"<HOST><ID>1</ID><DETECTION_LIST><DETECTION><TYPE>Info</TYPE></DETECTION>", "no QID"),
        (b"<HOST><ID>1</ID><DETECTION_LIST><DETECTION><QID>6</QID><PORT>p</PORT></DETECTION>", ""),
    ],
)
def test_an_unusable_host_is_a_response_error(body: bytes, message: str) -> None:
    closing = b"</DETECTION_LIST></HOST>" if body.endswith(b"</DETECTION>") else b""
    data = b"<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><HOST_LIST>" + body + closing
    with pytest.raises(QualysResponseError, match=f"unusable HOST.*{message}"):
        DetectionParser().feed(data + b"</HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>")


@pytest.mark.parametrize(
    ("warning", "code", "next_id_min"),
    [
        (b"<CODE>1980</CODE><URL><![CDATA[https://q/?a=1&id_min=12]]></URL>", 1980, 12),
        (b"<CODE>x</CODE><URL>https://q/?action=list</URL>", 0, None),
        (b"<TEXT>no code, no url</TEXT>", 0, None),
        (b"<CODE>1980</CODE><URL>https://q/?id_min=abc</URL>", 1980, None),
    ],
)
def test_odd_warnings_are_kept_for_the_caller_to_judge(
    warning: bytes, code: int, next_id_min: int | None
) -> None:
    data = b"<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><WARNING>%s</WARNING></RESPONSE>" % warning
    _, end = parse_all(data + b"</HOST_LIST_VM_DETECTION_OUTPUT>")
    assert end.truncation is not None
    assert (end.truncation.code, end.truncation.next_id_min) == (code, next_id_min)


def test_a_detection_document_without_response_is_a_response_error() -> None:
    with pytest.raises(QualysResponseError, match="no RESPONSE"):
        parse_all(b"<HOST_LIST_VM_DETECTION_OUTPUT/>")


def test_iter_hosts_yields_hosts_then_the_page_end_last(samples_dir: Path) -> None:
    data = (samples_dir / "detection_two_hosts_dns_data_potential_new_demisto.xml").read_bytes()
    items = list(iter_hosts(data[i : i + 1000] for i in range(0, len(data), 1000)))
    assert [type(i) for i in items] == [Host, Host, PageEnd]


def test_parse_detection_file_returns_its_page_end(samples_dir: Path) -> None:
    path = samples_dir / "detection_qds_factors_warning_mockderived_elastic.xml"

    def collect():  # the documented way to get both
        end = yield from parse_detection_file(path)
        return end

    stream = collect()
    hosts = []
    with pytest.raises(StopIteration) as stop:
        while True:
            hosts.append(next(stream))
    assert [h.id for h in hosts] == [12048633]
    assert stop.value.value.truncation.next_id_min == 5641289


def test_parse_detection_file_reports_an_unreadable_file_as_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="FILE: cannot read"):
        list(parse_detection_file(tmp_path / "missing.xml"))


def test_feed_after_close_is_a_programming_error(samples_dir: Path) -> None:
    parser = DetectionParser()
    parser.feed((samples_dir / "detection_empty_no_host_list_jupiterone_qg3.xml").read_bytes())
    assert parser.close().hosts == 0
    with pytest.raises(RuntimeError):
        parser.feed(b"<more/>")
