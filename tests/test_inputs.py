"""Validation of the search filters and connection values typed by the user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.errors import InputError
from cvesweep.inputs import (
    ASSET_GROUP_TITLE_MAX_CHARS,
    ASSET_GROUPS_MAX_CHARS,
    ASSET_GROUPS_MAX_ITEMS,
    BOUNDS,
    IPS_MAX_CHARS,
    IPS_MAX_ITEMS,
    NUMBER_MAX_CHARS,
    SINCE_MAX_CHARS,
    URL_MAX_CHARS,
    build_options,
    format_qualys_datetime,
    parse_asset_groups,
    parse_hostname,
    parse_ips,
    parse_min_severity,
    parse_port,
    parse_since,
    parse_truncation_limit,
    parse_url,
)
from cvesweep.models import SearchOptions, parse_cve
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ("10.0.0.1",)),
        (" 10.0.0.1 , 10.0.0.5-10.0.0.9 ", ("10.0.0.1", "10.0.0.5-10.0.0.9")),
        ("10.0.0.5 - 10.0.0.9", ("10.0.0.5-10.0.0.9",)),
        ("10.0.0.5-10.0.0.5", ("10.0.0.5",)),
        ("10.1.0.0/24", ("10.1.0.0-10.1.0.255",)),
        ("10.1.0.7/24", ("10.1.0.0-10.1.0.255",)),  # host bits: the whole network
        ("10.1.0.7/32", ("10.1.0.7",)),
        ("10.1.0.0 / 31", ("10.1.0.0-10.1.0.1",)),
        ("0.0.0.0/0", ("0.0.0.0-255.255.255.255",)),
        ("10.0.0.1,10.0.0.1,10.0.0.2", ("10.0.0.1", "10.0.0.2")),
        ("10.0.0.0/30, 10.0.0.0-10.0.0.3", ("10.0.0.0-10.0.0.3",)),
        (
            "10.0.0.1, 10.0.0.5-10.0.0.9, 10.1.0.0/24",
            ("10.0.0.1", "10.0.0.5-10.0.0.9", "10.1.0.0-10.1.0.255"),
        ),
    ],
)
def test_ips_become_qualys_items(text: str, expected: tuple[str, ...]) -> None:
    assert parse_ips(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("10.0.0.1,", "empty item"),
        ("10.0.0.1,,10.0.0.2", "empty item"),
        ("10.0.0.256", "not an IPv4 address"),
        ("10.0.0", "not an IPv4 address"),
        ("10.0.0.01", "not an IPv4 address"),
        ("host.example.com", "not an IPv4 address"),
        ("10.0.0.1 10.0.0.2", "not an IPv4 address"),
        ("10.0.0.9-10.0.0.5", "starts after it ends"),
        ("10.0.0.1-10.0.0.2-10.0.0.3", "not a range"),
        ("10.0.0.1-", "not an IPv4 address"),
        ("10.0.0.0/33", "prefix"),
        ("10.0.0.0/-1", "prefix"),
        ("10.0.0.0/x", "prefix"),
        ("10.0.0.0/", "prefix"),
        ("10.0.0.0/24/8", "prefix"),
        ("300.0.0.0/8", "not an IPv4 address"),
        ("2001:db8::1", "IPv6"),
        ("2001:db8::/64", "IPv6"),
    ],
)
def test_bad_ips_are_refused_naming_the_option_and_the_form(text: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_ips(text)
    assert caught.value.field == "--ips"
    assert says in caught.value.message
    assert caught.value.exit_code == 2
    if says not in ("starts after it ends",):
        assert "10.0.0.5-10.0.0.9" in caught.value.message  # the accepted form, by example


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-04-01 17:35", datetime(2020, 4, 1, 17, 35, tzinfo=UTC)),
        ("2020-04-01", datetime(2020, 4, 1, tzinfo=UTC)),
        ("  2020-04-01  ", datetime(2020, 4, 1, tzinfo=UTC)),
        ("2020-04-01T17:35:00+02:00", datetime(2020, 4, 1, 15, 35, tzinfo=UTC)),
        ("2020-04-01T17:35:00-0530", datetime(2020, 4, 1, 23, 5, tzinfo=UTC)),
        ("2020-04-01T17:35:00Z", datetime(2020, 4, 1, 17, 35, tzinfo=UTC)),
        ("2020-04-01t17:35:00z", datetime(2020, 4, 1, 17, 35, tzinfo=UTC)),
        ("2020-04-01T17:35:07", datetime(2020, 4, 1, 17, 35, 7, tzinfo=UTC)),
        ("2020-04-01T17:35:07.250Z", datetime(2020, 4, 1, 17, 35, 7, 250000, tzinfo=UTC)),
        ("2020-02-29 00:00", datetime(2020, 2, 29, tzinfo=UTC)),
        ("2020-04-01T00:30+01:00", datetime(2020, 3, 31, 23, 30, tzinfo=UTC)),
        ("2999-01-01", datetime(2999, 1, 1, tzinfo=UTC)),  # the future: legal, finds nothing
    ],
)
def test_since_becomes_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_since(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2020-04-01 17",
        "2020-4-1",
        "01/04/2020",
        "2020-02-30",
        "2021-02-29 10:00",
        "2020-13-01",
        "2020-04-01 24:00",
        "2020-04-01 17:60",
        "2020-04-01T17:35:00+25:00",
        "2020-W14",
        "20200401",
        "2020-04-01Z",
        "1969-12-31",
        "2020-04-01 17:35 UTC",
        "٢٠٢٠-04-01",  # non-ASCII digits
    ],
)
def test_bad_since_is_refused_naming_the_option_and_the_form(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_since(text)
    assert caught.value.field == "--since"
    assert "YYYY-MM-DD HH:MM" in caught.value.message


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2020, 4, 1, 17, 35, tzinfo=UTC), "2020-04-01T17:35:00Z"),
        (datetime(2020, 4, 1, 17, 35, 7, 999999, tzinfo=UTC), "2020-04-01T17:35:07Z"),
        (datetime(2020, 4, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), "2020-03-31T23:00:00Z"),
    ],
)
def test_qualys_datetime_is_utc_with_z(moment: datetime, expected: str) -> None:
    assert format_qualys_datetime(moment) == expected


def test_qualys_datetime_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_qualys_datetime(datetime(2020, 4, 1))


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (5, 5), ("3", 3), (" 4 ", 4)])
def test_min_severity_accepts_one_to_five(value: int | str, expected: int) -> None:
    assert parse_min_severity(value) == expected


@pytest.mark.parametrize("value", [0, 6, -1, "0", "6", "x", "", "3.5", "1e0", True, "٣"])
def test_bad_min_severity_is_refused_naming_the_form(value: int | str) -> None:
    with pytest.raises(InputError) as caught:
        parse_min_severity(value)
    assert caught.value.field == "--min-severity"
    assert "from 1 to 5" in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (1, 1), ("1000", 1000), (1_000_000, 1_000_000)]
)
def test_truncation_limit_accepts_zero_to_a_million(value: int | str, expected: int) -> None:
    assert parse_truncation_limit(value) == expected


@pytest.mark.parametrize("value", [-1, 1_000_001, "ten", "", "-5", False])
def test_bad_truncation_limit_is_refused_naming_the_form(value: int | str) -> None:
    with pytest.raises(InputError) as caught:
        parse_truncation_limit(value)
    assert caught.value.field == "--truncation-limit"
    assert "0 (no limit) to 1,000,000" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DMZ", ("DMZ",)),
        (" DMZ , Servers ", ("DMZ", "Servers")),
        ("DMZ, Servers, DMZ", ("DMZ", "Servers")),
        ("Linux Servers", ("Linux Servers",)),
        ("dmz, DMZ", ("dmz", "DMZ")),
    ],
)
def test_asset_groups_are_stripped_and_unique(text: str, expected: tuple[str, ...]) -> None:
    assert parse_asset_groups(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [("", "empty"), ("  ", "empty"), (" , ", "empty item"), ("DMZ,,Servers", "empty item"),
     ("DMZ,", "empty item")],
)  # fmt: skip
def test_empty_asset_groups_are_refused(text: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_asset_groups(text)
    assert caught.value.field == "--asset-groups"
    assert says in caught.value.message
    assert '"DMZ, Servers"' in caught.value.message


@pytest.mark.parametrize(
    "text", ["", "CVE-2021", "CVE-2021-123", "CVE-21-44228", "2021-44228", "CVE-1998-0001",
             "CVE_2021_44228", "CVE-2021-44228x", "GHSA-xxxx-yyyy",
             "CVE-٢٠٢١-٤٤٢٢٨"],
)  # fmt: skip
def test_bad_cve_ids_are_refused_naming_the_form(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_cve(text)
    assert caught.value.field == "CVE"
    assert "CVE-YYYY-NNNN" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("cve-2021-44228", "CVE-2021-44228"), (" CVE-2014-0160 ", "CVE-2014-0160"),
     ("CVE-2023-1234567", "CVE-2023-1234567")],
)  # fmt: skip
def test_cve_ids_are_upper_cased(text: str, expected: str) -> None:
    assert parse_cve(text) == expected


def test_build_options_validates_every_filter() -> None:
    options = build_options(
        ips="10.1.0.0/24", since="2020-04-01 17:35", min_severity="4", asset_groups="DMZ"
    )
    assert options == SearchOptions(
        ips=("10.1.0.0-10.1.0.255",),
        since=datetime(2020, 4, 1, 17, 35, tzinfo=UTC),
        min_severity=4,
        asset_groups=("DMZ",),
    )


def test_build_options_with_nothing_given_has_no_filters() -> None:
    options = build_options(ips=None, since=None, min_severity=None, asset_groups=None)
    assert options == SearchOptions()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ips": ""}, "--ips"),
        ({"since": "soon"}, "--since"),
        ({"min_severity": 9}, "--min-severity"),
        ({"asset_groups": ","}, "--asset-groups"),
    ],
)
def test_build_options_names_the_bad_option(kwargs: dict[str, str | int], field: str) -> None:
    given: dict[str, str | int | None] = {
        "ips": None, "since": None, "min_severity": None, "asset_groups": None,
    }  # fmt: skip
    given.update(kwargs)
    with pytest.raises(InputError) as caught:
        build_options(**given)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://qualysapi.qg2.apps.qualys.com", "https://qualysapi.qg2.apps.qualys.com"),
        ("https://qualysapi.qg2.apps.qualys.com/ ", "https://qualysapi.qg2.apps.qualys.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://10.0.0.5:8443/qualys", "https://10.0.0.5:8443/qualys"),
    ],
)
def test_urls_are_accepted_and_trimmed(text: str, expected: str) -> None:
    assert parse_url(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("qualysapi.qg2.apps.qualys.com", "not a URL"),
        ("ftp://qualysapi.qg2.apps.qualys.com", "not a URL"),
        ("https://", "not a URL"),
        ("https://host:99999", "not a URL"),
        ("https://host:0", "not a URL"),
        ("https://user:pw@qualysapi.qg2.apps.qualys.com", "credentials"),
        ("https://qualysapi.qg2.apps.qualys.com/?x=1", "query"),
        ("http://qualysapi.qg2.apps.qualys.com", "unencrypted"),
        ("http://10.0.0.5:8080", "unencrypted"),
    ],
)
def test_bad_urls_are_refused(text: str, says: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_url(text)
    assert caught.value.field == "--url"
    assert says in caught.value.message
    assert "pw" not in caught.value.message.replace("https", "")


@pytest.mark.parametrize(
    ("text", "ok"),
    [("qualysapi.qg2.apps.qualys.com", True), ("localhost", True), ("10.0.0.5", True),
     ("::1", True), ("https://x.com", False), ("bad host", False), ("-x.com", False),
     ("x..com", False)],
)  # fmt: skip
def test_hostnames(text: str, ok: bool) -> None:
    if ok:
        assert parse_hostname(text) == text
    else:
        with pytest.raises(InputError, match="--hostname"):
            parse_hostname(text)


@pytest.mark.parametrize(("value", "ok"), [(443, True), ("8443", True), (0, False),
                                           (65536, False), ("http", False)])  # fmt: skip
def test_ports(value: int | str, ok: bool) -> None:
    if ok:
        assert parse_port(value) == int(value)
    else:
        with pytest.raises(InputError, match="port number from 1 to 65535"):
            parse_port(value)


# Length bounds: each value just past its bound is refused naming the option and the bound;
# the value at the bound passes the length check (and then its grammar's).
AT_IPS_ITEMS = ",".join(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(IPS_MAX_ITEMS))
AT_GROUPS = ",".join(f"G{i}" for i in range(ASSET_GROUPS_MAX_ITEMS))
BOUND_CASES = [
    (parse_ips, "--ips", "1" * (IPS_MAX_CHARS + 1), "at most 20,000 characters"),
    (parse_ips, "--ips", AT_IPS_ITEMS + ",10.9.9.9", "at most 1,000 items are accepted"),
    (parse_since, "--since", "2024-01-01" + " " * SINCE_MAX_CHARS, "at most 40 characters"),
    (parse_min_severity, "--min-severity", "9" * 5000, "at most 20 characters"),
    (parse_min_severity, "--min-severity", "0" * 21 + "3", "at most 20 characters"),
    (parse_truncation_limit, "--truncation-limit", "1" * 5000, "at most 20 characters"),
    (parse_port, "--port", "4" * 4301, "at most 20 characters"),
    (parse_asset_groups, "--asset-groups", "G" * (ASSET_GROUPS_MAX_CHARS + 1), "10,000"),
    (parse_asset_groups, "--asset-groups", AT_GROUPS + ",H", "at most 100 items are accepted"),
    (parse_asset_groups, "--asset-groups", "DMZ, " + "G" * 257, "at most 256 characters"),
    (parse_url, "--url", "https://q.example.com/" + "a" * URL_MAX_CHARS, "at most 2,048"),
    (parse_hostname, "--hostname", "a." * 127, "at most 253 characters"),
]


@pytest.mark.parametrize(("parse", "field", "text", "says"), BOUND_CASES)
def test_a_value_past_its_bound_is_refused_naming_the_option_and_the_bound(
    parse: Callable[[str], object], field: str, text: str, says: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse(text)
    assert caught.value.field == field
    assert says in caught.value.message
    assert len(caught.value.message) < 200  # the value is not echoed back


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_ips, AT_IPS_ITEMS),
        (parse_asset_groups, AT_GROUPS),
        (parse_asset_groups, "G" * ASSET_GROUP_TITLE_MAX_CHARS),
        (parse_since, "2024-01-01T05:00:00.123456+02:00".ljust(SINCE_MAX_CHARS)),
        (parse_min_severity, "0" * (NUMBER_MAX_CHARS - 1) + "3"),
        (parse_hostname, "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com"),
    ],
)
def test_a_value_at_its_bound_is_accepted(parse: Callable[[str], object], text: str) -> None:
    parse(text)


def test_every_bounded_option_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for option, bound in BOUNDS.items():
        assert bound in readme, f"README does not state the bound of {option}: {bound!r}"


@pytest.mark.parametrize(
    ("args", "field", "says"),
    [
        (["--ips", "10.0.0.1," * 2500], "--ips", "at most 20,000 characters"),
        (["--asset-groups", "G" * 1_000_000], "--asset-groups", "at most 10,000 characters"),
        (["--asset-groups", "G," * 150 + "H"], "--asset-groups", "at most 100 items are accepted"),
        (["--since", "2024-01-01" + "0" * 100], "--since", "at most 40 characters"),
        (["--min-severity", "9" * 5000], "--min-severity", "--min-severity"),  # Typer: an int
    ],
)
def test_the_cli_refuses_a_value_past_its_bound_with_exit_2_and_no_qualys_call(
    live_sim: tuple[Sim, SimulatorServer], tmp_path: Path, args: list[str], field: str, says: str
) -> None:
    sim, server = live_sim
    config = tmp_path / "config.toml"
    config.write_text("")
    config.chmod(0o600)
    env = {
        "CVESWEEP_QUALYS_URL": server.url,
        "CVESWEEP_QUALYS_USERNAME": SIM_USER,
        "CVESWEEP_QUALYS_PASSWORD": SIM_PASSWORD,
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(
        app, ["search", LOG4SHELL, *args, "--config", str(config), "--no-store"], env=env
    )
    assert result.exit_code == 2, result.output
    assert field in result.output and says in result.output
    assert args[1][:100] not in result.output  # the value is not echoed back
    assert sim.recorder.requests == []
