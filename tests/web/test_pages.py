"""The server-rendered pages: search form, live job page, library pages, settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest

from cvesweep.errors import ConfigError
from cvesweep.inputs import parse_ips
from cvesweep.library import Library, RunRecord, StoreFlags
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
from cvesweep.runner import RunOutcome, RunRequest
from cvesweep.simulator.knowledgebase import IG_ONLY_CVE, LOG4SHELL, NO_QID_CVE
from cvesweep.web import create_app
from tests.backends import library_url_for
from tests.library.test_migrations import make_old_library
from tests.web.conftest import (
    CREDENTIALS_B64,
    PASSWORD,
    MakeClient,
    Qualys,
    WebClient,
    settings_for,
)

XSS = '<script>alert("xss")</script>'
ATTR_XSS = '"><img src=x onerror=alert(1)>'
XSS_CVE = CveId("CVE-2024-0001")
XSS_IP = "10.66.0.1"


def job_id_of(reply_location: str) -> str:
    return reply_location.rsplit("/", 1)[1]


def run_form(client: WebClient, **fields: str) -> str:
    """Submit the search form with all storage flags on unless ``fields`` say otherwise."""
    data = {"add_assets": "1", "add_discovered_assets": "1", "tag_cves": "1", **fields}
    reply = client.submit("/search", data)
    assert reply.status_code == 303, reply.text
    return job_id_of(reply.headers["location"])


def field_errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>', html)
    return {name: unescape(text) for name, text in found}


def xss_result() -> SearchResult:
    detection = Detection(
        qid=Qid(90001), type="Confirmed", severity=5, status=f"Active{XSS}",
        last_found="2024-04-17T18:56:01Z",
    )  # fmt: skip
    host = Host(
        id=HostId(1), ip=XSS_IP, os=f"Linux {XSS}", dns=f"evil{XSS}.example",
        netbios=ATTR_XSS, last_scan="2024-04-17T18:56:01Z",
        tags=(Tag(XSS), Tag(ATTR_XSS)), detections=(detection,),
    )  # fmt: skip
    summary = SearchSummary(1, 1, (90001,), 1, 3, 7, True, 0.1)
    return SearchResult(XSS_CVE, SearchOptions(), (host,), summary)


def ingest_xss(library_url: str) -> None:
    result = xss_result()
    now = datetime.now(UTC)
    run = RunRecord.from_result(result, started_at=now, finished_at=now, parameters={})
    with Library.open(library_url) as library:
        library.ingest(result, StoreFlags(), run)


def assert_escaped(html: str) -> None:
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_search_form_offers_the_cve_the_four_options_and_the_storage_flags(
    client: WebClient,
) -> None:
    html = client.get("/").text
    for name in ("cve", "ips", "since", "min_severity", "asset_groups"):
        assert f'name="{name}"' in html
    for flag in ("add_assets", "add_discovered_assets", "tag_cves"):
        assert re.search(rf'name="{flag}" value="1" checked', html)
    assert re.search(r'name="no_store" value="1">', html)


def test_invalid_form_shows_the_cli_messages_next_to_each_field_and_calls_nothing(
    client: WebClient, qualys: Qualys
) -> None:
    before = qualys.calls()
    reply = client.submit(
        "/search", {"cve": "CVE-21", "ips": "10.0.0.300", "since": "soon", "min_severity": "7"}
    )
    assert reply.status_code == 400
    errors = field_errors(reply.text)
    assert set(errors) == {"cve", "ips", "since", "min_severity"}
    with pytest.raises(Exception) as cli:
        parse_ips("10.0.0.300")
    assert errors["ips"] == str(cli.value).removeprefix("--ips: ")
    assert 'value="10.0.0.300"' in reply.text  # what was typed is kept
    assert qualys.calls() == before


def test_form_search_shows_the_result_table_and_the_run_summary(
    client: WebClient, qualys: Qualys
) -> None:
    job_id = run_form(client, cve=LOG4SHELL)
    assert client.wait(job_id)["state"] == "succeeded"
    html = client.get(f"/search/{job_id}").text
    table = html.split('<table id="results"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 23 + 1  # header and one row per host
    for header in ("IP", "Hostname", "QIDs", "Severity", "Status", "Type", "Last found",
                   "Last scan", "Tags"):  # fmt: skip
        assert f">{header}</th>" in table or f">{header}</a></th>" in table
    summary = html.split('id="summary"', 1)[1]
    assert "created, deleted" in summary
    assert "23 assets created" in summary
    assert re.search(r"\d+ attributes added, \d+ relationships added", summary)  # the CLI's words
    assert "findings added" not in summary and "links added" not in summary
    assert qualys.open_lists() == []


def test_running_search_page_polls_and_offers_cancel(
    make_client: MakeClient, qualys: Qualys
) -> None:
    qualys.set_faults(host_latency=0.05)
    client = make_client(settings={"truncation_limit": 2})
    job_id = run_form(client, cve=LOG4SHELL)
    html = client.get(f"/search/{job_id}").text
    assert 'data-state="running"' in html
    assert f'data-status-url="/api/searches/{job_id}?hosts=false"' in html
    assert client.submit(f"/search/{job_id}/cancel").status_code == 303
    assert client.wait(job_id)["state"] == "cancelled"
    html = client.get(f"/search/{job_id}").text
    assert 'id="cancelled"' in html
    assert qualys.open_lists() == []


def test_dont_store_stores_nothing_and_says_so(client: WebClient) -> None:
    job_id = run_form(client, cve=LOG4SHELL, no_store="1")
    client.wait(job_id)
    assert "nothing (don't store)" in unescape(client.get(f"/search/{job_id}").text)
    assert "The library is empty" in client.get("/cves").text


def test_a_cve_qualys_knows_no_qid_for_is_not_shown_as_no_hosts(client: WebClient) -> None:
    job_id = run_form(client, cve=NO_QID_CVE)
    client.wait(job_id)
    html = unescape(client.get(f"/search/{job_id}").text)
    assert 'id="no-qid"' in html and 'id="no-hosts"' not in html
    assert f"Qualys knows no QID for {NO_QID_CVE}" in html and "not an all-clear" in html
    assert client.get(f"/api/searches/{job_id}").json()["summary"]["search_list_qids"] == []


def test_empty_result_says_no_hosts(client: WebClient) -> None:
    job_id = run_form(client, cve=IG_ONLY_CVE)  # its QIDs are Information Gathered only
    client.wait(job_id)
    html = client.get(f"/search/{job_id}").text
    assert 'id="no-hosts"' in html and 'id="no-qid"' not in html


def test_wrong_password_shows_the_qualys_login_error_and_its_source(
    make_client: MakeClient,
) -> None:
    client = make_client(password="not-the-password")
    job_id = run_form(client, cve=LOG4SHELL)
    client.wait(job_id)
    html = unescape(client.get(f"/search/{job_id}").text)
    assert "Qualys rejected the search list create (code 2000): Bad Login/Password" in html
    assert "source: Qualys · Qualys code 2000" in html
    assert "Hint: check the Qualys username and password" in html


def test_library_pages_show_the_stored_cve_assets_and_runs(client: WebClient) -> None:
    client.wait(job_id := run_form(client, cve=LOG4SHELL))
    assert client.get(f"/search/{job_id}").status_code == 200
    assert f'href="/cves/{LOG4SHELL}"' in client.get("/cves").text
    cve = client.get(f"/cves/{LOG4SHELL}").text
    assert f'href="/api/export/stix?cve={LOG4SHELL}"' in cve
    assert cve.count("<svg") == 2 and 'class="chart-bar"' in cve
    assert "Assets by highest severity" in cve and "Assets by tag" in cve
    assets = client.get("/assets", params={"cve": LOG4SHELL}).text
    ip = re.findall(r'href="/assets/([0-9.]+)"', assets)[0]
    assert client.get("/assets", params={"q": ip}).text.count(f'href="/assets/{ip}"') == 1
    asset = client.get(f"/assets/{ip}").text
    assert "Qualys Host ID" in asset and f'href="/cves/{LOG4SHELL}"' in asset
    assert "success" in client.get("/runs").text


def test_lower_case_cve_url_redirects_to_the_canonical_one(client: WebClient) -> None:
    client.wait(run_form(client, cve=LOG4SHELL))
    reply = client.get(f"/cves/{LOG4SHELL.lower()}")
    assert (reply.status_code, reply.headers["location"]) == (301, f"/cves/{LOG4SHELL}")


@pytest.mark.parametrize("path", ["/assets/10.9.9.9", "/cves/CVE-1999-0001", "/search/nope"])
def test_missing_things_get_a_404_page(client: WebClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 404
    assert 'class="problem"' in reply.text


@pytest.mark.parametrize(
    "path",
    [f"/assets/{XSS_IP}", f"/cves/{XSS_CVE}", "/assets", "/cves", f"/assets?cve={XSS_CVE}"],
)
def test_qualys_text_is_escaped_on_library_pages(
    client: WebClient, library_url: str, path: str
) -> None:
    ingest_xss(library_url)
    reply = client.get(path)
    assert reply.status_code == 200
    assert_escaped(reply.text)


def test_qualys_text_is_escaped_in_the_result_table(client: WebClient) -> None:
    jobs = client.app.state.web.jobs
    request = RunRequest(XSS_CVE, store=False)
    view = jobs.start(request, lambda progress, cancel, on_list: RunOutcome(xss_result(), None))
    assert view is not None and jobs.wait(view.id, 10).state == "succeeded"
    assert_escaped(client.get(f"/search/{view.id}").text)


def test_settings_page_shows_the_connection_but_never_the_password(
    client: WebClient, qualys: Qualys
) -> None:
    html = client.get("/settings").text
    assert qualys.url in html and "webuser" in html
    assert PASSWORD not in html and "*****" not in html
    reply = client.submit("/settings/test")
    assert reply.status_code == 200 and 'id="connection-ok"' in reply.text
    assert "API 2.0" in reply.text


def test_connection_test_with_a_wrong_password_shows_code_2000(make_client: MakeClient) -> None:
    client = make_client(password="not-the-password")
    reply = client.submit("/settings/test")
    assert reply.status_code == 502
    assert "(code 2000): Bad Login/Password" in reply.text


def test_settings_page_shows_a_configuration_problem(make_client: MakeClient) -> None:
    def missing() -> object:
        raise ConfigError("missing the Qualys password: set CVESWEEP_QUALYS_PASSWORD")

    client = make_client(loader=missing)
    html = client.get("/settings").text
    assert "missing the Qualys password" in html
    assert "source: configuration" in html


def test_the_password_never_appears_in_any_page_or_api_response(
    make_client: MakeClient, qualys: Qualys
) -> None:
    client = make_client()
    bad = make_client(password=PASSWORD + "-wrong")
    replies = []
    for web in (client, bad):
        job_id = run_form(web, cve=LOG4SHELL)
        web.wait(job_id)
        for path in ("/", f"/search/{job_id}", f"/api/searches/{job_id}", "/settings",
                     "/cves", f"/cves/{LOG4SHELL}", "/assets", "/runs", "/api/runs",
                     "/api/cves", "/api/assets", "/docs", "/openapi.json",
                     f"/api/export/stix?cve={LOG4SHELL}"):  # fmt: skip
            replies.append(web.get(path))
        replies.append(web.submit("/settings/test"))
    assert len(replies) == 30
    for reply in replies:
        text = reply.text + "".join(f"{k}: {v}" for k, v in reply.headers.items())
        assert PASSWORD not in text, reply.url
        assert CREDENTIALS_B64 not in text, reply.url


def test_the_search_page_lists_recent_searches_with_their_filters(client: WebClient) -> None:
    job_id = run_form(client, cve=LOG4SHELL, min_severity="4")
    assert client.wait(job_id)["state"] == "succeeded"
    job_html = client.get(f"/search/{job_id}").text
    assert "Filters: min severity 4" in job_html
    recent = client.get("/").text.split('id="recent"', 1)[1]
    assert f'href="/search/{job_id}"' in recent
    assert "min severity 4" in recent and "succeeded" in recent


def test_the_summary_time_covers_the_qualys_calls(client: WebClient, qualys: Qualys) -> None:
    """A run that took seconds never shows "Time 0.0 s" (issue 13): the time is the search's."""
    qualys.set_faults(reply_latency=0.4, latency_endpoint="detection")
    job_id = run_form(client, cve=LOG4SHELL, no_store="1")
    assert client.wait(job_id)["state"] == "succeeded"
    summary = client.get(f"/search/{job_id}").text.split('id="summary"', 1)[1]
    shown = float(summary.split("<dt>Time</dt><dd>", 1)[1].split(" s</dd>", 1)[0])
    assert shown >= 0.4


