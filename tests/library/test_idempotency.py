"""Re-running a search leaves the same library; a changed detection replaces, never adds.

Volatile by design: only the ``runs`` table (each run adds its row). Every other table,
timestamps included, must be identical after an unchanged re-run: ``updated_at`` moves
only when something about the object or finding really changed.
"""

from __future__ import annotations

from sqlalchemy import select

from cvesweep.library import Library, StoreFlags
from cvesweep.library.schema import findings, objects
from cvesweep.library.schema import object_attributes as attributes
from cvesweep.models import CveId
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.simulator.knowledgebase import LOG4SHELL
from tests.conftest import Sim
from tests.library.conftest import VOLATILE_TABLES, detection, dump, host, ingest, rows, run_of

HOSTS = [
    host(1, "10.0.0.1", detections=[detection(100), detection(101, severity=4)], tags=["Prod"]),
    host(2, None, ipv6="2001:db8::2", detections=[detection(100, status="New")], tags=["Lab"]),
    host(3, "10.0.0.3", tags=["Site B"]),
]


def attribute_values(library: Library, value: str, name: str) -> set[str]:
    query = (
        select(attributes.c.value)
        .join(objects, objects.c.id == attributes.c.object_id)
        .where(objects.c.value == value, attributes.c.name == name)
    )
    return {row[0] for row in rows(library.engine, query)}


def test_same_simulator_search_twice_leaves_the_same_library(library: Library, sim: Sim) -> None:
    dumps, all_stats = [], []
    for _ in range(2):
        with sim.client() as client:
            result = search_vulnerable_hosts(client, CveId(LOG4SHELL), truncation_limit=40)
        try:
            all_stats.append(library.ingest(result, StoreFlags(), run_of(result)))
        finally:
            release(result)
        dumps.append(dump(library.engine, skip=VOLATILE_TABLES))
    first, second = all_stats
    assert first.assets_created > 10 and first.findings_added >= first.assets_created
    assert second == type(second)(0, 0, 0, 0, 0, 0, 0, 0)
    assert dumps[0] == dumps[1]
    assert len(dump(library.engine)["runs"]) == 2


def test_same_hand_built_result_twice_changes_nothing_but_the_run_table(library: Library) -> None:
    ingest(library, HOSTS)
    before = dump(library.engine)
    ingest(library, HOSTS)
    after = dump(library.engine)
    assert after.pop("runs")[:1] == before.pop("runs")
    assert after == before


def test_changed_detection_updates_its_finding_and_replaces_its_attributes(
    library: Library,
) -> None:
    ingest(library, HOSTS)
    ids_before = rows(library.engine, select(findings.c.id, findings.c.qid).order_by(findings.c.id))
    changed = [
        host(
            1,
            "10.0.0.1",
            detections=[
                detection(100),
                detection(101, severity=3, status="Re-Opened", last_found="2024-05-01T09:00:00Z"),
            ],
            tags=["Prod"],
        ),
        *HOSTS[1:],
    ]
    stats = ingest(library, changed)
    assert (
        rows(library.engine, select(findings.c.id, findings.c.qid).order_by(findings.c.id))
        == ids_before
    )
    (row,) = rows(
        library.engine,
        select(findings.c.severity, findings.c.status, findings.c.last_found).where(
            findings.c.qid == 101
        ),
    )
    assert row == (3, "Re-Opened", "2024-05-01T09:00:00Z")
    assert attribute_values(library, "10.0.0.1", "Severity") == {"5", "3"}  # 100 is still 5
    assert attribute_values(library, "10.0.0.1", "Scan Status") == {"Active", "Re-Opened"}
    assert attribute_values(library, "10.0.0.1", "Last Found Date") == {
        "2024-04-17T18:56:01Z",
        "2024-05-01T09:00:00Z",
    }
    assert (stats.findings_updated, stats.findings_added, stats.assets_updated) == (1, 0, 1)
    assert attribute_values(library, "10.0.0.1", "Severity") == {"5", "3"}  # Severity 4 gone
    # Finding attributes are computed when read (schema 5): no stored attribute changed.
    assert (stats.attributes_added, stats.attributes_removed) == (0, 0)


def test_value_still_produced_by_another_finding_is_kept(library: Library) -> None:
    ingest(library, [host(1, "10.0.0.1", detections=[detection(100), detection(101)])])
    stats = ingest(
        library, [host(1, "10.0.0.1", detections=[detection(100), detection(101, severity=2)])]
    )
    assert attribute_values(library, "10.0.0.1", "Severity") == {"5", "2"}
    assert (stats.attributes_added, stats.attributes_removed) == (0, 0)  # none is stored


def test_changed_identity_fact_replaces_the_single_value(library: Library) -> None:
    ingest(library, HOSTS)
    stats = ingest(
        library, [host(1, "10.0.0.1", os="Windows Server 2022", last_scan="2024-06-01T00:00:00Z")]
    )
    assert attribute_values(library, "10.0.0.1", "Operating System") == {"Windows Server 2022"}
    assert attribute_values(library, "10.0.0.1", "Last Scan Date") == {"2024-06-01T00:00:00Z"}
    assert (stats.attributes_added, stats.attributes_removed, stats.assets_updated) == (2, 2, 1)


def test_only_changed_objects_get_a_new_updated_at(library: Library) -> None:
    ingest(library, HOSTS)
    stamp = dict(rows(library.engine, select(objects.c.value, objects.c.updated_at)))
    ingest(library, [host(3, "10.0.0.3", tags=["Site B", "New tag"]), *HOSTS[:2]])
    now = dict(rows(library.engine, select(objects.c.value, objects.c.updated_at)))
    assert now["10.0.0.3"] > stamp["10.0.0.3"]
    assert {v: t for v, t in now.items() if v != "10.0.0.3"} == {
        v: t for v, t in stamp.items() if v != "10.0.0.3"
    }


def test_run_records_carry_the_stats_of_their_ingest(library: Library) -> None:
    first = ingest(library, HOSTS)
    second = ingest(library, HOSTS)
    stored = dump(library.engine)["runs"]
    assert [r[-8:] for r in sorted(stored)] == [
        tuple(vars(first).values()),
        tuple(vars(second).values()),
    ]
