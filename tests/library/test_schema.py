"""Opening a library: the schema, SQLite settings, URL resolution, portable DDL, errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from cvesweep.errors import LibraryError
from cvesweep.library import Library, default_library_url, resolve_library_url
from cvesweep.library.database import display_url
from cvesweep.library.schema import SCHEMA_VERSION, meta, metadata, objects
from cvesweep.library.writes import _insert
from tests.backends import SQLITE_ONLY

TABLES = {
    "meta",
    "sources",
    "objects",
    "object_sources",
    "attributes",
    "tags",
    "relationships",
    "findings",
    "runs",
}


def test_open_creates_every_table_and_records_the_version(library_url: str) -> None:
    with Library.open(library_url, create=True) as library:
        assert set(inspect(library.engine).get_table_names()) == TABLES
        with library.engine.connect() as connection:
            assert connection.scalar(select(meta.c.value)) == str(SCHEMA_VERSION)


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("pragma", "expected"),
    [("journal_mode", "wal"), ("foreign_keys", 1), ("busy_timeout", 30000)],
)
def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(
    library: Library, pragma: str, expected: object
) -> None:
    with library.engine.connect() as connection:
        assert connection.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("postgresql://u@db.example/lib", "sqlite:////tmp/env.db", "postgresql://u@db.example/lib"),
        (None, "sqlite:////tmp/env.db", "sqlite:////tmp/env.db"),
        ("", "sqlite:////tmp/env.db", "sqlite:////tmp/env.db"),
        ("/data/lib.db", None, "sqlite:////data/lib.db"),
        (None, "/data/env.db", "sqlite:////data/env.db"),
    ],
)
def test_db_flag_wins_over_environment(flag: str | None, env: str | None, expected: str) -> None:
    environ = {"CVESWEEP_DB": env} if env is not None else {}
    assert resolve_library_url(flag, environ) == expected


def test_relative_bare_path_becomes_an_absolute_sqlite_url(tmp_path: Path) -> None:
    url = resolve_library_url(str(tmp_path / "sub" / ".." / "lib.db"), {})
    assert url == f"sqlite:///{tmp_path / 'lib.db'}"


def test_default_url_is_in_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # platformdirs reads XDG_DATA_HOME on Linux; the environment is the input here.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = resolve_library_url(None, {})
    assert (
        url == default_library_url() == f"sqlite:///{tmp_path / 'data' / 'cvesweep' / 'library.db'}"
    )
    assert (tmp_path / "data" / "cvesweep").is_dir()


def test_a_new_library_file_is_0600_in_a_0700_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "data" / "cvesweep").mkdir(parents=True, mode=0o755)  # as older versions left it
    url = default_library_url()
    Library.open(url, create=True).close()
    directory = tmp_path / "data" / "cvesweep"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert directory / "library.db" in files
    for path in files:  # the database and the -wal/-shm files SQLite made beside it
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_a_library_at_a_given_path_is_created_0600(tmp_path: Path) -> None:
    Library.open(f"sqlite:///{tmp_path / 'team.db'}", create=True).close()
    assert stat.S_IMODE((tmp_path / "team.db").stat().st_mode) == 0o600


def test_display_url_hides_the_password() -> None:
    shown = display_url("postgresql+psycopg://alice:s3cret@db.example:5432/lib")
    assert "s3cret" not in shown and "alice" in shown and "db.example" in shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://alice:s3cret@127.0.0.1:1/lib",  # driver missing or refused
        "nosuchdialect://alice:s3cret@127.0.0.1/lib",
    ],
)
def test_unusable_url_is_a_library_error_without_the_password(url: str) -> None:
    with pytest.raises(LibraryError) as caught:
        Library.open(url)
    assert "s3cret" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_unwritable_location_is_a_library_error_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "lib.db"
    with pytest.raises(LibraryError) as caught:
        Library.open(f"sqlite:///{target}", create=True)
    assert str(target) in str(caught.value) and "opening" in str(caught.value)


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["pg", "sqlite"])
def test_schema_and_upserts_compile_for_postgresql_and_sqlite(dialect: object) -> None:
    for table in metadata.sorted_tables:
        assert "CREATE TABLE" in str(CreateTable(table).compile(dialect=dialect))  # type: ignore[arg-type]
        for index in table.indexes:
            assert " INDEX " in str(CreateIndex(index).compile(dialect=dialect))  # type: ignore[arg-type]
    name = dialect.name  # type: ignore[attr-defined]
    upsert = str(_insert(name, objects, ignore_conflicts=True).compile(dialect=dialect))  # type: ignore[arg-type]
    assert "ON CONFLICT DO NOTHING" in upsert
