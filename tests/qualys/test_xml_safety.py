"""Hostile XML: entity bombs, external entities and DTDs are refused, no file read, no network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from cvesweep.errors import QualysError, QualysRequestError, QualysResponseError
from cvesweep.qualys.responses import raise_for_reply
from cvesweep.qualys.xml import (
    DetectionParser,
    parse_search_list_id,
    parse_search_lists,
    safe_parser_options,
    safe_xml_parser,
)

from .conftest import Listener

SECRET = "TOP-SECRET-7f3a9c2e"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT [
 <!ENTITY a "lollollollollollollollollollollollollollollollollollollollollol">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
 <!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
]>
<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>&h;</DATETIME><HOST_LIST><HOST><ID>1</ID>
<OS>&h;</OS><DETECTION_LIST><DETECTION><QID>6</QID><RESULTS>&h;</RESULTS></DETECTION>
</DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"""


def quadratic_blowup() -> bytes:
    """One 100 kB entity referenced 20,000 times: 2 GB if expanded, no nesting at all."""
    refs = "&x;" * 20_000
    return (
        f'<!DOCTYPE SIMPLE_RETURN [<!ENTITY x "{"y" * 100_000}">]>'
        f"<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>{refs}</TEXT></RESPONSE>"
        "</SIMPLE_RETURN>"
    ).encode()


def detection_doc(doctype: str, os_text: str = "Linux") -> bytes:
    return (
        f'<?xml version="1.0"?>\n{doctype}\n<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE>'
        "<DATETIME>2024-01-01T00:00:00Z</DATETIME><HOST_LIST><HOST><ID>1</ID>"
        f"<OS>{os_text}</OS><DETECTION_LIST><DETECTION><QID>6</QID></DETECTION>"
        "</DETECTION_LIST></HOST></HOST_LIST></RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"
    ).encode()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def parse_detections(data: bytes) -> list:
    parser = DetectionParser()
    hosts = parser.feed(data)
    parser.close()
    return hosts


# Every public entry point that takes bytes from Qualys.
ENTRY_POINTS: list[Callable[[bytes], object]] = [
    parse_detections,
    lambda data: raise_for_reply(data, call="x", http_status=200),
    parse_search_list_id,
    parse_search_lists,
]


def test_huge_tree_is_on_and_everything_dangerous_is_off() -> None:
    assert safe_parser_options() == {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "dtd_validation": False,
        "attribute_defaults": False,
        "huge_tree": True,
    }


def test_libxml2_still_refuses_a_billion_laughs_with_huge_tree_on() -> None:
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        etree.fromstring(BILLION_LAUGHS, safe_xml_parser())


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_billion_laughs_is_a_clear_response_error(entry: Callable[[bytes], object]) -> None:
    with pytest.raises(QualysResponseError, match="declares XML entities"):
        entry(BILLION_LAUGHS.replace(b"HOST_LIST_VM_DETECTION_OUTPUT [", b"SIMPLE_RETURN ["))


def test_a_billion_laughs_fed_in_small_chunks_is_refused() -> None:
    parser = DetectionParser()
    with pytest.raises(QualysResponseError):
        for i in range(0, len(BILLION_LAUGHS), 64):
            parser.feed(BILLION_LAUGHS[i : i + 64])
        parser.close()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_quadratic_blowup_is_refused(entry: Callable[[bytes], object]) -> None:
    with pytest.raises(QualysResponseError, match="declares XML entities"):
        entry(quadratic_blowup())


def test_safe_parser_leaves_an_external_file_entity_unexpanded(secret_file: Path) -> None:
    data = (f'<!DOCTYPE R [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]><R><A>&x;</A></R>').encode()
    root = etree.fromstring(data, safe_xml_parser())
    assert SECRET not in etree.tostring(root, encoding="unicode")
    assert root[0].text is None


