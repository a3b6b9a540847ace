"""The library as TAXII collections: the objects of ``export stix``, byte for byte, in
date-added order; keyset pages; filters; ``added_after`` exact after a second search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stix2.v21
from sqlalchemy import insert

from cvesweep.errors import ExportError, InputError
from cvesweep.export import taxii
from cvesweep.export.stix import TOOL_TIME, bundle_json
from cvesweep.export.taxii_feed import (
    MAIN,
    Collection,
    Entry,
    Selection,
    address_id,
    collection_id,
    collections,
    find_collection,
    for_cves,
    read_page,
)
from cvesweep.export.taxii_push import _envelopes
from cvesweep.library import queries
from cvesweep.library.changes import FeedKey
from cvesweep.library.schema import KIND_ASSET, TYPE_ASSET, objects
from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from tests.conftest import FakeClock, Sim
from tests.export.test_stix import assert_valid_stix
from tests.library.test_queries import SECOND, Filled, fill_library


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """Log4Shell, CVE-2021-45046 and the vendor example, searched in a 300-host fleet."""
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    library = fill_library(tmp_path_factory.mktemp("taxii"), sim, [LOG4SHELL, SECOND])
    library.ingest(sim, VENDOR_EXAMPLE)
    yield library
    library.library.close()


def every_entry(
    filled: Filled, collection: Collection = MAIN, selection: Selection | None = None, *,
    limit: int = 1000,
) -> list[Entry]:  # fmt: skip
    """Every entry of ``collection``, page by page of ``limit``."""
    entries: list[Entry] = []
    after = None
    while True:
        page = read_page(filled.library.engine, collection, selection or Selection(), after, limit)
        assert len(page.entries) <= limit
        entries += page.entries
        if not page.more:
            return entries
        assert page.next == page.entries[-1].key
        after = page.next


def exported(filled: Filled, cves: list[str] | None = None) -> dict[str, str]:
    """The objects of ``export stix`` by id, each re-serialised compact in its own key order."""
    bundle = bundle_json(queries.export_records(filled.library.engine, cves))
    return {o["id"]: json.dumps(o) for o in json.loads(bundle)["objects"]}


def test_the_library_collection_holds_the_objects_of_export_stix_byte_for_byte(
    filled: Filled,
) -> None:
    entries = every_entry(filled)
    assert {e.id: e.json() for e in entries} == exported(filled)
    assert len(entries) == len({e.id for e in entries})  # one version of each object


def test_a_cve_collection_holds_what_export_stix_cve_exports(filled: Filled) -> None:
    entries = every_entry(filled, for_cves([SECOND.lower()]))
    assert {e.id: e.json() for e in entries} == exported(filled, [SECOND])


def test_every_object_passes_the_validator(filled: Filled) -> None:
    objects = ", ".join(entry.json() for entry in every_entry(filled))
    bundle = '{"type": "bundle", "id": "bundle--6f1c7a52-0c61-4b27-9fd5-6a1e1f2f1b0a", '
    assert_valid_stix(f'{bundle}"objects": [{objects}]}}')


@pytest.mark.parametrize("limit", [1, 2, 7, 100])
def test_pages_of_any_size_give_the_same_objects_in_date_added_order(
    filled: Filled, limit: int
) -> None:
    whole = every_entry(filled)
    paged = every_entry(filled, limit=limit)
    assert [e.key for e in paged] == [e.key for e in whole]
    keys = [e.key for e in whole]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert whole[0].id.startswith("identity--") and whole[0].date_added == TOOL_TIME


def test_date_added_is_the_version_of_sdos_and_sros_and_the_creation_of_addresses(
    filled: Filled,
) -> None:
    for entry in every_entry(filled):
        version = taxii.parse_timestamp(entry.version, "version")
        assert version == entry.date_added, entry.id
        if entry.obj["type"] == "ipv4-addr":
            assert "modified" not in entry.obj


def test_match_type_keeps_only_those_types(filled: Filled) -> None:
    wanted = frozenset({"vulnerability", "ipv4-addr", "identity"})
    entries = every_entry(filled, selection=Selection(types=wanted), limit=5)
    assert {e.obj["type"] for e in entries} == wanted
    everything = every_entry(filled)
    assert len(entries) == sum(1 for e in everything if e.obj["type"] in wanted)


def test_match_id_finds_every_kind_of_object_by_its_stix_id(filled: Filled) -> None:
    everything = every_entry(filled)
    by_type = {e.obj["type"]: e.id for e in everything}
    has = next(e.id for e in everything if e.obj.get("relationship_type") == "has")
    wanted = frozenset({*by_type.values(), has, "vulnerability--0000-not-stored"})
    found = every_entry(filled, selection=Selection(ids=wanted))
    assert {e.id for e in found} == wanted - {"vulnerability--0000-not-stored"}
    assert [e.key for e in found] == sorted(e.key for e in found)


def test_match_version_keeps_the_objects_of_those_instants(filled: Filled) -> None:
    everything = every_entry(filled)
    moment = everything[-1].date_added
    found = every_entry(filled, selection=Selection(versions=(moment, TOOL_TIME)))
    assert {e.id for e in found} == {
        e.id for e in everything if e.date_added in (moment, TOOL_TIME)
    }


@pytest.mark.parametrize(("spec", "count"), [(frozenset({"2.1"}), None), (frozenset({"2.0"}), 0)])
def test_match_spec_version_is_2_1_for_every_object(
    filled: Filled, spec: frozenset[str], count: int | None
) -> None:
    found = every_entry(filled, selection=Selection(spec_versions=spec))
    assert len(found) == (len(every_entry(filled)) if count is None else count)


def test_added_after_gives_exactly_what_a_second_search_added_or_changed(
    tmp_path: Path,
) -> None:
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    filled = fill_library(tmp_path, sim, [LOG4SHELL])
    first = every_entry(filled)
    last_seen = max(e.date_added for e in first)
    filled.ingest(sim, SECOND)  # new hosts, and hosts of both CVEs get a new relationship
    second = every_entry(filled)
    news = every_entry(filled, selection=Selection(added_after=last_seen), limit=3)
    before = {(e.id, e.version) for e in first}
    assert {(e.id, e.version) for e in news} == {(e.id, e.version) for e in second} - before
    assert len(news) == len({e.id for e in news})
    kinds = {e.obj["type"] for e in news}
    assert {"vulnerability", "infrastructure", "ipv4-addr", "relationship"} <= kinds
    changed = {e.id for e in news} & {e.id for e in first}
    assert changed  # assets of both CVEs changed: their new version, once
    assert (
        every_entry(filled, selection=Selection(added_after=max(e.date_added for e in news))) == []
    )
    filled.library.close()


def test_assets_without_an_ip_address_or_with_ipv6_fill_pages_all_the_same(tmp_path: Path) -> None:
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    filled = fill_library(tmp_path, sim, [VENDOR_EXAMPLE])
    late = datetime.now(UTC) + timedelta(days=1)
    rows = [{"kind": KIND_ASSET, "type": TYPE_ASSET, "value": value, "created_at": late,
             "updated_at": late} for value in ("web02", "web03", "2001:db8::7")]  # fmt: skip
    with filled.library.engine.begin() as conn:
        conn.execute(insert(objects), rows)
    tail = every_entry(filled, selection=Selection(added_after=late - timedelta(seconds=1)))
    assert [e.obj["type"] for e in tail] == [
        "infrastructure", "infrastructure", "infrastructure", "ipv6-addr", "relationship",
    ]  # fmt: skip
    paged = every_entry(filled, selection=Selection(added_after=late - timedelta(seconds=1)),
                        limit=1)  # fmt: skip
    assert [e.key for e in paged] == [e.key for e in tail]
    v6 = every_entry(filled, selection=Selection(types=frozenset({"ipv6-addr"})))
    assert [e.obj["value"] for e in v6] == ["2001:db8::7"]
    v4 = every_entry(filled, selection=Selection(types=frozenset({"ipv4-addr"})))
    assert v4 and all(":" not in e.obj["value"] for e in v4)
    filled.library.close()


@pytest.mark.parametrize("value", ["10.0.0.2", "2001:db8::7"])
def test_address_ids_follow_the_stix_rule_as_stix2_computes_it(value: str) -> None:
    kind = stix2.v21.IPv4Address if ":" not in value else stix2.v21.IPv6Address
    assert address_id(value) == kind(value=value).id
    assert address_id("web02") is None


def test_collections_are_the_library_and_one_per_cve_found_by_id_or_alias(filled: Filled) -> None:
    found = collections(filled.library.engine)
    assert [c.alias for c in found] == ["cvesweep", *sorted([LOG4SHELL, SECOND, VENDOR_EXAMPLE])]
    assert len({c.id for c in found}) == 4
    assert found[0].id == collection_id("cvesweep") == "76e68536-a640-5d82-b4f8-08ffc836f654"
    for collection in found:
        assert find_collection(filled.library.engine, collection.id) == collection
        assert find_collection(filled.library.engine, collection.alias) == collection
    assert find_collection(filled.library.engine, "CVE-1999-0001") is None
    assert find_collection(filled.library.engine, "2b0e4c56-0000-4000-8000-000000000000") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00.5Z", datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-01T12:00:00.123456789Z", datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01t12:00:00z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_timestamps_are_rfc_3339_in_utc(text: str, expected: datetime) -> None:
    assert taxii.parse_timestamp(text, "added_after") == expected


@pytest.mark.parametrize("text", ["2026-03-01", "2026-03-01T12:00:00", "2026-13-01T00:00:00Z",
                                  "yesterday", "2026-03-01T12:00:00Z" + "0" * 80])  # fmt: skip
def test_malformed_timestamps_are_input_errors_naming_the_parameter(text: str) -> None:
    with pytest.raises(InputError) as caught:
        taxii.parse_timestamp(text, "added_after")
    assert caught.value.field == "added_after"


def test_next_values_round_trip_and_anything_else_is_refused() -> None:
    key = FeedKey(datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=UTC), 5, 123)
    assert taxii.decode_next(taxii.encode_next(key)) == key
    for bad in ["", "x", "bm90IGEga2V5", "A" * 200, taxii.encode_next(key) + "!"]:
        with pytest.raises(InputError, match="next"):
            taxii.decode_next(bad)


def test_envelopes_are_bounded_in_objects_and_bytes(filled: Filled) -> None:
    entries = every_entry(filled)
    envelopes = list(_envelopes(entries, 20_000, 30))
    assert sum(len(e) for e in envelopes) == len(entries)
    assert all(len(e.body) <= 20_000 and len(e) <= 30 for e in envelopes)
    objects = [o for e in envelopes for o in json.loads(e.body)["objects"]]
    assert [json.dumps(o) for o in objects] == [e.json() for e in entries]
    with pytest.raises(ExportError, match="more than the 200 the TAXII server takes"):
        list(_envelopes(entries, 200, 30))