@pytest.fixture
def old_library(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """A library of schema version 4 (tests/library/data/schema_v4.sql), once per backend."""
    with library_url_for(request, backend, tmp_path) as url:
        yield make_old_library(url, 4)


@pytest.mark.parametrize(
    "path", ["/cves", "/assets", "/runs", f"/cves/{LOG4SHELL}", "/assets/10.0.0.1"]
)
def test_a_library_needing_an_upgrade_gets_a_503_page_with_the_hint(
    old_library: str, qualys: Qualys, path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client = WebClient(create_app(lambda: settings_for(qualys.url), old_library))
    try:
        reply = client.get(path)
    finally:
        client.close()
    assert reply.status_code == 503, reply.text
    page = unescape(reply.text)
    assert 'class="problem"' in reply.text and "needs upgrading" in page
    assert "run 'cvesweep library upgrade'" in page
    warning = capsys.readouterr().err.splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: the library at")
    assert "needs upgrading" in warning[0] and "cvesweep library upgrade" in warning[0]


def test_a_library_needing_an_upgrade_gets_a_503_json_error(
    old_library: str, qualys: Qualys
) -> None:
    client = WebClient(create_app(lambda: settings_for(qualys.url), old_library))
    try:
        replies = [client.get(path) for path in ("/api/cves", f"/api/cves/{LOG4SHELL}")]
    finally:
        client.close()
    for reply in replies:
        assert reply.status_code == 503, reply.text
        error = reply.json()["error"]
        assert error["status"] == 503 and error["source"] == "library"
        assert "needs upgrading" in error["message"]
        assert error["hint"].startswith("run 'cvesweep library upgrade'")


def test_a_current_library_gives_no_start_up_warning(
    library_url: str, qualys: Qualys, capsys: pytest.CaptureFixture[str]
) -> None:
    WebClient(create_app(lambda: settings_for(qualys.url), library_url)).close()
    assert capsys.readouterr().err == ""
