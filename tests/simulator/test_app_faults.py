"""Limits (409 1960/1965), faults (5xx, drops, malformed XML, latency) and control endpoints."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.protocol import DropConnection

from .conftest import DETECTION, KB, make_client, parse

LIST_ALL = {"action": "list", "truncation_limit": "0", "show_igs": "1"}


class Clock:
    """A clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def items_of(response) -> dict[str, str]:
    root = parse(response.content)
    return {
        i.findtext("KEY"): i.findtext("VALUE") for i in root.iterfind("RESPONSE/ITEM_LIST/ITEM")
    }


def test_rate_limit_gives_409_1965_with_seconds_to_wait_until_the_window_slides(fleet):
    clock = Clock()
    app = SimulatorApp(fleet, faults=Faults(rate_limit=2, rate_window_sec=100), clock=clock)
    with make_client(app) as c:
        assert c.get("/msp/about.php").status_code == 200
        clock.now += 40
        assert c.get("/msp/about.php").headers["X-RateLimit-Remaining"] == "0"
        blocked = c.get("/msp/about.php")
        assert blocked.status_code == 409
        assert parse(blocked.content).findtext("RESPONSE/CODE") == "1965"
        assert items_of(blocked) == {"SECONDS_TO_WAIT": "60"}
        assert blocked.headers["X-RateLimit-ToWait-Sec"] == "60"
        assert "1 minute" in parse(blocked.content).findtext("RESPONSE/TEXT")
        clock.now += 60
        assert c.get("/msp/about.php").status_code == 200
        assert c.get("/_sim/state").json()["rate_limit"]["blocked"] == 1


def test_concurrency_limit_gives_409_1960_while_a_reply_is_still_streaming(fleet):
    app = SimulatorApp(fleet, faults=Faults(concurrency_limit=1))
    with make_client(app) as c:
        with c.stream("POST", DETECTION, data=LIST_ALL) as running:
            assert running.status_code == 200
            blocked = c.post(DETECTION, data={"action": "list"})
            assert blocked.status_code == 409
            assert parse(blocked.content).findtext("RESPONSE/CODE") == "1960"
            assert items_of(blocked) == {"CALLS_TO_FINISH": "1"}
            assert blocked.headers["X-Concurrency-Limit-Running"] == "1"
            assert "X-RateLimit-ToWait-Sec" not in blocked.headers
            assert "X-RateLimit-Remaining" in blocked.headers
            # Limits are per API: another API is not blocked by the running detection call.
            assert c.get("/msp/about.php").status_code == 200
            assert c.get(KB, params={"action": "list", "ids": "6"}).status_code == 200
            assert c.get("/_sim/state").json()["concurrency"]["running"] == 1
        assert c.post(DETECTION, data={"action": "list"}).status_code == 200
        assert c.get("/_sim/state").json()["concurrency"] == {
            "running": 0,
            "limit": 1,
            "blocked": 1,
        }


def test_concurrency_error_wins_when_both_limits_are_exceeded(fleet):
    app = SimulatorApp(fleet, faults=Faults(concurrency_limit=1, rate_limit=1))
    with make_client(app) as c, c.stream("POST", DETECTION, data=LIST_ALL) as running:
        assert running.status_code == 200
        blocked = c.post(DETECTION, data={"action": "list"})
        assert blocked.status_code == 409
        assert parse(blocked.content).findtext("RESPONSE/CODE") == "1960"
        assert "X-RateLimit-ToWait-Sec" not in blocked.headers


def test_rate_limit_is_counted_per_api(fleet):
    app = SimulatorApp(fleet, faults=Faults(rate_limit=2))
    with make_client(app) as c:
        codes = [c.get("/msp/about.php").status_code for _ in range(3)]
        assert codes == [200, 200, 409]
        assert (
            c.post(DETECTION, data={"action": "list", "truncation_limit": "1"}).status_code == 200
        )
        assert c.get(KB, params={"action": "list", "ids": "6"}).status_code == 200
        users = c.get("/_sim/state").json()["rate_limit"]["users"]
    assert users == {
        "simuser": {
            "about": {"calls_in_window": 2, "remaining": 0},
            "detection": {"calls_in_window": 1, "remaining": 1},
            "knowledge_base": {"calls_in_window": 1, "remaining": 1},
        }
    }


def test_next_two_detection_calls_fail_with_503_then_succeed(app):
    with make_client(app) as c:
        c.post(
            "/_sim/faults",
            json={"error_rate": 1.0, "error_times": 2, "error_endpoint": "detection"},
        )
        assert c.get("/msp/about.php").status_code == 200
        statuses = [c.post(DETECTION, data={"action": "list"}).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]


