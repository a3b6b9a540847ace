"""The three storage flags in every combination: exactly what the library then holds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cvesweep.library import Library, StoreFlags
from cvesweep.library.schema import findings, objects, relationships, runs, tags
from cvesweep.library.schema import object_attributes as attributes
from tests.library.conftest import CVE, detection, host, ingest, rows

IDENTITY = {"Qualys Host ID", "Hostname", "NetBIOS", "Operating System", "Tracking Method"}
SCAN = {"Last Scan Date"}
FINDING = {"Qualys ID", "Severity", "Scan Status", "Scan Type", "Last Found Date"}

HOSTS = [
    host(1, "10.0.0.1", detections=[detection(100), detection(101)], tags=["Prod", "Site A"]),
    host(2, None, ipv6="2001:db8::2", detections=[detection(100)], tags=["Site B"]),
    # a host found without a detection left: only ever kept as a discovered asset
    host(3, "10.0.0.3", tags=["Lab"]),
]
VULNERABLE = {"10.0.0.1": {"Prod", "Site A"}, "2001:db8::2": {"Site B"}}
ALL_TAGS = {**VULNERABLE, "10.0.0.3": {"Lab"}}


def state(engine: Engine) -> dict[str, Any]:
    """The library as plain data: assets with attribute names and tags, CVE tags, links."""
    value_of = dict(rows(engine, select(objects.c.id, objects.c.value)))
    names: dict[str, set[str]] = {}
    for object_id, name in rows(engine, select(attributes.c.object_id, attributes.c.name)):
        names.setdefault(value_of[object_id], set()).add(name)
    tagged: dict[str, set[str]] = {}
    for object_id, name in rows(engine, select(tags.c.object_id, tags.c.name)):
        tagged.setdefault(value_of[object_id], set()).add(name)
    links = rows(engine, select(relationships.c.object_a_id, relationships.c.object_b_id))
    return {
        "objects": set(rows(engine, select(objects.c.kind, objects.c.type, objects.c.value))),
        "attribute_names": names,
        "tags": tagged,
        "links": {frozenset((value_of[a], value_of[b])) for a, b in links},
        "findings": {
            (value_of[a], value_of[c], q)
            for a, c, q in rows(
                engine, select(findings.c.asset_id, findings.c.cve_id, findings.c.qid)
            )
        },
        "runs": rows(engine, select(runs.c.cve, runs.c.outcome)),
    }


def expected(flags: StoreFlags) -> dict[str, Any]:
    kept: dict[str, set[str]] = {}
    if flags.add_assets:
        for value in VULNERABLE:
            kept[value] = SCAN | FINDING
    if flags.add_discovered_assets:
        for value in ALL_TAGS:
            kept[value] = kept.get(value, set()) | SCAN | IDENTITY
    cve_tags = {CVE: set().union(*VULNERABLE.values())} if flags.tag_cves else {}
    return {
        "objects": {("indicator", "CVE", CVE)} | {("asset", "Asset", v) for v in kept},
        "attribute_names": kept,
        "tags": {v: ALL_TAGS[v] for v in kept} | cve_tags,
        "links": {frozenset((CVE, v)) for v in VULNERABLE} if flags.add_assets else set(),
        "findings": (
            {("10.0.0.1", CVE, 100), ("10.0.0.1", CVE, 101), ("2001:db8::2", CVE, 100)}
            if flags.add_assets
            else set()
        ),
        "runs": [(CVE, "success")],
    }


COMBINATIONS = [StoreFlags(*combo) for combo in itertools.product([True, False], repeat=3)]


@pytest.mark.parametrize(
    "flags",
    COMBINATIONS,
    ids=[
        f"assets={f.add_assets}-discovered={f.add_discovered_assets}-tagcves={f.tag_cves}"
        for f in COMBINATIONS
    ],
)
def test_flags_store_exactly_what_they_promise(library: Library, flags: StoreFlags) -> None:
    ingest(library, HOSTS, flags)
    assert state(library.engine) == expected(flags)


@pytest.mark.parametrize("flags", COMBINATIONS[:4])
def test_stats_count_what_was_stored(library: Library, flags: StoreFlags) -> None:
    stats = ingest(library, HOSTS, flags)
    want = expected(flags)
    assert stats.assets_created == len(want["objects"]) - 1
    assert stats.relationships_added == len(want["links"])
    assert stats.findings_added == len(want["findings"])
    assert stats.tags_added == sum(len(names) for names in want["tags"].values())
    assert stats.assets_updated == stats.attributes_removed == stats.findings_updated == 0
