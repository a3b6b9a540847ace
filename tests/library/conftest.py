"""Fixtures of the library tests: a fresh library on each backend, hosts, dumps."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cvesweep.library import Library, RunRecord, StoreFlags
from cvesweep.library.schema import metadata
from cvesweep.models import (
    CveId,
    Detection,
    Host,
    HostId,
    Qid,
    SearchOptions,
    SearchResult,
    SearchSummary,
    Tag,
)
from tests.backends import library_url_for

CVE = CveId("CVE-2021-44228")
STARTED = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)

# Columns that legitimately differ between two identical runs: none but the run records
# themselves (a new row per run). Object/finding timestamps move only on real changes.
VOLATILE_TABLES = frozenset({"runs"})


@pytest.fixture
def library_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a library that does not exist yet: a SQLite file, or a new PostgreSQL
    database (dropped after the test); one test per backend."""
    with library_url_for(request, backend, tmp_path) as url:
        yield url


@pytest.fixture
def library(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Library]:
    """A fresh, open library with its schema, one test per backend (on PostgreSQL a new
    database holding the empty schema; creating it is what the ``library_url`` tests test)."""
    with (
        library_url_for(request, backend, tmp_path, made=True) as url,
        Library.open(url, create=True) as opened,
    ):
        yield opened


def detection(qid: int, **facts: Any) -> Detection:
    """A Confirmed, Active, severity-5 detection of ``qid`` unless ``facts`` say otherwise."""
    values: dict[str, Any] = {
        "type": "Confirmed",
        "severity": 5,
        "status": "Active",
        "port": 443,
        "protocol": "tcp",
        "first_found": "2024-01-10T08:00:00Z",
        "last_found": "2024-04-17T18:56:01Z",
        "times_found": 12,
    }
    values.update(facts)
    return Detection(qid=Qid(qid), **values)


def host(
    host_id: int,
    ip: str | None = None,
    *,
    detections: Iterable[Detection] = (),
    tags: Iterable[str] = (),
    **facts: Any,
) -> Host:
    """A host with identity facts derived from its id unless ``facts`` override them."""
    values: dict[str, Any] = {
        "tracking_method": "IP",
        "os": "Ubuntu 22.04",
        "dns": f"host-{host_id}.corp.example",
        "netbios": f"HOST{host_id}",
        "last_scan": "2024-04-17T18:56:01Z",
    }
    values.update(facts)
    return Host(
        id=HostId(host_id),
        ip=ip,
        tags=tuple(Tag(name) for name in tags),
        detections=tuple(detections),
        **values,
    )


def result_of(hosts: Iterable[Host], cve: str = CVE) -> SearchResult:
    """A SearchResult holding ``hosts`` in memory with a matching summary."""
    listed = list(hosts)
    summary = SearchSummary(
        hosts=len(listed),
        detections=sum(len(h.detections) for h in listed),
        qids=tuple(sorted({d.qid for h in listed for d in h.detections})),
        pages=1,
        api_calls=3,
        search_list_id=4242,
        search_list_deleted=True,
        elapsed_s=0.5,
    )
    return SearchResult(cve=CveId(cve), options=SearchOptions(), hosts=listed, summary=summary)


def run_of(result: SearchResult, outcome: str = "success") -> RunRecord:
    """The run record of ``result`` with fixed times and harmless parameters."""
    return (
        RunRecord.from_result(
            result,
            started_at=STARTED,
            finished_at=STARTED,
            parameters={"qualys_base_url": "http://qualys.test", "qualys_username": "demo"},
        )
        if outcome == "success"
        else RunRecord(cve=result.cve, started_at=STARTED, finished_at=STARTED, outcome=outcome)
    )


def ingest(
    library: Library, hosts: Iterable[Host], flags: StoreFlags | None = None, cve: str = CVE
):
    """Ingest ``hosts`` as one search result of ``cve``; return the IngestStats."""
    result = result_of(hosts, cve)
    return library.ingest(result, flags or StoreFlags(), run_of(result))


def dump(engine: Engine, *, skip: frozenset[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (sorted), except the tables in ``skip``."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            if table.name not in skip:
                rows = [tuple(row) for row in connection.execute(select(table))]
                tables[table.name] = sorted(rows, key=repr)
    return tables


def rows(engine: Engine, sql_query: Any) -> list[tuple[Any, ...]]:
    """The rows of a Core query, as tuples."""
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sql_query)]
