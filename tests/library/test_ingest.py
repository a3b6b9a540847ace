"""Ingest contracts: CVE and run always recorded, run records, real samples, the simulator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cvesweep.library import Library, RunRecord, StoreFlags, run_parameters
from cvesweep.library.schema import (
    attributes,
    findings,
    object_sources,
    objects,
    runs,
    sources,
    tags,
)
from cvesweep.library.writes import driver_value, insert_rows
from cvesweep.models import SearchOptions
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.xml import parse_detection_file
from cvesweep.simulator.knowledgebase import LOG4SHELL
from tests.conftest import Sim
from tests.library.conftest import (
    CVE,
    STARTED,
    detection,
    dump,
    host,
    ingest,
    result_of,
    rows,
    run_of,
)

MULTI_HOST_SAMPLE = "detection_multi_host_5hosts_jupiterone_qg3.xml"


@pytest.mark.parametrize(
    "flags",
    [StoreFlags(), StoreFlags(False, False, False)],
    ids=["all-on", "all-off"],
)
def test_zero_hosts_still_record_the_cve_and_the_run(library: Library, flags: StoreFlags) -> None:
    stats = ingest(library, [], flags, cve="cve-2099-0001")
    assert rows(library.engine, select(objects.c.kind, objects.c.type, objects.c.value)) == [
        ("indicator", "CVE", "CVE-2099-0001")
    ]
    assert rows(library.engine, select(runs.c.cve, runs.c.outcome, runs.c.hosts)) == [
        ("CVE-2099-0001", "success", 0)
    ]
    assert stats.assets_created == 0


def test_every_object_carries_the_qualys_source(library: Library) -> None:
    ingest(library, [host(1, "10.0.0.1", detections=[detection(100)]), host(2, "10.0.0.2")])
    qualys = rows(library.engine, select(sources.c.id, sources.c.name))
    assert [name for _, name in qualys] == ["Qualys"]
    linked = rows(library.engine, select(object_sources.c.object_id, object_sources.c.source_id))
    assert len(linked) == 3 and {s for _, s in linked} == {qualys[0][0]}
    assert {s for (s,) in rows(library.engine, select(attributes.c.source_id))} == {qualys[0][0]}


def test_record_run_stores_a_failed_run_without_stats(library: Library) -> None:
    run = RunRecord(
        cve="CVE-2021-44228",
        started_at=STARTED,
        finished_at=STARTED,
        outcome="failed",
        error="Qualys rejected the detection list (code 1905): bad ips",
        parameters={
            "qualys_username": "demo",
            "qualys_password": "hunter2",
            "nested": {"token": "t"},
        },
        search_list_id=77,
        search_list_deleted=True,
    )
    run_id = library.record_run(run)
    (row,) = rows(library.engine, select(runs).where(runs.c.id == run_id))
    record = dict(zip(runs.c.keys(), row, strict=True))
    assert record["outcome"] == "failed" and record["error"].endswith("bad ips")
    assert record["parameters"] == {"qualys_username": "demo", "nested": {}}
    assert record["assets_created"] is None and record["search_list_id"] == 77
    assert record["started_at"] == STARTED  # aware UTC back from the database
    assert dump(library.engine)["objects"] == []


def test_unknown_outcome_is_refused_and_nothing_is_stored(library: Library) -> None:
    with pytest.raises(ValueError, match="outcome"):
        library.record_run(RunRecord("CVE-2021-44228", STARTED, STARTED, "maybe"))
    assert dump(library.engine)["runs"] == []


def test_run_parameters_are_json_safe_and_name_no_password() -> None:
    since = datetime(2024, 4, 1, 12, 30, tzinfo=UTC)
    found = run_parameters(
        SearchOptions(ips=("10.0.0.0-10.0.0.255",), since=since, min_severity=4),
        flags={"add_assets": True},
        truncation_limit=1000,
        base_url="https://qualysapi.qg2.apps.qualys.com",
        username="demo",
    )
    assert found["since"] == "2024-04-01T12:30:00+00:00" and found["ips"] == ["10.0.0.0-10.0.0.255"]
    assert not any("password" in key for key in found)


def test_real_multi_host_sample_is_stored_host_for_host(
    library: Library, samples_dir: Path
) -> None:
    parsed = parse_detection_file(samples_dir / MULTI_HOST_SAMPLE)
    hosts = list(parsed)
    stats = ingest(library, hosts)
    values = {h.address for h in hosts if h.address}
    stored = {
        v for (v,) in rows(library.engine, select(objects.c.value).where(objects.c.kind == "asset"))
    }
    assert stored == values and stats.assets_created == len(values)
    unique_findings = {(h.address, d.qid) for h in hosts if h.address for d in h.detections}
    assert len(rows(library.engine, select(findings.c.id))) == len(unique_findings)


def test_simulator_search_stores_one_asset_per_address(library: Library, sim: Sim) -> None:
    with sim.client() as client:
        result = search_vulnerable_hosts(client, LOG4SHELL)  # type: ignore[arg-type]
    try:
        hosts = list(result.hosts)
        stats = library.ingest(result, StoreFlags(), run_of(result))
    finally:
        release(result)
    assert stats.assets_created == len({h.address for h in hosts if h.address})
    assert stats.relationships_added == stats.assets_created
    assert stats.findings_added == len(
        {(h.address, d.qid) for h in hosts if h.address for d in h.detections}
    )
    (stored,) = rows(library.engine, select(runs.c.hosts, runs.c.search_list_deleted))
    assert stored == (len(hosts), True)


def test_cve_value_is_upper_case_whatever_the_input(library: Library) -> None:
    result = result_of([host(1, "10.0.0.1", detections=[detection(100)])], cve=CVE.lower())
    library.ingest(result, StoreFlags(), run_of(result))
    assert ("CVE-2021-44228",) in rows(library.engine, select(objects.c.value))
    assert rows(library.engine, select(runs.c.cve)) == [("CVE-2021-44228",)]


@pytest.mark.parametrize(
    "columns",
    [("object_id", "name", "created_at"), ("created_at", "name", "object_id")],
    ids=["table-order", "other-order"],
)
def test_insert_rows_binds_each_value_to_its_column(
    library: Library, columns: tuple[str, ...]
) -> None:
    # A row is a tuple in the order of ``columns``, whatever order the table declares.
    when = datetime(2024, 4, 1, 12, tzinfo=UTC)
    with library.engine.begin() as connection:
        stamp = driver_value(connection, objects.c.created_at, when)
        cve = ("indicator", "CVE", "CVE-2021-44228", None, stamp, stamp)
        insert_rows(connection, objects, [c.name for c in objects.c][1:], [cve])
        values = {"object_id": connection.scalar(select(objects.c.id)), "name": "Site 01"}
        insert_rows(connection, tags, columns, [tuple(values.get(c, stamp) for c in columns)])
        stored = connection.execute(select(tags.c.object_id, tags.c.name, tags.c.created_at))
        assert tuple(stored.one()) == (values["object_id"], "Site 01", when)


def cve_row(connection: Any, value: str) -> tuple[Any, ...]:
    stamp = driver_value(connection, objects.c.created_at, STARTED)
    return ("indicator", "CVE", value, None, stamp, stamp)


OBJECT_COLUMNS = ("kind", "type", "value", "description", "created_at", "updated_at")


def test_insert_rows_skips_rows_another_writer_stored_and_keeps_the_order(
    library: Library,
) -> None:
    # What a concurrent writer causes: a key stored between the lookup and the insert. On
    # PostgreSQL the COPY fails on it and the rows go through ON CONFLICT DO NOTHING instead.
    with library.engine.begin() as connection:
        insert_rows(connection, objects, OBJECT_COLUMNS, [cve_row(connection, "CVE-2021-0002")])
        batch = [
            cve_row(connection, v) for v in ("CVE-2021-0003", "CVE-2021-0002", "CVE-2021-0001")
        ]
        insert_rows(connection, objects, OBJECT_COLUMNS, batch, ignore_conflicts=True)
        stored = connection.execute(select(objects.c.value).order_by(objects.c.id)).scalars()
        assert list(stored) == ["CVE-2021-0002", "CVE-2021-0003", "CVE-2021-0001"]


def test_insert_rows_without_ignore_conflicts_refuses_a_stored_key(library: Library) -> None:
    with library.engine.connect() as connection, connection.begin():
        insert_rows(connection, objects, OBJECT_COLUMNS, [cve_row(connection, "CVE-2021-0002")])
        with pytest.raises(IntegrityError):
            insert_rows(connection, objects, OBJECT_COLUMNS, [cve_row(connection, "CVE-2021-0002")])
