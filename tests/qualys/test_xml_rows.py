"""Hosts as rows: the parser's rows are the rows of its hosts, and refine reads them alike.

The hot path (a search's pages, the parse command) spools rows straight from the parser
(``DetectionParser.feed_rows``, ``parse_detection_rows``) and refines them as rows
(``refine_row``); every other reader gets models. These tests pin that both ways give the
same hosts for every sample reply, and that refining a row keeps what refining its Host keeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cvesweep.models import Detection, Host, HostId, Qid, Tag
from cvesweep.qualys import xml
from cvesweep.qualys.detections import refine, refine_row
from cvesweep.qualys.xml import (
    CVE_DETECTIONS,
    DETECTIONS,
    DetectionParser,
    ReplyKind,
    parse_detection_file,
    parse_detection_rows,
)
from cvesweep.spool import HostSpool, host_from_row, host_row

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = DATA / "qualys-samples"
DETECTION_SAMPLES = sorted(SAMPLES.glob("detection_*.xml")) + sorted(DATA.glob("*detection*.xml"))


def kind_of(body: bytes) -> ReplyKind:
    return CVE_DETECTIONS if CVE_DETECTIONS.root.encode() in body[:4096] else DETECTIONS


@pytest.mark.parametrize("sample", DETECTION_SAMPLES, ids=lambda path: path.name)
def test_feed_rows_gives_the_rows_of_the_hosts_feed_gives(sample: Path) -> None:
    body = sample.read_bytes()
    by_rows, by_hosts = DetectionParser(kind=kind_of(body)), DetectionParser(kind=kind_of(body))
    rows: list[tuple[object, ...]] = []
    hosts: list[Host] = []
    for start in range(0, len(body), 997):  # odd slices: hosts end inside any of them
        rows += by_rows.feed_rows(body[start : start + 997])
        hosts += by_hosts.feed(body[start : start + 997])
    assert by_rows.close() == by_hosts.close()
    assert rows == [host_row(host) for host in hosts]
    assert [host_from_row(row) for row in rows] == hosts


@pytest.mark.parametrize(
    "sample", [p for p in DETECTION_SAMPLES if kind_of(p.read_bytes()) is DETECTIONS],
    ids=lambda path: path.name,
)  # fmt: skip
def test_parse_detection_rows_is_parse_detection_file_as_rows(sample: Path) -> None:
    hosts = parse_detection_file(sample)
    rows = parse_detection_rows(sample)
    found_hosts, found_rows = [], []
    try:
        while True:
            found_hosts.append(next(hosts))
    except StopIteration as stop:
        host_end = stop.value
    try:
        while True:
            found_rows.append(next(rows))
    except StopIteration as stop:
        row_end = stop.value
    assert row_end == host_end
    assert found_rows == [host_row(host) for host in found_hosts]


def test_spooled_rows_come_back_as_the_hosts_they_were() -> None:
    sample = SAMPLES / "detection_multi_host_5hosts_jupiterone_qg3.xml"
    parser = DetectionParser()
    rows = parser.feed_rows(sample.read_bytes())
    parser.close()
    with HostSpool() as spool:
        for row in rows:
            spool.append_row(row)
        assert (spool.hosts, spool.detections) == (
            len(rows),
            sum(len(host.detections) for host in map(host_from_row, rows)),
        )
        assert list(spool) == [host_from_row(row) for row in rows]
        assert list(spool.rows()) == rows


def d(qid: int, last_found: str | None, cves: tuple[str, ...] = ()) -> Detection:
    return Detection(qid=Qid(qid), last_found=last_found, cves=cves, status="Active")


SINCE = "2024-03-01T00:00:00Z"


@pytest.mark.parametrize(
    ("detections", "since", "expected"),
    [
        ((d(2, "2024-01-01T00:00:00Z"), d(1, "2024-02-01T00:00:00Z")), None,
         (d(1, "2024-02-01T00:00:00Z"), d(2, "2024-01-01T00:00:00Z"))),
        ((d(1, "2024-01-01T00:00:00Z"), d(1, "2024-05-01T00:00:00Z")), None,
         (d(1, "2024-05-01T00:00:00Z"),)),
        ((d(1, "2024-05-01T00:00:00Z"), d(1, None)), None, (d(1, "2024-05-01T00:00:00Z"),)),
        ((d(1, "2024-01-01T00:00:00Z", ("CVE-B",)), d(1, "2024-05-01T00:00:00Z", ("CVE-A",))),
         None, (d(1, "2024-05-01T00:00:00Z", ("CVE-A", "CVE-B")),)),
        ((d(1, "2024-01-01T00:00:00Z"), d(2, SINCE), d(3, None)), SINCE, (d(2, SINCE),)),
        ((d(1, "2024-01-01T00:00:00Z"), d(3, None)), SINCE, None),
        ((), None, None),
    ],
)  # fmt: skip
def test_refine_row_keeps_what_refine_keeps(
    detections: tuple[Detection, ...], since: str | None, expected: tuple[Detection, ...] | None
) -> None:
    host = Host(id=HostId(7), ip="10.0.0.7", tags=(Tag("PCI", 3),), detections=detections)
    refined = refine(host, since)
    row = refine_row(host_row(host), since)
    if expected is None:
        assert refined is None and row is None
        return
    assert refined is not None and row is not None
    assert refined.detections == expected
    assert host_from_row(row) == refined
    assert refined.tags == host.tags and refined.ip == host.ip


def test_a_host_kept_whole_is_returned_itself() -> None:
    host = Host(id=HostId(1), detections=(d(1, "2024-01-01T00:00:00Z"), d(2, None)))
    row = host_row(host)
    assert refine(host, None) is host
    assert refine_row(row, None) is row


def test_the_list_item_cache_stays_bounded_and_gives_the_same_items() -> None:
    first = xml._items(" A , B ,A")
    assert first == ("A", "B")
    for n in range(xml._ITEMS_CACHE_SIZE + 10):
        assert xml._items(f"T{n},U") == (f"T{n}", "U")
    assert len(xml._ITEMS_CACHE) <= xml._ITEMS_CACHE_SIZE
    assert xml._items(" A , B ,A") == first
