"""The library backends every library, ingest, migration, CLI-library and web test runs on.

A pytest plugin (loaded by ``tests/conftest.py``):

* ``backend`` — parametrised ``sqlite`` / ``postgresql``: a test (or fixture) that asks for
  it runs once per backend; :data:`SQLITE_ONLY` pins a test that is SQLite by nature
  (file modes, pragmas, frozen SQLite files) to ``sqlite``, :data:`POSTGRESQL_ONLY` one
  about PostgreSQL alone (column types, advisory locks) to ``postgresql``.
* ``postgres_server`` — one PostgreSQL server for the session: ``CVESWEEP_TEST_PG_URL``
  when set (an unreachable one is an error), else a throwaway cluster started here
  (:mod:`tests.pg_cluster`) and stopped at the end. When none can be started the
  PostgreSQL variants are SKIPPED with the reason (``-ra`` prints it), never silently.
* :func:`library_url_for` — the URL of a new library on a backend: a SQLite file that does
  not exist yet, or a PostgreSQL database created for the test (or module) and dropped
  after it, empty or (for tests that do not test the schema's creation) holding the
  current schema.

PostgreSQL variants carry the ``postgres`` marker: ``pytest -m postgres`` runs only them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.pg_cluster import Server, Unavailable, server_from_environment, start_cluster

SQLITE, POSTGRESQL = "sqlite", "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)
SQLITE_ONLY = pytest.mark.parametrize("backend", [SQLITE])
POSTGRESQL_ONLY = pytest.mark.parametrize("backend", [POSTGRESQL])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs against the PostgreSQL backend")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and POSTGRESQL in callspec.params.values():
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """The session's PostgreSQL server (see the module docstring)."""
    try:
        given = server_from_environment()
    except Unavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    if given is not None:
        try:
            yield given
        finally:
            given.stop()  # drops the databases made here; leaves the server running
        return
    try:
        started = start_cluster()
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: no server could be started: {exc}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The library backend of this test: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@contextmanager
def library_url_for(
    request: pytest.FixtureRequest, backend: str, directory: Path, *, made: bool = False
) -> Iterator[str]:
    """The URL of a new library on ``backend``: a SQLite file in ``directory`` that does
    not exist yet, or a new PostgreSQL database — empty, or with ``made`` already holding
    the current schema (as the first search would leave it, without its 0.2 s)."""
    if backend == SQLITE:
        yield f"sqlite:///{directory / 'library.db'}"
        return
    server: Server = request.getfixturevalue("postgres_server")
    with server.database(library=made) as url:
        yield url
