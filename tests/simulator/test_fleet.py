"""The simulated fleet: determinism, host ids, host invariants, pre-filters and exact counts."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from itertools import islice, pairwise
from typing import Any

import pytest

from cvesweep.simulator.fleet import OPEN_STATUSES, PERIOD, Fleet
from cvesweep.simulator.knowledgebase import IG_ONLY_CVE, LOG4SHELL, NO_QID_CVE, VENDOR_EXAMPLE
from cvesweep.simulator.records import SimHost

FUTURE = datetime(2026, 11, 1, tzinfo=UTC)
STATUSES = {"New", "Active", "Re-Opened", "Fixed"}
KB_TYPES = {
    "Vulnerability": {"Confirmed"},
    "Potential Vulnerability": {"Potential"},
    "Vulnerability or Potential Vulnerability": {"Confirmed", "Potential"},
    "Information Gathered": {"Info"},
}
WRAPPING_SIZE = PERIOD + 400  # larger than one period, so counts must wrap
MATCH_NOTHING = {"no qids", "unknown qids", "no ranges", "unknown group"}


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(seed=1, size=2000)


@pytest.fixture(scope="module")
def hosts(fleet: Fleet) -> list[SimHost]:
    return [fleet.host(i) for i in range(fleet.size)]


@pytest.fixture(scope="module")
def wrapping() -> tuple[Fleet, list[SimHost]]:
    big = Fleet(seed=3, size=WRAPPING_SIZE)
    return big, [big.host(i) for i in range(big.size)]


@pytest.fixture(scope="module")
def short() -> Fleet:
    """The first 1000 hosts of the ``wrapping`` fleet (less than one period)."""
    return Fleet(seed=3, size=1000)


def _digest(fleet: Fleet, indexes: Sequence[int]) -> str:
    return hashlib.sha256(repr([fleet.host(i) for i in indexes]).encode()).hexdigest()


def test_same_seed_gives_identical_hosts() -> None:
    first, second = Fleet(seed=7, size=300), Fleet(seed=7, size=300)
    assert [first.host(i) for i in range(300)] == [second.host(i) for i in range(300)]


def test_hosts_do_not_depend_on_build_order() -> None:
    forward, backward = Fleet(seed=7, size=300), Fleet(seed=7, size=300)
    built = {i: backward.host(i) for i in reversed(range(300))}
    assert [forward.host(i) for i in range(300)] == [built[i] for i in range(300)]


def test_same_seed_gives_identical_hosts_in_another_process() -> None:
    indexes = [0, 1, 999, 2999]
    code = (
        "from tests.simulator.test_fleet import _digest;"
        "from cvesweep.simulator.fleet import Fleet;"
        f"print(_digest(Fleet(seed=1, size=3000), {indexes}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == _digest(Fleet(seed=1, size=3000), indexes)


def test_different_seeds_give_different_fleets() -> None:
    first, second = Fleet(seed=1, size=50), Fleet(seed=2, size=50)
    assert [first.host(i) for i in range(50)] != [second.host(i) for i in range(50)]
    assert first.host_id(0) != second.host_id(0)


def test_host_ids_ascend_strictly_with_gaps(fleet: Fleet, hosts: list[SimHost]) -> None:
    ids = [host.id for host in hosts]
    assert ids == [fleet.host_id(i) for i in range(fleet.size)]
    gaps = [b - a for a, b in pairwise(ids)]
    assert min(gaps) >= 1
    assert max(gaps) > 1
    assert len(set(gaps)) > 5
    assert all(host.index == i for i, host in enumerate(hosts))


def test_index_at_or_after_round_trips_every_index_and_gap(fleet: Fleet) -> None:
    ids = [fleet.host_id(i) for i in range(fleet.size)]
    for i, host_id in enumerate(ids):
        assert fleet.index_at_or_after(host_id) == i
        if i + 1 < fleet.size:
            for in_gap in range(host_id + 1, ids[i + 1]):
                assert fleet.index_at_or_after(in_gap) == i + 1


@pytest.mark.parametrize(
    ("offset", "expected"),
    [("zero", 0), ("before_first", 0), ("first", 0), ("last", 1999), ("after_last", 2000)],
)
def test_index_at_or_after_boundaries(fleet: Fleet, offset: str, expected: int) -> None:
    first, last = fleet.host_id(0), fleet.host_id(fleet.size - 1)
    host_id = {
        "zero": 0,
        "before_first": first - 1,
        "first": first,
        "last": last,
        "after_last": last + 1,
    }[offset]
    assert fleet.index_at_or_after(host_id) == expected


def test_index_at_or_after_far_beyond_the_end_is_size(fleet: Fleet) -> None:
    assert fleet.index_at_or_after(10**15) == fleet.size
    assert Fleet(size=0).index_at_or_after(1) == 0


@pytest.mark.parametrize("index", [-1, 2000, 10**9])
def test_host_outside_the_fleet_is_an_index_error(fleet: Fleet, index: int) -> None:
    with pytest.raises(IndexError):
        fleet.host(index)


def test_dates_are_ordered_and_in_the_past(hosts: list[SimHost]) -> None:
    for host in hosts:
        assert host.last_vm_scanned <= host.last_scan < FUTURE
        for d in host.detections:
            assert d.first_found <= d.last_found <= d.last_test <= d.last_update, (host.index, d)
            assert d.last_test <= host.last_scan
            assert d.last_processed <= host.last_scan
            assert d.first_found.tzinfo is UTC
            assert d.times_found >= 1
            if d.last_fixed is not None:
                assert d.status in {"Fixed", "Re-Opened"}
                assert d.first_found <= d.last_fixed <= d.last_test


def test_fixed_and_reopened_detections_carry_last_fixed(hosts: list[SimHost]) -> None:
    for d in (d for host in hosts for d in host.detections):
        assert (d.last_fixed is not None) == (d.status in {"Fixed", "Re-Opened"})
        if d.status == "Fixed":
            assert d.last_fixed is not None and d.last_found < d.last_fixed
        if d.status == "Re-Opened":
            assert d.last_fixed is not None and d.last_fixed < d.last_found


def test_detections_are_sorted_by_qid_and_match_the_kb(fleet: Fleet, hosts: list[SimHost]) -> None:
    for host in hosts:
        qids = [d.qid for d in host.detections]
        assert qids == sorted(qids)
        for d in host.detections:
            vuln = fleet.kb.vuln(d.qid)
            assert vuln is not None
            assert d.type in KB_TYPES[vuln.vuln_type]
            if d.type != "Info":
                assert d.severity == vuln.severity


def test_info_detections_have_no_severity_or_status(hosts: list[SimHost]) -> None:
    for d in (d for host in hosts for d in host.detections):
        if d.type == "Info":
            assert (d.severity, d.status) == (None, None)
        else:
            assert d.severity in {1, 2, 3, 4, 5}
            assert d.status in STATUSES


def test_fleet_shows_every_type_status_severity_and_tracking(hosts: list[SimHost]) -> None:
    detections = [d for host in hosts for d in host.detections]
    assert {d.type for d in detections} == {"Confirmed", "Potential", "Info"}
    assert {d.status for d in detections} == STATUSES | {None}
    assert {d.severity for d in detections} == {1, 2, 3, 4, 5, None}
    assert {host.tracking_method for host in hosts} == {"IP", "DNS", "NETBIOS", "AGENT"}
    assert any(d.port is None and d.type != "Info" for d in detections)
    assert any(d.port is not None for d in detections)


def test_ports_come_with_protocols(hosts: list[SimHost]) -> None:
    for d in (d for host in hosts for d in host.detections):
        assert (d.port is None) == (d.protocol is None)
        assert not (d.ssl and d.port is None)


def test_hosts_have_a_realistic_number_of_detections(hosts: list[SimHost]) -> None:
    counts = [len(host.detections) for host in hosts]
    assert min(counts) >= 3 and max(counts) <= 25
    assert 6 <= sum(counts) / len(counts) <= 16


def test_addresses_are_private_ipv4_with_some_ipv6_only(hosts: list[SimHost]) -> None:
    ipv6_only = [host for host in hosts if host.ip is None]
    assert 0.01 * len(hosts) <= len(ipv6_only) <= 0.06 * len(hosts)
    for host in hosts:
        assert host.ip is not None or host.ipv6 is not None
        if host.ip is not None:
            assert ipaddress.IPv4Address(host.ip).is_private
        if host.ipv6 is not None:
            assert ipaddress.IPv6Address(host.ipv6).compressed == host.ipv6
    ips = [host.ip for host in hosts if host.ip is not None]
    assert len(set(ips)) == len(ips)


def test_names_look_like_qualys_ones(hosts: list[SimHost]) -> None:
    for host in hosts:
        if host.netbios is not None:
            assert host.netbios == host.netbios.upper() and len(host.netbios) <= 15
            assert host.os.startswith("Windows")
        if host.tracking_method == "NETBIOS":
            assert host.netbios is not None
        if host.tracking_method == "DNS":
            assert host.dns is not None
    assert any(host.dns is None for host in hosts)
    assert any(host.dns and host.dns.endswith(".ec2.internal") for host in hosts)


def test_hosts_are_in_one_or_two_groups_and_carry_up_to_four_tags(
    fleet: Fleet, hosts: list[SimHost]
) -> None:
    known_groups, known_tags = set(fleet.asset_groups), set(fleet.tags)
    group_counts = Counter(len(host.asset_groups) for host in hosts)
    tag_counts = Counter(len(host.tags) for host in hosts)
    assert set(group_counts) == {1, 2}
    assert min(tag_counts) == 0 and max(tag_counts) == 4
    for host in hosts:
        assert set(host.asset_groups) <= known_groups
        assert set(host.tags) <= known_tags
    titles = {group.title for group in fleet.asset_groups}
    assert {"DMZ", "Servers", "Workstations", "Datacenter EU"} <= titles
    assert len({group.id for group in fleet.asset_groups}) == len(fleet.asset_groups)


def _exact(
    host: SimHost,
    qids: Collection[int] | None,
    ranges: Sequence[tuple[int, int]] | None,
    groups: Collection[int] | None,
) -> bool:
    if qids is not None and not any(d.qid in qids for d in host.detections):
        return False
    if ranges is not None:
        if host.ip is None:
            return False
        number = int(ipaddress.IPv4Address(host.ip))
        if not any(low <= number <= high for low, high in ranges):
            return False
    return groups is None or any(group.id in groups for group in host.asset_groups)


def _filters(fleet: Fleet, hosts: list[SimHost]) -> list[tuple[str, dict[str, Any]]]:
    log4shell = set(fleet.kb.qids_for_cves([LOG4SHELL]))
    ip = int(ipaddress.IPv4Address(next(h.ip for h in hosts[100:] if h.ip)))
    net24, net16 = ip & ~0xFF, ip & ~0xFFFF
    groups = {group.title: group.id for group in fleet.asset_groups}
    return [
        ("log4shell", {"qids": log4shell}),
        ("rare qid", {"qids": set(fleet.kb.qids_for_cves([VENDOR_EXAMPLE]))}),
        ("no qids", {"qids": set()}),
        ("unknown qids", {"qids": {1, 2, 3}}),
        ("every qid", {"qids": set(range(0, 1_000_000))}),
        ("one /24", {"ipv4_ranges": [(net24, net24 + 255)]}),
        ("one /16 and overlap", {"ipv4_ranges": [(net16, net16 + 65535), (ip, ip + 10)]}),
        ("one address", {"ipv4_ranges": [(ip, ip)]}),
        ("no ranges", {"ipv4_ranges": []}),
        ("dmz", {"asset_group_ids": {groups["DMZ"]}}),
        ("servers", {"asset_group_ids": {groups["Servers"]}}),
        ("dmz or workstations", {"asset_group_ids": {groups["DMZ"], groups["Workstations"]}}),
        ("unknown group", {"asset_group_ids": {1}}),
        ("log4shell servers in EU", {"qids": log4shell,
                                     "asset_group_ids": {groups["Datacenter EU"]}}),
        ("log4shell in a /16", {"qids": log4shell, "ipv4_ranges": [(net16, net16 + 65535)]}),
    ]  # fmt: skip


@pytest.mark.parametrize("window", [(0, None), (137, 1500), (1999, 2000), (500, 400)])
def test_candidate_indexes_are_an_ascending_superset_of_matches(
    fleet: Fleet, hosts: list[SimHost], window: tuple[int, int | None]
) -> None:
    start, stop = window
    end = fleet.size if stop is None else stop
    for name, kwargs in _filters(fleet, hosts):
        got = list(fleet.candidate_indexes(start=start, stop=stop, **kwargs))
        assert got == sorted(set(got)), name
        assert all(start <= i < end for i in got), name
        exact = [
            i
            for i in range(start, end)
            if _exact(hosts[i], kwargs.get("qids"), kwargs.get("ipv4_ranges"),
                      kwargs.get("asset_group_ids"))
        ]  # fmt: skip
        assert set(exact) <= set(got), name
        if window == (0, None) and name not in MATCH_NOTHING:
            assert exact, name


def test_qid_candidates_are_exactly_the_hosts_with_those_qids(
    wrapping: tuple[Fleet, list[SimHost]],
) -> None:
    fleet, hosts = wrapping
    qids = set(fleet.kb.qids_for_cves([LOG4SHELL]))
    got = list(fleet.candidate_indexes(qids=qids))
    assert got == [h.index for h in hosts if any(d.qid in qids for d in h.detections)]
    assert 0.05 * fleet.size < len(got) < 0.2 * fleet.size


def test_unfiltered_candidates_are_every_index(fleet: Fleet) -> None:
    assert list(fleet.candidate_indexes(start=10, stop=20)) == list(range(10, 20))
    assert list(fleet.candidate_indexes(start=1990, stop=10_000)) == list(range(1990, 2000))


@pytest.mark.parametrize(
    "cve",
    [LOG4SHELL, VENDOR_EXAMPLE, IG_ONLY_CVE, NO_QID_CVE, "CVE-2016-2183", "cve-2021-45046",
     "CVE-2021-34527", "CVE-2014-0160", "CVE-2024-3094"],
)  # fmt: skip
def test_host_count_for_cve_matches_a_brute_force_count(
    wrapping: tuple[Fleet, list[SimHost]], short: Fleet, cve: str
) -> None:
    fleet, hosts = wrapping
    qids = set(fleet.kb.qids_for_cves([cve]))
    for counted in (fleet, short):
        expected = sum(
            any(d.qid in qids and d.type != "Info" and d.status in OPEN_STATUSES
                for d in host.detections)
            for host in hosts[: counted.size]
        )  # fmt: skip
        assert counted.host_count_for_cve(cve) == expected


@pytest.mark.parametrize("cve", [IG_ONLY_CVE, NO_QID_CVE])
def test_cves_without_countable_detections_count_zero(fleet: Fleet, cve: str) -> None:
    assert fleet.host_count_for_cve(cve) == 0


def test_ig_only_cve_appears_only_as_info_detections(hosts: list[SimHost], fleet: Fleet) -> None:
    qids = set(fleet.kb.qids_for_cves([IG_ONLY_CVE]))
    found = [d for host in hosts for d in host.detections if d.qid in qids]
    assert found
    assert {d.type for d in found} == {"Info"}


def test_log4shell_hits_hosts_through_several_qids(fleet: Fleet, hosts: list[SimHost]) -> None:
    qids = set(fleet.kb.qids_for_cves([LOG4SHELL]))
    per_host = [{d.qid for d in host.detections} & qids for host in hosts]
    assert 0.05 <= fleet.host_count_for_cve(LOG4SHELL) / fleet.size <= 0.15
    assert len(set().union(*per_host)) >= 3
    assert any(len(found) >= 2 for found in per_host)


def test_vendor_example_hits_a_few_hosts(fleet: Fleet) -> None:
    for small in (fleet, Fleet(seed=9, size=200)):
        assert 1 <= small.host_count_for_cve(VENDOR_EXAMPLE) <= 0.05 * small.size


def test_counts_repeat_with_the_period() -> None:
    one = Fleet(seed=4, size=PERIOD)
    three = Fleet(seed=4, size=3 * PERIOD + 5)
    rest = Fleet(seed=4, size=5)
    for cve in (LOG4SHELL, "CVE-2016-2183", VENDOR_EXAMPLE):
        expected = 3 * one.host_count_for_cve(cve) + rest.host_count_for_cve(cve)
        assert three.host_count_for_cve(cve) == expected


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_featured_cves_are_ranked_counted_and_include_log4shell(fleet: Fleet, n: int) -> None:
    featured = fleet.featured_cves(n)
    assert len(featured) == n
    assert LOG4SHELL in dict(featured)
    assert featured == sorted(featured, key=lambda item: (-item[1], item[0]))
    for cve, count in featured:
        assert count == fleet.host_count_for_cve(cve) > 0


def test_featured_cves_of_an_empty_fleet_are_empty() -> None:
    assert Fleet(size=0).featured_cves() == []
    assert Fleet(size=10).featured_cves(0) == []


def test_a_million_host_fleet_is_lazy_and_complete() -> None:
    big = Fleet(size=1_000_000)
    last = big.host(999_999)
    assert last.id == big.host_id(999_999)
    assert big.index_at_or_after(last.id + 1) == big.size
    count = big.host_count_for_cve(LOG4SHELL)
    assert 50_000 <= count <= 150_000
    qids = big.kb.qids_for_cves([VENDOR_EXAMPLE])
    candidates = list(big.candidate_indexes(qids=qids))
    assert big.host_count_for_cve(VENDOR_EXAMPLE) <= len(candidates) < 0.05 * big.size
    tail = list(islice(big.candidate_indexes(start=999_000, qids=qids), 3))
    assert all(i >= 999_000 for i in tail)


def test_a_qid_may_show_on_two_ports_of_one_host(hosts: list[SimHost]) -> None:
    # Real replies list a QID once per port, so clients must de-duplicate QIDs per host.
    repeated = [
        host for host in hosts if len({d.qid for d in host.detections}) < len(host.detections)
    ]
    assert repeated
    for host in repeated:
        keys = [(d.qid, d.port) for d in host.detections]
        assert len(set(keys)) == len(keys)
