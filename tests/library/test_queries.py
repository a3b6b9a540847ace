"""The library's read API against a library filled by real searches of the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cvesweep.errors import InputError, LibraryError
from cvesweep.library import Library, RunRecord, StoreFlags, queries
from cvesweep.models import CveId, Host
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from cvesweep.sweeprun import SWEEP_RUN_CVE
from tests.backends import BACKENDS, library_url_for
from tests.conftest import FakeClock, Sim

SECOND = "CVE-2021-45046"  # shares many hosts with Log4Shell in the seed-7 fleet
DISCOVERED = "CVE-2024-3094"  # ingested with --no-add-assets: inventory only
RUN_TIME = datetime(2026, 9, 20, 8, 0, tzinfo=UTC)


@dataclass
class Filled:
    """A library filled by real searches, and the hosts each search returned."""

    url: str
    library: Library
    hosts: dict[str, list[Host]] = field(default_factory=dict)
    runs: int = 0

    def ingest(self, sim: Sim, cve: str, flags: StoreFlags | None = None) -> list[Host]:
        """Search ``sim`` for ``cve`` and ingest the result; return its hosts."""
        with sim.client() as client:
            result = search_vulnerable_hosts(client, CveId(cve))
        try:
            hosts = list(result.hosts)
            started = RUN_TIME + timedelta(minutes=self.runs)
            run = RunRecord.from_result(
                result, started_at=started, finished_at=started, parameters={"cve": cve}
            )
            self.library.ingest(result, flags or StoreFlags(), run)
        finally:
            release(result)
        self.runs += 1
        self.hosts[cve] = hosts
        return hosts

    def vulnerable(self, cve: str) -> dict[str, Host]:
        """The hosts of ``cve`` stored as vulnerable assets, by address."""
        return {h.address: h for h in self.hosts[cve] if h.address and h.detections}


def fill_library(where: str | Path, sim: Sim, cves: Sequence[str]) -> Filled:
    """Open a fresh library and ingest a search of each CVE; ``where`` is its URL, or a
    directory for a SQLite file."""
    url = where if isinstance(where, str) else f"sqlite:///{where / 'library.db'}"
    filled = Filled(url, Library.open(url, create=True))
    for cve in cves:
        filled.ingest(sim, cve)
    return filled


def fill_standard(where: str | Path) -> Filled:
    """Log4Shell, CVE-2021-45046 and the vendor example stored; CVE-2024-3094 discovered only.

    The simulator is the shared 300-host fleet of seed 7.
    """
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    library = fill_library(where, sim, [LOG4SHELL, SECOND, VENDOR_EXAMPLE])
    library.ingest(sim, DISCOVERED, StoreFlags(add_assets=False))
    return library


@contextmanager
def standard_library(request: pytest.FixtureRequest, directory: Path) -> Iterator[Filled]:
    """The standard library on the backend of ``request.param`` (a module fixture's)."""
    with library_url_for(request, request.param, directory) as url:
        library = fill_standard(url)
        try:
            yield library
        finally:
            library.library.close()


@pytest.fixture(scope="module", params=BACKENDS)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    """The standard library, shared by the read-only tests of this module, per backend."""
    with standard_library(request, tmp_path_factory.mktemp("library")) as library:
        yield library


def max_severity(hosts: Sequence[Host]) -> int | None:
    found = [d.severity for h in hosts for d in h.detections if d.severity is not None]
    return max(found, default=None)


def test_cve_summaries_count_assets_and_highest_severity(filled: Filled) -> None:
    summaries = {s.cve: s for s in queries.cve_summaries(filled.library.engine)}
    assert list(summaries) == sorted([LOG4SHELL, SECOND, VENDOR_EXAMPLE, DISCOVERED])
    for cve in (LOG4SHELL, SECOND, VENDOR_EXAMPLE):
        vulnerable = filled.vulnerable(cve)
        assert vulnerable, f"the fleet should have hosts vulnerable to {cve}"
        assert summaries[cve].assets == len(vulnerable)
        assert summaries[cve].highest_severity == max_severity(list(vulnerable.values()))
        tags = {t.name for h in vulnerable.values() for t in h.tags}
        assert summaries[cve].tags == tuple(sorted(tags))
        assert summaries[cve].last_run_outcome == "success"


def test_discovered_only_cve_has_no_assets_but_its_last_run(filled: Filled) -> None:
    summary = {s.cve: s for s in queries.cve_summaries(filled.library.engine)}[DISCOVERED]
    assert (summary.assets, summary.highest_severity) == (0, None)
    assert summary.last_run_at == RUN_TIME + timedelta(minutes=3)


def test_cve_with_only_a_failed_run_is_listed_with_that_outcome(library_url: str, sim: Sim) -> None:
    filled = fill_library(library_url, sim, [VENDOR_EXAMPLE])
    filled.library.record_run(
        RunRecord(cve="CVE-2020-0001", started_at=RUN_TIME, finished_at=RUN_TIME, outcome="failed")
    )
    summaries = {s.cve: s for s in queries.cve_summaries(filled.library.engine)}
    filled.library.close()
    assert list(summaries) == ["CVE-2019-17053", "CVE-2020-0001"]
    assert (summaries["CVE-2020-0001"].assets, summaries["CVE-2020-0001"].last_run_outcome) == (
        0,
        "failed",
    )


def test_empty_library_has_no_cves_assets_or_runs(library_url: str) -> None:
    with Library.open(library_url, create=True) as library:
        assert queries.cve_summaries(library.engine) == []
        assert queries.assets(library.engine) == []
        assert queries.runs(library.engine) == []
        assert queries.export_records(library.engine) == queries.ExportData()


def test_assets_count_cves_and_highest_severity_per_asset(filled: Filled) -> None:
    found = {a.value: a for a in queries.assets(filled.library.engine)}
    every = {h.address for hosts in filled.hosts.values() for h in hosts if h.address}
    assert set(found) == every
    for value, asset in found.items():
        hosts = [
            filled.vulnerable(cve)[value]
            for cve in (LOG4SHELL, SECOND, VENDOR_EXAMPLE)
            if value in filled.vulnerable(cve)
        ]
        assert asset.cves == len(hosts), value
        assert asset.highest_severity == max_severity(hosts), value
    assert list(found) == sorted(found)


def test_discovered_asset_keeps_hostname_and_tags_without_cves(filled: Filled) -> None:
    stored = {a.value: a for a in queries.assets(filled.library.engine)}
    host = filled.hosts[DISCOVERED][0]
    asset = stored[host.address or ""]
    assert asset.hostname == host.hostname
    assert set(asset.tags) >= {t.name for t in host.tags}


@pytest.mark.parametrize("cve", [LOG4SHELL, SECOND, VENDOR_EXAMPLE.lower()])
def test_assets_of_a_cve_are_its_vulnerable_hosts(filled: Filled, cve: str) -> None:
    found = queries.assets(filled.library.engine, cve=cve)
    vulnerable = filled.vulnerable(cve.upper())
    assert {a.value for a in found} == set(vulnerable)
    for asset in found:
        assert asset.highest_severity == max_severity([vulnerable[asset.value]])


@pytest.mark.parametrize("tag", ["Production", "production", " PRODUCTION "])
def test_assets_with_a_tag_match_it_in_any_case(filled: Filled, tag: str) -> None:
    found = {a.value for a in queries.assets(filled.library.engine, tag=tag)}
    expected = {
        h.address
        for hosts in filled.hosts.values()
        for h in hosts
        if h.address and any(t.name == "Production" for t in h.tags)
    }
    assert found == expected
    assert found


def test_assets_filtered_by_cve_and_tag_together(filled: Filled) -> None:
    found = {
        a.value for a in queries.assets(filled.library.engine, cve=LOG4SHELL, tag="Production")
    }
    expected = {
        value
        for value, host in filled.vulnerable(LOG4SHELL).items()
        if any(t.name == "Production" for t in host.tags)
    }
    assert found == expected


def test_unknown_tag_gives_no_assets(filled: Filled) -> None:
    assert queries.assets(filled.library.engine, tag="no such tag") == []


def test_search_matches_value_or_hostname_and_treats_wildcards_literally(filled: Filled) -> None:
    engine = filled.library.engine
    host = filled.hosts[DISCOVERED][0]
    assert host.hostname and host.address
    by_name = {a.value for a in queries.assets(engine, search=host.hostname.upper())}
    assert host.address in by_name
    assert {a.value for a in queries.assets(engine, search=host.address)} == {host.address}
    assert queries.assets(engine, search="%") == []
    assert queries.assets(engine, search="_") == []


def test_limit_and_offset_page_through_the_assets(filled: Filled) -> None:
    engine = filled.library.engine
    everything = queries.assets(engine)
    pages = [
        queries.assets(engine, limit=7, offset=start) for start in range(0, len(everything), 7)
    ]
    assert [a for page in pages for a in page] == everything
    assert all(len(page) == 7 for page in pages[:-1])


def test_assets_of_a_cve_not_in_the_library_is_an_input_error(filled: Filled) -> None:
    with pytest.raises(InputError) as caught:
        queries.assets(filled.library.engine, cve="CVE-2000-0001")
    assert caught.value.field == "--cve"
    assert caught.value.exit_code == 2


def test_asset_detail_has_attributes_tags_sources_related_and_findings(filled: Filled) -> None:
    value, host = sorted(filled.vulnerable(LOG4SHELL).items())[0]
    detail = queries.object_detail(filled.library.engine, value)
    assert (detail.kind, detail.type, detail.value) == ("asset", "Asset", value)
    names = {(a.name, a.value) for a in detail.attributes}
    for detection in host.detections:
        assert ("Qualys ID", str(detection.qid)) in names
    assert ("Last Scan Date", host.last_scan) in names
    assert {a.source for a in detail.attributes} == {"Qualys"}
    assert detail.sources == ("Qualys",)
    assert detail.tags == tuple(sorted(t.name for t in host.tags))
    related = {r.value for r in detail.related}
    assert LOG4SHELL in related
    assert all(r.kind == "indicator" and r.type == "CVE" for r in detail.related)
    mine = [f for f in detail.findings if f.cve == LOG4SHELL]
    assert sorted(f.qid for f in mine) == sorted(d.qid for d in host.detections)
    assert {f.severity for f in mine} == {d.severity for d in host.detections}


def test_cve_detail_is_found_in_any_case_and_lists_its_assets(filled: Filled) -> None:
    detail = queries.object_detail(filled.library.engine, f"  {SECOND.lower()} ")
    assert (detail.kind, detail.type, detail.value) == ("indicator", "CVE", SECOND)
    assert {r.value for r in detail.related} == set(filled.vulnerable(SECOND))
    assert {f.asset for f in detail.findings} == set(filled.vulnerable(SECOND))
    assert detail.created <= detail.updated


@pytest.mark.parametrize(
    "value", ["10.255.255.254", "CVE-2000-0001", "", "   ", "' OR 1=1 --", "[bold]x[/bold]", "%"]
)
def test_object_not_in_the_library_is_an_input_error_naming_it(filled: Filled, value: str) -> None:
    with pytest.raises(InputError) as caught:
        queries.object_detail(filled.library.engine, value)
    assert caught.value.field == "VALUE"
    assert repr(value) in caught.value.message


def test_runs_are_listed_newest_first_with_their_counts(filled: Filled) -> None:
    found = queries.runs(filled.library.engine)
    assert [r.cve for r in found] == [DISCOVERED, VENDOR_EXAMPLE, SECOND, LOG4SHELL]
    assert found[-1].hosts == len(filled.hosts[LOG4SHELL])
    assert found[-1].parameters == {"cve": LOG4SHELL}
    assert all(r.outcome == "success" and r.search_list_deleted for r in found)
    assert [r.cve for r in queries.runs(filled.library.engine, limit=1)] == [DISCOVERED]


def test_export_records_hold_every_cve_asset_and_link(filled: Filled) -> None:
    data = queries.export_records(filled.library.engine)
    assert {c.value for c in data.cves} == {LOG4SHELL, SECOND, VENDOR_EXAMPLE, DISCOVERED}
    assert len(data.assets) == len(queries.assets(filled.library.engine))
    links = {(link.asset, link.cve) for link in data.links}
    expected = {(v, c) for c in (LOG4SHELL, SECOND, VENDOR_EXAMPLE) for v in filled.vulnerable(c)}
    assert links == expected
    for link in data.links:
        host = filled.vulnerable(link.cve)[link.asset]
        assert sorted(f.qid for f in link.findings) == sorted(d.qid for d in host.detections)


def test_export_records_of_chosen_cves_hold_only_their_assets(filled: Filled) -> None:
    data = queries.export_records(filled.library.engine, [VENDOR_EXAMPLE.lower()])
    assert [c.value for c in data.cves] == [VENDOR_EXAMPLE]
    assert {a.value for a in data.assets} == set(filled.vulnerable(VENDOR_EXAMPLE))
    assert {link.cve for link in data.links} == {VENDOR_EXAMPLE}
    hostnames = {h.address: h.hostname for h in filled.hosts[VENDOR_EXAMPLE]}
    assert {a.value: a.hostname for a in data.assets} == hostnames


def test_export_records_of_an_unknown_cve_is_an_input_error(filled: Filled) -> None:
    with pytest.raises(InputError, match="CVE-2000-0001"):
        queries.export_records(filled.library.engine, [LOG4SHELL, "CVE-2000-0001"])


def test_a_file_that_is_not_a_database_is_a_library_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not sqlite" * 100)
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    read: Callable[[], object]
    for read in (lambda: queries.cve_summaries(engine), lambda: queries.runs(engine)):
        with pytest.raises(LibraryError, match="reading failed"):
            read()
    engine.dispose()


def test_a_sweep_is_the_last_run_of_each_cve_it_listed(library_url: str, sim: Sim) -> None:
    filled = fill_library(library_url, sim, [VENDOR_EXAMPLE])  # a single run, then a sweep
    cves = [LOG4SHELL, SECOND]
    with sim.client() as client:
        results = [search_vulnerable_hosts(client, CveId(cve)) for cve in cves]
    swept_at = RUN_TIME + timedelta(hours=1)
    run = RunRecord(
        cve=SWEEP_RUN_CVE,
        started_at=swept_at,
        finished_at=swept_at,
        outcome="success",
        parameters={"cves": cves, "per_cve": {}},
    )
    try:
        filled.library.ingest_many(results, StoreFlags(), run)
    finally:
        for result in results:
            release(result)
    summaries = {s.cve: s for s in queries.cve_summaries(filled.library.engine)}
    filled.library.close()
    assert list(summaries) == sorted([VENDOR_EXAMPLE, *cves])  # no "SWEEP" row
    for cve in cves:
        assert (summaries[cve].last_run_at, summaries[cve].last_run_outcome) == (
            swept_at,
            "success",
        )
    assert summaries[VENDOR_EXAMPLE].last_run_at == RUN_TIME


def test_the_newer_of_a_single_run_and_a_sweep_is_the_last_run(library_url: str) -> None:
    later = RUN_TIME + timedelta(minutes=5)
    with Library.open(library_url, create=True) as library:
        sweep = RunRecord(
            cve=SWEEP_RUN_CVE,
            started_at=RUN_TIME,
            finished_at=RUN_TIME,
            outcome="failed",
            parameters={"cves": ["CVE-2020-0001", "CVE-2020-0002"]},
        )
        library.record_run(sweep)
        library.record_run(
            RunRecord(cve="CVE-2020-0002", started_at=later, finished_at=later, outcome="success")
        )
        summaries = {s.cve: s for s in queries.cve_summaries(library.engine)}
    assert {cve: (s.last_run_at, s.last_run_outcome) for cve, s in summaries.items()} == {
        "CVE-2020-0001": (RUN_TIME, "failed"),
        "CVE-2020-0002": (later, "success"),
    }
