"""Every reader shows the same attributes as schema 4 did for the same data (golden dump), and
the view derives exactly the pairs schema 4 stored for findings (mapping.finding_attributes)."""

from __future__ import annotations

import json
from collections import defaultdict

from sqlalchemy import select

from cvesweep.library import Library, mapping
from cvesweep.library.schema import ORIGIN_FINDING, findings, object_attributes
from tests.library.conftest import rows
from tests.library.reader_dump import GOLDEN, build_reference_library, reader_dump


def test_every_reader_shows_what_schema_4_showed(library: Library) -> None:
    build_reference_library(library)
    found = json.loads(json.dumps(reader_dump(library)))  # lists as JSON gives them
    assert found == json.loads(GOLDEN.read_text())


def test_view_derives_the_pairs_of_mapping_finding_attributes(library: Library) -> None:
    build_reference_library(library)
    f = findings.c
    wanted: dict[int, set[tuple[str, str]]] = defaultdict(set)
    facts = select(f.asset_id, f.qid, f.severity, f.status, f.type, f.last_found)
    for asset_id, *known in rows(library.engine, facts):
        wanted[asset_id].update(mapping.finding_attributes(*known))
    view = object_attributes.c
    derived: dict[int, set[tuple[str, str]]] = defaultdict(set)
    query = select(view.object_id, view.name, view.value).where(view.origin == ORIGIN_FINDING)
    for object_id, name, value in rows(library.engine, query):
        assert (name, value) not in derived[object_id]  # each pair once
        derived[object_id].add((name, value))
    assert derived == wanted and len(wanted) == 7
