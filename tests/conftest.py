"""Shared fixtures: paths to the real Qualys samples (inside the repository), the simulator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# the library backends (SQLite, PostgreSQL) of the library, CLI-library and web tests
pytest_plugins = ("tests.backends",)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "data" / "qualys-samples"

# --- the suite reads nothing outside the repository ------------------------------------------
# A developer's checkout has a ``shared/`` folder beside it; a user's clone does not. Every
# file opened or listed under that sibling is recorded by an audit hook, and the session fails
# if there is any, so a test that depends on it fails here too, not only on a user's machine.
OUTSIDE = ROOT.parent.joinpath("shared")  # watched, never read
OUTSIDE_READS: list[str] = []


def outside_path(event: str, args: tuple[object, ...]) -> str | None:
    """The path an audited ``open``/``os.listdir``/``os.scandir`` event names under OUTSIDE."""
    if event not in {"open", "os.listdir", "os.scandir"} or not args:
        return None
    target = args[0]
    if not isinstance(target, str | bytes | os.PathLike):
        return None  # a descriptor
    path = os.path.abspath(os.fsdecode(target))
    inside = path == str(OUTSIDE) or path.startswith(str(OUTSIDE) + os.sep)
    return path if inside else None


def _audit(event: str, args: tuple[object, ...]) -> None:
    path = outside_path(event, args)
    if path is not None:
        OUTSIDE_READS.append(path)


sys.addaudithook(_audit)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if OUTSIDE_READS:
        print(f"\ntests read outside the repository: {sorted(set(OUTSIDE_READS))[:5]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The directory of real Qualys replies (tests/data/qualys-samples; see its SOURCES.md)."""
    if not SAMPLES.is_dir():
        pytest.fail(f"real Qualys samples not found at {SAMPLES}")
    return SAMPLES


# --- the simulator, in-process and on a real loopback socket --------------------------------

import json  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

import httpx  # noqa: E402

from cvesweep.qualys.client import ClientConfig, QualysClient  # noqa: E402
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp  # noqa: E402
from cvesweep.simulator.faults import Faults  # noqa: E402
from cvesweep.simulator.fleet import Fleet  # noqa: E402
from cvesweep.simulator.server import SimulatorServer  # noqa: E402

SIM_USER, SIM_PASSWORD = DEFAULT_USERNAME, DEFAULT_PASSWORD


class RecordingApp:
    """Wraps the real simulator app and records the form each API request carried."""

    def __init__(self, app: SimulatorApp) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_sim"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            import io

            environ["wsgi.input"] = io.BytesIO(body)
            form = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            form.update(parse_qsl(body.decode("utf-8", "replace")))
            with self._lock:
                self.requests.append((path, form))
        return self.app(environ, start_response)

    def forms(self, path_part: str) -> list[dict[str, str]]:
        """The forms of recorded requests whose path contains ``path_part``."""
        return [form for path, form in self.requests if path_part in path]


class FakeClock:
    """A clock the client's sleep advances, shared with the simulator's rate window."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Sim:
    """A simulator app with its fleet, a recorder and helpers to build clients and read state."""

    def __init__(
        self, size: int, seed: int, faults: Faults | None, clock: FakeClock, real_time: bool
    ) -> None:
        self.fleet = Fleet(seed=seed, size=size)
        self.clock = clock
        if real_time:  # the simulator really sleeps (latency faults) and uses the real clock
            self.app = SimulatorApp(self.fleet, faults=faults)
        else:
            self.app = SimulatorApp(self.fleet, faults=faults, clock=clock, sleep=clock.sleep)
        self.recorder = RecordingApp(self.app)

    def client(
        self,
        *,
        retries: int = 4,
        wait_budget: float = 300.0,
        password: str = SIM_PASSWORD,
        base_url: str = "http://qualys.test",
    ) -> QualysClient:
        config = ClientConfig(
            base_url=base_url,
            username=SIM_USER,
            password=password,
            retries=retries,
            wait_budget=wait_budget,
        )
        return QualysClient(
            config, transport=httpx.WSGITransport(app=self.recorder), sleep=self.clock.sleep
        )

    def state(self) -> dict[str, Any]:
        with httpx.Client(
            transport=httpx.WSGITransport(app=self.app), base_url="http://qualys.test"
        ) as http:
            return json.loads(http.get("/_sim/state").content)

    def set_faults(self, **changes: Any) -> None:
        with httpx.Client(
            transport=httpx.WSGITransport(app=self.app), base_url="http://qualys.test"
        ) as http:
            reply = http.post("/_sim/faults", json=changes)
            assert reply.status_code == 200, reply.text

    def open_lists(self) -> list[dict[str, Any]]:
        return list(self.state()["search_lists"])


@pytest.fixture
def make_sim() -> Callable[..., Sim]:
    """Factory: ``make_sim(size=300, seed=7, faults=None, real_time=False)`` → a simulator."""

    def make(
        size: int = 300, seed: int = 7, faults: Faults | None = None, real_time: bool = False
    ) -> Sim:
        return Sim(size, seed, faults, FakeClock(), real_time)

    return make


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    """A fresh in-process simulator of 300 hosts."""
    return make_sim()


@pytest.fixture
def live_sim(make_sim: Callable[..., Sim]) -> Iterator[tuple[Sim, SimulatorServer]]:
    """A simulator of 300 hosts served on a real 127.0.0.1 socket (recording requests)."""
    simulator = make_sim()
    with SimulatorServer(simulator.recorder, port=0) as server:
        yield simulator, server


@pytest.fixture(autouse=True)
def _private_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point the user config and data directories at temporary ones for every test, so no
    test reads the developer's config or writes to their library."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    for name in (
        "CVESWEEP_DB",
        "CVESWEEP_QUALYS_URL",
        "CVESWEEP_QUALYS_USERNAME",
        "CVESWEEP_QUALYS_PASSWORD",
        "CVESWEEP_QUALYS_CLIENT_ID",
        "CVESWEEP_QUALYS_CLIENT_SECRET",
        "CVESWEEP_WEB_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
