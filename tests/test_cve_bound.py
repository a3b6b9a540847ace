"""The CVE id is bounded before anything is sent: at most CVE_MAX_LENGTH characters
(``CVE-YYYY-`` and up to 23 digits), stored whole by every backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.errors import InputError
from cvesweep.library import Library, queries
from cvesweep.models import CVE_MAX_LENGTH, parse_cve
from cvesweep.simulator.server import SimulatorServer
from tests.backends import library_url_for
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim
from tests.library.conftest import detection, host, ingest

LONGEST = "CVE-2021-" + "1" * (CVE_MAX_LENGTH - 9)  # 32 characters
TOO_LONG = LONGEST + "2"  # 33
HUGE = "CVE-2021-" + "7" * 100_000


def test_the_bound_is_32_characters() -> None:
    assert CVE_MAX_LENGTH == len(LONGEST) == 32 and len(TOO_LONG) == 33


def test_the_longest_id_is_accepted_in_any_case() -> None:
    assert parse_cve(f"  {LONGEST.lower()} ") == LONGEST


@pytest.mark.parametrize("text", [TOO_LONG, HUGE, "  " + TOO_LONG], ids=["33", "100k", "padded"])
def test_a_longer_id_is_an_input_error_naming_the_field_and_its_length(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        parse_cve(text, field="CVE-ID")
    assert time.perf_counter() - started < 0.1
    error = caught.value
    assert error.exit_code == 2 and error.field == "CVE-ID"
    message = str(error)
    assert f"({len(text.strip()):,} characters) is too long" in message
    assert f"at most {CVE_MAX_LENGTH} characters" in message
    assert len(message) < 300  # the value is not repeated whole


@pytest.mark.parametrize("cve", [TOO_LONG, HUGE], ids=["33", "100k"])
def test_search_refuses_a_long_id_with_exit_2_before_any_qualys_call(
    live_sim: tuple[Sim, SimulatorServer], tmp_path: Path, cve: str
) -> None:
    sim, server = live_sim
    config = tmp_path / "config.toml"
    config.write_text("")
    config.chmod(0o600)
    env = {
        "CVESWEEP_QUALYS_URL": server.url,
        "CVESWEEP_QUALYS_USERNAME": SIM_USER,
        "CVESWEEP_QUALYS_PASSWORD": SIM_PASSWORD,
        "CVESWEEP_DB": str(tmp_path / "library.db"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["search", cve, "--config", str(config)], env=env)
    assert result.exit_code == 2, result.output
    assert "CVE-ID" in result.stderr and "too long for a CVE id" in result.stderr
    assert len(result.stderr) < 1000
    assert sim.recorder.requests == []
    assert not (tmp_path / "library.db").exists()


@pytest.fixture
def library(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Library]:
    with library_url_for(request, backend, tmp_path) as url, Library.open(url, create=True) as lib:
        yield lib


def test_the_longest_id_is_stored_whole_on_every_backend(library: Library) -> None:
    ingest(library, [host(1, "10.0.0.1", detections=[detection(100)])], cve=LONGEST)
    [summary] = queries.cve_summaries(library.engine)
    [run] = queries.runs(library.engine)
    assert summary.cve == run.cve == LONGEST