@pytest.mark.parametrize("where", ["OS", "DATETIME"])
def test_an_external_file_entity_is_refused_and_never_read(secret_file: Path, where: str) -> None:
    doctype = (
        f'<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'
    )
    data = detection_doc(doctype, "&x;")
    if where == "DATETIME":
        data = data.replace(b"2024-01-01T00:00:00Z", b"&x;").replace(b"<OS>&x;</OS>", b"")
    parser = DetectionParser()
    outputs: list[object] = []
    with pytest.raises(QualysResponseError, match="declares XML entities") as caught:
        outputs.extend(parser.feed(data))
        outputs.append(parser.close())
    assert outputs == []
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_external_file_entities_never_leak_through_any_entry_point(
    secret_file: Path, entry: Callable[[bytes], object]
) -> None:
    data = (
        f'<!DOCTYPE SIMPLE_RETURN [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'
        "<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>&x;</TEXT></RESPONSE></SIMPLE_RETURN>"
    ).encode()
    with pytest.raises(QualysError) as caught:
        entry(data)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("doctype", "parses"),
    [
        # the real replies' form: an external DTD, here on a loopback port that must stay idle
        ('<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "{url}/output.dtd">', True),
        ('<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT PUBLIC "-//Q//X" "{url}/output.dtd">', True),
        ('<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT [<!ENTITY % p SYSTEM "{url}/p"> %p;]>', False),
    ],
)
def test_no_dtd_or_parameter_entity_is_ever_fetched(
    listener: Listener, doctype: str, parses: bool
) -> None:
    data = detection_doc(doctype.format(url=listener.url))
    if parses:  # not even attempted: libxml2 would fail on no_network if it tried
        assert [h.id for h in parse_detections(data)] == [1]
    else:
        with pytest.raises(QualysResponseError, match="declares XML entities"):
            parse_detections(data)
    assert listener.connections() == 0


def test_a_real_reply_pointing_its_dtd_at_a_live_server_parses_offline(
    samples_dir: Path, listener: Listener
) -> None:
    data = (samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml").read_bytes()
    real = b"https://qualysapi.qg3.apps.qualys.com/api/2.0/fo/asset/host/vm/detection/"
    assert real in data
    hosts = parse_detections(data.replace(real, listener.url.encode() + b"/"))
    assert len(hosts) == 5
    assert listener.connections() == 0


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_external_http_entity_is_never_fetched(
    listener: Listener, entry: Callable[[bytes], object]
) -> None:
    data = (
        f'<!DOCTYPE SIMPLE_RETURN [<!ENTITY x SYSTEM "{listener.url}/e">]>'
        "<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>&x;</TEXT></RESPONSE></SIMPLE_RETURN>"
    ).encode()
    with pytest.raises(QualysError):
        entry(data)
    assert listener.connections() == 0


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_external_dtd_on_disk_is_never_read(tmp_path: Path, entry: Callable) -> None:
    dtd = tmp_path / "simple_return.dtd"
    dtd.write_text("<!ELEMENT broken")  # a parse error if libxml2 ever read it
    data = (
        f'<!DOCTYPE SIMPLE_RETURN SYSTEM "{dtd.as_uri()}">'
        "<SIMPLE_RETURN><RESPONSE><CODE>1905</CODE><TEXT>t</TEXT></RESPONSE></SIMPLE_RETURN>"
    ).encode()
    with pytest.raises(QualysRequestError) as caught:  # parsed, DTD untouched
        entry(data)
    assert caught.value.code == 1905


def test_the_safe_parser_leaves_the_external_dtd_unloaded(tmp_path: Path) -> None:
    dtd = tmp_path / "output.dtd"
    dtd.write_text('<!ENTITY sec "from the dtd">')
    data = f'<!DOCTYPE R SYSTEM "{dtd.as_uri()}"><R><A>&sec;</A></R>'.encode()
    root = etree.fromstring(data, safe_xml_parser())
    assert root.getroottree().docinfo.externalDTD is None
    assert "from the dtd" not in etree.tostring(root, encoding="unicode")


def test_the_listener_would_notice_a_connection(listener: Listener) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", int(listener.url.rsplit(":", 1)[1]))):
        pass
    assert listener.connections() == 1
