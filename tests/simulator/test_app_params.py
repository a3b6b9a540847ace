"""Parameter parsing of the simulated API: ranges, IPs, flags, dates, allow-lists."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from cvesweep.simulator import params as p
from cvesweep.simulator.params import ApiError, Params


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", ((5, 5),)),
        ("1-5", ((1, 5),)),
        ("1,2,10-20", ((1, 1), (2, 2), (10, 20))),
        (" 7 , 8-9 ", ((7, 7), (8, 9))),
    ],
)
def test_int_ranges_accept_singles_ranges_and_lists(text, expected):
    assert p.int_ranges("qids", text) == expected


@pytest.mark.parametrize("text", ["abc123", "0", "-3", "5-", "5-2", "1,,2", "1.5"])
def test_int_ranges_reject_with_the_real_1905_wording(text):
    with pytest.raises(ApiError) as caught:
        p.int_ranges("ids", text)
    assert caught.value.code == 1905
    assert caught.value.status == 400
    assert caught.value.text.startswith(f"parameter ids has invalid value: {text} (")


def test_invalid_ids_text_matches_the_real_sample_exactly():
    with pytest.raises(ApiError) as caught:
        p.int_ranges("ids", "abc123")
    assert caught.value.text == (
        "parameter ids has invalid value: abc123 (neither a positive integer nor a range: abc123)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", ((0x0A000001, 0x0A000001),)),
        ("10.0.0.1-10.0.0.9", ((0x0A000001, 0x0A000009),)),
        ("10.0.0.0/30,192.168.1.1", ((0x0A000000, 0x0A000003), (0xC0A80101, 0xC0A80101))),
    ],
)
def test_ipv4_ranges_accept_singles_ranges_and_cidr(text, expected):
    assert p.ipv4_ranges("ips", text) == expected


@pytest.mark.parametrize("text", ["10.0.0.300", "10.0.0.9-10.0.0.1", "fe80::1", "host", ""])
def test_ipv4_ranges_reject_bad_values(text):
    with pytest.raises(ApiError) as caught:
        p.ipv4_ranges("ips", text)
    assert caught.value.code == 1905
    assert "parameter ips has invalid value" in caught.value.text


@pytest.mark.parametrize(
    ("value", "default", "expected"), [(None, True, True), (None, False, False), ("0", True, False)]
)
def test_flag_defaults_and_values(value, default, expected):
    assert p.flag("show_igs", value, default) is expected


@pytest.mark.parametrize("value", ["2", "yes", "", "true"])
def test_flag_rejects_anything_but_0_or_1(value):
    with pytest.raises(ApiError, match="must be 0 or 1"):
        p.flag("show_igs", value, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)),
        ("2024-01-31T10:20:30Z", datetime(2024, 1, 31, 10, 20, 30, tzinfo=UTC)),
    ],
)
def test_utc_datetime_accepts_both_qualys_forms(text, expected):
    assert p.utc_datetime("vm_scan_since", text) == expected


@pytest.mark.parametrize(
    "text", ["2024-13-01", "2024-01-31 10:20", "31/01/2024", "2024-01-31T10:20:30"]
)
def test_utc_datetime_rejects_other_forms(text):
    with pytest.raises(ApiError, match="expected YYYY-MM-DD"):
        p.utc_datetime("vm_scan_since", text)


def test_check_allowed_lists_unknown_and_allowed_like_qualys():
    params = Params((("action", "list"), ("show_asset_ids", "1"), ("ips", "1.2.3.4")))
    with pytest.raises(ApiError) as caught:
        p.check_allowed(params, "list", ("echo_request", "ips"))
    assert caught.value.code == 1901
    assert caught.value.text == (
        "Unrecognized parameter(s): show_asset_ids (action=list allows: echo_request, ips)"
    )


def test_require_reports_1903_for_a_missing_parameter():
    with pytest.raises(ApiError) as caught:
        Params(()).require("action")
    assert (caught.value.code, caught.value.text) == (1903, "Missing required parameter(s): action")


def test_read_params_merges_query_and_form_body_in_order():
    body = b"action=list&qids=1,2"
    environ = {
        "QUERY_STRING": "show_igs=1&action=ignored",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=UTF-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    params = p.read_params(environ)
    assert params.pairs == (
        ("show_igs", "1"),
        ("action", "ignored"),
        ("action", "list"),
        ("qids", "1,2"),
    )
    assert params.get("action") == "list"
    assert params.names() == ["show_igs", "action", "qids"]


def test_read_params_ignores_a_body_that_is_not_a_form():
    environ = {
        "QUERY_STRING": "action=list",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "9",
        "wsgi.input": io.BytesIO(b'{"a": 1}\n'),
    }
    assert p.read_params(environ).pairs == (("action", "list"),)
