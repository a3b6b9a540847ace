"""Schema versions: version 1, 2, 3 and 4 libraries are upgraded by a writer, on both backends;
readers never upgrade (they ask for it); a newer library is refused.

The old libraries are built from the frozen SQLite DDL of each version (``data/schema_vN.sql``,
as that version created it); on PostgreSQL the same DDL is translated by :func:`pg_ddl`
(``DATETIME`` → ``TIMESTAMP``, integer ids → ``SERIAL``), which is what SQLAlchemy emitted
there for those versions' metadata; a PostgreSQL version 4 library also gets the digest keys
version 4 made there (:data:`PG_V4_KEYS`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.errors import LibraryError
from cvesweep.library import Library, queries
from cvesweep.library.schema import (
    ATTRIBUTES_VIEW,
    PG_DIGEST_INDEXES,
    SCHEMA_VERSION,
    V2_INDEXES,
    V3_FINDING_COLUMNS,
    V4_TEXT_COLUMNS,
    V5_UNKEYED_TABLES,
    attributes,
    findings,
    meta,
    object_attributes,
    objects,
    relationships,
    tags,
)
from tests.backends import POSTGRESQL_ONLY, SQLITE_ONLY
from tests.library.conftest import detection, dump, host, ingest, rows
from tests.pg_cluster import libpq_url

DATA = Path(__file__).parent / "data"
FROZEN = {version: DATA / f"schema_v{version}.sql" for version in (1, 2, 3, 4)}
OLD_VERSIONS = sorted(FROZEN)
# What version 4 did on PostgreSQL besides widening columns (frozen, like the DDL files).
PG_V4_KEYS = """
ALTER TABLE attributes DROP CONSTRAINT uq_attributes_object_id_name_value;
ALTER TABLE tags DROP CONSTRAINT uq_tags_object_id_name;
DROP INDEX ix_tags_name;
CREATE UNIQUE INDEX uq_attributes_object_id_name_value_md5 ON attributes
    (object_id, name, md5(value));
CREATE UNIQUE INDEX uq_tags_object_id_name_md5 ON tags (object_id, md5(name));
CREATE INDEX ix_tags_lower_name ON tags USING hash (lower(name));
"""
ID_TABLES = ("sources", "objects", "attributes", "tags", "relationships", "findings", "runs")

# A small version 1 library as the first release wrote it: a CVE, an asset, a finding.
# Its rows fit versions 2 and 3 unchanged (version 3 only added nullable finding columns).
V1_DATA = """
INSERT INTO sources (id, name) VALUES (1, 'Qualys');
INSERT INTO objects VALUES (1, 'indicator', 'CVE', 'CVE-2021-44228', NULL,
    '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000');
INSERT INTO objects VALUES (2, 'asset', 'Asset', '10.0.0.1', NULL,
    '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000');
INSERT INTO object_sources VALUES (1, 1, '2024-05-01 10:00:00.000000');
INSERT INTO object_sources VALUES (2, 1, '2024-05-01 10:00:00.000000');
INSERT INTO relationships VALUES (1, 1, 2, 1, '2024-05-01 10:00:00.000000');
INSERT INTO findings (id, asset_id, cve_id, qid, severity, status, type, port, protocol,
    first_found, last_found, times_found, last_scan, qualys_host_id, first_seen_at, updated_at)
    VALUES (1, 2, 1, 100, 5, 'Active', 'Confirmed', 443, 'tcp',
    '2024-01-10T08:00:00Z', '2024-04-17T18:56:01Z', 12, '2024-04-17T18:56:01Z', 1,
    '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000');
INSERT INTO attributes VALUES (1, 2, 'Qualys ID', '100', 1,
    '2024-05-01 10:00:00.000000', 'finding');
"""


def pg_ddl(sqlite_ddl: str) -> str:
    """The frozen SQLite DDL in PostgreSQL's words (what SQLAlchemy emitted there)."""
    return sqlite_ddl.replace("DATETIME", "TIMESTAMP WITHOUT TIME ZONE").replace(
        "\tid INTEGER NOT NULL", "\tid SERIAL NOT NULL"
    )


