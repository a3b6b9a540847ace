"""Processes sharing one library at once, on both backends: writers both land completely;
first use of an empty database and upgrades of an old one never fail, and happen once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from cvesweep.library import Library
from cvesweep.library.database import create_library_engine, writer_options
from cvesweep.library.migrations import ensure_schema
from cvesweep.library.schema import SCHEMA_VERSION, findings, meta, objects, relationships, runs
from tests.backends import library_url_for
from tests.library.conftest import STARTED, detection, host, ingest, rows
from tests.library.test_migrations import make_old_library

HOSTS_PER_WRITER = 700
SHARED = 200  # hosts both writers store: same assets, different CVEs
ROUNDS = 3
PROCESSES = 4
FIRST_USE_ROUNDS = {"postgresql": 10, "sqlite": 2}  # SQLite: BEGIN IMMEDIATE, long proven
UPGRADE_ROUNDS = 3


def writer(url: str, cve: str, offset: int, start: Any) -> None:
    """Ingest ROUNDS results of ``cve`` (run in a separate process)."""
    hosts = [
        host(i, f"10.9.{i // 250}.{i % 250}", detections=[detection(100 + i % 3)], tags=[cve])
        for i in range(offset, offset + HOSTS_PER_WRITER)
    ]
    start.wait()
    with Library.open(url, create=True) as library:
        for _ in range(ROUNDS):
            ingest(library, hosts, cve=cve)


def count(library: Library, table: Any) -> int:
    return int(rows(library.engine, select(func.count()).select_from(table))[0][0])


def test_two_processes_ingesting_at_once_both_land_completely(library_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    plan = [("CVE-2021-44228", 0), ("CVE-2022-22965", HOSTS_PER_WRITER - SHARED)]
    workers = [
        context.Process(target=writer, args=(library_url, cve, offset, start))
        for cve, offset in plan
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=100)
    assert [process.exitcode for process in workers] == [0, 0]
    with Library.open(library_url) as library:
        assets = 2 * HOSTS_PER_WRITER - SHARED
        assert count(library, objects) == assets + 2
        assert count(library, relationships) == 2 * HOSTS_PER_WRITER
        assert count(library, findings) == 2 * HOSTS_PER_WRITER
        per_cve = select(runs.c.cve, func.count()).group_by(runs.c.cve).order_by(runs.c.cve)
        assert rows(library.engine, per_cve) == [
            ("CVE-2021-44228", ROUNDS),
            ("CVE-2022-22965", ROUNDS),
        ]
        if library.engine.dialect.name == "sqlite":
            with library.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# --- first use and upgrades, PROCESSES at once ----------------------------------------------


def first_use(url: str, cve: str) -> int:
    """What a search does on its first use of ``url``: open as a writer, store one host."""
    with Library.open(url, create=True) as library:
        ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])], cve=cve)
    return 0


def upgrade(url: str, _cve: str) -> int:
    """Make the schema ready; return the version this process found under the lock."""
    engine = create_library_engine(url)
    try:
        return ensure_schema(engine, url)
    finally:
        engine.dispose()


ACTIONS = {"first_use": first_use, "upgrade": upgrade}


def serve(tasks: Any, results: Any, start: Any) -> None:
    """A worker process: for each (url, action, cve) task, wait for the others, then act."""
    while (task := tasks.get()) is not None:
        url, action, cve = task
        start.wait(timeout=60)
        try:
            results.put((cve, "ok", ACTIONS[action](url, cve)))
        except BaseException as error:  # reported to the test, which fails on it
            results.put((cve, "error", f"{type(error).__name__}: {error}"))


@dataclass
class Workers:
    """PROCESSES live worker processes that start each round's tasks at the same moment."""

    tasks: Any
    results: Any

    def round(self, url: str, action: str) -> list[tuple[str, str, Any]]:
        cves = [f"CVE-2024-{1000 + n}" for n in range(PROCESSES)]
        for cve in cves:
            self.tasks.put((url, action, cve))
        return sorted(self.results.get(timeout=120) for _ in cves)


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    """PROCESSES spawned processes (started once: importing cvesweep takes a while)."""
    context = multiprocessing.get_context("spawn")
    tasks, results, start = context.Queue(), context.Queue(), context.Barrier(PROCESSES)
    processes = [
        context.Process(target=serve, args=(tasks, results, start), daemon=True)
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    yield Workers(tasks, results)
    for _ in processes:
        tasks.put(None)
    for process in processes:
        process.join(timeout=30)


def test_processes_using_an_empty_database_first_at_once_all_succeed(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, workers: Workers
) -> None:
    for round_ in range(FIRST_USE_ROUNDS[backend]):
        (tmp_path / str(round_)).mkdir()
        with library_url_for(request, backend, tmp_path / str(round_)) as url:
            outcomes = workers.round(url, "first_use")
            assert [outcome for _, outcome, _ in outcomes] == ["ok"] * PROCESSES, outcomes
            with Library.open(url) as library:
                assert count(library, runs) == PROCESSES
                assert rows(library.engine, select(meta.c.value)) == [(str(SCHEMA_VERSION),)]
                assert count(library, objects) == PROCESSES + 1  # the CVEs and the one asset


def test_processes_opening_an_old_library_at_once_upgrade_it_once(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, workers: Workers
) -> None:
    for round_ in range(UPGRADE_ROUNDS):
        (tmp_path / str(round_)).mkdir()
        with library_url_for(request, backend, tmp_path / str(round_)) as url:
            make_old_library(url, 3)
            outcomes = workers.round(url, "upgrade")
            assert [outcome for _, outcome, _ in outcomes] == ["ok"] * PROCESSES, outcomes
            found = sorted(version for _, _, version in outcomes)
            assert found == [3] + [SCHEMA_VERSION] * (PROCESSES - 1)  # one upgraded, once
            with Library.open(url) as library:
                assert rows(library.engine, select(meta.c.value)) == [(str(SCHEMA_VERSION),)]
                assert "findings" in inspect(library.engine).get_table_names()


def test_reader_sees_the_last_commit_while_a_writer_holds_the_lock(library: Library) -> None:
    ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
    other = Library.open(library.url)
    try:
        writing = library.engine.connect().execution_options(**writer_options())
        with writing, writing.begin():
            writing.execute(objects.update().values(description="in flight"))
            # WAL on SQLite, MVCC on PostgreSQL: a reader is not blocked by the writer
            values = rows(other.engine, select(objects.c.description))
        assert values == [(None,), (None,)]
    finally:
        other.close()


def test_opening_a_current_library_takes_no_write_lock(library: Library) -> None:
    writing = library.engine.connect().execution_options(**writer_options())
    with writing, writing.begin():
        writing.execute(
            objects.insert().values(
                kind="asset", type="Asset", value="10.0.0.9", created_at=STARTED, updated_at=STARTED
            )
        )
        # were the version check a writer, this would wait for the busy timeout and fail
        with Library.open(library.url, create=True) as other:
            assert rows(other.engine, select(func.count()).select_from(objects)) == [(0,)]
