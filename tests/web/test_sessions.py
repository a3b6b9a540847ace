"""Web sessions: server-side, expiring, revoked on sign-out; wrong tokens throttled per client.

Time is a fake clock handed to the app: no test sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from typer.testing import CliRunner

import cvesweep.cli.main  # noqa: F401  (registers every command, serve included)
from cvesweep.cli.main import app as cli
from cvesweep.web import create_app
from cvesweep.web.security import SESSION_COOKIE
from cvesweep.web.sessions import (
    FREE_FAILURES,
    MAX_DELAY_S,
    SESSION_LIFETIME_S,
    SessionStore,
    Throttle,
)
from tests.web.conftest import TOKEN, Qualys, WebClient, settings_for

WRONG = "wrong-token-0123456789abcdef"


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Connect = Callable[..., WebClient]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connect(qualys: Qualys, library_url: str, clock: FakeClock) -> Iterator[Connect]:
    """``connect(address)``: a client, seen from ``address``, of one app that requires TOKEN."""
    app = create_app(lambda: settings_for(qualys.url), library_url, token=TOKEN, clock=clock)
    owner = WebClient(app)
    clients = [owner]

    def make(address: str = "10.0.0.1") -> WebClient:
        client = WebClient(app, lifespan=False)
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client.http = httpx.AsyncClient(transport=transport, base_url=str(owner.http.base_url))
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.close()


def sign_in(client: WebClient, token: str = TOKEN) -> httpx.Response:
    return client.submit("/login", {"token": token, "next": "/runs"})


def test_signing_in_sets_an_expiring_httponly_cookie_holding_no_token(connect: Connect) -> None:
    client = connect()
    reply = sign_in(client)
    assert reply.status_code == 303
    cookie = next(
        value for name, value in reply.headers.multi_items() if value.startswith(SESSION_COOKIE)
    ).lower()
    assert f"max-age={SESSION_LIFETIME_S}" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    session = client.http.cookies[SESSION_COOKIE]
    assert TOKEN not in session and len(session) >= 40
    assert client.get("/runs").status_code == 200


def test_sign_out_revokes_the_session_even_for_a_copy_of_the_cookie(connect: Connect) -> None:
    client, thief = connect(), connect()
    sign_in(client)
    stolen = client.http.cookies[SESSION_COOKIE]
    thief.http.cookies.set(SESSION_COOKIE, stolen)
    assert thief.get("/api/cves").status_code == 200  # the copy works while the session lives
    assert client.submit("/logout").status_code == 303
    assert client.get("/runs").status_code == 303
    assert thief.get("/api/cves").status_code == 401
    assert thief.get("/runs").headers["location"].startswith("/login")


def test_a_session_ends_after_its_lifetime(connect: Connect, clock: FakeClock) -> None:
    client = connect()
    sign_in(client)
    clock.advance(SESSION_LIFETIME_S - 1)
    assert client.get("/api/cves").status_code == 200
    clock.advance(1)
    assert client.get("/api/cves").status_code == 401


def test_a_made_up_session_cookie_opens_nothing(connect: Connect) -> None:
    client = connect()
    client.http.cookies.set(SESSION_COOKIE, "x" * 43)
    assert client.get("/api/cves").status_code == 401


def test_signing_in_again_replaces_the_old_session(connect: Connect) -> None:
    client, other = connect(), connect()
    sign_in(client)
    first = client.http.cookies[SESSION_COOKIE]
    sign_in(client)
    assert client.http.cookies[SESSION_COOKIE] != first
    other.http.cookies.set(SESSION_COOKIE, first)
    assert other.get("/api/cves").status_code == 401


def test_wrong_tokens_on_login_are_throttled_exponentially(
    connect: Connect, clock: FakeClock
) -> None:
    client = connect()
    for _ in range(FREE_FAILURES):
        assert sign_in(client, WRONG).status_code == 401
    refused = sign_in(client, TOKEN)  # even the right token is not checked now
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert 'id="throttled"' in refused.text
    assert SESSION_COOKIE not in client.http.cookies
    clock.advance(1)
    assert sign_in(client, WRONG).status_code == 401  # the sixth failure: 2 s now
    assert sign_in(client, TOKEN).headers["retry-after"] == "2"
    clock.advance(2)
    assert sign_in(client, WRONG).status_code == 401
    assert sign_in(client, TOKEN).headers["retry-after"] == "4"
    clock.advance(4)
    assert sign_in(client, TOKEN).status_code == 303
    client.submit("/logout")
    for _ in range(FREE_FAILURES):  # a right token forgot the failures
        assert sign_in(client, WRONG).status_code == 401


def test_wrong_bearer_tokens_are_throttled_too(connect: Connect, clock: FakeClock) -> None:
    client = connect()
    wrong, right = {"Authorization": f"Bearer {WRONG}"}, {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(FREE_FAILURES):
        assert client.get("/api/cves", headers=wrong).status_code == 401
    refused = client.get("/api/cves", headers=right)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["status"] == 429
    clock.advance(1)
    assert client.get("/api/cves", headers=right).status_code == 200


def test_the_throttle_is_per_client_address(connect: Connect) -> None:
    attacker, colleague = connect("10.0.0.66"), connect("10.0.0.7")
    for _ in range(FREE_FAILURES + 1):
        sign_in(attacker, WRONG)
    assert sign_in(attacker, TOKEN).status_code == 429
    assert sign_in(colleague, TOKEN).status_code == 303


def test_a_request_without_any_token_is_not_counted(connect: Connect) -> None:
    client = connect()
    for _ in range(FREE_FAILURES * 3):
        assert client.get("/api/cves").status_code == 401
    assert client.get("/api/cves", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_delay_doubles_up_to_its_cap() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    delays = []
    for _ in range(FREE_FAILURES + 12):
        throttle.failed("c")
        delays.append(throttle.wait_left("c"))
    assert delays[: FREE_FAILURES - 1] == [0.0] * (FREE_FAILURES - 1)
    assert delays[FREE_FAILURES - 1 : FREE_FAILURES + 4] == [1, 2, 4, 8, 16]
    assert delays[-1] == MAX_DELAY_S


def test_failures_are_forgotten_after_an_hour() -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    for _ in range(FREE_FAILURES + 3):
        throttle.failed("c")
    clock.advance(3601)
    throttle.failed("c")
    assert throttle.wait_left("c") == 0.0


def test_the_throttle_remembers_a_bounded_number_of_clients() -> None:
    throttle = Throttle(max_clients=3, clock=FakeClock())
    for client in ("a", "b", "c", "d"):
        for _ in range(FREE_FAILURES):
            throttle.failed(client)
    assert throttle.wait_left("a") == 0.0  # forgotten: the oldest
    assert throttle.wait_left("d") > 0


def test_the_session_store_is_bounded() -> None:
    clock = FakeClock()
    store = SessionStore(max_sessions=3, clock=clock)
    ids = []
    for _ in range(5):
        ids.append(store.create())
        clock.advance(1)
    assert len(store) == 3
    assert [store.is_live(i) for i in ids] == [False, False, True, True, True]


def test_expired_sessions_are_dropped() -> None:
    clock = FakeClock()
    store = SessionStore(lifetime=10, clock=clock)
    for _ in range(50):
        store.create()
    clock.advance(10)
    assert len(store) == 0


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--token", "   "], {}), (["--token", ""], {}), ([], {"CVESWEEP_WEB_TOKEN": "   "}),
     (["--host", "10.1.2.3", "--token", "\t "], {})],
)  # fmt: skip
def test_a_blank_token_is_refused_with_one_line_and_exit_2(
    args: list[str], env: dict[str, str]
) -> None:
    result = CliRunner().invoke(cli, ["serve", *args], env={"COLUMNS": "200", **env})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert "--token" in lines[0] and "blank" in lines[0]