def make_old_library(url: str, version: int) -> str:
    """Fill the empty database at ``url`` with a version ``version`` library; return ``url``."""
    script = FROZEN[version].read_text() + V1_DATA
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///") :]) as connection:
            connection.executescript(script)
        connection.close()
        return url
    resets = "".join(
        f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT coalesce(max(id), 0) + 1 "  # noqa: S608
        f"FROM {t}), false);"
        for t in ID_TABLES
    )
    keys = PG_V4_KEYS if version >= 4 else ""
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(pg_ddl(script) + keys + resets)  # type: ignore[arg-type]
    return url


def stored_version_of(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(select(meta.c.value)))
    finally:
        engine.dispose()


def set_version(url: str, version: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(meta.update().values(value=version))
    finally:
        engine.dispose()


def finding_columns(library: Library) -> set[str]:
    return {column["name"] for column in inspect(library.engine).get_columns("findings")}


def index_names(library: Library) -> set[str]:
    inspector = inspect(library.engine)
    return {
        ix["name"] for table in inspector.get_table_names() for ix in inspector.get_indexes(table)
    }


def expected_indexes(library: Library) -> set[str]:
    """The lookup indexes of a current library on this backend."""
    names = {str(index.name) for index in V2_INDEXES}
    if library.engine.dialect.name == "postgresql":  # tag keys on digests (schema version 4)
        return names - {"ix_tags_name"} | {str(index.name) for index in PG_DIGEST_INDEXES}
    return names


def keys_to_sources(engine: Engine) -> list[tuple[str, str | None]]:
    inspector = inspect(engine)
    return [
        (table, key["name"])
        for table in inspector.get_table_names()
        for key in inspector.get_foreign_keys(table)
        if key["referred_table"] == "sources"
    ]


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_old_library_is_upgraded_by_a_writer_and_keeps_its_data(
    library_url: str, version: int
) -> None:
    make_old_library(library_url, version)
    with Library.open(library_url, create=True) as library:
        assert set(V3_FINDING_COLUMNS) <= finding_columns(library)
        assert expected_indexes(library) <= index_names(library)
        assert rows(library.engine, select(meta.c.value)) == [(str(SCHEMA_VERSION),)]
        assert rows(library.engine, select(objects.c.value).order_by(objects.c.id)) == [
            ("CVE-2021-44228",),
            ("10.0.0.1",),
        ]
        old = rows(library.engine, select(findings.c.qid, findings.c.severity, findings.c.qds))
        assert old == [(100, 5, None)]
        # Version 5: the stored finding attribute is gone; the view derives all five pairs.
        assert rows(library.engine, select(attributes.c.name)) == []
        view = object_attributes.c
        derived = rows(library.engine, select(view.object_id, view.name, view.value, view.origin))
        assert sorted(derived) == [
            (2, "Last Found Date", "2024-04-17T18:56:01Z", "finding"),
            (2, "Qualys ID", "100", "finding"),
            (2, "Scan Status", "Active", "finding"),
            (2, "Scan Type", "Confirmed", "finding"),
            (2, "Severity", "5", "finding"),
        ]
        assert keys_to_sources(library.engine) == []
        [detail] = [queries.object_detail(library.engine, "10.0.0.1")]
        assert {(a.name, a.source) for a in detail.attributes} >= {("Qualys ID", "Qualys")}


def foreign_keys(engine: Engine) -> set[tuple[str, str]]:
    inspector = inspect(engine)
    return {
        (table, key["referred_table"])
        for table in inspector.get_table_names()
        for key in inspector.get_foreign_keys(table)
    }


# Schema 5: the keys to objects stay on SQLite; PostgreSQL has none (their checks cost).
KEYS_TO_OBJECTS = {
    ("object_sources", "objects"),
    ("attributes", "objects"),
    ("tags", "objects"),
    ("relationships", "objects"),
    ("findings", "objects"),
}


@pytest.mark.parametrize("version", [0, *OLD_VERSIONS])
def test_foreign_keys_of_a_new_or_upgraded_library(library_url: str, version: int) -> None:
    if version:
        make_old_library(library_url, version)
    with Library.open(library_url, create=True) as library:
        postgresql = library.engine.dialect.name == "postgresql"
        assert foreign_keys(library.engine) == (set() if postgresql else KEYS_TO_OBJECTS)


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_frozen_library_has_foreign_keys_to_sources_and_no_view(
    library_url: str, version: int
) -> None:
    make_old_library(library_url, version)
    engine = create_engine(library_url)
    try:
        assert {table for table, _ in keys_to_sources(engine)} == set(V5_UNKEYED_TABLES)
        assert ATTRIBUTES_VIEW not in inspect(engine).get_view_names()
    finally:
        engine.dispose()


def test_upgrade_keeps_ids_rows_and_keys_of_the_rebuilt_tables(library_url: str) -> None:
    make_old_library(library_url, 4)
    with Library.open(library_url, create=True) as library:
        assert ATTRIBUTES_VIEW in inspect(library.engine).get_view_names()
        links = rows(library.engine, select(relationships.c.id, relationships.c.object_a_id))
        assert links == [(1, 1)]
        stats = ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
        assert (stats.assets_created, stats.relationships_added) == (0, 0)
        ids = rows(library.engine, select(attributes.c.id).order_by(attributes.c.id))
        assert ids and ids[0][0] >= 1
        before = dump(library.engine, skip=frozenset({"runs"}))
        ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
        assert dump(library.engine, skip=frozenset({"runs"})) == before


@pytest.mark.parametrize("version", [1, 3, 4])
def test_upgraded_library_ingests_idempotently_over_old_rows(
    library_url: str, version: int
) -> None:
    make_old_library(library_url, version)
    with Library.open(library_url, create=True) as library:
        fresh = detection(100, qds=88, qds_severity="HIGH", cves=("CVE-2021-44228",))
        stats = ingest(library, [host(1, "10.0.0.1", detections=[fresh])])
        assert stats.assets_created == 0 and stats.findings_added == 0
        assert stats.relationships_added == 0 and stats.findings_updated == 1
        query = select(findings.c.qds, findings.c.qds_severity, findings.c.cves)
        assert rows(library.engine, query) == [(88, "HIGH", "CVE-2021-44228")]
        before = dump(library.engine, skip=frozenset({"runs"}))
        ingest(library, [host(1, "10.0.0.1", detections=[fresh])])
        assert dump(library.engine, skip=frozenset({"runs"})) == before


LONG_TAG = "T" * 150 + "".join(chr(0x3B1 + i % 25) for i in range(150))  # 300 characters
LONG_OS = "Linux " + "".join(f"{i:04x}" for i in range(1, 249)) + "-kernel"  # 1,005


def test_version_3_library_stores_long_qualys_values_after_its_upgrade(library_url: str) -> None:
    make_old_library(library_url, 3)
    with Library.open(library_url, create=True) as library:
        long_host = host(2, "10.0.0.2", detections=[detection(100)], tags=[LONG_TAG], os=LONG_OS)
        ingest(library, [long_host])
        assert rows(library.engine, select(tags.c.name).distinct()) == [(LONG_TAG,)]
        os_query = select(attributes.c.value).where(attributes.c.name == "Operating System")
        assert rows(library.engine, os_query) == [(LONG_OS,)]


@POSTGRESQL_ONLY
def test_postgresql_version_3_had_bounded_columns_and_version_4_has_none(library_url: str) -> None:
    make_old_library(library_url, 3)

    def lengths(engine: Engine) -> dict[tuple[str, str], int | None]:
        inspector = inspect(engine)
        return {
            (table, column["name"]): getattr(column["type"], "length", None)
            for table in {t for t, _ in V4_TEXT_COLUMNS}
            for column in inspector.get_columns(table)
        }

    engine = create_engine(library_url)
    try:
        before = lengths(engine)
    finally:
        engine.dispose()
    assert all(before[key] is not None for key in V4_TEXT_COLUMNS)
    with Library.open(library_url, create=True) as library:
        after = lengths(library.engine)
        assert {key: after[key] for key in V4_TEXT_COLUMNS} == dict.fromkeys(V4_TEXT_COLUMNS)
        digests = {index.name for index in PG_DIGEST_INDEXES}
        assert digests <= index_names(library) and "ix_tags_name" not in index_names(library)


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_reading_a_library_too_old_to_read_asks_for_a_search_and_changes_nothing(
    library_url: str, version: int
) -> None:
    make_old_library(library_url, version)
    with Library.open(library_url) as library, pytest.raises(LibraryError) as caught:
        queries.cve_summaries(library.engine)
    assert f"schema version {version}" in str(caught.value)
    assert "needs upgrading" in str(caught.value)
    assert "cvesweep library upgrade" in (caught.value.hint or "")
    assert stored_version_of(library_url) == str(version)
    engine = create_engine(library_url)
    try:
        assert ATTRIBUTES_VIEW not in inspect(engine).get_view_names()
    finally:
        engine.dispose()


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("version", "absent"),
    [(1, {index.name for index in V2_INDEXES}), (2, set(V3_FINDING_COLUMNS))],
)
def test_frozen_sqlite_files_really_lack_what_the_next_version_added(
    library_url: str, version: int, absent: set[str]
) -> None:
    make_old_library(library_url, version)
    path = library_url[len("sqlite:///") :]
    with sqlite3.connect(path) as connection:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        names |= {row[1] for row in connection.execute("PRAGMA table_info(findings)")}
    connection.close()
    assert names.isdisjoint(absent)


