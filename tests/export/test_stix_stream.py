"""The streaming STIX export: the bytes of the stix2-based exporter it replaced (golden files
written by that exporter, tests/export/data), from memory and from libraries on both backends;
the external merge sort and the frames it walks."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cvesweep.errors import ExportError, InputError
from cvesweep.export import mergesort
from cvesweep.export.stix import bundle_json, stix_id, write_library_stix, write_stix
from cvesweep.export.stixbundle import MemorySource, write_bundle
from cvesweep.library import Library
from cvesweep.library.queries import ExportData, export_records
from tests.backends import library_url_for
from tests.export import stix_cases
from tests.export.stix_library import store
from tests.export.test_stix import assert_valid_stix, sample

DATA = Path(__file__).parent / "data"


def golden(name: str) -> str:
    return (DATA / f"{name}.stix.json").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("sample", sample()),
        ("many", stix_cases.many()),
        ("one-cve", stix_cases.chosen()),
        ("stored", stix_cases.stored()),
        ("stored-one-cve", stix_cases.stored_chosen()),
    ],
)
def test_bundle_of_data_in_memory_is_the_old_exporters_bytes(name: str, data: ExportData) -> None:
    assert bundle_json(data) == golden(name)


def test_small_frames_and_sort_runs_give_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from cvesweep.export import stixbundle

    monkeypatch.setattr(stixbundle, "BATCH", 3)
    monkeypatch.setattr(mergesort, "RUN_SIZE", 5)
    monkeypatch.setattr(mergesort.sorted_records, "__defaults__", (5,))
    assert bundle_json(stix_cases.many()) == golden("many")


def test_bundle_id_is_the_stix_id_of_every_object_id_in_order() -> None:
    bundle = json.loads(golden("many"))
    assert bundle["id"] == stix_id("bundle", *(o["id"] for o in bundle["objects"]))
    assert len(bundle["objects"]) == 272


def test_the_golden_bundles_pass_the_validator() -> None:
    for name in ("many", "stored-one-cve"):
        warnings = assert_valid_stix(golden(name))
        assert all("{103}" in warning for warning in warnings), warnings


def test_write_bundle_counts_the_cves_and_assets_it_wrote() -> None:
    data = stix_cases.many()
    assert write_bundle(MemorySource(data), io.StringIO()) == (4, len(stix_cases.ADDRESSES))


def test_a_stream_that_cannot_be_written_is_an_export_error() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(ExportError, match="No space left on device"):
        write_stix(sample(), Full())


# --- from a library, on SQLite and PostgreSQL ------------------------------------------------


@pytest.fixture
def stored_library(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> Iterator[Engine]:
    """A library holding exactly :func:`stix_cases.stored`, one per backend."""
    with (
        library_url_for(request, backend, tmp_path, made=True) as url,
        Library.open(url, create=True) as library,
    ):
        store(library.engine, stix_cases.stored())
        yield library.engine


def library_text(engine: Engine, cves: list[str] | None = None) -> str:
    stream = io.StringIO()
    write_library_stix(engine, stream, cves)
    return stream.getvalue()


def test_library_bundle_is_the_old_exporters_bytes(stored_library: Engine) -> None:
    assert library_text(stored_library) == golden("stored")
    # What the old exporter read (export_records) is what it wrote: the same library.
    assert bundle_json(export_records(stored_library)) == golden("stored")


def test_library_bundle_of_one_cve_is_the_old_exporters_bytes(stored_library: Engine) -> None:
    assert library_text(stored_library, [stix_cases.CVES[1].lower()]) == golden("stored-one-cve")


def test_library_bundle_in_small_frames_is_the_same(
    stored_library: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cvesweep.export import stixbundle

    monkeypatch.setattr(stixbundle, "BATCH", 4)
    monkeypatch.setattr(mergesort.sorted_records, "__defaults__", (7,))
    assert library_text(stored_library) == golden("stored")


def test_library_export_counts_and_unknown_cve(stored_library: Engine) -> None:
    assert write_library_stix(stored_library, io.StringIO()) == (4, len(stix_cases.ADDRESSES))
    with pytest.raises(InputError, match="CVE-2000-0001"):
        write_library_stix(stored_library, io.StringIO(), ["CVE-2000-0001"])


# --- the merge sort and its frames ---------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 1000])
def test_sorted_records_sorts_across_spilled_runs(count: int) -> None:
    rng = random.Random(count)
    records = [(rng.randrange(4), rng.getrandbits(128), f"v{i}", i) for i in range(count)]
    assert list(mergesort.sorted_records(iter(records), run_size=10)) == sorted(records)


def test_frames_are_read_back_whole_as_often_as_asked() -> None:
    records = [(i, str(i), None) for i in range(23)]
    with mergesort.Frames(records, frame=5) as frames:
        first = list(frames)
        assert [len(frame) for frame in first] == [5, 5, 5, 5, 3]
        assert [r for frame in first for r in frame] == records
        assert list(frames) == first
    with mergesort.Frames([], frame=5) as empty:
        assert list(empty) == []
