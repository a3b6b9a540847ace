"""Sweeps against the simulator: the KEV catalog in a handful of calls, per-CVE answers equal
to single searches, every list deleted, one library transaction, and a repeatable result."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cvesweep.cvelists import CveTarget, load_targets
from cvesweep.errors import QualysServerError
from cvesweep.library import Library, StoreFlags
from cvesweep.library.queries import runs
from cvesweep.library.schema import objects
from cvesweep.models import CveId, SearchMethod
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE
from cvesweep.sweep import SweepResult, sweep
from cvesweep.sweeprun import SWEEP_RUN_CVE, per_cve, sweep_record
from tests.conftest import Sim
from tests.library.conftest import dump

KEV = (
    Path(__file__).resolve().parents[1]
    / "src/cvesweep/data/kev/known_exploited_vulnerabilities.json"
)
NON_DETECTION_BUDGET = 15  # calls besides the detection pages, for the whole catalog


def run_sweep(sim: Sim, targets: Any, method: SearchMethod = SearchMethod.SEARCH_LIST,
              **kw: Any) -> SweepResult:  # fmt: skip
    with sim.client() as client:
        return sweep(client, tuple(targets), method=method, **kw)


def single(sim: Sim, cve: str, method: SearchMethod) -> dict[int, tuple[int, ...]]:
    return single_with_qids(sim, cve, method)[0]


def single_with_qids(
    sim: Sim, cve: str, method: SearchMethod
) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...] | None]:
    """A single search's {host id: QIDs} and the QIDs of its search list (None: unknown)."""
    with sim.client() as client:
        result = search_vulnerable_hosts(client, CveId(cve), method=method, max_parallel=1)
    found = {h.id: tuple(d.qid for d in h.detections) for h in result.hosts}
    release(result)
    assert result.summary is not None
    return found, result.summary.search_list_qids


def by_cve(result: SweepResult, cve: str) -> dict[int, tuple[int, ...]]:
    return {h.id: tuple(d.qid for d in h.detections) for h in result.hosts_of(cve)}


@pytest.mark.parametrize("method", list(SearchMethod))
def test_the_kev_catalog_is_swept_in_a_handful_of_calls(make_sim, method: SearchMethod) -> None:
    sim = make_sim(size=2000, seed=3)
    targets = load_targets(kev_files=[str(KEV)])
    result = run_sweep(sim, targets, method, max_parallel=4)
    try:
        summary = result.summary
        detection_calls = len(sim.recorder.forms("detection/"))
        assert summary.api_calls == len(sim.recorder.requests)
        assert summary.api_calls - detection_calls <= NON_DETECTION_BUDGET, sim.recorder.requests
        assert summary.cves == 1404 and summary.hosts == result.spool.hosts
        assert sim.open_lists() == []
        ids = [h.id for h in result.spool]
        assert ids == sorted(ids) and len(ids) == len(set(ids))  # each host fetched once
        _same_as_single_searches(sim, result, method)
    finally:
        result.close()


def _same_as_single_searches(sim: Sim, result: SweepResult, method: SearchMethod) -> None:
    hit = sorted(c for c, o in result.outcomes.items() if o.hosts)
    assert hit, "the sweep must find hosts for some KEV CVEs"
    rng = random.Random(1404)
    picked = rng.sample(hit, min(5, len(hit)))
    picked += rng.sample(sorted(result.outcomes), 10 - len(picked))
    for cve in picked:
        expected, list_qids = single_with_qids(sim, cve, method)
        assert by_cve(result, cve) == expected, cve  # the same hosts, each with the same QIDs
        outcome = result.outcomes[cve]
        assert outcome.hosts == len(expected)
        if method is SearchMethod.SEARCH_LIST:  # the QIDs Qualys knows for the CVE, alike
            assert outcome.qids == list_qids, cve
        else:
            assert set(outcome.qids or ()) == {q for found in expected.values() for q in found}


def test_a_sweep_tells_no_qid_from_no_host_and_fetches_each_host_once(sim: Sim) -> None:
    cves = [LOG4SHELL, "CVE-2014-0160", NO_QID_CVE]
    result = run_sweep(sim, [CveTarget(CveId(c)) for c in cves], max_parallel=1)
    try:
        assert [f["action"] for f in sim.recorder.forms("search_list")].count("create") == 1
        assert result.outcomes[NO_QID_CVE].no_qid and not result.outcomes[LOG4SHELL].no_qid
        union = set(by_cve(result, LOG4SHELL)) | set(by_cve(result, "CVE-2014-0160"))
        assert result.spool.hosts == len(union)  # a host of both CVEs is there once
        for cve in (LOG4SHELL, "CVE-2014-0160"):
            assert by_cve(result, cve) == single(sim, cve, SearchMethod.SEARCH_LIST)
    finally:
        result.close()


def test_every_list_is_deleted_when_the_detection_pull_fails(make_sim) -> None:
    sim = make_sim(size=600)
    sim.set_faults(error_rate=1.0, error_endpoint="detection", error_status=500)
    targets = [CveTarget(CveId(f"CVE-2020-{n:05d}")) for n in range(1100)] + [
        CveTarget(CveId(LOG4SHELL))
    ]
    with pytest.raises(QualysServerError):
        run_sweep(sim, targets, max_parallel=1)
    creates = [f for f in sim.recorder.forms("search_list") if f["action"] == "create"]
    assert len(creates) == 3 and sim.open_lists() == []


def test_a_sweep_is_stored_in_one_run_and_a_repeat_changes_nothing(
    sim: Sim, tmp_path: Path
) -> None:
    targets = tuple(CveTarget(CveId(c)) for c in (LOG4SHELL, "CVE-2014-0160", NO_QID_CVE))
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    for _ in range(2):
        result = run_sweep(sim, targets, max_parallel=1)
        try:
            from datetime import UTC, datetime

            record = sweep_record(
                result, datetime.now(UTC), {"cves": [t.cve for t in targets], **per_cve(result)}
            )
            with Library.open(url, create=True) as library:
                library.ingest_many(
                    [result.result_of(t.cve) for t in targets], StoreFlags(), record
                )
                snapshot = dump(library.engine, skip=frozenset({"runs"}))
        finally:
            result.close()
    with Library.open(url) as library:
        assert dump(library.engine, skip=frozenset({"runs"})) == snapshot
        recorded = runs(library.engine)
        assert [r.cve for r in recorded] == [SWEEP_RUN_CVE, SWEEP_RUN_CVE]
        parameters = recorded[0].parameters
        assert parameters["cves"] == [t.cve for t in targets]
        assert set(parameters["per_cve"]) == {LOG4SHELL, "CVE-2014-0160"}  # type: ignore[arg-type]
        assert parameters["cves_without_qid"] == [NO_QID_CVE]
        values = {row.value for row in library.engine.connect().execute(select(objects.c.value))}
        assert {LOG4SHELL, "CVE-2014-0160", NO_QID_CVE} <= values
