"""``cvesweep search`` with many CVEs, a CVE file or a KEV catalog, as a user runs it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cvesweep.cvelists import load_targets
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE
from tests.cli.test_search_cli import search

KEV = (
    Path(__file__).resolve().parents[2]
    / "src/cvesweep/data/kev/known_exploited_vulnerabilities.json"
)
HEARTBLEED = "CVE-2014-0160"


@pytest.fixture
def no_config(tmp_path: Path) -> Path:
    """An empty config file (the user's own config never leaks into tests)."""
    path = tmp_path / "config.toml"
    path.write_text("")
    path.chmod(0o600)
    return path


def test_several_cves_give_one_object_each_with_the_single_search_host_shape(  # type: ignore[no-untyped-def]
    live_sim, no_config: Path
) -> None:
    single = search(live_sim, no_config, LOG4SHELL, "-f", "json", "--no-store")
    swept = search(
        live_sim, no_config, LOG4SHELL, HEARTBLEED, NO_QID_CVE, "-f", "json", "--no-store"
    )
    assert single.exit_code == 0 and swept.exit_code == 0, swept.output
    data = json.loads(swept.stdout)
    assert list(data) == ["filters", "cves", "sweep"]
    by_cve = {entry["cve"]: entry for entry in data["cves"]}
    assert list(by_cve) == [LOG4SHELL, HEARTBLEED, NO_QID_CVE]
    assert by_cve[LOG4SHELL]["hosts"] == json.loads(single.stdout)["hosts"]
    assert by_cve[NO_QID_CVE]["no_qid"] is True and by_cve[NO_QID_CVE]["hosts"] == []
    assert data["sweep"]["cves"] == 3 and data["sweep"]["cves_without_qid"] == 1
    assert all(one["deleted"] for one in data["sweep"]["search_lists"])
    assert "Qualys knows no QID for 1 of the 3 CVEs" in swept.stderr
    assert live_sim[0].open_lists() == []


def test_the_kev_catalog_sweep_has_a_cve_column_in_csv(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, "--kev", str(KEV), "-f", "csv", "--no-store")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:3] == ["cve", "host_id", "ip"] and len(rows) > 1
    kev_ids = {t.cve for t in load_targets(kev_files=[str(KEV)])}
    swept = {row[0] for row in rows[1:]}
    assert LOG4SHELL in swept and swept <= kev_ids


def test_the_table_groups_by_cve_with_the_kev_facts(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, "--kev", str(KEV), "--no-store")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Due date" in text and "Apache / Log4j2" in text and LOG4SHELL in text
    assert "Qualys knows no QID for" in text and "1404 (" in text


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--kev-added-since", "2025-01-01"], "--kev-added-since"),
        (["--kev-ransomware"], "--kev-ransomware"),
        (["--kev", str(KEV), "--kev-added-since", "last week"], "--kev-added-since"),
        ([LOG4SHELL, "log4shell"], "CVE-ID"),
        ([], "CVE-ID"),
        (
            ["--kev", str(KEV), "--kev-added-since", "2030-01-01"],
            "--kev-added-since: no entry of the KEV catalog matches --kev-added-since 2030-01-01",
        ),
        (
            ["--kev", str(KEV), "--kev-added-since", "2025-08-01", "--kev-ransomware"],
            "matches --kev-added-since 2025-08-01 and --kev-ransomware",
        ),
    ],
)
def test_bad_sweep_inputs_exit_2_before_any_call(  # type: ignore[no-untyped-def]
    live_sim, no_config: Path, args: list[str], field: str
) -> None:
    result = search(live_sim, no_config, *args)
    assert result.exit_code == 2, result.output
    assert field in result.stderr
    assert live_sim[0].recorder.requests == []


def test_a_bad_line_of_a_cve_file_is_named(live_sim, no_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = tmp_path / "advisory.txt"
    ids.write_text(f"# advisory\n{LOG4SHELL}\nCVE-2021-45046\nCVE-21-1\n")
    result = search(live_sim, no_config, "--cve-file", str(ids))
    assert result.exit_code == 2, result.output
    assert "advisory.txt line 4" in result.stderr
    assert live_sim[0].recorder.requests == []


def test_a_stored_sweep_is_one_run_listing_its_cves(
    live_sim, no_config: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from cvesweep.library import Library
    from cvesweep.library.queries import runs

    db = tmp_path / "lib.db"
    result = search(live_sim, no_config, LOG4SHELL, HEARTBLEED, "--db", str(db))
    assert result.exit_code == 0, result.output
    with Library.open(f"sqlite:///{db}") as library:
        (run,) = runs(library.engine)
    assert run.cve == "SWEEP" and run.outcome == "success"
    assert run.parameters["cves"] == [LOG4SHELL, HEARTBLEED]
    assert set(run.parameters["per_cve"]) == {LOG4SHELL, HEARTBLEED}  # type: ignore[arg-type]
