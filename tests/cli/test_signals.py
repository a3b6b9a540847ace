"""SIGTERM and SIGINT at each moment of a real ``cvesweep search`` process: the list goes.

Moments: the create reply in flight (the list exists, its id not yet read), paging, and the
delete being retried after a 503. The simulator's open lists are the judge; the run record and
stderr say what happened when the delete could not be done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cvesweep.library import Library
from cvesweep.library.queries import runs
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim

SIGNALS = [signal.SIGTERM, signal.SIGINT]


class Run:
    """One ``cvesweep search`` subprocess against a live simulator, storing in ``db``."""

    def __init__(self, sim: Sim, server: SimulatorServer, tmp_path: Path) -> None:
        self.sim, self.server = sim, server
        self.db = tmp_path / "library.db"
        config = tmp_path / "config.toml"
        config.write_text("")
        env = {
            **os.environ,
            "CVESWEEP_QUALYS_URL": server.url,
            "CVESWEEP_QUALYS_USERNAME": SIM_USER,
            "CVESWEEP_QUALYS_PASSWORD": SIM_PASSWORD,
            "NO_COLOR": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(config),
             "--db", str(self.db), "--truncation-limit", "20", "--format", "json"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def wait_until(self, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while not condition(self.sim.state()):
            assert self.process.poll() is None, f"the search ended before {what}"
            assert time.monotonic() < deadline, f"never reached: {what}"
            time.sleep(0.02)

    def stop(self, signum: int) -> str:
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 130, err
        return err

    def last_run(self) -> Any:
        library = Library.open(f"sqlite:///{self.db}")
        try:
            (run,) = runs(library.engine)
        finally:
            library.close()
        return run


@pytest.fixture
def live(make_sim: Callable[..., Sim], tmp_path: Path) -> Iterator[Callable[[Faults], Run]]:
    servers: list[SimulatorServer] = []
    runs: list[Run] = []

    def start(faults: Faults) -> Run:
        sim = make_sim(size=600, faults=faults, real_time=True)
        server = SimulatorServer(sim.app, port=0).start()
        servers.append(server)
        runs.append(Run(sim, server, tmp_path))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(10)
    for server in servers:
        server.stop()


def _actions(state: dict[str, Any], name: str) -> int:
    return int(state["actions"].get(name, 0))


def _set_faults(run: Run, **changes: Any) -> None:
    reply = httpx.post(f"{run.server.url}/_sim/faults", json=changes)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_create_reply_is_in_flight_still_deletes_the_list(
    live: Callable[[Faults], Run], signum: int
) -> None:
    run = live(Faults(reply_latency=30.0, latency_endpoint="search_list"))
    run.wait_until(lambda s: bool(s["search_lists"]), "the list was created")
    _set_faults(run, reply_latency=0.0)  # the create reply itself stays held back
    err = run.stop(signum)
    assert run.sim.open_lists() == [], err
    assert _actions(run.sim.state(), "search_list.delete") == 1
    assert run.last_run().outcome == "interrupted"


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_paging_deletes_the_list(live: Callable[[Faults], Run], signum: int) -> None:
    run = live(Faults(host_latency=0.02))
    run.wait_until(lambda s: _actions(s, "detection.list") >= 2, "the second page")
    err = run.stop(signum)
    assert run.sim.open_lists() == [], err
    recorded = run.last_run()
    assert (recorded.outcome, recorded.search_list_deleted) == ("interrupted", True)
    assert "was deleted" in err


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_the_delete_is_retried_makes_one_last_try(
    live: Callable[[Faults], Run], signum: int
) -> None:
    run = live(Faults(host_latency=0.02))
    run.wait_until(lambda s: _actions(s, "detection.list") >= 1, "paging")
    # the next search-list call (the delete) fails once with 503; the client backs off
    _set_faults(run, host_latency=0.0, error_rate=1.0, error_endpoint="search_list", error_times=1)
    run.wait_until(lambda s: _actions(s, "search_list.delete") >= 1, "a refused delete")
    err = run.stop(signum)
    assert _actions(run.sim.state(), "search_list.delete") == 2  # the last, immediate try
    assert run.sim.open_lists() == [], err


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_a_list_that_cannot_be_deleted_is_named_on_stderr_and_in_the_run(
    live: Callable[[Faults], Run], signum: int
) -> None:
    run = live(Faults(host_latency=0.02))
    run.wait_until(lambda s: _actions(s, "detection.list") >= 1, "paging")
    _set_faults(run, host_latency=0.0, error_rate=1.0, error_endpoint="search_list")
    run.wait_until(lambda s: _actions(s, "search_list.delete") >= 1, "a refused delete")
    err = run.stop(signum)
    (left,) = run.sim.open_lists()
    assert f"search list {left['id']}" in err and "cvesweep cleanup" in err
    recorded = run.last_run()
    assert recorded.outcome == "interrupted" and not recorded.search_list_deleted
    assert recorded.search_list_id == left["id"]
    assert "not deleted" in (recorded.error or "")


def test_a_second_signal_does_not_stop_the_clean_up_of_a_list_created_in_flight(
    live: Callable[[Faults], Run],
) -> None:
    run = live(Faults(reply_latency=2.0, latency_endpoint="search_list"))
    run.wait_until(lambda s: bool(s["search_lists"]), "the list was created")
    run.process.send_signal(signal.SIGINT)  # its clean-up (list, then delete) takes ~4 s
    time.sleep(0.8)  # under way: the second signal must wait for it
    run.process.send_signal(signal.SIGTERM)
    _, err = run.process.communicate(timeout=60)
    assert run.process.returncode == 130, err  # never ended by the second signal (143)
    assert run.sim.open_lists() == [], err


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_signals_during_the_wind_down_end_it_as_interrupted_and_recorded(
    live: Callable[[Faults], Run], signum: int
) -> None:
    run = live(Faults(host_latency=0.02))
    run.wait_until(lambda s: _actions(s, "detection.list") >= 1, "paging")
    run.process.send_signal(signal.SIGTERM)  # the first stops the pull and deletes the list
    deadline = time.monotonic() + 30
    while run.sim.open_lists() and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.05)  # the delete's reply read: the lists are deleted, as far as it knows
    sent = 1
    while run.process.poll() is None and time.monotonic() < deadline:
        # more keep coming while it records the run, closes the library and exits
        time.sleep(0.002)
        try:
            run.process.send_signal(signum)
        except ProcessLookupError:  # pragma: no cover - it just ended
            break
        sent += 1
    _, err = run.process.communicate(timeout=60)
    assert sent > 2, err
    assert run.process.returncode == 130, err
    assert run.sim.open_lists() == [], err
    recorded = run.last_run()
    assert (recorded.outcome, recorded.search_list_deleted) == ("interrupted", True), err
