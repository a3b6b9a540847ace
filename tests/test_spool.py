"""The on-disk host spool: hosts come back equal, re-iterably, a page rolls back, no name."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cvesweep.models import CveId, Detection, Host, HostId, Qid, SearchOptions, SearchResult, Tag
from cvesweep.operation import released
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.server import SimulatorServer
from cvesweep.spool import HostSpool


def host(i: int) -> Host:
    return Host(
        id=HostId(i), ip=f"10.0.0.{i}", ipv6=None, os="Linux", tags=(Tag("PCI", 7),),
        detections=(Detection(qid=Qid(376157), type="Confirmed", severity=5, status="New"),),
    )  # fmt: skip


def test_models_pickle_to_equal_values() -> None:
    original = host(3)
    assert pickle.loads(pickle.dumps(original)) == original  # noqa: S301 (our own bytes)
    assert pickle.loads(pickle.dumps(original.detections[0])) == original.detections[0]  # noqa: S301


def test_hosts_come_back_in_order_and_can_be_read_twice() -> None:
    with HostSpool() as spool:
        for i in range(1, 6):
            spool.append(host(i))
        assert [h.id for h in spool] == [1, 2, 3, 4, 5]
        assert list(spool) == [host(i) for i in range(1, 6)]
        assert (spool.hosts, spool.detections) == (5, 5)


def test_rollback_forgets_a_failed_page() -> None:
    with HostSpool() as spool:
        spool.append(host(1))
        mark = spool.mark()
        spool.append(host(2))
        spool.append(host(3))
        spool.rollback(mark)
        spool.append(host(4))
        assert [h.id for h in spool] == [1, 4]
        assert len(spool) == 2


def test_the_spool_has_no_name_in_its_directory(tmp_path: Path) -> None:
    with HostSpool(str(tmp_path)) as spool:
        spool.append(host(1))
        assert list(tmp_path.iterdir()) == []  # nothing another process could open or delete
        assert [h.id for h in spool] == [1]
    assert list(tmp_path.iterdir()) == []


def test_reading_does_not_move_the_writer(tmp_path: Path) -> None:
    with HostSpool(str(tmp_path)) as spool:
        spool.append(host(1))
        reader = iter(spool)
        assert next(reader).id == 1
        spool.append(host(2))  # appended while a reader is open: lands at the end
        assert [h.id for h in spool] == [1, 2]


def test_a_failed_release_never_hides_the_error_that_caused_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenSpool(HostSpool):
        def close(self) -> None:
            super().close()
            raise OSError("spool vanished")

    result = SearchResult(cve=CveId("CVE-2021-44228"), options=SearchOptions(), hosts=BrokenSpool())
    with pytest.raises(RuntimeError, match="the real failure"), released(result):
        raise RuntimeError("the real failure")
    assert "spool vanished" in caplog.text


def test_a_search_killed_with_sigkill_leaves_no_spool_file(tmp_path: Path) -> None:
    """A real ``cvesweep search`` process, killed mid-paging, leaves its TMPDIR empty."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    app = SimulatorApp(Fleet(seed=7, size=3000), faults=Faults(host_latency=0.002))
    with SimulatorServer(app, port=0) as server:
        env = {**os.environ, "TMPDIR": str(spool_dir), "CVESWEEP_QUALYS_PASSWORD": DEFAULT_PASSWORD}
        process = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "search", "CVE-2021-44228", "--url", server.url,
             "--username", DEFAULT_USERNAME, "--no-store", "--truncation-limit", "50",
             "--format", "json"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while _detection_calls(server.url) < 3:  # paging: the spool holds hosts by now
                assert process.poll() is None, "the search ended before it could be killed"
                assert time.monotonic() < deadline, "the search never reached its third page"
                time.sleep(0.05)
            assert list(spool_dir.iterdir()) == []  # running, yet nothing named on disk
            process.kill()
            assert process.wait(10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert list(spool_dir.iterdir()) == []


def _detection_calls(url: str) -> int:
    state = httpx.get(f"{url}/_sim/state").json()
    return int(state["calls"].get("detection", 0))


def test_positions_give_each_host_back_by_read_at_in_any_order() -> None:
    """A sweep indexes hosts per CVE by position and reads them back (sweep.SweepResult)."""
    with HostSpool() as spool:
        for i in range(1, 700):  # several frames
            spool.append(host(i))
        found = list(spool.positions())
        assert [h.id for _, h in found] == list(range(1, 700))
        for position, expected in found[::-41] + found[::97]:
            assert spool.read_at(position) == expected
