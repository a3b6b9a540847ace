"""Auth, headers, parameter errors, about, knowledge base and search lists of the app."""

from __future__ import annotations

import re

import httpx
import pytest

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE, VENDOR_EXAMPLE

from .conftest import BASE_URL, DETECTION, KB, LISTS, make_client, parse

LIMIT_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Window-Sec",
    "X-RateLimit-Remaining",
    "X-RateLimit-ToWait-Sec",
    "X-Concurrency-Limit-Limit",
    "X-Concurrency-Limit-Running",
)


def error_of(response: httpx.Response) -> tuple[int, str]:
    root = parse(response.content)
    assert root.tag == "SIMPLE_RETURN"
    return int(root.findtext("RESPONSE/CODE")), root.findtext("RESPONSE/TEXT")


@pytest.mark.parametrize(
    "auth", [None, ("simuser", "wrong"), ("other", "simpass"), ("simuser", "")]
)
def test_bad_or_missing_credentials_get_the_real_2000_reply_without_limit_headers(
    app, samples_dir, auth
):
    with make_client(app, auth=auth) as c:
        response = c.get(DETECTION, params={"action": "list"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/xml;charset=UTF-8"
    for name in LIMIT_HEADERS:
        assert name not in response.headers
    sample = (samples_dir / "error_2000_bad_login_http401_jupiterone_qg3.xml").read_text()
    expected = sample.replace("https://qualysapi.qg3.apps.qualys.com", BASE_URL)
    fresh = re.search(r"<DATETIME>(.*?)</DATETIME>", response.text).group(1)
    assert response.text == re.sub(r"(?<=<DATETIME>).*?(?=</DATETIME>)", fresh, expected)


def test_garbled_authorization_header_is_a_bad_login(app):
    with make_client(
        app, auth=None, headers={"Authorization": "Basic ***", "X-Requested-With": "t"}
    ) as c:
        assert c.get("/msp/about.php").status_code == 401


def test_missing_x_requested_with_is_refused_with_a_clear_400(app):
    with make_client(app, headers={}) as c:
        response = c.get(DETECTION, params={"action": "list"})
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == 1903
    assert "X-Requested-With" in text


def test_expired_account_fault_gives_2001_on_http_200(fleet):
    with make_client(SimulatorApp(fleet, faults=Faults(expired_account=True))) as c:
        response = c.get(DETECTION, params={"action": "list"})
    assert response.status_code == 200
    assert error_of(response) == (2001, "This account has expired.")
    assert "X-RateLimit-Limit" not in response.headers


def test_every_authenticated_reply_has_qualys_headers(client):
    for response in (
        client.get("/msp/about.php"),
        client.get(DETECTION, params={"action": "list", "ids": "abc"}),
        client.get(DETECTION, params={"action": "list", "truncation_limit": "1"}),
    ):
        assert response.headers["server"] == "Qualys"
        assert response.headers["content-type"] == "application/xml"
        for name in LIMIT_HEADERS:
            assert response.headers[name].isdigit()


def test_remaining_calls_count_down(client):
    first = int(client.get("/msp/about.php").headers["X-RateLimit-Remaining"])
    second = int(client.get("/msp/about.php").headers["X-RateLimit-Remaining"])
    assert second == first - 1


def test_unknown_path_is_404(client):
    assert client.get("/api/2.0/fo/nothing/").status_code == 404


def test_about_names_a_version(client):
    root = parse(client.get("/msp/about.php").content)
    assert root.tag == "ABOUT"
    assert root.findtext("WEB-VERSION")


@pytest.mark.parametrize("path", [DETECTION, LISTS, KB])
def test_missing_action_is_1903(client, path):
    response = client.post(path, data={"ids": "1"})
    assert response.status_code == 400
    assert error_of(response) == (1903, "Missing required parameter(s): action")


@pytest.mark.parametrize("path", [DETECTION, LISTS, KB])
def test_unknown_action_is_1905(client, path):
    response = client.post(path, data={"action": "explode"})
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == 1905
    assert text.startswith("parameter action has invalid value: explode")


def real_1901_text(samples_dir) -> str:
    sample = parse(
        (
            samples_dir
            / "error_1901_unrecognized_param_lists_allowed_detection_params_powerqualys.xml"
        ).read_bytes()
    )
    # The sample's line breaks come from PowerShell, not Qualys (SOURCES.md).
    return " ".join(sample.findtext("RESPONSE/TEXT").split())


def test_unknown_detection_parameter_on_2_0_lists_exactly_the_real_allowed_ones(fleet, samples_dir):
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        response = client.get(
            ENDPOINTS[Endpoint.DETECTION].path("2.0"),
            params={"action": "list", "show_asset_ids": "1"},
        )
    assert response.status_code == 400
    assert error_of(response) == (1901, real_1901_text(samples_dir))


def test_detection_5_0_allows_the_2_0_parameters_without_arf_plus_the_new_ones(client, samples_dir):
    response = client.get(DETECTION, params={"action": "list", "show_asset_ids": "1"})
    code, text = error_of(response)
    real = real_1901_text(samples_dir)
    for arf in ("arf_kernel_filter, ", "arf_service_filter, ", "arf_config_filter, "):
        real = real.replace(arf, "")
    added = (
        "show_arf_data, arf_filter_keys, mitre_attack_details, vuln_detection_source, "
        "show_cve, show_trurisk_elimination"
    )
    assert (code, text) == (1901, real.removesuffix(")") + f", {added})")


@pytest.mark.parametrize(
    ("version", "status"), [("2.0", 400), ("3.0", 200), ("4.0", 200), ("5.0", 200)]
)
def test_arf_data_and_filter_keys_are_served_past_2_0_as_qualysetl_sends_them(
    fleet, version, status
):
    form = {"action": "list", "show_arf_data": "1", "arf_filter_keys": "non-running-kernel"}
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        response = client.post(ENDPOINTS[Endpoint.DETECTION].path(version), data=form)
    assert response.status_code == status, response.text
    if status == 400:
        assert error_of(response)[1].startswith("Unrecognized parameter(s): show_arf_data, ")


def test_show_arf_data_must_be_0_or_1(client):
    response = client.post(DETECTION, data={"action": "list", "show_arf_data": "yes"})
    assert response.status_code == 400 and error_of(response)[0] == 1905


@pytest.mark.parametrize("arf", ["arf_kernel_filter", "arf_service_filter", "arf_config_filter"])
def test_arf_filters_are_refused_past_2_0_with_1901(client, fleet, arf):
    response = client.get(DETECTION, params={"action": "list", arf: "1"})
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == 1901 and text.startswith(f"Unrecognized parameter(s): {arf} (action=list")
    with make_client(SimulatorApp(fleet, serve_eol=True)) as old:
        path = ENDPOINTS[Endpoint.DETECTION].path("2.0")
        assert old.get(path, params={"action": "list", arf: "1"}).status_code == 200


def test_real_but_unmodelled_detection_parameters_are_accepted(client):
    response = client.get(
        DETECTION,
        params={"action": "list", "show_qds": "1", "echo_request": "1", "truncation_limit": "1"},
    )
    assert response.status_code == 200


def test_invalid_ids_reply_matches_the_real_1905_text(client, samples_dir):
    response = client.post(DETECTION, data={"action": "list", "show_tags": "1", "ids": "abc123"})
    sample = parse(
        (samples_dir / "error_1905_invalid_ids_detection_http400_jupiterone_qg3.xml").read_bytes()
    )
    assert response.status_code == 400
    assert error_of(response) == (1905, sample.findtext("RESPONSE/TEXT"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ips", "10.0.0.256"),
        ("severities", "0-9"),
        ("status", "Open"),
        ("show_igs", "yes"),
        ("truncation_limit", "-1"),
        ("vm_scan_since", "yesterday"),
        ("detection_updated_since", "2024-02-30"),
        ("qids", "x"),
        ("ag_ids", "999999"),
        ("ag_titles", "No Such Group"),
        ("include_search_list_ids", "42"),
        ("include_search_list_titles", "nope"),
        ("output_format", "CSV"),
    ],
)
def test_invalid_detection_values_are_1905_naming_the_parameter(client, name, value):
    response = client.post(DETECTION, data={"action": "list", name: value})
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == 1905
    assert text.startswith(f"parameter {name} has invalid value: {value}")


def create_list(client, title: str, cves: str) -> int:
    response = client.post(
        LISTS, data={"action": "create", "title": title, "cve_ids": cves, "global": "1"}
    )
    assert response.status_code == 200, response.text
    root = parse(response.content)
    assert root.findtext("RESPONSE/TEXT") == "New search list created successfully"
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/KEY") == "ID"
    return int(root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE"))


def test_create_resolves_cves_to_qids_and_shows_in_state(client, app, fleet):
    list_id = create_list(client, "cvesweep CVE-2021-44228 1a2b", LOG4SHELL.lower())
    state = client.get("/_sim/state").json()
    assert state["search_lists"] == [
        {
            "id": list_id,
            "title": "cvesweep CVE-2021-44228 1a2b",
            "global": True,
            "cve_ids": [LOG4SHELL],
            "qids": list(fleet.kb.qids_for_cves([LOG4SHELL])),
        }
    ]
    assert len(fleet.kb.qids_for_cves([LOG4SHELL])) >= 2


def test_create_by_get_is_refused_and_creates_nothing(client):
    response = client.get(LISTS, params={"action": "create", "title": "t", "cve_ids": LOG4SHELL})
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == 1908
    assert "GET" in text and "action=create" in text
    assert client.get("/_sim/state").json()["search_lists"] == []


def test_titles_are_unique_in_the_subscription(client):
    create_list(client, "same", LOG4SHELL)
    response = client.post(
        LISTS, data={"action": "create", "title": "same", "cve_ids": VENDOR_EXAMPLE}
    )
    assert response.status_code == 400
    code, text = error_of(response)
    assert code == 1905
    assert "already exists" in text


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"action": "create", "cve_ids": LOG4SHELL}, 1903),
        ({"action": "create", "title": "t", "cve_ids": "CVE-21-1"}, 1905),
        ({"action": "create", "title": "x" * 257}, 1905),
        ({"action": "create", "title": "t", "qids": "1"}, 1901),
        ({"action": "delete"}, 1903),
        ({"action": "delete", "id": "abc"}, 1905),
        ({"action": "delete", "id": "77"}, 1905),
    ],
)
def test_bad_search_list_requests_are_refused(client, data, code):
    response = client.post(LISTS, data=data)
    assert response.status_code == 400
    assert error_of(response)[0] == code


