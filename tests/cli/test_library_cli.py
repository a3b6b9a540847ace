"""``cvesweep library cves|assets|show|runs`` on a library filled by real searches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cvesweep.cli.main import app
from cvesweep.library import listing, queries
from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from tests.backends import BACKENDS
from tests.library.test_queries import DISCOVERED, SECOND, Filled, standard_library

runner = CliRunner()
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


@pytest.fixture(scope="module", params=BACKENDS)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Filled]:
    """The standard library of tests/library/test_queries.py, once per backend."""
    with standard_library(request, tmp_path_factory.mktemp("cli")) as library:
        yield library


def cvesweep(filled: Filled | None, *args: str, db: str | None = None) -> Result:
    """Run ``cvesweep library ARGS`` on ``filled`` (or on ``db``)."""
    where = db if db is not None else filled.url if filled else ""
    return runner.invoke(app, ["library", *args, "--db", where], env=ENV)


def json_of(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def table_lines(result: Result) -> list[list[str]]:
    """The table rows of ``result``, split on runs of 2+ spaces."""
    assert result.exit_code == 0, result.output
    return [
        [c.strip() for c in line.split("  ") if c.strip()] for line in result.stdout.splitlines()
    ]


def test_cves_table_shows_counts_severity_and_last_run(filled: Filled) -> None:
    rows = {row[0]: row for row in table_lines(cvesweep(filled, "cves"))}
    assert rows["CVE"][:3] == ["CVE", "Assets", "Highest severity"]
    log4shell = rows[LOG4SHELL]
    assert log4shell[1] == str(len(filled.vulnerable(LOG4SHELL)))
    assert log4shell[-2:] == ["2026-09-20T08:00:00Z", "success"]
    assert rows[DISCOVERED][1:3] == ["0", "-"]


def test_cves_json_is_the_query_result(filled: Filled) -> None:
    data = json_of(cvesweep(filled, "cves", "--format", "json"))
    expected = queries.cve_summaries(filled.library.engine)
    assert isinstance(data, list)
    assert [(d["cve"], d["assets"], d["highest_severity"]) for d in data] == [
        (s.cve, s.assets, s.highest_severity) for s in expected
    ]
    assert data[0]["last_run_at"].endswith("Z")


def test_assets_table_lists_every_asset_with_ip_hostname_and_tags(filled: Filled) -> None:
    rows = table_lines(cvesweep(filled, "assets"))
    assert rows[0] == ["IP", "Hostname", "CVEs", "Highest severity", "Tags"]
    stored = listing.asset_page(filled.library.engine, limit=1000).items
    assert [row[0] for row in rows[1:]] == [a.value for a in stored]


@pytest.mark.parametrize("cve", [LOG4SHELL, SECOND.lower(), VENDOR_EXAMPLE])
def test_assets_cve_filter_lists_its_vulnerable_hosts(filled: Filled, cve: str) -> None:
    data = json_of(cvesweep(filled, "assets", "--cve", cve, "--format", "json"))
    assert isinstance(data, list)
    assert {d["value"] for d in data} == set(filled.vulnerable(cve.upper()))
    assert all(list(d) == ["value", "hostname", "tags", "cves", "highest_severity"] for d in data)


def test_assets_tag_filter_lists_hosts_with_the_tag(filled: Filled) -> None:
    data = json_of(cvesweep(filled, "assets", "--tag", "pci", "--format", "json"))
    assert isinstance(data, list)
    expected = {
        h.address
        for hosts in filled.hosts.values()
        for h in hosts
        if any(t.name == "PCI" for t in h.tags)
    }
    assert {d["value"] for d in data} == expected
    assert all("PCI" in d["tags"] for d in data)


def test_assets_limit_shows_the_first_page_and_says_so(filled: Filled) -> None:
    result = cvesweep(filled, "assets", "--limit", "3", "--offset", "2", "--format", "json")
    data = json_of(result)
    every = [a.value for a in listing.asset_page(filled.library.engine, limit=1000).items]
    assert [d["value"] for d in data] == every[2:5]  # type: ignore[union-attr]
    assert "showing assets 3 to 5 of" in result.stderr
    assert "more follow" in result.stderr
    assert "--offset 5" in result.stderr


def test_the_next_page_command_keeps_the_filters_and_the_limit(filled: Filled) -> None:
    """The suggested command shows the next page of the same listing, not of every asset."""
    result = cvesweep(filled, "assets", "--cve", LOG4SHELL, "--limit", "2", "--format", "json")
    assert f"(cvesweep library assets --cve {LOG4SHELL} --limit 2 --db … --offset 2)" in (
        result.stderr
    )
    shown = cvesweep(filled, "show", LOG4SHELL, "--limit", "1", "--offset", "1")
    assert f"(cvesweep library show {LOG4SHELL} --limit 1 --db … --offset 2)" in shown.stderr


def test_an_offset_past_the_end_says_so(filled: Filled) -> None:
    result = cvesweep(filled, "assets", "--offset", "100000")
    assert result.exit_code == 0
    assert "--offset 100000 is past the last asset" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cve", "CVE-2000-0001"], "--cve: 'CVE-2000-0001' is not in the library"),
        (["--cve", "log4shell"], "--cve: 'log4shell' is not a CVE id"),
        (["--format", "xml"], "--format: 'xml' is not a format"),
    ],
)
def test_assets_bad_options_exit_2_with_a_message(
    filled: Filled, args: list[str], message: str
) -> None:
    result = cvesweep(filled, "assets", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_show_asset_table_has_every_section(filled: Filled) -> None:
    value, host = sorted(filled.vulnerable(VENDOR_EXAMPLE).items())[0]
    result = cvesweep(filled, "show", value)
    assert result.exit_code == 0, result.output
    lines = table_lines(result)
    assert ["Value", value] in lines
    assert ["Sources", "Qualys"] in lines
    for section in ("Attributes (", "Related (1)", "Findings ("):
        assert section in result.stdout
    qid = str(host.detections[0].qid)
    assert any(line[:2] == ["Qualys ID", qid] for line in lines)
    assert any(line[:3] == [value, VENDOR_EXAMPLE, qid] for line in lines)


def test_show_cve_json_lists_related_assets_and_findings(filled: Filled) -> None:
    data = json_of(cvesweep(filled, "show", VENDOR_EXAMPLE.lower(), "--format", "json"))
    assert isinstance(data, dict)
    assert (data["kind"], data["type"], data["value"]) == ("indicator", "CVE", VENDOR_EXAMPLE)
    assert {r["value"] for r in data["related"]} == set(filled.vulnerable(VENDOR_EXAMPLE))
    assert {f["asset"] for f in data["findings"]} == set(filled.vulnerable(VENDOR_EXAMPLE))
    assert data["created"].endswith("Z")


@pytest.mark.parametrize(
    "value",
    [
        "10.255.255.254",  # an IP that is not stored
        "CVE-2000-0001",  # a CVE that is not stored
        "",  # empty
        "   ",  # blank
        "' OR 1=1 --",  # SQL
        "[bold]red[/bold]",  # rich markup
        "%",  # LIKE wildcard
        "x\x1b[31my",  # a terminal escape
    ],
)
def test_show_of_a_value_not_in_the_library_exits_2_cleanly(filled: Filled, value: str) -> None:
    result = cvesweep(filled, "show", value)
    assert result.exit_code == 2
    assert f"error (input): VALUE: no object {value!r} in the library" in result.stderr
    assert "hint: list what is stored" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_runs_table_and_json_list_runs_newest_first(filled: Filled) -> None:
    rows = table_lines(cvesweep(filled, "runs"))
    assert [row[1] for row in rows[1:]] == [DISCOVERED, VENDOR_EXAMPLE, SECOND, LOG4SHELL]
    assert all(any(cell.endswith(" (deleted)") for cell in row) for row in rows[1:])
    data = json_of(cvesweep(filled, "runs", "--format", "json", "--limit", "2"))
    assert isinstance(data, list)
    assert [d["cve"] for d in data] == [DISCOVERED, VENDOR_EXAMPLE]
    assert data[-1]["hosts"] == len(filled.hosts[VENDOR_EXAMPLE])


@pytest.mark.parametrize("command", ["cves", "assets", "runs"])
def test_missing_library_file_reads_as_empty_and_is_not_created(
    tmp_path: Path, command: str
) -> None:
    path = tmp_path / "nothing-here.db"
    result = cvesweep(None, command, "--format", "json", db=str(path))
    assert json_of(result) == []
    assert "run 'cvesweep search CVE-" in result.stderr
    assert not path.exists()


def test_library_comes_from_cvesweep_db_without_db_flag(filled: Filled) -> None:
    result = runner.invoke(
        app, ["library", "cves", "--format", "json"], env={**ENV, "CVESWEEP_DB": filled.url}
    )
    assert {d["cve"] for d in json_of(result)} >= {LOG4SHELL}  # type: ignore[union-attr]


def test_a_file_that_is_not_a_library_is_a_library_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database at all" * 50)
    result = cvesweep(None, "cves", db=str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error (library):")
    assert "Traceback" not in result.output


def test_assets_are_in_numeric_ip_order(filled: Filled) -> None:
    data = json_of(cvesweep(filled, "assets", "--format", "json"))
    values = [d["value"] for d in data]  # type: ignore[union-attr]
    assert values == sorted(values, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert values != sorted(values)  # the fleet has addresses text order gets wrong


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "--limit"),
        (["--limit", "10001"], "--limit"),
        (["--offset", "-1"], "--offset"),
    ],
)
@pytest.mark.parametrize("command", [["assets"], ["show", LOG4SHELL]])
def test_limit_and_offset_are_bounded(
    filled: Filled, command: list[str], args: list[str], message: str
) -> None:
    result = cvesweep(filled, *command, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_show_limit_pages_related_assets_and_findings_and_says_how_many_more(
    filled: Filled,
) -> None:
    hosts = filled.vulnerable(LOG4SHELL)
    by_ip = sorted(hosts, key=lambda v: tuple(int(p) for p in v.split(".")))
    result = cvesweep(
        filled, "show", LOG4SHELL, "--limit", "4", "--offset", "2", "--format", "json"
    )
    data = json_of(result)
    assert [r["value"] for r in data["related"]] == by_ip[2:6]  # type: ignore[index]
    assert len(data["findings"]) == 4  # type: ignore[index]
    related_more = len(by_ip) - 6
    assert f"{related_more} more related objects" in result.stderr
    assert "more findings; use --offset" in result.stderr
    assert "--offset 6" in result.stderr


def test_show_table_says_how_many_of_how_many(filled: Filled) -> None:
    result = cvesweep(filled, "show", LOG4SHELL, "--limit", "3")
    total = len(filled.vulnerable(LOG4SHELL))
    assert f"Related (3 shown of {total})" in result.stdout
    assert "use --offset" in result.stderr


@pytest.mark.parametrize("limit", ["9223372036854775808", str(10**20), "10001"])
def test_runs_limit_is_bounded(filled: Filled, limit: str) -> None:
    result = cvesweep(filled, "runs", "--limit", limit)
    assert result.exit_code == 2 and "--limit" in result.stderr
    assert "Traceback" not in result.output
