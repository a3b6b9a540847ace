"""The JSON API: searches in the background against the simulator, the library, STIX."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from cvesweep.errors import (
    ConfigError,
    CvesweepError,
    ExportError,
    InputError,
    LibraryError,
    LibraryUpgradeNeeded,
    QualysAuthError,
    QualysConnectionError,
    QualysRateLimited,
    QualysRequestError,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE, VENDOR_EXAMPLE
from cvesweep.web.jobs import JobManager
from cvesweep.web.problems import http_status, problem_for
from tests.web.conftest import MakeClient, Qualys, WebClient, start_search

LOG4SHELL_HOSTS = 23  # hosts of the seed-7, 300-host fleet with an open Log4Shell detection


def test_search_runs_in_background_and_returns_hosts_and_summary(
    client: WebClient, qualys: Qualys
) -> None:
    reply = client.post("/api/searches", json={"cve": LOG4SHELL.lower()})
    assert reply.status_code == 202
    job_id = reply.json()["id"]
    assert reply.headers["location"] == f"/api/searches/{job_id}"
    status = client.wait(job_id)
    assert status["state"] == "succeeded", status
    assert status["cve"] == LOG4SHELL
    assert len(status["hosts"]) == status["summary"]["hosts"] == LOG4SHELL_HOSTS
    assert status["progress"]["hosts"] == LOG4SHELL_HOSTS
    assert list(status["hosts"][0]) == [
        "id", "ip", "ipv6", "dns", "netbios", "os", "tracking_method", "last_scan", "tags",
        "detections",
    ]  # fmt: skip
    assert status["summary"]["search_list_deleted"] is True
    assert status["stored"]["assets_created"] == LOG4SHELL_HOSTS
    assert qualys.open_lists() == []


def test_search_status_can_leave_out_the_hosts(client: WebClient) -> None:
    job_id = start_search(client, cve=VENDOR_EXAMPLE)
    client.wait(job_id)
    status = client.get(f"/api/searches/{job_id}", params={"hosts": "false"}).json()
    assert status["state"] == "succeeded"
    assert status["hosts"] is None
    assert status["hosts_total"] == status["summary"]["hosts"] > 0


def test_search_without_storing_leaves_the_library_empty(client: WebClient) -> None:
    status = client.wait(start_search(client, cve=LOG4SHELL, store=False))
    assert status["state"] == "succeeded"
    assert status["stored"] is None
    assert client.get("/api/cves").json() == []


def test_search_with_no_hosts_succeeds_empty(client: WebClient, qualys: Qualys) -> None:
    status = client.wait(start_search(client, cve=NO_QID_CVE))
    assert status["state"] == "succeeded"
    assert status["hosts"] == []
    assert qualys.open_lists() == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"cve": LOG4SHELL, "ips": "10.0.0.300"}, "ips", "is not an IPv4 address"),
        ({"cve": LOG4SHELL, "ips": "fe80::1"}, "ips", "is IPv6"),
        ({"cve": LOG4SHELL, "ips": "10.0.0.1," * 1000 + "10.0.0.2"}, "ips", "at most 1,000"),
        ({"cve": LOG4SHELL, "since": "yesterday"}, "since", "is not a date"),
        ({"cve": LOG4SHELL, "asset_groups": "DMZ,,Servers"}, "asset_groups", "empty item"),
        ({"cve": LOG4SHELL, "asset_groups": "G," * 100 + "H"}, "asset_groups", "at most 100"),
        ({"cve": LOG4SHELL, "asset_groups": "G" * 257}, "asset_groups", "at most 256"),
    ],
)
def test_invalid_search_input_is_400_naming_the_option_and_calls_nothing(
    client: WebClient, qualys: Qualys, body: dict[str, object], field: str, words: str
) -> None:
    before = qualys.calls()
    reply = client.post("/api/searches", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["field"] == field
    assert error["source"] == "input"
    assert error["message"].startswith(f"{field}: ") and words in error["message"]
    assert qualys.calls() == before


def test_unknown_body_field_is_422(client: WebClient) -> None:
    reply = client.post("/api/searches", json={"cve": LOG4SHELL, "severity": 3})
    assert reply.status_code == 422
    assert reply.json()["error"]["field"] == "severity"


def test_wrong_password_fails_the_search_with_qualys_code_2000(
    make_client: MakeClient, qualys: Qualys
) -> None:
    client = make_client(password="not-the-password")
    status = client.wait(start_search(client, cve=LOG4SHELL))
    assert status["state"] == "failed"
    error = status["error"]
    assert error["code"] == 2000
    assert error["status"] == 502
    assert error["source"] == "Qualys"
    assert error["message"] == (
        "Qualys rejected the search list create (code 2000): Bad Login/Password"
    )
    assert "username and password" in error["hint"]
    runs = client.get("/api/runs").json()
    assert [run["outcome"] for run in runs] == ["failed"]


def test_cancel_stops_the_search_and_deletes_its_search_list(
    make_client: MakeClient, qualys: Qualys
) -> None:
    qualys.set_faults(host_latency=0.05)
    deletes = qualys.state()["actions"].get("search_list.delete", 0)
    client = make_client(settings={"truncation_limit": 2})
    job_id = start_search(client, cve=LOG4SHELL)
    while client.get(f"/api/searches/{job_id}").json()["progress"]["pages"] < 1:
        time.sleep(0.02)
    reply = client.post(f"/api/searches/{job_id}/cancel")
    assert reply.status_code == 202
    assert reply.json()["cancel_requested"] is True
    status = client.wait(job_id)
    assert status["state"] == "cancelled"
    assert status["progress"]["hosts"] < LOG4SHELL_HOSTS
    assert qualys.open_lists() == []
    assert qualys.state()["actions"]["search_list.delete"] == deletes + 1
    assert [run["outcome"] for run in client.get("/api/runs").json()] == ["interrupted"]


def test_too_many_running_searches_get_429(make_client: MakeClient, qualys: Qualys) -> None:
    qualys.set_faults(host_latency=0.05)
    client = make_client(jobs=JobManager(max_running=1), settings={"truncation_limit": 2})
    first = start_search(client, cve=LOG4SHELL)
    reply = client.post("/api/searches", json={"cve": LOG4SHELL})
    assert reply.status_code == 429
    client.post(f"/api/searches/{first}/cancel")
    assert client.wait(first)["state"] == "cancelled"


def test_search_status_holds_one_page_of_the_hosts(client: WebClient) -> None:
    job_id = client.wait(start_search(client, cve=LOG4SHELL))["id"]
    status = client.get(f"/api/searches/{job_id}", params={"limit": 5}).json()
    assert len(status["hosts"]) == 5
    assert (status["hosts_total"], status["hosts_matched"]) == (LOG4SHELL_HOSTS, LOG4SHELL_HOSTS)
    assert (status["hosts_offset"], status["hosts_limit"], status["hosts_truncated"]) == (
        0,
        5,
        True,
    )


def test_finished_jobs_beyond_the_limit_are_forgotten(make_client: MakeClient) -> None:
    client = make_client(jobs=JobManager(max_kept=2))
    ids = []
    for _ in range(3):
        ids.append(start_search(client, cve=VENDOR_EXAMPLE, store=False))
        client.wait(ids[-1])
    assert client.get(f"/api/searches/{ids[0]}").status_code == 404
    assert client.get(f"/api/searches/{ids[2]}").status_code == 200


def test_unusable_settings_are_422_and_start_nothing(make_client: MakeClient) -> None:
    def missing() -> object:
        raise ConfigError("missing the Qualys password: set CVESWEEP_QUALYS_PASSWORD")

    client = make_client(loader=missing)
    reply = client.post("/api/searches", json={"cve": LOG4SHELL})
    assert reply.status_code == 422
    assert reply.json()["error"]["source"] == "configuration"


def test_library_endpoints_read_what_a_search_stored(client: WebClient) -> None:
    client.wait(start_search(client, cve=LOG4SHELL))
    (cve,) = client.get("/api/cves").json()
    assert (cve["cve"], cve["assets"], cve["last_run_outcome"]) == (LOG4SHELL, 23, "success")
    detail = client.get(f"/api/cves/{LOG4SHELL.lower()}").json()
    assert detail["cve"]["value"] == LOG4SHELL
    assert len(detail["assets"]) == LOG4SHELL_HOSTS
    page = client.get("/api/assets", params={"cve": LOG4SHELL, "limit": 5}).json()
    assert (len(page["assets"]), page["more"]) == (5, True)
    ip = page["assets"][0]["value"]
    asset = client.get(f"/api/assets/{ip}").json()
    assert asset["kind"] == "asset"
    assert [r["value"] for r in asset["related"]] == [LOG4SHELL]
    assert {f["cve"] for f in asset["findings"]} == {LOG4SHELL}
    assert client.get("/api/assets", params={"q": ip}).json()["assets"][0]["value"] == ip
    tag = asset["tags"][0]
    tagged = client.get("/api/assets", params={"tag": tag.upper()}).json()["assets"]
    assert tagged and all(tag in a["tags"] for a in tagged)
    (run,) = client.get("/api/runs").json()
    assert run["outcome"] == "success" and run["hosts"] == LOG4SHELL_HOSTS


@pytest.mark.parametrize(
    "path",
    [
        "/api/cves/CVE-1999-0001",
        "/api/assets/10.9.9.9",
        f"/api/assets/{LOG4SHELL}",
        "/api/searches/0123456789abcdef",
        "/api/export/stix?cve=CVE-1999-0001",
        "/api/assets?cve=CVE-1999-0001",
        "/api/nothing-here",
    ],
)
def test_what_is_not_there_is_404_in_json(client: WebClient, path: str) -> None:
    client.wait(start_search(client, cve=VENDOR_EXAMPLE))
    reply = client.get(path)
    assert reply.status_code == 404
    assert reply.json()["error"]["status"] == 404


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/cves/not-a-cve", "cve"), ("/api/export/stix?cve=CVE-21", "cve.0"),
     ("/api/assets?cve=CVE-1998-0001", "cve"), (f"/api/cves/{LOG4SHELL:0<33}", "cve")],
)  # fmt: skip
def test_malformed_cve_in_the_path_or_query_is_422_naming_it(
    client: WebClient, path: str, field: str
) -> None:
    reply = client.get(path)
    assert reply.status_code == 422
    assert reply.json()["error"]["field"] == field


def test_stix_export_downloads_a_bundle_of_the_cve(client: WebClient) -> None:
    client.wait(start_search(client, cve=VENDOR_EXAMPLE))
    reply = client.get("/api/export/stix", params={"cve": VENDOR_EXAMPLE})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert "attachment" in reply.headers["content-disposition"]
    bundle = json.loads(reply.content)
    assert bundle["type"] == "bundle"
    names = [o.get("name") for o in bundle["objects"] if o["type"] == "vulnerability"]
    assert names == [VENDOR_EXAMPLE]


def test_openapi_describes_every_api_route(client: WebClient) -> None:
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/api/searches", "/api/searches/{job_id}", "/api/searches/{job_id}/cancel",
        "/api/searches/{job_id}/result", "/api/cves", "/api/cves/{cve}", "/api/cves/{cve}/export",
        "/api/assets", "/api/assets/{value}", "/api/runs", "/api/export/stix",
    }  # fmt: skip
    assert "SearchStatusModel" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/searches/{job_id}/cancel" in docs.text
    assert "``" not in docs.text  # reST inline literals are shown as code
    assert "follow it at <code>GET /api/searches/{id}</code>" in docs.text


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InputError("--ips", "bad"), 400),
        (ConfigError("no password"), 422),
        (QualysAuthError(2000, "Bad Login/Password", http_status=401), 502),
        (QualysRequestError(1905, "parameter ips has invalid value"), 502),
        (QualysRateLimited(1965, "rate exceeded"), 503),
        (QualysServerError("maintenance", code=1999), 502),
        (QualysConnectionError("refused"), 502),
        (QualysResponseError("cut off"), 502),
        (LibraryError("locked"), 500),
        (LibraryUpgradeNeeded("schema version 4", hint="run 'cvesweep library upgrade'"), 503),
        (ExportError("bad"), 500),
        (CvesweepError("other"), 500),
    ],
)
def test_each_error_class_has_its_http_status(error: CvesweepError, status: int) -> None:
    assert http_status(error) == status
    assert problem_for(error).status == status


def test_a_qualys_timeout_is_504() -> None:
    error = QualysConnectionError("Qualys did not answer in time")
    error.__cause__ = httpx.ReadTimeout("timed out")
    assert http_status(error) == 504


def test_a_qualys_refusal_shows_its_code() -> None:
    problem = problem_for(QualysRequestError(1905, "bad ips", call="detection list"))
    assert (problem.code, problem.source) == (1905, "Qualys")
    assert problem.message == "Qualys rejected the detection list (code 1905): bad ips"
