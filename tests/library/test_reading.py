"""Reading never creates or changes a library, on both backends: an empty PostgreSQL
database or a missing SQLite file reads as an empty library and stays as it was, through
the library API, ``cvesweep library``, ``cvesweep export stix`` and the web UI's reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.errors import InputError, LibraryError
from cvesweep.library import Library, queries
from cvesweep.library.database import sqlite_file
from cvesweep.web import create_app
from tests.backends import SQLITE_ONLY
from tests.library.conftest import detection, host, ingest
from tests.web.conftest import WebClient, settings_for

runner = CliRunner()
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


def tables_at(url: str) -> list[str] | None:
    """The tables of the database at ``url``; None when it is a SQLite file that does not
    exist (looked at without creating it)."""
    engine = create_engine(url)
    try:
        path = sqlite_file(engine)
        if path is not None and not path.exists():
            return None
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def nothing_there(url: str) -> bool:
    return tables_at(url) in (None, [])


def test_the_empty_database_has_nothing_to_begin_with(library_url: str) -> None:
    expected = None if library_url.startswith("sqlite") else []
    assert tables_at(library_url) == expected


def test_the_library_api_reads_an_empty_database_as_empty_and_writes_nothing(
    library_url: str,
) -> None:
    with Library.open(library_url) as library:
        assert queries.cve_summaries(library.engine) == []
        assert queries.assets(library.engine) == []
        assert queries.runs(library.engine) == []
        assert queries.export_records(library.engine) == queries.ExportData()
        with pytest.raises(InputError, match="in the library"):
            queries.object_detail(library.engine, "10.0.0.1")
    assert nothing_there(library_url)


def test_a_reader_sees_the_library_a_writer_creates_later(library_url: str) -> None:
    with Library.open(library_url) as reader:
        assert queries.cve_summaries(reader.engine) == []
        with Library.open(library_url) as writer:  # opened for reading: its write creates
            ingest(writer, [host(1, "10.0.0.1", detections=[detection(100)])])
        assert [c.cve for c in queries.cve_summaries(reader.engine)] == ["CVE-2021-44228"]


@pytest.mark.parametrize("command", ["cves", "assets", "runs"])
def test_library_commands_read_an_empty_database_as_empty_and_write_nothing(
    library_url: str, command: str
) -> None:
    result = runner.invoke(
        app, ["library", command, "--format", "json", "--db", library_url], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "run 'cvesweep search CVE-" in result.stderr
    assert nothing_there(library_url)


def test_library_show_of_an_empty_database_is_not_found_and_writes_nothing(
    library_url: str,
) -> None:
    result = runner.invoke(app, ["library", "show", "10.0.0.1", "--db", library_url], env=ENV)
    assert result.exit_code == 2, result.output
    assert nothing_there(library_url)


def test_export_stix_of_an_empty_database_is_the_tool_alone_and_writes_nothing(
    library_url: str,
) -> None:
    result = runner.invoke(app, ["export", "stix", "--db", library_url], env=ENV)
    assert result.exit_code == 0, result.output
    types = [o["type"] for o in json.loads(result.stdout)["objects"]]
    assert types == ["identity", "extension-definition"]
    assert nothing_there(library_url)


@pytest.mark.parametrize(
    "path", ["/cves", "/assets", "/runs", "/api/cves", "/api/assets", "/api/runs"]
)
def test_the_web_ui_reads_an_empty_database_as_empty_and_writes_nothing(
    library_url: str, path: str
) -> None:
    client = WebClient(create_app(lambda: settings_for("http://127.0.0.1:9"), library_url))
    try:
        reply = client.get(path)
    finally:
        client.close()
    assert reply.status_code == 200, reply.text
    if path.startswith("/api/"):
        body = reply.json()
        assert body == [] or body.get("assets") == [], body
    assert nothing_there(library_url)


@SQLITE_ONLY
def test_reading_an_old_sqlite_library_leaves_its_bytes_as_they_were(library_url: str) -> None:
    """The WAL switch rewrites a file's header: only writers make it, never a reader."""
    from tests.library.test_migrations import make_old_library

    make_old_library(library_url, 4)
    path = Path(make_url(library_url).database or "")
    before = path.read_bytes()
    with Library.open(library_url) as library, pytest.raises(LibraryError):
        queries.cve_summaries(library.engine)
    assert path.read_bytes() == before
    with Library.open(library_url, create=True) as writer, writer.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"  # upgraded
