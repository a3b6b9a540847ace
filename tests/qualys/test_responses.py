"""Tests of SIMPLE_RETURN / GENERIC_RETURN parsing, code → error mapping, search-list replies."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvesweep.errors import (
    QualysAuthError,
    QualysError,
    QualysRateLimited,
    QualysRequestError,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.qualys.responses import (
    KNOWN_CODES,
    SimpleReturn,
    error_from_reply,
    parse_search_list_id,
    parse_search_lists,
    parse_simple_return,
    raise_for_reply,
)

# (sample, HTTP status it came with, class, code, normalised text, retry_after)
ERROR_SAMPLES = [
    (
        "error_2000_bad_login_http401_jupiterone_qg3.xml",
        401,
        QualysAuthError,
        2000,
        "Bad Login/Password",
        None,
    ),
    (
        "error_2001_account_expired_http200_jupiterone_qg3.xml",
        200,
        QualysAuthError,
        2001,
        "This account has expired.",
        None,
    ),
    (
        "error_1905_invalid_ids_detection_http400_jupiterone_qg3.xml",
        400,
        QualysRequestError,
        1905,
        "parameter ids has invalid value: abc123 (neither a positive integer nor a range: abc123)",
        None,
    ),
    (
        "error_1905_ips_do_not_exist_qg2_demisto_test.xml",
        400,
        QualysRequestError,
        1905,
        "IP(s) do not exist.",
        None,
    ),
    (
        "error_1960_concurrency_limit_docderived_jupiterone_test.xml",
        409,
        QualysRateLimited,
        1960,
        "This API cannot be run again until 1 currently running API instance has finished.",
        None,
    ),
    (
        "error_1965_rate_limit_docderived_jupiterone_test.xml",
        409,
        QualysRateLimited,
        1965,
        "This API cannot be run again for another 23 hours, 57 minutes and 54 seconds.",
        68928.0,
    ),
    (
        "error_999_generic_return_internal_error_qualys_doc_sample.txt",
        500,
        QualysServerError,
        999,
        "Internal error. Please contact customer support.",
        None,
    ),
]


@pytest.mark.parametrize(("name", "status", "error", "code", "text", "retry"), ERROR_SAMPLES)
def test_every_error_sample_raises_its_typed_error(
    samples_dir: Path,
    name: str,
    status: int,
    error: type[QualysError],
    code: int,
    text: str,
    retry: float | None,
) -> None:
    with pytest.raises(error) as caught:
        raise_for_reply(
            (samples_dir / name).read_bytes(), call="detection list", http_status=status
        )
    exc = caught.value
    assert type(exc) is error
    assert (exc.code, exc.http_status, exc.call) == (code, status, "detection list")  # type: ignore[attr-defined]
    assert getattr(exc, "text", text) == text
    assert text in str(exc)
    assert getattr(exc, "retry_after", None) == retry


def test_error_text_spread_over_lines_is_whitespace_normalised(samples_dir: Path) -> None:
    name = "error_1901_unrecognized_param_lists_allowed_detection_params_powerqualys.xml"
    reply = parse_simple_return((samples_dir / name).read_bytes())
    assert reply is not None
    assert (reply.code, reply.datetime, reply.items) == (1901, "2024-06-07T07:58:23Z", {})
    assert reply.text.startswith("Unrecognized parameter(s): show_asset_ids (action=list allows:")
    assert "ag_titles, os_pattern," in reply.text
    assert "  " not in reply.text and "\n" not in reply.text


def test_concurrency_reply_keeps_its_items(samples_dir: Path) -> None:
    name = "error_1960_concurrency_limit_docderived_jupiterone_test.xml"
    reply = parse_simple_return((samples_dir / name).read_bytes())
    assert reply == SimpleReturn(
        code=1960,
        text="This API cannot be run again until 1 currently running API instance has finished.",
        items={"CALLS_TO_FINISH": "2"},
        datetime="2017-04-12T14:52:39Z",
    )


def test_message_names_the_call_the_code_and_the_text() -> None:
    reply = SimpleReturn(1905, "parameter ips has invalid value", {}, None)
    error = error_from_reply(reply, call="detection request", http_status=400)
    assert str(error) == (
        "Qualys rejected the detection request (code 1905): parameter ips has invalid value"
    )


@pytest.mark.parametrize(("code", "cls"), sorted(KNOWN_CODES.items()))
def test_every_known_code_maps_to_its_class(code: int, cls: type[QualysError]) -> None:
    error = error_from_reply(SimpleReturn(code, "text", {}, None), call="x", http_status=None)
    assert type(error) is cls
    assert error.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (2000, QualysAuthError),
        (2001, QualysAuthError),
        (1901, QualysRequestError),
        (1903, QualysRequestError),
        (1905, QualysRequestError),
        (1960, QualysRateLimited),
        (1965, QualysRateLimited),
        (999, QualysServerError),
        (1999, QualysServerError),
    ],
)
def test_the_codes_seen_in_real_replies_map_as_specified(code: int, cls: type) -> None:
    assert KNOWN_CODES[code] is cls


def test_an_unknown_code_is_a_request_error() -> None:
    error = error_from_reply(SimpleReturn(4242, "new", {}, None), call="x", http_status=400)
    assert type(error) is QualysRequestError
    assert (error.code, error.exit_code) == (4242, 3)


def test_rate_limit_1960_leaves_the_wait_to_the_client() -> None:
    reply = SimpleReturn(1960, "busy", {"CALLS_TO_FINISH": "2"}, None)
    error = error_from_reply(reply, call="x", http_status=409)
    assert isinstance(error, QualysRateLimited)
    assert error.retry_after is None


@pytest.mark.parametrize(
    "name",
    [
        "searchlist_create_success_simple_return_kcare_test.xml",
        "searchlist_create_success_with_doctype_unidentified_repo.xml",
        "detection_multi_host_5hosts_jupiterone_qg3.xml",
        "kb_vuln_316760_single_cve_jupiterone_qg3.xml",
        "kb_vuln_empty_unknown_qid_jupiterone_qg3.xml",
        "searchlist_dynamic_list_qids_minimal_kcare_test.xml",
    ],
)
def test_success_replies_are_not_mistaken_for_errors(samples_dir: Path, name: str) -> None:
    assert raise_for_reply((samples_dir / name).read_bytes(), call="x", http_status=200) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"<html><body>502 Bad Gateway</body></html>", b"not xml", b"<SIMPLE_RETURN><RESP"],
)
def test_bodies_that_are_not_qualys_replies_give_none(data: bytes) -> None:
    assert parse_simple_return(data) is None


def test_a_non_numeric_error_code_is_a_response_error() -> None:
    data = b"<SIMPLE_RETURN><RESPONSE><CODE>abc</CODE><TEXT>t</TEXT></RESPONSE></SIMPLE_RETURN>"
    with pytest.raises(QualysResponseError, match="'abc' is not a number"):
        parse_simple_return(data)


@pytest.mark.parametrize(
    ("name", "list_id"),
    [
        ("searchlist_create_success_simple_return_kcare_test.xml", 3034713),
        ("searchlist_create_success_with_doctype_unidentified_repo.xml", 1784903),
    ],
)
def test_search_list_id_is_read_from_the_create_reply(
    samples_dir: Path, name: str, list_id: int
) -> None:
    assert parse_search_list_id((samples_dir / name).read_bytes()) == list_id


def test_search_list_create_error_raises_the_typed_error(samples_dir: Path) -> None:
    data = (samples_dir / "error_2000_bad_login_http401_jupiterone_qg3.xml").read_bytes()
    with pytest.raises(QualysAuthError) as caught:
        parse_search_list_id(data)
    assert caught.value.call == "search list create"


@pytest.mark.parametrize(
    "data",
    [
        b"<KNOWLEDGE_BASE_VULN_LIST_OUTPUT/>",
        b"<SIMPLE_RETURN><RESPONSE><TEXT>ok</TEXT></RESPONSE></SIMPLE_RETURN>",
        b"<SIMPLE_RETURN><RESPONSE><ITEM_LIST><ITEM><KEY>ID</KEY><VALUE>x</VALUE></ITEM>"
        b"</ITEM_LIST></RESPONSE></SIMPLE_RETURN>",
    ],
)
def test_a_create_reply_without_a_numeric_id_is_a_response_error(data: bytes) -> None:
    with pytest.raises(QualysResponseError):
        parse_search_list_id(data)


def test_search_lists_give_id_and_title(data_dir: Path) -> None:
    data = (data_dir / "searchlist_dynamic_lists_with_titles.xml").read_bytes()
    assert parse_search_lists(data) == [
        (3034713, "cvesweep CVE-2021-44228 7f3a9c2e"),
        (12, "Team list"),
    ]


def test_search_lists_without_id_are_skipped(samples_dir: Path) -> None:
    data = (samples_dir / "searchlist_dynamic_list_qids_minimal_kcare_test.xml").read_bytes()
    assert parse_search_lists(data) == []


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("error_1965_rate_limit_docderived_jupiterone_test.xml", QualysRateLimited),
        ("kb_vuln_150208_jupiterone_qg3.xml", QualysResponseError),
    ],
)
def test_search_lists_refuse_errors_and_other_documents(
    samples_dir: Path, name: str, error: type
) -> None:
    with pytest.raises(error):
        parse_search_lists((samples_dir / name).read_bytes())


def test_malformed_search_lists_are_a_response_error() -> None:
    with pytest.raises(QualysResponseError, match="not well-formed"):
        parse_search_lists(b"<DYNAMIC_SEARCH_LIST_OUTPUT><RESPONSE>")
