"""The runner shared by the CLI and the web UI: store on success, record failures honestly."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from cvesweep.errors import QualysRequestError
from cvesweep.library import Library, queries
from cvesweep.models import CveId, SearchOptions
from cvesweep.runner import Cancelled, RunRequest, run_search
from cvesweep.settings import Settings
from cvesweep.simulator.knowledgebase import LOG4SHELL
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim


def settings() -> Settings:
    return Settings(username=SIM_USER, password=SIM_PASSWORD, url="http://qualys.test")


def test_a_successful_run_is_stored_with_its_stats(sim: Sim, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    outcome = run_search(settings(), RunRequest(cve=CveId(LOG4SHELL)), library_url=url,
                         transport=httpx.WSGITransport(app=sim.recorder))  # fmt: skip
    outcome.release()
    assert outcome.stats is not None and outcome.stats.assets_created > 0
    assert outcome.result.summary is not None and outcome.result.summary.library is not None
    with Library.open(url) as library:
        [run] = queries.runs(library.engine)
    assert run.outcome == "success" and run.search_list_deleted


def test_a_failed_run_is_recorded_with_its_deleted_search_list(sim: Sim, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    request = RunRequest(cve=CveId(LOG4SHELL), options=SearchOptions(asset_groups=("Nope",)))
    with pytest.raises(QualysRequestError):
        run_search(settings(), request, library_url=url,
                   transport=httpx.WSGITransport(app=sim.recorder))  # fmt: skip
    with Library.open(url) as library:
        [run] = queries.runs(library.engine)
    assert run.outcome == "failed" and "1905" in (run.error or "")
    assert run.search_list_id is not None and run.search_list_deleted is True
    assert sim.open_lists() == []


def test_a_cancelled_run_deletes_the_list_and_is_recorded_as_interrupted(
    sim: Sim, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    cancel = threading.Event()  # set at the first progress report, after the list was created
    with pytest.raises(Cancelled):
        run_search(settings(), RunRequest(cve=CveId(LOG4SHELL)), library_url=url, cancel=cancel,
                   progress=lambda _: cancel.set(),
                   transport=httpx.WSGITransport(app=sim.recorder))  # fmt: skip
    assert sim.open_lists() == []
    with Library.open(url) as library:
        [run] = queries.runs(library.engine)
    assert run.outcome == "interrupted" and run.search_list_deleted is True