def test_opening_a_current_library_again_changes_nothing(library_url: str) -> None:
    with Library.open(library_url, create=True) as library:
        ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
        before = dump(library.engine)
    with Library.open(library_url, create=True) as library:
        assert dump(library.engine) == before


@pytest.mark.parametrize("create", [True, False], ids=["writer", "reader"])
@pytest.mark.parametrize("newer", [SCHEMA_VERSION + 1, 99])
def test_library_from_a_newer_version_is_refused_naming_both_versions(
    library_url: str, newer: int, create: bool
) -> None:
    make_old_library(library_url, 1)
    set_version(library_url, str(newer))
    with pytest.raises(LibraryError) as caught:
        Library.open(library_url, create=create)
    message = str(caught.value)
    assert f"schema version {newer}" in message and f"version {SCHEMA_VERSION}" in message
    assert library_url.rsplit("/", 1)[1] in message and "upgrade cvesweep" in message


@pytest.mark.parametrize("bad", ["", "two", "-1"])
def test_unreadable_schema_version_is_refused(library_url: str, bad: str) -> None:
    make_old_library(library_url, 1)
    set_version(library_url, bad)
    with pytest.raises(LibraryError, match="no valid schema version"):
        Library.open(library_url, create=True)


def test_database_of_another_application_is_refused(library_url: str) -> None:
    engine = create_engine(library_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    with pytest.raises(LibraryError, match="not a cvesweep library"):
        Library.open(library_url, create=True)


@pytest.mark.parametrize("version", OLD_VERSIONS)
def test_library_upgrade_upgrades_once_and_then_reading_works(
    library_url: str, version: int
) -> None:
    make_old_library(library_url, version)
    runner = CliRunner()
    first = runner.invoke(app, ["library", "upgrade", "--db", library_url])
    assert first.exit_code == 0, first.output
    assert f"from schema {version} to {SCHEMA_VERSION}" in first.stderr
    assert stored_version_of(library_url) == str(SCHEMA_VERSION)
    with Library.open(library_url) as library:
        assert queries.cve_summaries(library.engine)  # the old library's CVEs, readable now
    again = runner.invoke(app, ["library", "upgrade", "--db", library_url])
    assert again.exit_code == 0 and "nothing to do" in again.stderr


def test_library_upgrade_of_a_missing_file_creates_nothing_and_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = CliRunner().invoke(app, ["library", "upgrade", "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 2
    assert "--db: there is no library at" in result.stderr and "Traceback" not in result.output
    assert not missing.exists()
