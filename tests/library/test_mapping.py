"""Pure mapping of hosts and detections to library records (no database)."""

from __future__ import annotations

import pytest

from cvesweep.library import mapping
from cvesweep.models import Detection, Qid
from tests.library.conftest import detection, host


@pytest.mark.parametrize(
    ("ip", "ipv6", "expected"),
    [
        ("10.0.0.1", None, "10.0.0.1"),
        (None, "2001:db8::1", "2001:db8::1"),
        ("10.0.0.1", "2001:db8::1", "10.0.0.1"),
        (None, None, None),
        ("", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_asset_value_is_ipv4_else_ipv6(
    ip: str | None, ipv6: str | None, expected: str | None
) -> None:
    assert mapping.asset_value(host(1, ip, ipv6=ipv6)) == expected


def test_full_identity_attributes_name_every_host_fact() -> None:
    found = mapping.identity_attributes(
        host(77, "10.0.0.1", fqdn="web.corp.example", os="RHEL 8"), full=True
    )
    assert found == {
        "Last Scan Date": "2024-04-17T18:56:01Z",
        "Qualys Host ID": "77",
        "Hostname": "web.corp.example",
        "NetBIOS": "HOST77",
        "Operating System": "RHEL 8",
        "Tracking Method": "IP",
    }


def test_vulnerable_only_identity_is_the_last_scan_date() -> None:
    found = mapping.identity_attributes(host(1, "10.0.0.1"), full=False)
    assert found == {"Last Scan Date": "2024-04-17T18:56:01Z"}


def test_absent_identity_facts_produce_no_attribute() -> None:
    bare = host(
        5, "10.0.0.5", dns=None, netbios=None, os=None, tracking_method=None, last_scan=None
    )
    assert mapping.identity_attributes(bare, full=True) == {"Qualys Host ID": "5"}


def test_info_detection_without_severity_or_status_yields_only_present_facts() -> None:
    info = Detection(qid=Qid(45038), type="Info", last_found="2024-04-17T18:56:01Z")
    pairs = list(
        mapping.finding_attributes(info.qid, info.severity, info.status, info.type, info.last_found)
    )
    assert pairs == [
        ("Qualys ID", "45038"),
        ("Scan Type", "Info"),
        ("Last Found Date", "2024-04-17T18:56:01Z"),
    ]


def test_finding_facts_follow_the_finding_fields_order() -> None:
    vulnerable = host(9, "10.0.0.9", detections=[detection(100)])
    facts = mapping.finding_facts(vulnerable, vulnerable.detections[0])
    row = dict(zip(mapping.FINDING_FIELDS, facts, strict=True))
    assert row["severity"] == 5 and row["status"] == "Active" and row["port"] == 443
    assert row["last_scan"] == "2024-04-17T18:56:01Z" and row["qualys_host_id"] == 9


def test_duplicate_qids_of_a_host_make_one_finding_the_last_one() -> None:
    dup = host(
        1,
        "10.0.0.1",
        detections=[detection(100, severity=3), detection(100, severity=4), detection(101)],
    )
    plan = mapping.plan_batch([dup], add_assets=True, add_discovered=False)
    assert sorted(plan.findings) == [("10.0.0.1", 100), ("10.0.0.1", 101)]
    assert plan.findings[("10.0.0.1", 100)][0] == 4


def test_hosts_sharing_an_address_fold_into_one_asset() -> None:
    first = host(1, "10.0.0.1", detections=[detection(100)], tags=["A"])
    second = host(2, "10.0.0.1", detections=[detection(101)], tags=["B"], os="Windows")
    plan = mapping.plan_batch([first, second], add_assets=True, add_discovered=True)
    assert list(plan.identity) == ["10.0.0.1"]
    assert plan.identity["10.0.0.1"]["Qualys Host ID"] == "2"
    assert plan.identity["10.0.0.1"]["Operating System"] == "Windows"
    assert plan.tags["10.0.0.1"] == {"A", "B"}
    assert sorted(plan.findings) == [("10.0.0.1", 100), ("10.0.0.1", 101)]


def test_host_without_address_is_skipped_and_counted() -> None:
    plan = mapping.plan_batch(
        [host(1, None, detections=[detection(100)])], add_assets=True, add_discovered=True
    )
    assert plan.identity == {} and plan.findings == {} and plan.skipped == 1


@pytest.mark.parametrize(
    ("add_assets", "add_discovered", "kept", "vulnerable"),
    [
        (True, True, {"10.0.0.1", "10.0.0.2"}, {"10.0.0.1"}),
        (True, False, {"10.0.0.1"}, {"10.0.0.1"}),
        (False, True, {"10.0.0.1", "10.0.0.2"}, set()),
        (False, False, set(), set()),
    ],
)
def test_asset_flags_choose_the_hosts_kept(
    add_assets: bool, add_discovered: bool, kept: set[str], vulnerable: set[str]
) -> None:
    hosts = [
        host(1, "10.0.0.1", detections=[detection(100)], tags=["T1"]),
        host(2, "10.0.0.2", tags=["T2"]),
    ]
    plan = mapping.plan_batch(hosts, add_assets=add_assets, add_discovered=add_discovered)
    assert set(plan.identity) == kept
    assert plan.vulnerable == vulnerable
    assert plan.cve_tags == {"T1"}  # only vulnerable hosts' tags, whatever is kept


def test_blank_tag_names_are_dropped() -> None:
    assert mapping.tag_names(host(1, "10.0.0.1", tags=["  Prod ", "", "   "])) == {"Prod"}
