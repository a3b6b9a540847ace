"""Fixtures of the web tests: a simulator on a loopback socket, a temporary library, and the
app reached in-process through httpx (``fastapi.testclient`` warns that it is deprecated,
which ``filterwarnings = error`` makes fatal, so a small synchronous face on
``httpx.AsyncClient`` + ``ASGITransport`` stands in for it).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cvesweep.settings import Settings
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.server import SimulatorServer
from cvesweep.web import create_app
from cvesweep.web.jobs import JobManager
from cvesweep.web.security import CSRF_COOKIE, CSRF_FIELD
from tests.backends import BACKENDS, library_url_for

USER = "webuser"
PASSWORD = "Zq9-web-PASS-7f3a9c2e"  # distinctive, so a leak is easy to grep for
CREDENTIALS_B64 = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "test-token-0123456789abcdef"


class Qualys:
    """A simulator served on 127.0.0.1 with helpers to read its state and set its faults."""

    def __init__(self, server: SimulatorServer, http: httpx.Client) -> None:
        self.server = server
        self.url = server.url
        self.http = http

    def state(self) -> dict[str, Any]:
        return self.http.get(f"{self.url}/_sim/state").json()  # type: ignore[no-any-return]

    def open_lists(self) -> list[dict[str, Any]]:
        return list(self.state()["search_lists"])

    def calls(self) -> int:
        return sum(self.state()["calls"].values())

    def set_faults(self, **changes: Any) -> None:
        reply = self.http.post(f"{self.url}/_sim/faults", json=changes)
        assert reply.status_code == 200, reply.text


class WebClient:
    """A synchronous client of the app, in-process (no socket), keeping cookies."""

    def __init__(
        self, app: FastAPI, base_url: str = "http://127.0.0.1:8000", *, lifespan: bool = True
    ) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, follow_redirects=False
        )
        self._lifespan: AbstractAsyncContextManager[Any] | None = None
        if lifespan:  # False: the app is shared, and its owner runs the lifespan
            self._lifespan = app.router.lifespan_context(app)
            self.loop.run_until_complete(self._lifespan.__aenter__())

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def csrf(self) -> str:
        """The CSRF token of this client's session (fetching a page to get one if needed)."""
        if CSRF_COOKIE not in self.http.cookies:
            self.get("/login")
        return self.http.cookies[CSRF_COOKIE]

    def submit(self, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        """POST a form the way the pages do: with the CSRF field."""
        return self.post(url, data={**(data or {}), CSRF_FIELD: self.csrf()})

    def wait(self, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll the API until the search finishes; return its final status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(f"/api/searches/{job_id}").json()
            if status["state"] != "running" or time.monotonic() > deadline:
                return status  # type: ignore[no-any-return]
            time.sleep(0.05)

    def close(self) -> None:
        if self._lifespan is not None:
            self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


def settings_for(url: str, *, password: str = PASSWORD, **changes: Any) -> Settings:
    """Settings pointing at the simulator, with short timeouts and few retries."""
    values: dict[str, Any] = {"retries": 2, "read_timeout": 20.0, "connect_timeout": 5.0}
    values.update(changes)
    return Settings(username=USER, password=password, url=url, **values)


@pytest.fixture(scope="module")
def qualys_server() -> Iterator[Qualys]:
    """A simulator of 300 hosts (seed 7) on a real 127.0.0.1 socket, shared by a module."""
    app = SimulatorApp(Fleet(seed=7, size=300), username=USER, password=PASSWORD)
    with SimulatorServer(app, port=0) as server, httpx.Client() as http:
        yield Qualys(server, http)


@pytest.fixture
def qualys(qualys_server: Qualys) -> Iterator[Qualys]:
    """The module's simulator; its faults are back to none after the test.

    Tests compare call counts before and after, never absolute ones.
    """
    yield qualys_server
    qualys_server.set_faults(**Faults().as_json())


@pytest.fixture
def library_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """A new library, once per backend: a SQLite file in the test's temporary directory, or
    a new PostgreSQL database holding the empty schema (tests/backends.py; creating it is
    tested in tests/library)."""
    with library_url_for(request, backend, tmp_path, made=True) as url:
        yield url


MakeClient = Callable[..., WebClient]


@pytest.fixture(scope="module", params=BACKENDS)
def shared_apps(
    request: pytest.FixtureRequest, qualys_server: Qualys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., WebClient]]:
    """Factory of clients of apps shared by a module's tests (one app per keyword set), on
    a library of each backend in turn.

    For tests that only read: building a FastAPI app and its routes costs ~0.2 s.
    Each call returns a new client (fresh cookies) of the shared app.
    """
    owners: dict[tuple[object, ...], WebClient] = {}
    directory = tmp_path_factory.mktemp("shared")
    with library_url_for(request, request.param, directory, made=True) as url:

        def make(**keywords: Any) -> WebClient:
            key = tuple(sorted(keywords.items()))
            if key not in owners:
                app = create_app(lambda: settings_for(qualys_server.url), url, **keywords)
                owners[key] = WebClient(app)
            return WebClient(owners[key].app, lifespan=False)

        yield make
        for owner in owners.values():
            owner.close()


@pytest.fixture
def make_client(qualys: Qualys, library_url: str) -> Iterator[MakeClient]:
    """Factory of clients of a new app wired to the simulator and the temporary library.

    Keywords: ``token``, ``password`` (the Qualys one), ``settings`` (keywords for
    Settings), ``loader`` (a settings loader replacing them), ``jobs``, ``allowed_hosts``.
    """
    clients: list[WebClient] = []

    def make(
        *,
        token: str | None = None,
        password: str = PASSWORD,
        settings: dict[str, Any] | None = None,
        loader: Callable[[], Settings] | None = None,
        jobs: JobManager | None = None,
        allowed_hosts: tuple[str, ...] | None = None,
    ) -> WebClient:
        chosen = settings_for(qualys.url, password=password, **(settings or {}))
        app = create_app(
            loader or (lambda: chosen),
            library_url,
            token=token,
            jobs=jobs,
            allowed_hosts=allowed_hosts,
        )
        client = WebClient(app)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> WebClient:
    """A client of the app without an access token."""
    return make_client()


def start_search(client: WebClient, **body: Any) -> str:
    """Start a search through the API; return its job id."""
    reply = client.post("/api/searches", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])
