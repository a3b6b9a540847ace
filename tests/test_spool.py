"""The on-disk host spool: hosts come back equal, re-iterably, a page rolls back, no name."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from cvesweep.models import CveId, Detection, Host, HostId, Qid, SearchOptions, SearchResult, Tag
from cvesweep.operation import released
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.server import SimulatorServer
from cvesweep.spool import FRAME_DETECTIONS, FRAME_HOSTS, HostSpool, host_from_row, host_row


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


def full_host(i: int) -> Host:
    """A host with every field set, booleans, empty and repeated values included."""
    detection = Detection(
        qid=Qid(376157 + i), type="Confirmed", severity=5, status="Active", port=443,
        protocol="tcp", ssl=True, results="Ünïcode\tand\nlines", first_found="2024-01-01T00:00:00Z",
        last_found="2024-04-01T00:00:00Z", times_found=3, last_test="t", last_update="u",
        last_fixed=None, is_ignored=False, is_disabled=False, unique_vuln_id=10**12 + i,
        cves=("CVE-2021-44228", "CVE-2021-45046"), qds=95, qds_severity="CRITICAL",
        mitre_tactic_ids=("TA0001",), mitre_tactic_names=("Initial Access",),
        mitre_technique_ids=(), mitre_technique_names=(), detection_sources=("Cloud Agent",),
        latest_detection_source="Cloud Agent",
    )  # fmt: skip
    return Host(
        id=HostId(i), ip=None, ipv6="2001:db8::1", tracking_method="AGENT", os="Linux",
        dns="", fqdn="h.example.com", netbios="H", last_scan="s", last_vm_scanned="v",
        tags=(Tag("PCI", 7), Tag("no id")), detections=(detection, detection),
    )  # fmt: skip


def test_a_row_gives_back_an_equal_host_of_the_same_types() -> None:
    original = full_host(9)
    again = host_from_row(host_row(original))
    assert again == original
    assert type(again.detections[0].ssl) is bool and type(again.detections) is tuple


@pytest.mark.parametrize("hosts", [FRAME_HOSTS - 1, FRAME_HOSTS, 2 * FRAME_HOSTS + 3])
def test_hosts_across_frames_come_back_in_order(hosts: int) -> None:
    with HostSpool() as spool:
        for i in range(hosts):
            spool.append(full_host(i))
        assert [h.id for h in spool] == list(range(hosts))
        assert [row[0] for row in spool.rows()] == list(range(hosts))
        assert (spool.hosts, spool.detections) == (hosts, 2 * hosts)


def test_a_frame_ends_early_for_a_host_with_many_detections() -> None:
    many = replace(host(1), detections=host(1).detections * (FRAME_DETECTIONS + 1))
    with HostSpool() as spool:
        spool.append(host(0))
        spool.append(many)
        spool.append(host(2))
        assert [len(h.detections) for h in spool] == [1, FRAME_DETECTIONS + 1, 1]


def test_rollback_inside_a_frame_forgets_the_unwritten_hosts() -> None:
    with HostSpool() as spool:
        for i in range(FRAME_HOSTS + 5):
            spool.append(host(i))
        mark = spool.mark()
        for i in range(1000, 1000 + FRAME_HOSTS + 7):  # one frame written, some rows pending
            spool.append(host(i))
        spool.rollback(mark)
        spool.append(host(5000))
        assert [h.id for h in spool][-2:] == [FRAME_HOSTS + 4, 5000]
        assert len(spool) == FRAME_HOSTS + 6


def test_absorb_appends_another_spool_with_its_unwritten_hosts() -> None:
    with HostSpool() as first, HostSpool() as second:
        first.append(host(1))
        for i in (2, 3):
            second.append(host(i))
        first.absorb(second)
        first.append(host(4))
        assert [h.id for h in first] == [1, 2, 3, 4]
        assert (first.hosts, first.detections) == (4, 4)


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
