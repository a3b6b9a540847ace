"""Bounded, strictly typed input: no request makes the web UI or the API answer a bare 500."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cvesweep.models import CVE_MAX_LENGTH
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.web import create_app
from cvesweep.web.bounds import CVE_PATTERN, OFFSET_MAX, SEARCH_MAX_CHARS
from cvesweep.web.limits import MAX_BODY_BYTES
from cvesweep.web.security import CSP, CSRF_FIELD
from tests.web.conftest import MakeClient, Qualys, WebClient, settings_for

Shared = Callable[..., WebClient]


@pytest.fixture
def client(shared_apps: Shared) -> Iterator[WebClient]:
    web = shared_apps()
    yield web
    web.close()


def assert_error_shape(reply: httpx.Response, status: int, field: str | None = None) -> None:
    """The API's JSON error shape with the security headers, and the status expected."""
    assert reply.status_code == status, reply.text[:300]
    assert reply.headers["content-security-policy"] == CSP
    assert reply.headers["x-content-type-options"] == "nosniff"
    error = reply.json()["error"]
    assert set(error) == {"status", "message", "source", "hint", "code", "field"}
    assert error["status"] == status
    if field is not None:
        assert error["field"] == field
    assert len(reply.content) < 2_000  # whatever was sent is not echoed back


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/assets", {"offset": str(2**64)}, "offset"),
        ("/api/assets", {"offset": "9" * 5000}, "offset"),
        ("/api/assets", {"offset": str(OFFSET_MAX + 1)}, "offset"),
        ("/api/assets", {"offset": "-1"}, "offset"),
        ("/api/assets", {"limit": str(2**63)}, "limit"),
        ("/api/assets", {"q": "a" * 60_000}, "q"),
        ("/api/assets", {"q": "%" * (SEARCH_MAX_CHARS + 1)}, "q"),
        ("/api/assets", {"tag": "t" * 60_000}, "tag"),
        ("/api/assets", {"cve": "CVE-2021-" + "4" * 60_000}, "cve"),
        ("/api/runs", {"limit": "9" * 5000}, "limit"),
        ("/api/export/stix", {"cve": "CVE-2021-" + "4" * 5000}, "cve.0"),
        (f"/api/cves/CVE-2021-{'4' * 5000}", {}, "cve"),
        (f"/api/assets/{'1' * 60_000}", {}, "value"),
        (f"/api/searches/{'f' * 60_000}", {}, "job_id"),
        ("/api/searches/0123456789abcdef", {"hosts": "maybe"}, "hosts"),
    ],
)
def test_bad_api_parameters_get_the_json_error_shape(
    client: WebClient, path: str, params: dict[str, str], field: str
) -> None:
    assert_error_shape(client.get(path, params=params), 422, field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cve": LOG4SHELL, "min_severity": True}, "min_severity"),
        ({"cve": LOG4SHELL, "min_severity": "3"}, "min_severity"),
        ({"cve": LOG4SHELL, "min_severity": 3.0}, "min_severity"),
        ({"cve": LOG4SHELL, "min_severity": "9" * 5000}, "min_severity"),
        ({"cve": LOG4SHELL, "min_severity": 6}, "min_severity"),
        ({"cve": LOG4SHELL, "min_severity": 0}, "min_severity"),
        ({"cve": LOG4SHELL, "store": 0}, "store"),
        ({"cve": LOG4SHELL, "store": "false"}, "store"),
        ({"cve": LOG4SHELL, "add_assets": 1}, "add_assets"),
        ({"cve": LOG4SHELL, "ips": ["10.0.0.1"]}, "ips"),
        ({"cve": LOG4SHELL, "since": 20240101}, "since"),
        ({"cve": 2021}, "cve"),
        ({"cve": "CVE-21"}, "cve"),
        ({"cve": "CVE-1998-1234"}, "cve"),
        ({"cve": LOG4SHELL.ljust(CVE_MAX_LENGTH + 1, "0")}, "cve"),
        ({"cve": "CVE-2021-" + "4" * 100_000}, "cve"),
        ({"cve": LOG4SHELL, "ips": "10.0.0.1," * 2500}, "ips"),
        ({"cve": LOG4SHELL, "since": "2024-01-01" + " " * 40}, "since"),
        ({"cve": LOG4SHELL, "asset_groups": "G" * 200_000}, "asset_groups"),
    ],
)
def test_a_search_body_off_its_schema_is_422_and_calls_nothing(
    client: WebClient, qualys: Qualys, body: dict[str, Any], field: str
) -> None:
    before = qualys.calls()
    assert_error_shape(client.post("/api/searches", json=body), 422, field)
    assert qualys.calls() == before


def test_a_5000_digit_number_in_a_body_is_refused_in_the_json_shape(
    client: WebClient, qualys: Qualys
) -> None:
    before = qualys.calls()
    body = '{"cve": "CVE-2021-44228", "min_severity": ' + "9" * 5000 + "}"
    reply = client.post("/api/searches", content=body, headers={"Content-Type": "application/json"})
    assert_error_shape(reply, 400)
    assert qualys.calls() == before


