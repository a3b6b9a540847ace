"""The operation end to end against the simulator: hosts found, filters sent, lists deleted."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest

from cvesweep.errors import (
    QualysAuthError,
    QualysConnectionError,
    QualysRateLimited,
    QualysRequestError,
    QualysResponseError,
    QualysServerError,
)
from cvesweep.models import CveId, Host, SearchOptions
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.client import ClientConfig, QualysClient
from cvesweep.qualys.detections import Progress
from cvesweep.simulator.knowledgebase import IG_ONLY_CVE, LOG4SHELL, NO_QID_CVE, VENDOR_EXAMPLE
from cvesweep.simulator.records import SimHost
from cvesweep.simulator.server import SimulatorServer
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim

OPEN = {"New", "Active", "Re-Opened"}


def expected_hosts(sim: Sim, cve: str) -> dict[int, set[int]]:
    """Brute force over the fleet: host id → QIDs of open, non-Info detections of ``cve``."""
    qids = set(sim.fleet.kb.qids_for_cves([cve]))
    found: dict[int, set[int]] = {}
    for index in range(sim.fleet.size):
        host: SimHost = sim.fleet.host(index)
        hits = {
            d.qid
            for d in host.detections
            if d.qid in qids and d.type != "Info" and d.status in OPEN
        }
        if hits:
            found[host.id] = hits
    return found


def run(sim: Sim, cve: str = LOG4SHELL, options: SearchOptions | None = None, **kw: object):
    kw.setdefault("max_parallel", 1)  # serial: these tests count pages and calls
    with sim.client() as client:
        result = search_vulnerable_hosts(client, CveId(cve), options, **kw)  # type: ignore[arg-type]
    hosts = list(result.hosts)
    release(result)
    return result, hosts


@pytest.mark.parametrize("cve", [LOG4SHELL, VENDOR_EXAMPLE])
def test_search_finds_exactly_the_hosts_the_fleet_has(sim: Sim, cve: str) -> None:
    expected = expected_hosts(sim, cve)
    result, hosts = run(sim, cve)
    assert expected, "the fleet must have hosts for this CVE"
    assert {h.id: {d.qid for d in h.detections} for h in hosts} == expected
    assert result.summary is not None
    assert result.summary.hosts == len(expected) == sim.fleet.host_count_for_cve(cve)
    assert result.summary.search_list_deleted
    assert sim.open_lists() == []


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_truncated_pages_follow_id_min_without_losing_or_repeating_hosts(
    sim: Sim, limit: int
) -> None:
    expected = expected_hosts(sim, LOG4SHELL)
    result, hosts = run(sim, truncation_limit=limit)
    ids = [h.id for h in hosts]
    assert ids == sorted(expected)
    assert len(ids) == len(set(ids))
    assert result.summary is not None
    pages = -(-len(expected) // limit)
    assert result.summary.pages in (pages, pages + 1)
    id_mins = [f.get("id_min") for f in sim.recorder.forms("/detection/")]
    assert id_mins[0] is None and all(i is not None for i in id_mins[1:])


@pytest.mark.parametrize("cve", [NO_QID_CVE, IG_ONLY_CVE])
def test_zero_hosts_is_success_and_the_list_is_deleted(sim: Sim, cve: str) -> None:
    result, hosts = run(sim, cve)
    assert hosts == []
    assert result.summary is not None and result.summary.search_list_deleted
    assert [f["action"] for f in sim.recorder.forms("search_list")] == ["create", "list", "delete"]
    # no QID in the list: no detection call; Info-only QIDs: one call that finds no host
    assert len(sim.recorder.forms("/detection/")) == (0 if cve == NO_QID_CVE else 1)
    assert result.summary.no_qid is (cve == NO_QID_CVE)
    assert sim.open_lists() == []


def test_the_request_sequence_is_create_read_back_detections_delete(sim: Sim) -> None:
    run(sim)
    paths = [(path.split("/")[-2], form["action"]) for path, form in sim.recorder.requests]
    assert paths == [
        ("dynamic", "create"),
        ("dynamic", "list"),
        ("detection", "list"),
        ("dynamic", "delete"),
    ]
    create = sim.recorder.forms("search_list")[0]
    assert create["cve_ids"] == LOG4SHELL and create["global"] == "1"
    assert create["title"].startswith("cvesweep CVE-2021-44228 ")
    detection = sim.recorder.forms("/detection/")[0]
    assert detection["show_tags"] == "1"
    assert detection["truncation_limit"] == "1000"


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        (
            SearchOptions(ips=("10.0.0.1", "10.0.0.5-10.0.0.9")),
            {"ips": "10.0.0.1,10.0.0.5-10.0.0.9"},
        ),
        (SearchOptions(min_severity=4), {"severities": "4-5"}),
        (SearchOptions(asset_groups=("DMZ", "Servers")), {"ag_titles": "DMZ,Servers"}),
        (SearchOptions(asset_groups=("12", "34")), {"ag_ids": "12,34"}),
        (
            SearchOptions(since=datetime(2020, 4, 1, 17, 35, tzinfo=UTC)),
            {"detection_last_tested_since": "2020-04-01T17:35:00Z"},
        ),
    ],
)
def test_each_option_maps_to_its_qualys_parameter(
    sim: Sim, options: SearchOptions, sent: dict[str, str]
) -> None:
    with contextlib.suppress(QualysRequestError):  # e.g. unknown asset group ids
        run(sim, options=options)
    detection = sim.recorder.forms("/detection/")[0]
    for key, value in sent.items():
        assert detection[key] == value
    assert sim.open_lists() == []


def test_min_severity_keeps_only_severe_detections(sim: Sim) -> None:
    _, hosts = run(sim, options=SearchOptions(min_severity=4))
    assert hosts
    assert all(d.severity is not None and d.severity >= 4 for h in hosts for d in h.detections)


def test_since_filters_exactly_on_last_found_client_side(sim: Sim) -> None:
    _, everything = run(sim)
    founds = sorted(d.last_found for h in everything for d in h.detections if d.last_found)
    middle = founds[len(founds) // 2]
    since = datetime.strptime(middle, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    _, hosts = run(sim, options=SearchOptions(since=since))
    kept = [d.last_found for h in hosts for d in h.detections]
    assert kept and all(found is not None and found >= middle for found in kept)
    assert len(kept) == sum(1 for f in founds if f >= middle)


def test_qids_are_deduplicated_per_host(sim: Sim) -> None:
    _, hosts = run(sim)
    for host in hosts:
        qids = [d.qid for d in host.detections]
        assert qids == sorted(set(qids))
    assert any(len(h.detections) > 1 for h in hosts), "fleet should have multi-QID hosts"


def test_progress_reports_pages_and_hosts(sim: Sim) -> None:
    seen: list[Progress] = []
    result, hosts = run(sim, truncation_limit=10, progress=seen.append)
    assert seen[-1].hosts == len(hosts)
    assert seen[-1].pages == result.summary.pages  # type: ignore[union-attr]
    assert [p.pages for p in seen] == sorted(p.pages for p in seen)


# --- every failure path leaves no search list behind ------------------------------------------


def test_a_detection_error_raises_and_deletes_the_list(sim: Sim) -> None:
    with pytest.raises(QualysRequestError) as caught:
        run(sim, options=SearchOptions(ips=("10.0.0.9-10.0.0.1",)))
    assert caught.value.code == 1905
    assert "detection" in str(caught.value)
    assert sim.open_lists() == []


def test_5xx_after_retries_is_a_server_error_and_deletes_the_list(sim: Sim) -> None:
    sim.set_faults(error_rate=1.0, error_endpoint="detection")
    with pytest.raises(QualysServerError):
        run(sim)
    assert len(sim.recorder.forms("/detection/")) == 4
    assert len(sim.clock.sleeps) == 3
    assert sim.open_lists() == []


def test_transient_5xx_is_retried_to_success(sim: Sim) -> None:
    sim.set_faults(error_rate=1.0, error_endpoint="detection", error_times=2)
    result, hosts = run(sim)
    assert hosts and result.summary is not None
    assert len(sim.recorder.forms("/detection/")) == 3
    assert sim.open_lists() == []


def live_run(live: tuple[Sim, SimulatorServer]) -> list[Host]:
    """Search over a real loopback socket (a dropped connection needs a real one)."""
    sim, server = live
    config = ClientConfig(base_url=server.url, username=SIM_USER, password=SIM_PASSWORD)
    with QualysClient(config, sleep=sim.clock.sleep) as client:
        result = search_vulnerable_hosts(client, CveId(LOG4SHELL))
    hosts = list(result.hosts)
    release(result)
    return hosts


def test_a_dropped_connection_mid_body_is_retried_without_duplicates(
    live_sim: tuple[Sim, SimulatorServer],
) -> None:
    sim, _ = live_sim
    expected = expected_hosts(sim, LOG4SHELL)
    sim.set_faults(drop_after_bytes=3000, drop_times=1)
    hosts = live_run(live_sim)
    assert [h.id for h in hosts] == sorted(expected)
    assert len(sim.recorder.forms("/detection/")) == 2


def test_a_connection_that_keeps_dropping_fails_and_deletes_the_list(
    live_sim: tuple[Sim, SimulatorServer],
) -> None:
    sim, _ = live_sim
    sim.set_faults(drop_after_bytes=3000)
    with pytest.raises(QualysConnectionError) as caught:
        live_run(live_sim)
    assert caught.value.exit_code == 4
    assert len(sim.recorder.forms("/detection/")) == 4
    assert sim.open_lists() == []


def test_malformed_xml_is_an_error_never_a_partial_result(sim: Sim) -> None:
    sim.set_faults(malformed_xml=True)
    with pytest.raises(QualysResponseError):
        run(sim)
    assert sim.open_lists() == []


def test_a_bad_password_is_an_auth_error_and_creates_nothing(sim: Sim) -> None:
    with sim.client(password="wrong") as client, pytest.raises(QualysAuthError) as caught:
        search_vulnerable_hosts(client, CveId(LOG4SHELL))
    assert caught.value.code == 2000 and caught.value.http_status == 401
    assert sim.open_lists() == []
    assert len(sim.recorder.requests) == 1  # a 401 is never retried


def test_ctrl_c_during_paging_deletes_the_list(sim: Sim) -> None:
    def interrupt(progress: Progress) -> None:
        if progress.pages >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(sim, truncation_limit=5, progress=interrupt)
    assert sim.open_lists() == []
    assert sim.recorder.forms("search_list")[-1]["action"] == "delete"


def test_rate_limit_waits_the_advertised_seconds_then_succeeds(make_sim) -> None:  # type: ignore[no-untyped-def]
    from cvesweep.simulator.faults import Faults

    sim = make_sim(faults=Faults(rate_limit=2, rate_window_sec=60))
    result, hosts = run(sim)
    assert hosts and result.summary is not None and result.summary.search_list_deleted
    assert sim.clock.sleeps and all(1 <= s <= 60 for s in sim.clock.sleeps)
    assert sim.open_lists() == []


def test_rate_limit_beyond_the_wait_budget_fails_with_exit_3(make_sim) -> None:  # type: ignore[no-untyped-def]
    from cvesweep.simulator.faults import Faults

    sim = make_sim(faults=Faults(rate_limit=1, rate_window_sec=3600))
    with sim.client(wait_budget=10) as client, pytest.raises(QualysRateLimited) as caught:
        search_vulnerable_hosts(client, CveId(LOG4SHELL))
    assert caught.value.code == 1965 and caught.value.exit_code == 3
    assert sum(sim.clock.sleeps) <= 10


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_any_base_exception_while_paging_still_deletes_the_list(
    sim: Sim, error: BaseException
) -> None:
    def stop(progress: Progress) -> None:
        if progress.pages >= 1:
            raise error

    with pytest.raises(type(error)):
        run(sim, truncation_limit=5, progress=stop)
    assert sim.open_lists() == []
    assert [f["action"] for f in sim.recorder.forms("search_list")][-1] == "delete"


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://127.0.0.1:{port}/api/5.0/"])
def test_a_create_that_never_reached_qualys_warns_of_no_leftover_list(
    url: str, caplog: pytest.LogCaptureFixture, live_sim: tuple[Sim, SimulatorServer]
) -> None:
    """Refused connections and non-Qualys URLs made no list: no 'may be left' warning."""
    _, server = live_sim
    config = ClientConfig(
        base_url=url.format(port=server.port), username=SIM_USER, password=SIM_PASSWORD,
        retries=1,
    )  # fmt: skip
    with (
        QualysClient(config) as client,
        pytest.raises((QualysConnectionError, QualysResponseError)),
    ):
        search_vulnerable_hosts(client, CveId(LOG4SHELL), max_parallel=1)
    assert "may be left" not in caplog.text
