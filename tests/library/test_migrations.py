"""Schema versions: version 1 and 2 libraries are upgraded on open; a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from cvesweep.errors import LibraryError
from cvesweep.library import Library
from cvesweep.library.schema import (
    SCHEMA_VERSION,
    V2_INDEXES,
    V3_FINDING_COLUMNS,
    findings,
    meta,
    objects,
)
from tests.library.conftest import detection, dump, host, ingest, rows

V1_DDL = Path(__file__).parent / "data" / "schema_v1.sql"
V2_DDL = Path(__file__).parent / "data" / "schema_v2.sql"

# A small version 1 library as the first release wrote it: a CVE, an asset, a finding.
V1_DATA = """
INSERT INTO sources (id, name) VALUES (1, 'Qualys');
INSERT INTO objects VALUES (1, 'indicator', 'CVE', 'CVE-2021-44228', NULL,
    '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000');
INSERT INTO objects VALUES (2, 'asset', 'Asset', '10.0.0.1', NULL,
    '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000');
INSERT INTO object_sources VALUES (1, 1, '2024-05-01 10:00:00.000000');
INSERT INTO object_sources VALUES (2, 1, '2024-05-01 10:00:00.000000');
INSERT INTO relationships VALUES (1, 1, 2, 1, '2024-05-01 10:00:00.000000');
INSERT INTO findings VALUES (1, 2, 1, 100, 5, 'Active', 'Confirmed', 443, 'tcp',
    '2024-01-10T08:00:00Z', '2024-04-17T18:56:01Z', 12, '2024-04-17T18:56:01Z', 1,
    '2024-05-01 10:00:00.000000', '2024-05-01 10:00:00.000000');
INSERT INTO attributes VALUES (1, 2, 'Qualys ID', '100', 1,
    '2024-05-01 10:00:00.000000', 'finding');
"""


def make_v1_library(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        connection.executescript(V1_DDL.read_text() + V1_DATA)
    connection.close()
    return f"sqlite:///{path}"


def make_v2_library(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        connection.executescript(V2_DDL.read_text() + V1_DATA)  # v1 rows fit v2 unchanged
    connection.close()
    return f"sqlite:///{path}"


def finding_columns(library: Library) -> set[str]:
    return {column["name"] for column in inspect(library.engine).get_columns("findings")}


@pytest.mark.parametrize("make", [make_v1_library, make_v2_library], ids=["v1", "v2"])
def test_old_library_gains_the_detection_5_columns_and_keeps_its_finding(
    tmp_path: Path, make: object
) -> None:
    url = make(tmp_path / "old.db")  # type: ignore[operator]
    with Library.open(url) as library:
        assert set(V3_FINDING_COLUMNS) <= finding_columns(library)
        assert rows(library.engine, select(meta.c.value)) == [(str(SCHEMA_VERSION),)]
        old = rows(library.engine, select(findings.c.qid, findings.c.severity, findings.c.qds))
        assert old == [(100, 5, None)]
        fresh = detection(100, qds=88, qds_severity="HIGH", cves=("CVE-2021-44228",))
        stats = ingest(library, [host(1, "10.0.0.1", detections=[fresh])])
        assert stats.findings_updated == 1
        query = select(findings.c.qds, findings.c.qds_severity, findings.c.cves)
        assert rows(library.engine, query) == [(88, "HIGH", "CVE-2021-44228")]


def test_version_2_file_really_lacks_the_version_3_columns(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    make_v2_library(path)
    with sqlite3.connect(path) as connection:
        names = {row[1] for row in connection.execute("PRAGMA table_info(findings)")}
        version = connection.execute("SELECT value FROM meta").fetchone()
    connection.close()
    assert names.isdisjoint(V3_FINDING_COLUMNS) and version == ("2",)


def set_version(path: Path, version: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    connection.close()


def index_names(library: Library) -> set[str]:
    inspector = inspect(library.engine)
    return {
        ix["name"] for table in inspector.get_table_names() for ix in inspector.get_indexes(table)
    }


def test_version_1_library_is_upgraded_on_open_and_keeps_its_data(tmp_path: Path) -> None:
    url = make_v1_library(tmp_path / "v1.db")
    wanted = {index.name for index in V2_INDEXES}
    with Library.open(url) as library:
        assert wanted <= index_names(library)
        assert rows(library.engine, select(meta.c.value)) == [(str(SCHEMA_VERSION),)]
        assert rows(library.engine, select(objects.c.value).order_by(objects.c.id)) == [
            ("CVE-2021-44228",),
            ("10.0.0.1",),
        ]
        assert rows(library.engine, select(findings.c.qid)) == [(100,)]


def test_version_1_file_really_lacks_the_version_2_indexes(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    make_v1_library(path)
    with sqlite3.connect(path) as connection:
        names = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    connection.close()
    assert names.isdisjoint(index.name for index in V2_INDEXES)


def test_upgraded_library_ingests_idempotently_over_old_rows(tmp_path: Path) -> None:
    url = make_v1_library(tmp_path / "v1.db")
    with Library.open(url) as library:
        stats = ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
        assert stats.assets_created == 0 and stats.findings_added == 0
        assert stats.relationships_added == 0
        before = dump(library.engine, skip=frozenset({"runs"}))
        ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
        assert dump(library.engine, skip=frozenset({"runs"})) == before


def test_opening_a_current_library_again_changes_nothing(library_url: str) -> None:
    with Library.open(library_url) as library:
        ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])])
        before = dump(library.engine)
    with Library.open(library_url) as library:
        assert dump(library.engine) == before


@pytest.mark.parametrize("newer", [SCHEMA_VERSION + 1, 99])
def test_library_from_a_newer_version_is_refused_naming_both_versions(
    tmp_path: Path, newer: int
) -> None:
    path = tmp_path / "new.db"
    make_v1_library(path)
    set_version(path, str(newer))
    with pytest.raises(LibraryError) as caught:
        Library.open(f"sqlite:///{path}")
    message = str(caught.value)
    assert f"schema version {newer}" in message and f"version {SCHEMA_VERSION}" in message
    assert str(path) in message and "upgrade cvesweep" in message


@pytest.mark.parametrize("bad", ["", "two", "-1"])
def test_unreadable_schema_version_is_refused(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "odd.db"
    make_v1_library(path)
    set_version(path, bad)
    with pytest.raises(LibraryError, match="no valid schema version"):
        Library.open(f"sqlite:///{path}")


def test_database_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    connection.close()
    with pytest.raises(LibraryError, match="not a cvesweep library"):
        Library.open(f"sqlite:///{path}")
