"""read_host_ids: host list ids read as a stream, by element path, safely."""

from __future__ import annotations

from array import array

import pytest

from cvesweep.errors import QualysAuthError, QualysResponseError
from cvesweep.qualys.responses import parse_host_ids
from cvesweep.qualys.xml import read_host_ids

from .test_xml_safety import BILLION_LAUGHS

ID_SET = b"""<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE HOST_LIST_OUTPUT SYSTEM "https://qualysapi.qualys.com/api/2.0/fo/asset/host/host_list_output.dtd">
<HOST_LIST_OUTPUT>
  <RESPONSE>
    <DATETIME>2026-01-05T10:00:00Z</DATETIME>
    <ID_SET>
      <ID>101</ID>
      <!-- a comment -->
      <ID_RANGE> 200-203 </ID_RANGE>
      <ID> 7000 </ID>
      <ID>not a number</ID>
    </ID_SET>
    <WARNING>
      <CODE>1980</CODE>
      <TEXT>1000 record limit exceeded. Use URL to get next batch of results.</TEXT>
      <URL><![CDATA[https://qualysapi.example/api/2.0/fo/asset/host/?action=list&id_min=7001]]></URL>
    </WARNING>
  </RESPONSE>
</HOST_LIST_OUTPUT>
"""

HOST_LIST = b"""<HOST_LIST_OUTPUT><RESPONSE><HOST_LIST>
<HOST><ID>5</ID><IP>10.0.0.5</IP><TRACKING_METHOD>IP</TRACKING_METHOD></HOST>
<HOST><IP>10.0.0.6</IP><ID>6</ID></HOST>
<HOST><ID>9</ID><ASSET_ID>77</ASSET_ID></HOST>
</HOST_LIST></RESPONSE></HOST_LIST_OUTPUT>"""

ERROR_2000 = b"""<?xml version="1.0" encoding="UTF-8" ?>
<SIMPLE_RETURN><RESPONSE><DATETIME>2026-01-05T10:00:00Z</DATETIME><CODE>2000</CODE>
<TEXT>Bad Login/Password</TEXT></RESPONSE></SIMPLE_RETURN>"""


def test_ids_ranges_and_the_warning_url_are_read_as_the_tree_parser_reads_them() -> None:
    ids: array[int] = array("q", [1])
    url = read_host_ids(ID_SET, ids, call="host list request")
    assert list(ids) == [1, 101, 200, 201, 202, 203, 7000]
    assert url == "https://qualysapi.example/api/2.0/fo/asset/host/?action=list&id_min=7001"
    assert (list(ids[1:]), url) == parse_host_ids(ID_SET)


def test_host_list_host_ids_are_read_by_name_not_position() -> None:
    ids: array[int] = array("q")
    assert read_host_ids(HOST_LIST, ids, call="host list request") is None
    assert list(ids) == [5, 6, 9] == parse_host_ids(HOST_LIST)[0]


def test_an_id_or_url_elsewhere_is_not_taken() -> None:
    body = (
        b"<HOST_LIST_OUTPUT><RESPONSE><GLOSSARY><ID>3</ID></GLOSSARY>"
        b"<OTHER><WARNING><URL>x?id_min=4</URL></WARNING></OTHER>"
        b"<ID_SET><ID>8</ID></ID_SET></RESPONSE></HOST_LIST_OUTPUT>"
    )
    ids: array[int] = array("q")
    assert read_host_ids(body, ids, call="host list request") is None
    assert list(ids) == [8]


def test_an_error_reply_raises_its_typed_error() -> None:
    with pytest.raises(QualysAuthError):
        read_host_ids(ERROR_2000, array("q"), call="host list request")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE/></HOST_LIST_VM_DETECTION_OUTPUT>", "is a"),
        (b"<HOST_LIST_OUTPUT><RESPONSE><ID_SET><ID>1</ID>", "not well-formed"),
        (BILLION_LAUGHS.replace(b"HOST_LIST_VM_DETECTION_OUTPUT", b"HOST_LIST_OUTPUT"), "entit"),
    ],
)
def test_other_documents_broken_ones_and_entities_are_refused(body: bytes, words: str) -> None:
    with pytest.raises(QualysResponseError, match=words):
        read_host_ids(body, array("q"), call="host list request")


def test_a_large_page_is_read_whole_and_in_order() -> None:
    body = b"".join(
        [b"<HOST_LIST_OUTPUT><RESPONSE><ID_SET>"]
        + [b"<ID>%d</ID>\n" % n for n in range(1, 100_001)]
        + [b"</ID_SET></RESPONSE></HOST_LIST_OUTPUT>"]
    )
    ids: array[int] = array("q")
    assert read_host_ids(body, ids, call="host list request") is None
    assert ids == array("q", range(1, 100_001))
