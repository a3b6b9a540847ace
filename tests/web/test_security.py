"""Defences: access token, CSRF, same-origin and Host checks, headers, CSP-clean markup."""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner

import cvesweep.cli.main  # noqa: F401  (registers every command, serve included)
from cvesweep.cli.main import app as cli
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.web.security import CSP, CSRF_FIELD, SESSION_COOKIE, is_loopback, local_path
from tests.web.conftest import TOKEN, WebClient

PAGES = ["/", "/cves", "/assets", "/runs", "/settings", "/docs"]
API = ["/api/cves", "/api/assets", "/api/runs", "/openapi.json", "/api/export/stix"]
FORMS = ["/search", "/search/0123456789abcdef/cancel", "/settings/test", "/login", "/logout"]
WEB = importlib.resources.files("cvesweep.web")
Shared = Callable[..., WebClient]


ANY_ADDRESS = "0.0.0.0"  # noqa: S104  (only passed to a serve that must refuse it)


@pytest.fixture
def client(shared_apps: Shared) -> Iterator[WebClient]:
    """A client (fresh cookies) of a shared app without a token."""
    web = shared_apps()
    yield web
    web.close()


@pytest.fixture
def guarded(shared_apps: Shared) -> Iterator[WebClient]:
    """A client (fresh cookies) of a shared app that requires TOKEN."""
    web = shared_apps(token=TOKEN)
    yield web
    web.close()


@pytest.mark.parametrize("path", [*PAGES, *API, "/nowhere", "/api/nowhere", "/static/app.js"])
def test_every_response_carries_the_security_headers(client: WebClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", PAGES)
def test_pages_without_the_token_redirect_to_login(guarded: WebClient, path: str) -> None:
    reply = guarded.get(path)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", [*API, "/api/searches/0123456789abcdef"])
def test_api_without_the_token_is_401(guarded: WebClient, path: str) -> None:
    reply = guarded.get(path)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert reply.json()["error"]["status"] == 401


def test_api_search_start_without_the_token_is_401(guarded: WebClient) -> None:
    reply = guarded.post("/api/searches", json={"cve": LOG4SHELL})
    assert reply.status_code == 401


@pytest.mark.parametrize("path", [*PAGES, *API])
def test_bearer_token_opens_every_page_and_api_call(guarded: WebClient, path: str) -> None:
    assert guarded.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("given", ["", "Bearer wrong-token-0123456789", f"Basic {TOKEN}"])
def test_wrong_credentials_are_refused(guarded: WebClient, given: str) -> None:
    assert guarded.get("/api/cves", headers={"Authorization": given}).status_code == 401


def test_signing_in_sets_a_session_cookie_that_is_not_the_token(guarded: WebClient) -> None:
    client = guarded
    assert client.get("/login").status_code == 200
    reply = client.submit("/login", {"token": TOKEN, "next": "/runs"})
    assert (reply.status_code, reply.headers["location"]) == (303, "/runs")
    session = client.http.cookies[SESSION_COOKIE]
    assert TOKEN not in session
    assert client.get("/runs").status_code == 200
    assert client.get("/api/cves").status_code == 200
    client.submit("/logout")
    assert client.get("/runs").status_code == 303


def test_signing_in_with_a_wrong_token_is_401(guarded: WebClient) -> None:
    client = guarded
    reply = client.submit("/login", {"token": "not-the-token-at-all"})
    assert reply.status_code == 401
    assert "not the right one" in reply.text
    assert SESSION_COOKIE not in client.http.cookies


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/runs", "/runs"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
     ("/\\evil.example", "/"), ("", "/"), (None, "/")],
)  # fmt: skip
def test_login_redirects_only_to_local_paths(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


@pytest.mark.parametrize("path", FORMS)
def test_form_post_without_csrf_token_is_403(client: WebClient, path: str) -> None:
    client.csrf()
    reply = client.post(path, data={"cve": LOG4SHELL})
    assert reply.status_code == 403
    assert "CSRF" in reply.text


@pytest.mark.parametrize("path", FORMS)
def test_form_post_with_a_wrong_csrf_token_is_403(client: WebClient, path: str) -> None:
    client.csrf()
    reply = client.post(path, data={"cve": LOG4SHELL, CSRF_FIELD: "x" * 43})
    assert reply.status_code == 403


def test_form_post_without_the_csrf_cookie_is_403(client: WebClient) -> None:
    token = client.csrf()
    client.http.cookies.clear()
    reply = client.post("/search", data={"cve": LOG4SHELL, CSRF_FIELD: token})
    assert reply.status_code == 403


def test_csrf_cookie_is_httponly_and_samesite_strict(client: WebClient) -> None:
    cookie = client.get("/").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:9999"])
def test_cross_origin_posts_are_403(client: WebClient, origin: str) -> None:
    reply = client.post("/api/searches", json={"cve": "bad"}, headers={"Origin": origin})
    assert reply.status_code == 403


def test_same_origin_posts_pass_the_origin_check(client: WebClient) -> None:
    reply = client.post(
        "/api/searches", json={"cve": "bad"}, headers={"Origin": "http://127.0.0.1:8000"}
    )
    assert reply.status_code == 422  # reached the body's validation


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:8000", 200), ("localhost:8000", 200), ("[::1]:8000", 200),
     ("evil.example", 400), ("evil.example:8000", 400)],
)  # fmt: skip
def test_unexpected_host_header_is_refused_when_hosts_are_restricted(
    shared_apps: Shared, host: str, status: int
) -> None:
    client = shared_apps(allowed_hosts=("127.0.0.1", "localhost", "::1"))
    try:
        assert client.get("/cves", headers={"Host": host}).status_code == status
    finally:
        client.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), (ANY_ADDRESS, False), ("::", False), ("10.0.0.5", False),
     ("example.com", False)],
)  # fmt: skip
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [(["--host", ANY_ADDRESS], {}, "needs an access token"),
     (["--host", "10.1.2.3"], {"CVESWEEP_WEB_TOKEN": "   "}, "the access token is blank"),
     (["--host", ANY_ADDRESS, "--token", "short"], {}, "too short"),
     (["--host", ANY_ADDRESS], {"CVESWEEP_WEB_TOKEN": "short"}, "too short")],
)  # fmt: skip
def test_serve_refuses_to_start_without_a_usable_token_off_loopback(
    args: list[str], env: dict[str, str], words: str, tmp_path: object
) -> None:
    result = CliRunner().invoke(cli, ["serve", *args], env={"COLUMNS": "200", **env})
    assert result.exit_code == 2
    assert words in result.output


def test_templates_use_no_inline_script_style_or_safe_filter() -> None:
    for template in (WEB / "templates").iterdir():
        text = template.read_text()
        assert "|safe" not in text.replace(" ", ""), template.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), template.name


def test_javascript_never_writes_html() -> None:
    lines = (WEB / "static" / "app.js").read_text().splitlines()
    script = "\n".join(line for line in lines if not line.strip().startswith("//"))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
