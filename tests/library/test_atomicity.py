"""A run that fails while writing leaves the library exactly as it was (dump compare)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from cvesweep.errors import LibraryError
from cvesweep.library import Library, StoreFlags
from cvesweep.library.database import display_url
from cvesweep.library.ingest import BATCH_HOSTS
from cvesweep.models import Host
from tests.library.conftest import detection, dump, host, ingest, result_of, run_of

EARLIER = [host(i, f"10.1.0.{i}", detections=[detection(100)], tags=["Old"]) for i in range(1, 6)]


def fleet(count: int) -> list[Host]:
    """``count`` vulnerable hosts, some already in the library (10.1.0.x), most new."""
    return [
        host(
            i,
            f"10.1.{i // 250}.{i % 250}",
            detections=[detection(100, severity=3), detection(200 + i % 7)],
            tags=["Fleet", f"Site {i % 5}"],
        )
        for i in range(1, count + 1)
    ]


class FailingHosts:
    """Re-iterable hosts that raise ``error`` after yielding ``after`` of them."""

    def __init__(self, hosts: list[Host], after: int, error: BaseException) -> None:
        self.hosts, self.after, self.error = hosts, after, error

    def __iter__(self) -> Iterator[Host]:
        for index, item in enumerate(self.hosts):
            if index == self.after:
                raise self.error
            yield item


@pytest.fixture
def used_library(library: Library) -> Library:
    """A library that already holds an earlier run."""
    ingest(library, EARLIER, cve="CVE-2019-0708")
    return library


@pytest.mark.parametrize(
    "error",
    [RuntimeError("spool read failed"), KeyboardInterrupt()],
    ids=["error", "interrupt"],
)
def test_failure_after_batches_were_written_leaves_the_library_unchanged(
    used_library: Library, error: BaseException
) -> None:
    before = dump(used_library.engine)
    hosts = FailingHosts(fleet(BATCH_HOSTS + 300), after=BATCH_HOSTS + 150, error=error)
    result = result_of(list(hosts.hosts))
    failing = type(result)(
        cve=result.cve, options=result.options, hosts=hosts, summary=result.summary
    )
    with pytest.raises(type(error)):
        used_library.ingest(failing, StoreFlags(), run_of(failing))
    assert dump(used_library.engine) == before


# A trigger failing the insert of the Nth finding, in each backend's dialect.
FAIL_FINDINGS = {
    "sqlite": [
        "CREATE TRIGGER fail_findings BEFORE INSERT ON findings "
        "WHEN (SELECT count(*) FROM findings) >= {after} "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION fail_findings() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF (SELECT count(*) FROM findings) >= {after} THEN "
        "RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER fail_findings BEFORE INSERT ON findings "
        "FOR EACH ROW EXECUTE FUNCTION fail_findings()",
    ],
}


def add_failing_trigger(library: Library, after: int = 40) -> None:
    """Make the library's database refuse any finding beyond the first ``after`` (a real
    database error)."""
    with library.engine.begin() as connection:
        for statement in FAIL_FINDINGS[library.engine.dialect.name]:
            connection.execute(text(statement.format(after=after)))


def test_database_failure_on_the_nth_insert_rolls_everything_back(used_library: Library) -> None:
    add_failing_trigger(used_library)
    before = dump(used_library.engine)
    with pytest.raises(LibraryError) as caught:
        ingest(used_library, fleet(60))
    message = str(caught.value)
    assert "injected failure" in message and display_url(used_library.url) in message
    assert dump(used_library.engine) == before


def test_library_stays_usable_after_a_failed_run(used_library: Library) -> None:
    hosts = FailingHosts(fleet(50), after=25, error=RuntimeError("boom"))
    result = result_of(hosts.hosts)
    failing = type(result)(
        cve=result.cve, options=result.options, hosts=hosts, summary=result.summary
    )
    with pytest.raises(RuntimeError):
        used_library.ingest(failing, StoreFlags(), run_of(failing))
    stats = ingest(used_library, fleet(50))
    assert stats.assets_created == 45 and stats.assets_updated == 5
