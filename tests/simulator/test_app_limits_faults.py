"""The rate/concurrency limiter (with a movable clock) and the fault state machine."""

from __future__ import annotations

import pytest

from cvesweep.simulator.faults import Faults, FaultState, faults_from_json
from cvesweep.simulator.limits import Limiter


class Clock:
    """A clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_blocks_the_call_after_the_limit_until_the_window_slides():
    clock = Clock()
    limiter = Limiter(clock)
    for expected_remaining in (2, 1, 0):
        admission = limiter.admit("u", "detection", limit=3, window_sec=60, concurrency=5)
        assert admission.blocked is None
        assert admission.remaining == expected_remaining
        limiter.release("u", "detection")
        clock.now += 10
    blocked = limiter.admit("u", "detection", limit=3, window_sec=60, concurrency=5)
    assert (blocked.blocked, blocked.remaining, blocked.to_wait_sec) == (1965, 0, 30)
    clock.now += 30
    assert limiter.admit("u", "detection", limit=3, window_sec=60, concurrency=5).blocked is None


def test_rate_limit_is_per_user():
    limiter = Limiter(Clock())
    limiter.admit("a", "detection", limit=1, window_sec=60, concurrency=5)
    assert limiter.admit("b", "detection", limit=1, window_sec=60, concurrency=5).blocked is None
    assert limiter.admit("a", "detection", limit=1, window_sec=60, concurrency=5).blocked == 1965


def test_concurrency_limit_blocks_while_calls_run_and_reports_calls_to_finish():
    limiter = Limiter(Clock())
    first = limiter.admit("u", "detection", limit=100, window_sec=60, concurrency=2)
    second = limiter.admit("u", "detection", limit=100, window_sec=60, concurrency=2)
    assert (first.running, second.running) == (0, 1)
    third = limiter.admit("u", "detection", limit=100, window_sec=60, concurrency=2)
    assert (third.blocked, third.calls_to_finish) == (1960, 1)
    limiter.release("u", "detection")
    assert limiter.admit("u", "detection", limit=100, window_sec=60, concurrency=2).blocked is None
    assert limiter.running() == 2


def test_blocked_calls_do_not_count_in_the_window():
    limiter = Limiter(Clock())
    limiter.admit("u", "detection", limit=5, window_sec=60, concurrency=1)
    for _ in range(3):
        assert (
            limiter.admit("u", "detection", limit=5, window_sec=60, concurrency=1).blocked == 1960
        )
    assert limiter.snapshot(60, 5)["users"]["u"] == {
        "detection": {"calls_in_window": 1, "remaining": 4}
    }


def test_limits_are_per_api_and_concurrency_wins_over_rate():
    limiter = Limiter(Clock())
    limiter.admit("u", "detection", limit=1, window_sec=60, concurrency=1)
    assert (
        limiter.admit("u", "knowledge_base", limit=1, window_sec=60, concurrency=1).blocked is None
    )
    both = limiter.admit("u", "detection", limit=1, window_sec=60, concurrency=1)
    assert both.blocked == 1960
    assert "X-RateLimit-ToWait-Sec" not in dict(both.headers())
    limiter.release("u", "detection")
    assert limiter.admit("u", "detection", limit=1, window_sec=60, concurrency=1).blocked == 1965


def test_admission_headers_use_the_qualys_names():
    admission = Limiter(Clock()).admit("u", "detection", limit=300, window_sec=3600, concurrency=2)
    assert dict(admission.headers()) == {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Window-Sec": "3600",
        "X-Concurrency-Limit-Limit": "2",
        "X-Concurrency-Limit-Running": "0",
        "X-RateLimit-ToWait-Sec": "0",
        "X-RateLimit-Remaining": "299",
    }


@pytest.mark.parametrize(
    ("rate", "calls", "failing"),
    [
        (1.0, 4, [0, 1, 2, 3]),
        (0.5, 6, [1, 3, 5]),
        (0.25, 8, [3, 7]),
        (0.0, 4, []),
    ],
)
def test_error_rate_is_spread_evenly_and_reproducibly(rate, calls, failing):
    state = FaultState(Faults(error_rate=rate, error_status=500))
    results = [state.take_error("detection") for _ in range(calls)]
    assert [i for i, status in enumerate(results) if status is not None] == failing
    assert all(status in (None, 500) for status in results)


def test_error_times_fails_only_the_next_n_calls_of_the_chosen_endpoint():
    state = FaultState(Faults(error_rate=1.0, error_times=2, error_endpoint="detection"))
    assert state.take_error("search_list") is None
    assert [state.take_error("detection") for _ in range(4)] == [503, 503, None, None]
    assert state.faults.error_times == 0


def test_drop_and_malformed_count_down_their_budgets():
    state = FaultState(Faults(drop_after_bytes=100, drop_times=1, malformed_xml=True))
    assert state.take_drop() == 100
    assert state.take_drop() is None
    assert [state.take_malformed() for _ in range(3)] == [True, True, True]


def test_faults_from_json_changes_only_the_given_fields():
    changed = faults_from_json(Faults(rate_limit=7), {"page_latency": 1, "drop_times": None})
    assert (changed.rate_limit, changed.page_latency, changed.drop_times) == (7, 1, None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nope": 1}, "unknown fault field"),
        ({"error_rate": "high"}, "is not a valid"),
        ({"malformed_xml": 1}, "is not a valid"),
        ({"rate_limit": True}, "is not a valid"),
        ({"error_rate": 2.0}, "error_rate must be within"),
        ({"error_status": 502}, "error_status must be 500 or 503"),
        ({"error_endpoint": "web"}, "error_endpoint must be one of"),
        ({"drop_times": -1}, "drop_times must be >= 0"),
    ],
)
def test_faults_from_json_rejects_bad_fields_and_values(changes, message):
    with pytest.raises(ValueError, match=message):
        faults_from_json(Faults(), changes)
