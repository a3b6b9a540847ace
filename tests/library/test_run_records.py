"""Every run is recorded: one that fails or is interrupted while the library is written is
rolled back, then recorded as failed or interrupted in a transaction of its own (both
backends), through the runner the CLI and the web UI share, against the simulator."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, func, select

from cvesweep.errors import LibraryError
from cvesweep.library import Library, queries
from cvesweep.library.schema import findings, objects
from cvesweep.models import CveId
from cvesweep.runner import Interrupted, RunRequest, run_search
from cvesweep.settings import Settings
from cvesweep.simulator.knowledgebase import LOG4SHELL
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim
from tests.library.conftest import rows
from tests.library.test_atomicity import add_failing_trigger


def settings() -> Settings:
    return Settings(username=SIM_USER, password=SIM_PASSWORD, url="http://qualys.test")


@pytest.fixture
def sigint_inside_the_ingest() -> Iterator[None]:
    """Deliver a real SIGINT to this process when the ingest looks its new assets up again
    (after it has written them): Python raises KeyboardInterrupt there, as on Ctrl-C."""
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM objects" in statement and "objects.value" in statement:
            seen.append(statement)
            if len(seen) == 3:  # the CVE's lookup, the assets' lookup, their re-read
                signal.raise_signal(signal.SIGINT)

    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
    assert len(seen) >= 3, "the ingest never got as far as re-reading its new assets"


def count(library: Library, table: Any) -> int:
    return int(rows(library.engine, select(func.count()).select_from(table))[0][0])


def test_a_run_interrupted_while_storing_is_recorded_as_interrupted(
    sim: Sim, library_url: str, sigint_inside_the_ingest: None
) -> None:
    transport = httpx.WSGITransport(app=sim.recorder)
    with pytest.raises(Interrupted):  # the runner's error for Ctrl-C/SIGTERM (exit 130)
        run_search(
            settings(),
            RunRequest(cve=CveId(LOG4SHELL)),
            library_url=library_url,
            transport=transport,
        )
    assert sim.open_lists() == []
    with Library.open(library_url) as library:
        [run] = queries.runs(library.engine)
        assert count(library, objects) == 0 and count(library, findings) == 0  # rolled back
    assert run.outcome == "interrupted" and run.cve == LOG4SHELL
    assert run.error == "storing the result: interrupted (Ctrl-C or SIGTERM)"
    assert run.hosts > 0 and run.search_list_id is not None and run.search_list_deleted


def test_a_run_failing_while_storing_is_recorded_as_failed(sim: Sim, library_url: str) -> None:
    with Library.open(library_url, create=True) as library:
        add_failing_trigger(library, after=5)  # the database refuses the 6th finding
    transport = httpx.WSGITransport(app=sim.recorder)
    with pytest.raises(LibraryError, match="injected failure"):
        run_search(
            settings(),
            RunRequest(cve=CveId(LOG4SHELL)),
            library_url=library_url,
            transport=transport,
        )
    with Library.open(library_url) as library:
        [run] = queries.runs(library.engine)
        assert count(library, objects) == 0 and count(library, findings) == 0
    assert run.outcome == "failed" and run.error is not None
    assert run.error.startswith("storing the result: library ") and "injected failure" in run.error
    assert run.hosts > 0 and run.detections > 5 and run.search_list_deleted
