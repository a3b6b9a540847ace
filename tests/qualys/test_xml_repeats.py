"""The one-pass element walk: repeated, empty, blank and nested elements read as before.

The parser reads each element's children once (qualys/xml.py ``_children``). These rows pin
what that pass makes of the odd shapes a reply may take, so a faster walk cannot quietly
read them differently: list elements may repeat and hold comma lists, any other repeated
element keeps its last value, the QDS severity is that of the first ``QDS``, and ``FQDN``
comes from ``DNS_DATA`` first.
"""

from __future__ import annotations

import pytest

from cvesweep.models import Detection, Host
from cvesweep.qualys.xml import CVE_DETECTIONS, DETECTIONS, DetectionParser, ReplyKind


def parse(host_xml: str, kind: ReplyKind = DETECTIONS) -> Host:
    body = (
        f"<{kind.root}><RESPONSE><DATETIME>2026-12-01T00:00:00Z</DATETIME><HOST_LIST>"
        f"{host_xml}</HOST_LIST></RESPONSE></{kind.root}>"
    ).encode()
    parser = DetectionParser(kind=kind)
    hosts = parser.feed(body)
    parser.close()
    assert len(hosts) == 1
    return hosts[0]


def detection(inner: str) -> Detection:
    host = parse(f"<HOST><ID>1</ID><DETECTION_LIST><DETECTION>{inner}</DETECTION>"
                 "</DETECTION_LIST></HOST>")  # fmt: skip
    return host.detections[0]


@pytest.mark.parametrize(
    ("inner", "field", "expected"),
    [
        ("<QID>1</QID><CVE>CVE-1</CVE><CVE>CVE-2</CVE>", "cves", ("CVE-1", "CVE-2")),
        ("<QID>1</QID><CVE>CVE-1, CVE-2</CVE><CVE> CVE-2 ,CVE-3</CVE>", "cves",
         ("CVE-1", "CVE-2", "CVE-3")),
        ("<QID>1</QID><CVE>,, ,</CVE>", "cves", ()),
        ("<QID>1</QID><CVE> </CVE><CVE>CVE-9</CVE>", "cves", ("CVE-9",)),
        ("<QID>1</QID><MITRE_TACTIC_ID>TA1,TA2</MITRE_TACTIC_ID>"
         "<MITRE_TACTIC_ID>TA1</MITRE_TACTIC_ID>", "mitre_tactic_ids", ("TA1", "TA2")),
        ("<QID>1</QID><VULNERABILITY_DETECTION_SOURCES><![CDATA[ A , B ]]>"
         "</VULNERABILITY_DETECTION_SOURCES>", "detection_sources", ("A", "B")),
        ("<QID>1</QID><TYPE>Potential</TYPE><TYPE>Confirmed</TYPE>", "type", "Confirmed"),
        ("<QID>1</QID><TYPE>Potential</TYPE><TYPE> </TYPE>", "type", "Potential"),
        ("<QID>1</QID><QID>2</QID>", "qid", 2),
        ("<QID>1</QID><PORT/>", "port", None),
        ("<QID>1</QID><PORT> 443 </PORT>", "port", 443),
        ("<QID>1</QID><SSL>1</SSL><IS_IGNORED>0</IS_IGNORED>", "ssl", True),
        ("<QID>1</QID><LATEST_VULNERABILITY_DETECTION_SOURCE>A</LATEST_VULNERABILITY_"
         "DETECTION_SOURCE><LATEST_VULNERABILITY_DETECTION_SOURCE>B</LATEST_VULNERABILITY_"
         "DETECTION_SOURCE>", "latest_detection_source", "B"),
        ('<QID>1</QID><QDS severity=" high ">80</QDS>', "qds_severity", "HIGH"),
        ('<QID>1</QID><QDS severity="low"/><QDS severity="high">80</QDS>', "qds_severity",
         "LOW"),
        ('<QID>1</QID><QDS severity="low">70</QDS><QDS severity="high">80</QDS>', "qds", 80),
        ('<QID>1</QID><QDS severity="low">70</QDS><QDS severity="high">80</QDS>',
         "qds_severity", "LOW"),
        ('<QID>1</QID><QDS severity="  ">80</QDS>', "qds_severity", ""),
        ("<QID>1</QID><QDS>80</QDS>", "qds_severity", None),
        ('<QID>1</QID><QDS severity="high"/>', "qds_severity", None),
        ("<QID>1</QID><NESTED><CVE>CVE-7</CVE></NESTED>", "cves", ()),
        ("<QID>1</QID><TYPE>Confirmed</TYPE>", "mitre_technique_names", ()),
    ],
)  # fmt: skip
def test_a_detection_reads_odd_shapes_as_documented(
    inner: str, field: str, expected: object
) -> None:
    assert getattr(detection(inner), field) == expected


def test_an_older_reply_without_v5_elements_gets_the_defaults() -> None:
    found = detection("<QID>5</QID><SEVERITY>3</SEVERITY><STATUS>Active</STATUS>")
    assert found == Detection(qid=5, severity=3, status="Active")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host_xml", "expected"),
    [
        ("<HOST><ID>1</ID><FQDN>top</FQDN><DNS_DATA><FQDN>data</FQDN></DNS_DATA></HOST>", "data"),
        ("<HOST><ID>1</ID><DNS_DATA><FQDN>data</FQDN></DNS_DATA><FQDN>top</FQDN></HOST>", "data"),
        ("<HOST><ID>1</ID><FQDN>top</FQDN><DNS_DATA><HOSTNAME>h</HOSTNAME></DNS_DATA></HOST>",
         "top"),
        ("<HOST><ID>1</ID><DNS_DATA><FQDN>a</FQDN></DNS_DATA><DNS_DATA><FQDN>b</FQDN>"
         "</DNS_DATA></HOST>", "b"),
        ("<HOST><ID>1</ID><DNS_DATA><FQDN>a</FQDN></DNS_DATA><DNS_DATA/></HOST>", "a"),
    ],
)  # fmt: skip
def test_fqdn_comes_from_dns_data_first(host_xml: str, expected: str) -> None:
    assert parse(host_xml).fqdn == expected


def test_containers_are_read_even_with_text_and_the_last_one_wins() -> None:
    host = parse(
        "<HOST><ID>7</ID><TAGS>stray<TAG><NAME>A</NAME></TAG></TAGS>"
        "<TAGS><TAG><TAG_ID>2</TAG_ID><NAME>B</NAME></TAG><TAG><TAG_ID>3</TAG_ID></TAG></TAGS>"
        "<DETECTION_LIST>x<DETECTION><QID>1</QID></DETECTION></DETECTION_LIST>"
        "<DETECTION_LIST><DETECTION><QID>2</QID></DETECTION></DETECTION_LIST></HOST>"
    )
    assert [(tag.name, tag.id) for tag in host.tags] == [("B", 2)]
    assert [d.qid for d in host.detections] == [2]


def test_a_cve_detection_keeps_its_one_vuln_cve_unsplit() -> None:
    host = parse(
        "<HOST><ID>1</ID><CVE_DETECTION_LIST><CVE_DETECTION><ASSOCIATED_QID>9</ASSOCIATED_QID>"
        "<VULN_CVE>CVE-2021-44228</VULN_CVE><CVE>CVE-1,CVE-2</CVE></CVE_DETECTION>"
        "</CVE_DETECTION_LIST></HOST>",
        CVE_DETECTIONS,
    )
    assert host.detections[0].qid == 9
    assert host.detections[0].cves == ("CVE-2021-44228",)
