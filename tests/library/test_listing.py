"""Paged, sorted reads (library.listing): numeric IP order, sorts, totals, a CVE's overview."""

from __future__ import annotations

import ipaddress

import pytest

from cvesweep.errors import InputError
from cvesweep.library import Library, listing
from cvesweep.library.listing import AssetFilter, AssetSort
from tests.library.conftest import detection, host, ingest

CVE = "CVE-2021-44228"
# Text order puts .125 before .13 and 10.x before 9.x: numeric order does not.
ADDRESSES = ["172.27.110.125", "172.27.110.13", "10.0.0.2", "9.1.1.1", "172.27.110.9"]


@pytest.fixture
def stored(library: Library) -> Library:
    hosts = [
        host(n, ip, detections=[detection(100 + n, severity=1 + n % 5)], tags=[f"t{n % 2}"])
        for n, ip in enumerate(ADDRESSES, start=1)
    ]
    ingest(library, hosts)
    return library


def numeric(values: list[str]) -> list[str]:
    return sorted(values, key=lambda v: int(ipaddress.ip_address(v)))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["172.27.110.125", "172.27.110.13"], ["172.27.110.13", "172.27.110.125"]),
        (["::1", "10.0.0.1", "zzz", "9.0.0.1"], ["9.0.0.1", "10.0.0.1", "::1", "zzz"]),
    ],
)
def test_ip_key_orders_ipv4_numerically_then_ipv6_then_text(
    values: list[str], expected: list[str]
) -> None:
    assert sorted(values, key=listing.ip_key) == expected


def test_assets_are_in_numeric_ip_order_with_their_total(stored: Library) -> None:
    page = listing.asset_page(stored.engine, limit=100)
    assert [a.value for a in page.items] == numeric(ADDRESSES)
    assert (page.total, page.more) == (5, 0)


def test_pages_cover_the_assets_once_and_say_how_many_follow(stored: Library) -> None:
    first = listing.asset_page(stored.engine, limit=2)
    second = listing.asset_page(stored.engine, limit=2, offset=2)
    last = listing.asset_page(stored.engine, limit=2, offset=4)
    values = [a.value for p in (first, second, last) for a in p.items]
    assert values == numeric(ADDRESSES)
    assert (first.more, second.more, last.more) == (3, 1, 0)


def test_severity_sorts_high_to_low_with_ip_order_within_a_level(stored: Library) -> None:
    page = listing.asset_page(stored.engine, sort=AssetSort.SEVERITY, descending=True)
    levels = [a.highest_severity for a in page.items]
    assert levels == sorted(levels, reverse=True)
    assert levels[0] == 5


def test_descending_ip_is_the_reverse_of_ip_order(stored: Library) -> None:
    page = listing.asset_page(stored.engine, descending=True)
    assert [a.value for a in page.items] == numeric(ADDRESSES)[::-1]


def test_filters_narrow_the_total(stored: Library) -> None:
    page = listing.asset_page(stored.engine, AssetFilter(cve=CVE, tag="T1", search="172."))
    assert page.total == len(page.items) == 2
    assert all("172." in a.value and "t1" in a.tags for a in page.items)


def test_unknown_cve_is_an_input_error(stored: Library) -> None:
    with pytest.raises(InputError):
        listing.asset_page(stored.engine, AssetFilter(cve="CVE-1999-0001"))


def test_cve_overview_counts_without_reading_every_finding(stored: Library) -> None:
    overview = listing.cve_overview(stored.engine, CVE)
    assert (overview.assets, overview.findings) == (5, 5)
    assert sum(count for _, count in overview.by_severity) == 5
    assert dict(overview.by_tag) == {"t0": 2, "t1": 3}


def test_findings_page_is_in_numeric_ip_order(stored: Library) -> None:
    page = listing.findings_page(stored.engine, cve=CVE, limit=3, offset=1)
    assert [f.asset for f in page.items] == numeric(ADDRESSES)[1:4]
    assert page.total == 5


def test_runs_page_counts_every_run(stored: Library) -> None:
    page = listing.runs_page(stored.engine, limit=1)
    assert (page.total, len(page.items)) == (1, 1)


def test_ip_key_of_a_value_with_a_nul_is_text_not_an_error() -> None:
    assert listing.ip_key("10.9.9.5\x00x") == (2, 0, "10.9.9.5\x00x")