def test_list_and_delete_search_lists(client, fleet):
    first = create_list(client, "one", LOG4SHELL)
    second = create_list(client, "two", NO_QID_CVE)
    root = parse(client.get(LISTS, params={"action": "list"}).content)
    lists = root.findall("RESPONSE/DYNAMIC_LISTS/DYNAMIC_LIST")
    assert [(e.findtext("ID"), e.findtext("TITLE")) for e in lists] == [
        (str(first), "one"),
        (str(second), "two"),
    ]
    assert [int(q.text) for q in lists[0].iterfind("QIDS/QID")] == list(
        fleet.kb.qids_for_cves([LOG4SHELL])
    )
    assert lists[1].find("QIDS") is None
    assert client.get(LISTS, params={"action": "delete", "id": str(first)}).status_code == 400
    deleted = client.post(LISTS, data={"action": "delete", "id": str(first)})
    assert deleted.status_code == 200
    assert parse(deleted.content).findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") == str(first)
    assert [one["id"] for one in client.get("/_sim/state").json()["search_lists"]] == [second]
    only = parse(client.get(LISTS, params={"action": "list", "ids": str(first)}).content)
    assert [e.tag for e in only.find("RESPONSE")] == ["DATETIME"]


def test_knowledge_base_lists_requested_qids_and_omits_unknown_ones(client, fleet):
    qids = fleet.kb.qids_for_cves([LOG4SHELL])
    response = client.post(KB, data={"action": "list", "ids": ",".join(map(str, qids)) + ",1"})
    root = parse(response.content)
    vulns = root.findall("RESPONSE/VULN_LIST/VULN")
    assert [int(v.findtext("QID")) for v in vulns] == list(qids)
    assert all(LOG4SHELL in [c.text for c in v.iterfind("CVE_LIST/CVE/ID")] for v in vulns)
    empty = parse(client.post(KB, data={"action": "list", "ids": "1"}).content)
    assert [e.tag for e in empty.find("RESPONSE")] == ["DATETIME"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_methods_other_than_get_and_post_are_refused(client, method):
    response = client.request(method, DETECTION, params={"action": "list"})
    assert response.status_code == 400
    assert error_of(response)[0] == 1908


@pytest.mark.parametrize(
    ("details", "present", "absent"),
    [("All", "DIAGNOSIS", None), ("Basic", "TITLE", "DIAGNOSIS"), ("None", "QID", "TITLE")],
)
def test_knowledge_base_details_levels(client, fleet, details, present, absent):
    qid = fleet.kb.all_qids()[0]
    root = parse(
        client.get(KB, params={"action": "list", "ids": str(qid), "details": details}).content
    )
    vuln = root.find("RESPONSE/VULN_LIST/VULN")
    assert vuln.find(present) is not None
    assert absent is None or vuln.find(absent) is None


def test_about_needs_no_x_requested_with_and_takes_a_trailing_slash(app):
    with make_client(app, headers={}) as c:
        for path in ("/msp/about.php", "/msp/about.php/"):
            response = c.get(path)
            assert response.status_code == 200, path
            assert parse(response.content).tag == "ABOUT"
        assert c.get(DETECTION, params={"action": "list"}).status_code == 400  # FO still needs it
