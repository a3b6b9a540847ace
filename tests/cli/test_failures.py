"""Errors reach the terminal as one plain line with a hint and the documented exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from cvesweep.cli.failures import guarded, report
from cvesweep.errors import ConfigError, InputError, QualysAuthError, QualysConnectionError
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.cli.test_search_cli import env_for
from tests.conftest import Sim


def test_user_text_in_an_error_is_never_read_as_markup(capsys: pytest.CaptureFixture[str]) -> None:
    report(InputError("--asset-groups", "'[/x]' and '[bold]y' are not groups"))
    err = capsys.readouterr().err
    assert "'[/x]' and '[bold]y' are not groups" in err
    assert err.startswith("error (input): --asset-groups:")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("--ips", "bad"), 2),
        (ConfigError("missing the password"), 2),
        (
            QualysAuthError(2000, "Bad Login/Password", call="search list create", http_status=401),
            3,
        ),
        (QualysConnectionError("refused"), 4),
    ],
)
def test_guarded_exits_with_the_documented_code_and_a_hint(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as caught, guarded():
        raise error
    assert caught.value.exit_code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= 2


# --- a real process: a delete that Qualys refuses is reported once ------------------------


def test_a_refused_delete_is_reported_once_with_its_reason(
    make_sim: Callable[..., Sim], tmp_path: Path
) -> None:
    sim = make_sim(size=300, faults=Faults(host_latency=0.05), real_time=True)
    config = tmp_path / "config.toml"
    config.write_text("[qualys]\nretries = 1\n")  # one try: the refusal is final at once
    config.chmod(0o600)
    with SimulatorServer(sim.app, port=0) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(config),
             "--no-store", "-f", "json"],
            env={**os.environ, **env_for(server.url)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not sim.state()["actions"].get("detection.list"):
            assert proc.poll() is None and time.monotonic() < deadline, "never paged"
            time.sleep(0.01)
        sim.set_faults(host_latency=0.0, error_rate=1.0, error_endpoint="search_list")
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (left,) = sim.open_lists()
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        f"warning: the Qualys search list {left['id']} could not be deleted (Qualys failed on "
        "the search list delete (HTTP 503: The service is temporarily unavailable. Please try "
        "again later.) and kept failing); run 'cvesweep cleanup --older-than 0' to remove it"
    ], err