def test_the_cve_id_at_its_bound_is_accepted(client: WebClient) -> None:
    longest = "CVE-2021-" + "4" * (CVE_MAX_LENGTH - 9)
    reply = client.get(f"/api/cves/{longest}")
    assert reply.status_code == 404  # well formed, just not in the library


def test_a_body_larger_than_the_bound_is_413(client: WebClient, qualys: Qualys) -> None:
    before = qualys.calls()
    body = '{"cve": "CVE-2021-44228", "ips": "' + "1" * MAX_BODY_BYTES + '"}'
    reply = client.post("/api/searches", content=body, headers={"Content-Type": "application/json"})
    assert_error_shape(reply, 413)
    assert qualys.calls() == before


def test_a_chunked_body_larger_than_the_bound_is_413(client: WebClient) -> None:
    async def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"1" * 1024

    reply = client.post(
        "/api/searches", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in reply.request.headers
    assert_error_shape(reply, 413)


def test_a_form_larger_than_the_bound_gets_the_error_page(client: WebClient) -> None:
    reply = client.post("/search", data={CSRF_FIELD: client.csrf(), "ips": "1" * MAX_BODY_BYTES})
    assert reply.status_code == 413
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/assets?offset={2**64}", 422),
        (f"/assets?offset={'9' * 5000}", 422),
        (f"/assets?q={'a' * 60_000}", 422),
        (f"/assets?tag={'t' * 60_000}", 422),
        (f"/assets?cve=CVE-2021-{'4' * 60_000}", 400),
        (f"/cves/CVE-2021-{'4' * 60_000}", 400),
        (f"/assets/{'1' * 60_000}", 422),
        (f"/search/{'f' * 60_000}", 422),
        (f"/login?next=/{'a' * 60_000}", 200),
    ],
)
def test_bad_page_parameters_get_the_error_page_with_the_headers(
    client: WebClient, path: str, status: int
) -> None:
    reply = client.get(path)
    assert reply.status_code == status
    assert reply.headers["content-type"].startswith("text/html")
    assert reply.headers["content-security-policy"] == CSP
    assert len(reply.content) < 20_000  # nothing of the 60,000 characters is shown


@pytest.mark.parametrize(
    "form",
    [
        {"cve": "CVE-2021-" + "4" * 100_000},
        {"cve": LOG4SHELL, "min_severity": "9" * 5000},
        {"cve": LOG4SHELL, "ips": "10.0.0.1," * 2500},
        {"cve": LOG4SHELL, "asset_groups": "G," * 150 + "H"},
        {"cve": LOG4SHELL, "since": "2024-01-01" + "0" * 100},
    ],
)
def test_a_search_form_past_its_bounds_is_shown_again_with_the_bound_and_calls_nothing(
    client: WebClient, qualys: Qualys, form: dict[str, str]
) -> None:
    before = qualys.calls()
    reply = client.submit("/search", form)
    assert reply.status_code == 400
    assert "at most" in reply.text
    assert qualys.calls() == before


def test_openapi_declares_the_cve_pattern_and_the_bounds(client: WebClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["components"]["schemas"]["SearchRequestModel"]["properties"]
    assert body["cve"]["pattern"] == CVE_PATTERN
    assert body["cve"]["maxLength"] == CVE_MAX_LENGTH
    assert body["ips"]["anyOf"][0]["maxLength"] == 20_000
    assert body["min_severity"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 5}
    assets = {p["name"]: p["schema"] for p in spec["paths"]["/api/assets"]["get"]["parameters"]}
    assert assets["offset"]["maximum"] == OFFSET_MAX
    assert assets["q"]["anyOf"][0]["maxLength"] == SEARCH_MAX_CHARS
    cve_path = spec["paths"]["/api/cves/{cve}"]["get"]["parameters"][0]["schema"]
    assert cve_path["pattern"] == CVE_PATTERN


def test_an_unexpected_error_is_the_error_shape_with_the_headers(make_client: MakeClient) -> None:
    def broken() -> Any:
        raise RuntimeError("a bug")

    client = make_client(loader=broken)
    client.http._transport = httpx.ASGITransport(app=client.app, raise_app_exceptions=False)
    api = client.post("/api/searches", json={"cve": LOG4SHELL})
    assert_error_shape(api, 500)
    assert "a bug" not in api.text
    page = client.get("/settings")
    assert page.status_code == 500
    assert page.headers["content-security-policy"] == CSP
    assert "unexpected error" in page.text and "a bug" not in page.text


def test_requests_worked_on_at_once_are_bounded(qualys: Qualys, library_url: str) -> None:
    """With max_active=2, ten concurrent page views never run more than two loaders at once."""
    lock = threading.Lock()
    running, most = 0, 0

    def slow_loader() -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return settings_for(qualys.url)

    app = create_app(slow_loader, library_url, max_active=2)
    client = WebClient(app)
    try:

        async def burst() -> list[int]:
            replies = await asyncio.gather(*(client.http.get("/settings") for _ in range(10)))
            return [reply.status_code for reply in replies]

        assert client.loop.run_until_complete(burst()) == [200] * 10
        assert most == 2
    finally:
        client.close()
