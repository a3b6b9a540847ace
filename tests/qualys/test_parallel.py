"""Parallel detection pulls: id ranges from host list 5.0, the same bytes as a serial pull."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from cvesweep.errors import QualysServerError
from cvesweep.export import OutputFormat, write_result
from cvesweep.models import CveId, SearchMethod
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.client import ClientConfig, QualysClient
from cvesweep.qualys.detections import Progress
from cvesweep.qualys.parallel import id_ranges
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.knowledgebase import LOG4SHELL
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim


def client_of(sim: Sim) -> QualysClient:
    """A client on the simulator's fake clock (the gate and the rate window share it)."""
    config = ClientConfig(base_url="http://qualys.test", username=SIM_USER, password=SIM_PASSWORD)
    return QualysClient(
        config,
        transport=httpx.WSGITransport(app=sim.recorder),
        sleep=sim.clock.sleep,
        clock=sim.clock,
    )


def pull(sim: Sim, *, max_parallel: int | None, method: SearchMethod = SearchMethod.SEARCH_LIST,
         **kw: Any) -> tuple[str, Any]:  # fmt: skip
    with client_of(sim) as client:
        result = search_vulnerable_hosts(
            client, CveId(LOG4SHELL), method=method, max_parallel=max_parallel,
            truncation_limit=25, **kw,
        )  # fmt: skip
    stream = io.StringIO()
    write_result(result, OutputFormat.CSV, stream)
    release(result)
    return stream.getvalue(), result.summary


def host_list_forms(sim: Sim) -> list[dict[str, str]]:
    return [form for path, form in sim.recorder.requests if path == "/api/5.0/fo/asset/host/"]


@pytest.mark.parametrize(
    ("ids", "parts", "expected"),
    [
        ([1, 2, 3, 4], 2, [(None, 2), (3, None)]),
        ([5, 9, 20, 21, 40, 41], 3, [(None, 19), (20, 39), (40, None)]),
        ([7], 4, [(None, None)]),
        ([1, 2, 3], 1, [(None, None)]),
    ],
)
def test_id_ranges_cover_every_id_with_equal_counts(
    ids: list[int], parts: int, expected: list[tuple[int | None, int | None]]
) -> None:
    assert id_ranges(ids, parts) == expected


@pytest.mark.parametrize("method", list(SearchMethod))
def test_parallel_and_serial_pulls_give_identical_bytes(make_sim, method: SearchMethod) -> None:
    sim = make_sim(size=3000, seed=5)
    serial, serial_summary = pull(sim, max_parallel=1, method=method)
    parallel, summary = pull(sim, max_parallel=4, method=method)
    assert serial.count("\n") > 100 and parallel == serial
    assert (summary.hosts, summary.qids) == (serial_summary.hosts, serial_summary.qids)
    ranged = [f for f in sim.recorder.forms("detection/") if "id_max" in f or "id_min" in f]
    assert ranged, "the parallel pull must have used id ranges"
    assert sim.open_lists() == []


def test_the_host_list_is_asked_with_the_same_host_filters(make_sim) -> None:
    from cvesweep.models import SearchOptions

    sim = make_sim(size=3000, seed=5)
    groups = tuple(str(g.id) for g in sim.fleet.asset_groups[:2])
    pull(sim, max_parallel=4, options=SearchOptions(asset_groups=groups))
    (hosts,) = host_list_forms(sim)
    assert (hosts["details"], hosts["ag_ids"]) == ("None", ",".join(groups))


def test_the_concurrency_limit_caps_the_calls_in_flight(make_sim) -> None:
    sim = make_sim(size=3000, seed=5, faults=Faults(concurrency_limit=3))
    serial, _ = pull(sim, max_parallel=1)
    parallel, _ = pull(sim, max_parallel=8)  # capped to limit - 1 = 2 workers
    assert parallel == serial
    assert sim.state()["concurrency"]["blocked"] == 0  # never more calls than allowed


def test_a_concurrency_limit_of_two_means_serial_with_no_host_list_call(make_sim) -> None:
    sim = make_sim(size=3000, seed=5, faults=Faults(concurrency_limit=2))
    pull(sim, max_parallel=None)
    assert not host_list_forms(sim)
    assert all("id_max" not in f for f in sim.recorder.forms("detection/"))


def test_rate_limit_refusals_pause_every_worker(make_sim) -> None:
    sim = make_sim(size=3000, seed=5, faults=Faults(rate_limit=3, rate_window_sec=60))
    serial, _ = pull(make_sim(size=3000, seed=5), max_parallel=1)
    parallel, summary = pull(sim, max_parallel=4)
    assert parallel == serial
    refused = sim.state()["rate_limit"]["blocked"]
    windows = -(-summary.pages // 3)  # detection calls per 60 s window: 3
    assert 2 <= refused <= windows + 1  # about one refusal per window, never one per worker


def test_a_range_failing_once_is_retried_alone(make_sim) -> None:
    sim = make_sim(size=3000, seed=5)
    serial, _ = pull(sim, max_parallel=1)
    sim.set_faults(error_rate=1.0, error_endpoint="detection", error_times=4)
    parallel, _ = pull(sim, max_parallel=4)
    assert parallel == serial
    assert sim.open_lists() == []


def test_a_range_that_keeps_failing_fails_the_run_and_the_list_is_deleted(make_sim) -> None:
    sim = make_sim(size=3000, seed=5)
    sim.set_faults(error_rate=1.0, error_endpoint="detection", error_status=500)
    with pytest.raises(QualysServerError):
        pull(sim, max_parallel=4)
    assert sim.open_lists() == []


def test_an_error_raised_by_the_progress_callback_stops_every_range(make_sim) -> None:
    sim = make_sim(size=3000, seed=5)

    class Stop(Exception):
        pass

    def progress(state: Progress) -> None:
        if state.hosts > 50:
            raise Stop

    with pytest.raises(Stop):
        pull(sim, max_parallel=4, progress=progress)
    assert sim.open_lists() == []
