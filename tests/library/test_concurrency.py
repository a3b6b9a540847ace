"""Two writers on one SQLite file at once: both succeed, nothing is lost or duplicated."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import func, select

from cvesweep.library import Library
from cvesweep.library.database import writer_options
from cvesweep.library.schema import findings, objects, relationships, runs
from tests.library.conftest import STARTED, detection, host, ingest, rows

HOSTS_PER_WRITER = 700
SHARED = 200  # hosts both writers store: same assets, different CVEs
ROUNDS = 3


def writer(url: str, cve: str, offset: int, start: object) -> None:
    """Ingest ROUNDS results of ``cve`` (run in a separate process)."""
    hosts = [
        host(i, f"10.9.{i // 250}.{i % 250}", detections=[detection(100 + i % 3)], tags=[cve])
        for i in range(offset, offset + HOSTS_PER_WRITER)
    ]
    start.wait()  # type: ignore[attr-defined]
    with Library.open(url) as library:
        for _ in range(ROUNDS):
            ingest(library, hosts, cve=cve)


def test_two_processes_ingesting_at_once_both_land_completely(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    plan = [("CVE-2021-44228", 0), ("CVE-2022-22965", HOSTS_PER_WRITER - SHARED)]
    workers = [
        context.Process(target=writer, args=(url, cve, offset, start)) for cve, offset in plan
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=100)
    assert [process.exitcode for process in workers] == [0, 0]
    with Library.open(url) as library:
        count = lambda table: rows(library.engine, select(func.count()).select_from(table))[0][0]  # noqa: E731
        assets = 2 * HOSTS_PER_WRITER - SHARED
        assert count(objects) == assets + 2
        assert count(relationships) == 2 * HOSTS_PER_WRITER
        assert count(findings) == 2 * HOSTS_PER_WRITER
        assert rows(library.engine, select(runs.c.cve, func.count()).group_by(runs.c.cve)) == [
            ("CVE-2021-44228", ROUNDS),
            ("CVE-2022-22965", ROUNDS),
        ]
        with library.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_reader_sees_the_last_commit_while_a_writer_holds_the_lock(library: Library) -> None:
    ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
    other = Library.open(library.url)
    try:
        writing = library.engine.connect().execution_options(**writer_options())
        with writing, writing.begin():
            writing.execute(objects.update().values(description="in flight"))
            # WAL: a reader is not blocked by the open write transaction
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
        with Library.open(library.url) as other:
            assert rows(other.engine, select(func.count()).select_from(objects)) == [(0,)]
