"""The web UI's smaller findings of issue 13 item 5: HEAD answers like GET, the login page has
no menu, the settings page claims no TLS for http://, error hints name the form's fields
(never a CLI flag), and the asset-group help says numeric ids work."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cvesweep.cli.main import app
from tests.web.conftest import TOKEN, MakeClient, Qualys, WebClient

PAGES = ["/", "/sweep", "/cves", "/assets", "/runs", "/settings", "/docs", "/login",
         "/api/cves", "/static/app.css"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_head_answers_like_get_without_a_body(client: WebClient, path: str) -> None:
    got = client.get(path)
    head = client.request("HEAD", path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "content-security-policy"):
        assert head.headers.get(name) == got.headers.get(name), name


def test_head_of_an_unknown_page_is_its_404(client: WebClient) -> None:
    head = client.request("HEAD", "/no-such-page")
    assert head.status_code == 404 and head.content == b""


def test_head_needs_the_token_like_get(make_client: MakeClient) -> None:
    client = make_client(token=TOKEN)
    got, head = client.get("/cves"), client.request("HEAD", "/cves")
    assert head.status_code == got.status_code and head.status_code in (302, 303, 401)
    assert head.headers.get("location") == got.headers.get("location")


def test_the_login_page_has_no_menu_and_other_pages_do(make_client: MakeClient) -> None:
    client = make_client(token=TOKEN)
    assert "<nav" not in client.get("/login").text
    client.submit("/login", {"token": TOKEN, "next": "/"})
    assert '<nav aria-label="main">' in client.get("/").text


def test_the_settings_page_claims_no_tls_for_an_http_url(client: WebClient) -> None:
    html = client.get("/settings").text  # the simulator's URL is http://127.0.0.1:...
    assert '<dd id="tls">none: plain HTTP, no TLS' in html
    assert ">on<" not in html.split('id="tls"', 1)[1].split("</dd>", 1)[0]


@pytest.mark.parametrize(
    ("field", "value", "api"),
    [("ips", "10.0.0.300", True), ("since", "yesterday", True),
     ("asset_groups", "DMZ,,Servers", True), ("min_severity", "9", False),
     ("cve", "CVE-21-1", False)],
)  # fmt: skip
def test_web_error_messages_name_the_form_field_never_a_cli_flag(
    client: WebClient, qualys: Qualys, field: str, value: str, api: bool
) -> None:
    """``api`` False: the API's schema refuses the value itself (422) before the checks."""
    body = {"cve": "CVE-2021-44228", field: value}
    before = qualys.calls()
    page = client.submit("/search", body)
    assert page.status_code == 400
    shown = [page.text]
    if api:
        reply = client.post("/api/searches", json=body)
        assert reply.status_code == 400
        problem = reply.json()["error"]
        assert problem["field"] == field and problem["message"].startswith(f"{field}: ")
        shown += [problem["message"], problem["hint"] or ""]
    assert qualys.calls() == before
    assert 'class="field-error"' in page.text
    for text in shown:
        assert not re.search(r"(?<![\w-])--[a-z]", text), text


def test_the_asset_group_help_says_numeric_ids_work(client: WebClient) -> None:
    for path in ("/", "/sweep"):
        help_text = client.get(path).text.split('id="asset_groups-help"', 1)[1][:400]
        assert "numeric ids" in help_text, path
    result = CliRunner().invoke(app, ["search", "--help"], env={"COLUMNS": "200"})
    assert "numeric ids" in " ".join(result.output.split())
