"""The table, JSON and CSV outputs of a search result: exact content, streaming, escaping."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cvesweep.errors import ExportError
from cvesweep.export import OutputFormat, write_result, write_summary
from cvesweep.export.jsonout import DETECTION_KEYS, detection_record, host_record
from cvesweep.models import (
    CveId,
    Detection,
    Host,
    HostId,
    Qid,
    SearchOptions,
    SearchResult,
    SearchSummary,
    Tag,
)
from cvesweep.spool import HostSpool

OPTIONS = SearchOptions(
    ips=("10.0.0.1", "10.1.0.0-10.1.0.255"),
    since=datetime(2020, 4, 1, 17, 35, tzinfo=UTC),
    min_severity=3,
    asset_groups=("DMZ", "Servers"),
)
SUMMARY = SearchSummary(
    hosts=2,
    detections=3,
    qids=(376157, 376160),
    pages=1,
    api_calls=3,
    search_list_id=4242,
    search_list_deleted=True,
    elapsed_s=1.23456,
)
WEB = Host(
    id=HostId(101),
    ip="10.0.0.1",
    tracking_method="IP",
    os="=cmd|' /C calc'!A0",
    dns="web01.example.com",
    fqdn="web01.corp.example.com",
    netbios="WEB01",
    last_scan="2024-06-07T07:58:23Z",
    tags=(Tag("DMZ", 7), Tag("+Prod")),
    detections=(
        Detection(Qid(376157), "Confirmed", 5, "Active", 443, "tcp", True, "r",
                  "2021-12-11T10:00:00Z", "2024-06-07T07:58:23Z", 12),
        Detection(Qid(376160), "Potential", 3, "New", None, None, None, None,
                  "2024-01-01T00:00:00Z", "2024-05-01T00:00:00Z", 1),
    ),
)  # fmt: skip
V6 = Host(
    id=HostId(205),
    ipv6="2001:db8::5",
    fqdn="@v6.example.com",
    netbios="[bold]NB",
    detections=(Detection(Qid(376157), type="Info"),),
)


class OnceIterable:
    """Hosts that may be iterated only once, like a spool file read back."""

    def __init__(self, hosts: list[Host]) -> None:
        self.hosts = hosts
        self.iterated = False

    def __iter__(self) -> Iterator[Host]:
        if self.iterated:
            raise AssertionError("hosts iterated twice")
        self.iterated = True
        return iter(self.hosts)


def result(hosts: object = (WEB, V6), summary: SearchSummary | None = SUMMARY) -> SearchResult:
    return SearchResult(CveId("CVE-2021-44228"), OPTIONS, hosts, summary)  # type: ignore[arg-type]


def render(fmt: OutputFormat, res: SearchResult) -> str:
    stream = io.StringIO()
    write_result(res, fmt, stream)
    return stream.getvalue()


# The detection 5.0 keys of a detection that has none of them (an older reply).
NO_V5 = {
    "unique_vuln_id": None, "cves": [], "qds": None, "qds_severity": None,
    "mitre_tactic_ids": [], "mitre_tactic_names": [], "mitre_technique_ids": [],
    "mitre_technique_names": [], "detection_sources": [], "latest_detection_source": None,
}  # fmt: skip

EXPECTED_JSON = {
    "cve": "CVE-2021-44228",
    "filters": {
        "ips": ["10.0.0.1", "10.1.0.0-10.1.0.255"],
        "since": "2020-04-01T17:35:00Z",
        "min_severity": 3,
        "asset_groups": ["DMZ", "Servers"],
    },
    "hosts": [
        {
            "id": 101, "ip": "10.0.0.1", "ipv6": None, "dns": "web01.example.com",
            "netbios": "WEB01", "os": "=cmd|' /C calc'!A0", "tracking_method": "IP",
            "last_scan": "2024-06-07T07:58:23Z", "tags": ["DMZ", "+Prod"],
            "detections": [
                {"qid": 376157, "type": "Confirmed", "severity": 5, "status": "Active",
                 "port": 443, "protocol": "tcp", "first_found": "2021-12-11T10:00:00Z",
                 "last_found": "2024-06-07T07:58:23Z", "times_found": 12, **NO_V5},
                {"qid": 376160, "type": "Potential", "severity": 3, "status": "New",
                 "port": None, "protocol": None, "first_found": "2024-01-01T00:00:00Z",
                 "last_found": "2024-05-01T00:00:00Z", "times_found": 1, **NO_V5},
            ],
        },
        {
            "id": 205, "ip": None, "ipv6": "2001:db8::5", "dns": "@v6.example.com",
            "netbios": "[bold]NB", "os": None, "tracking_method": None, "last_scan": None,
            "tags": [],
            "detections": [
                {"qid": 376157, "type": "Info", "severity": None, "status": None, "port": None,
                 "protocol": None, "first_found": None, "last_found": None, "times_found": None,
                 **NO_V5},
            ],
        },
    ],
    "summary": {
        "hosts": 2, "detections": 3, "qids": [376157, 376160], "pages": 1, "api_calls": 3,
        "search_list_id": 4242, "search_list_deleted": True, "elapsed_s": 1.235,
        "method": "search-list", "search_list_qids": None,
    },
}  # fmt: skip

V5_DETECTION = Detection(
    Qid(376157), "Confirmed", 5, "Active", unique_vuln_id=9123456789,
    cves=("CVE-2021-44228", "CVE-2021-45046"), qds=95, qds_severity="CRITICAL",
    mitre_tactic_ids=("TA0001",), mitre_tactic_names=("Initial Access",),
    mitre_technique_ids=("T1190",), mitre_technique_names=("Exploit Public-Facing Application",),
    detection_sources=("Cloud Agent", "Internal Scanner"), latest_detection_source="Cloud Agent",
)  # fmt: skip


def test_detection_5_facts_reach_json_and_csv() -> None:
    v5_host = replace(WEB, detections=(V5_DETECTION,))
    record = json.loads(render(OutputFormat.JSON, result([v5_host])))["hosts"][0]["detections"][0]
    assert record["cves"] == ["CVE-2021-44228", "CVE-2021-45046"]
    assert (record["qds"], record["qds_severity"], record["unique_vuln_id"]) == (
        95,
        "CRITICAL",
        9123456789,
    )
    assert record["mitre_technique_ids"] == ["T1190"]
    assert record["detection_sources"] == ["Cloud Agent", "Internal Scanner"]
    (row,) = csv.DictReader(io.StringIO(render(OutputFormat.CSV, result([v5_host]))))
    assert row["cves"] == "CVE-2021-44228; CVE-2021-45046"
    assert (row["qds"], row["latest_detection_source"]) == ("95", "Cloud Agent")
    assert row["mitre_tactic_names"] == "Initial Access"


def test_every_format_is_written() -> None:
    assert [fmt.value for fmt in OutputFormat] == ["table", "json", "csv"]
    for fmt in OutputFormat:
        text = render(fmt, result(OnceIterable([WEB, V6])))
        assert "10.0.0.1" in text, fmt
        assert "2001:db8::5" in text, fmt


def test_json_is_exactly_the_contract() -> None:
    text = render(OutputFormat.JSON, result(OnceIterable([WEB, V6])))
    parsed = json.loads(text)
    assert parsed == EXPECTED_JSON
    assert list(parsed) == ["cve", "filters", "hosts", "summary"]
    assert list(parsed["hosts"][0]) == list(EXPECTED_JSON["hosts"][0])  # type: ignore[index]


def test_json_from_a_spool_is_byte_for_byte_json_dumps_of_each_host_record() -> None:
    odd = replace(
        V6, os="Ünïcode \"quoted\" \\ back\tslash\n\u2028", dns="", fqdn="fq.example.com",
        tags=(Tag("ü"), Tag("")),
        detections=(replace(WEB.detections[0], cves=("CVE-1", "CVE-2"), qds=0,
                            mitre_tactic_names=("Initial Access",), qds_severity=""),),
    )  # fmt: skip
    hosts = [WEB, V6, odd, Host(id=HostId(1))]
    expected = [json.dumps(host_record(host)) for host in hosts]
    with HostSpool() as spool:
        for host in hosts:
            spool.append(host)
        for source in (spool, hosts, iter(hosts)):
            lines = render(OutputFormat.JSON, result(source)).splitlines()[2:-2]
            assert [line.strip().rstrip(",") for line in lines] == expected


def test_json_has_one_host_per_line() -> None:
    lines = render(OutputFormat.JSON, result()).splitlines()
    assert len(lines) == 6
    assert json.loads(lines[2].strip().rstrip(","))["id"] == 101
    assert json.loads(lines[3].strip())["id"] == 205


def test_detection_keys_are_the_contract_keys_in_order() -> None:
    assert tuple(detection_record(WEB.detections[0])) == DETECTION_KEYS


def test_json_of_no_hosts_and_no_filters_and_no_summary() -> None:
    res = SearchResult(CveId("CVE-2021-44228"), SearchOptions(), iter(()), None)
    assert json.loads(render(OutputFormat.JSON, res)) == {
        "cve": "CVE-2021-44228",
        "filters": {"ips": [], "since": None, "min_severity": None, "asset_groups": []},
        "hosts": [],
        "summary": None,
    }


def test_json_streams_each_host_before_reading_the_next() -> None:
    stream = io.StringIO()
    written_before: list[int] = []

    def hosts() -> Iterator[Host]:
        for number in range(1, 4):
            written_before.append(stream.getvalue().count('"id": '))
            yield Host(id=HostId(number), ip=f"10.0.0.{number}")

    write_result(result(hosts()), OutputFormat.JSON, stream)
    assert written_before == [0, 1, 2]
    assert [h["id"] for h in json.loads(stream.getvalue())["hosts"]] == [1, 2, 3]


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_hosts_are_iterated_once_lazily(fmt: OutputFormat) -> None:
    pulled: list[int] = []
    count = 1000

    def hosts() -> Iterator[Host]:
        for number in range(1, count + 1):
            pulled.append(number)
            ip = f"10.0.{number // 256}.{number % 256}"
            yield Host(id=HostId(number), ip=ip, detections=(Detection(Qid(1)),))

    text = render(fmt, result(hosts()))
    assert pulled == list(range(1, count + 1))
    assert "10.0.3.232" in text  # the last host


EXPECTED_CSV = [
    ["host_id", "ip", "ipv6", "dns", "netbios", "os", "tracking_method", "last_scan", "tags",
     "qid", "type", "severity", "status", "port", "protocol", "first_found", "last_found",
     "times_found", "unique_vuln_id", "cves", "qds", "qds_severity", "mitre_tactic_ids",
     "mitre_tactic_names", "mitre_technique_ids", "mitre_technique_names", "detection_sources",
     "latest_detection_source"],
    ["101", "10.0.0.1", "", "web01.example.com", "WEB01", "'=cmd|' /C calc'!A0", "IP",
     "2024-06-07T07:58:23Z", "DMZ; +Prod", "376157", "Confirmed", "5", "Active", "443", "tcp",
     "2021-12-11T10:00:00Z", "2024-06-07T07:58:23Z", "12", *[""] * 10],
    ["101", "10.0.0.1", "", "web01.example.com", "WEB01", "'=cmd|' /C calc'!A0", "IP",
     "2024-06-07T07:58:23Z", "DMZ; +Prod", "376160", "Potential", "3", "New", "", "",
     "2024-01-01T00:00:00Z", "2024-05-01T00:00:00Z", "1", *[""] * 10],
    ["205", "", "2001:db8::5", "'@v6.example.com", "[bold]NB", "", "", "", "", "376157",
     "Info", "", "", "", "", "", "", "", *[""] * 10],
]  # fmt: skip


def test_csv_has_one_row_per_host_and_detection() -> None:
    text = render(OutputFormat.CSV, result(OnceIterable([WEB, V6])))
    assert list(csv.reader(io.StringIO(text))) == EXPECTED_CSV
    assert "\r" not in text


@pytest.mark.parametrize(
    ("os_name", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Windows = 10", "Windows = 10"),
        ("Linux 5.4-generic", "Linux 5.4-generic"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_get_an_apostrophe(os_name: str, cell: str) -> None:
    host = Host(id=HostId(1), ip="10.0.0.1", os=os_name, tags=(Tag(os_name),),
                detections=(Detection(Qid(1), protocol=os_name),))  # fmt: skip
    rows = list(csv.reader(io.StringIO(render(OutputFormat.CSV, result([host])))))
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["os"] == cell
    assert record["tags"] == cell
    assert record["protocol"] == cell


def test_csv_host_without_detections_gets_one_row_with_empty_detection_columns() -> None:
    host = Host(id=HostId(9), ip="10.0.0.9")
    rows = list(csv.reader(io.StringIO(render(OutputFormat.CSV, result([host])))))
    assert rows[1] == ["9", "10.0.0.9"] + [""] * 26


def test_table_shows_each_host_and_its_detections() -> None:
    text = render(OutputFormat.TABLE, result(OnceIterable([WEB, V6])))
    header = text.splitlines()[0].split()
    assert header == ["IP", "Hostname", "QIDs", "Severity", "Status", "Type", "Last",
                      "found", "Last", "scan", "Tags"]  # fmt: skip
    web_line = next(line for line in text.splitlines() if line.startswith("10.0.0.1"))
    assert web_line.split()[:6] == ["10.0.0.1", "web01.corp.example.com", "376157", "5",
                                    "Active", "Confirmed"]  # fmt: skip
    assert "2024-06-07 07:58   2024-06-07 07:58" in web_line
    assert "DMZ, +Prod" in web_line
    second = text.splitlines()[text.splitlines().index(web_line) + 1].split()
    assert second == ["376160", "3", "New", "Potential"]
    v6_line = next(line for line in text.splitlines() if line.startswith("2001:db8::5"))
    assert v6_line.split()[:6] == ["2001:db8::5", "@v6.example.com", "376157", "-", "-", "Info"]


def test_table_prints_qualys_text_literally_and_without_colour() -> None:
    host = Host(id=HostId(1), ip="10.0.0.1", dns="[bold]x", fqdn=None,
                tags=(Tag("[red]tag[/red]"), Tag(":smile:")),
                detections=(Detection(Qid(1), status="[b]New"),))  # fmt: skip
    text = render(OutputFormat.TABLE, result([host]))
    assert "[bold]x" in text
    assert "[red]tag[/red], :smile:" in text
    assert "[b]New" in text
    assert "\x1b[" not in text


def test_table_summary_block() -> None:
    text = render(OutputFormat.TABLE, result())
    lines = [" ".join(line.split()) for line in text.splitlines()]
    expected = [
        "CVE CVE-2021-44228",
        "Filters ips 10.0.0.1, 10.1.0.0-10.1.0.255; since 2020-04-01T17:35:00Z; "
        "min severity 3; asset groups DMZ, Servers",
        "Hosts 2",
        "Detections 3",
        "QIDs 376157, 376160",
        "Method search-list",
        "Pages 1",
        "API calls 3",
        "Search list id 4242, created: yes, deleted: yes",
        "Time 1.23 s",
    ]
    assert lines[-len(expected) :] == expected


def test_table_says_when_the_list_was_not_deleted_and_no_host_was_found() -> None:
    summary = SearchSummary(0, 0, (), 1, 3, 77, False, 0.5)
    res = SearchResult(CveId("CVE-2021-44228"), SearchOptions(), [], summary)
    text = render(OutputFormat.TABLE, res)
    assert "No vulnerable hosts found." in text
    assert "IP" not in text.split()
    assert "Filters      none" in text
    assert "deleted: NO (run: cvesweep cleanup)" in text


def test_table_without_summary_counts_what_it_showed() -> None:
    text = render(OutputFormat.TABLE, result(OnceIterable([WEB, V6]), summary=None))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert lines[-2:] == ["Hosts 2", "Detections 3"]


def test_table_of_many_hosts_keeps_columns_aligned_across_batches() -> None:
    hosts = [Host(id=HostId(n), ip=f"10.0.{n // 256}.{n % 256}", dns=f"h{n}",
                  detections=(Detection(Qid(n)),)) for n in range(450)]  # fmt: skip
    pulled = OnceIterable(hosts)
    text = render(OutputFormat.TABLE, result(pulled, summary=None))
    rows = [line for line in text.splitlines() if line.startswith("10.0.")]
    assert len(rows) == 450
    assert len({line.index(f"h{n}") for n, line in enumerate(rows)}) == 1
    assert text.count("Hostname") == 1


def test_write_summary_alone() -> None:
    stream = io.StringIO()
    write_summary(result(), stream)
    text = stream.getvalue()
    assert text.startswith("CVE")
    assert "web01" not in text
    assert "API calls    3" in text


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_a_failing_stream_is_an_export_error(fmt: OutputFormat) -> None:
    with pytest.raises(ExportError) as caught:
        write_result(result(), fmt, BrokenStream())
    assert f"could not write the {fmt.value} output: No space left on device" == str(caught.value)
    assert caught.value.exit_code == 1