def test_503_and_500_fault_bodies_look_like_qualys_errors(fleet):
    with make_client(SimulatorApp(fleet, faults=Faults(error_rate=1.0, error_status=503))) as c:
        unavailable = c.get("/msp/about.php")
    assert unavailable.status_code == 503
    assert parse(unavailable.content).findtext("RESPONSE/CODE") == "1999"
    assert "X-RateLimit-Limit" in unavailable.headers
    with make_client(SimulatorApp(fleet, faults=Faults(error_rate=1.0, error_status=500))) as c:
        internal = c.get("/msp/about.php")
    assert internal.status_code == 500
    root = parse(internal.content)
    assert root.tag == "GENERIC_RETURN"
    assert root.find("RETURN").get("number") == "999"


def test_drop_after_bytes_cuts_the_body_once_then_replies_whole(fleet):
    app = SimulatorApp(fleet, faults=Faults(drop_after_bytes=5000, drop_times=1))
    with make_client(app) as c:
        received = bytearray()
        with pytest.raises(DropConnection), c.stream("POST", DETECTION, data=LIST_ALL) as r:
            for chunk in r.iter_raw():
                received += chunk
        assert len(received) == 5000
        whole = c.post(DETECTION, data=LIST_ALL)
        assert whole.status_code == 200
        assert whole.content.startswith(bytes(received))
        parse(whole.content)
        assert c.get("/_sim/state").json()["concurrency"]["running"] == 0


def test_malformed_xml_fault_keeps_200_but_the_body_does_not_parse(fleet):
    app = SimulatorApp(fleet, faults=Faults(malformed_xml=True, malformed_times=1))
    with make_client(app) as c:
        bad = c.post(DETECTION, data=LIST_ALL)
        assert bad.status_code == 200
        with pytest.raises(etree.XMLSyntaxError):
            parse(bad.content)
        parse(c.post(DETECTION, data=LIST_ALL).content)


def test_page_and_host_latency_sleep_before_the_body_and_per_host(fleet):
    sleeps: list[float] = []
    app = SimulatorApp(
        fleet, faults=Faults(page_latency=1.5, host_latency=0.01), sleep=sleeps.append
    )
    with make_client(app) as c:
        root = parse(c.post(DETECTION, data={"action": "list", "truncation_limit": "4"}).content)
    assert len(root.findall("RESPONSE/HOST_LIST/HOST")) == 4
    assert sleeps == [1.5, 0.01, 0.01, 0.01, 0.01]


def test_state_reports_lists_calls_limits_and_faults(client):
    client.get("/msp/about.php")
    client.post(DETECTION, data={"action": "list", "truncation_limit": "1"})
    client.post(DETECTION, data={"action": "list", "truncation_limit": "1"})
    client.get("/nowhere")
    state = client.get("/_sim/state").json()
    assert set(state) == {
        "search_lists",
        "calls",
        "actions",
        "auth",
        "paths",
        "rate_limit",
        "concurrency",
        "faults",
    }
    assert state["calls"] == {"about": 1, "detection": 2, "not_found": 1}
    assert state["actions"]["detection.list"] == 2
    assert state["auth"] == {"basic": 3, "bearer": 0, "none": 0, "tokens_issued": 0}
    assert state["paths"] == {"/msp/about.php": 1, DETECTION: 2, "/nowhere": 1}
    assert state["rate_limit"]["users"]["simuser"]["detection"]["calls_in_window"] == 2
    assert state["faults"] == Faults().as_json()


def test_post_faults_changes_them_while_running_and_rejects_bad_input(client):
    changed = client.post("/_sim/faults", json={"expired_account": True})
    assert changed.status_code == 200
    assert changed.json()["faults"]["expired_account"] is True
    assert client.get("/msp/about.php").text.count("<CODE>2001</CODE>") == 1
    for bad in (b"not json", b"[1]", json.dumps({"bogus": 1}).encode()):
        response = client.post("/_sim/faults", content=bad)
        assert response.status_code == 400
        assert "error" in response.json()
    assert client.get("/_sim/faults").json()["faults"]["expired_account"] is True


def test_reset_clears_counters(client):
    client.get("/msp/about.php")
    state = client.post("/_sim/reset").json()
    assert state["calls"] == {}
    assert state["rate_limit"]["users"] == {}


def test_unknown_control_endpoint_is_a_json_404(client):
    response = client.get("/_sim/nothing")
    assert response.status_code == 404
    assert "error" in response.json()
