"""parse, cleanup and demo as a user runs them, and the README documenting every command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.models import CveId
from cvesweep.qualys import searchlists
from cvesweep.settings import SETTINGS
from cvesweep.simulator.server import SimulatorServer
from tests.conftest import ROOT, SIM_PASSWORD, SIM_USER, Sim

runner = CliRunner()


def test_parse_shows_the_hosts_of_saved_files(samples_dir: Path) -> None:
    files = [
        samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml",
        samples_dir / "detection_two_hosts_dns_data_potential_new_demisto.xml",
    ]
    result = runner.invoke(app, ["parse", *map(str, files), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["hosts"]) == 7
    assert data["hosts"][0]["id"] == 92661485
    assert {d["qid"] for d in data["hosts"][-1]["detections"]} == {38726, 38739}


def test_parse_of_a_cut_off_file_shows_nothing_and_fails(samples_dir: Path, tmp_path: Path) -> None:
    whole = (samples_dir / "detection_multi_host_5hosts_jupiterone_qg3.xml").read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    result = runner.invoke(app, ["parse", str(cut), "--format", "json"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "FILE" in result.stderr and str(cut) in result.stderr
    assert "cut off" in result.stderr or "well-formed" in result.stderr


def test_parse_says_when_a_file_is_one_page_of_a_truncated_reply(samples_dir: Path) -> None:
    page = samples_dir / "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml"
    result = runner.invoke(app, ["parse", str(page), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hosts"][0]["id"] == 2973339
    assert "truncated" in result.stderr and "3700609" in result.stderr


def test_parse_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(tmp_path / "nope.xml")])
    assert result.exit_code == 2
    assert "FILE" in result.output


def test_cleanup_deletes_only_old_lists_with_the_reserved_prefix(
    live_sim: tuple[Sim, SimulatorServer], tmp_path: Path
) -> None:
    sim, server = live_sim
    old = datetime.now(UTC) - timedelta(hours=3)
    with sim.client() as client:
        stale = searchlists.create(
            client, CveId("CVE-2021-44228"), searchlists.new_title(CveId("CVE-2021-44228"), old)
        )
        fresh = searchlists.create(
            client, CveId("CVE-2021-44228"), searchlists.new_title(CveId("CVE-2021-44228"))
        )
        foreign = searchlists.create(client, CveId("CVE-2021-44228"), "SOC team list")
    env = {
        "CVESWEEP_QUALYS_URL": server.url,
        "CVESWEEP_QUALYS_USERNAME": SIM_USER,
        "CVESWEEP_QUALYS_PASSWORD": SIM_PASSWORD,
    }
    result = runner.invoke(app, ["cleanup"], env=env)
    assert result.exit_code == 0, result.output
    assert f"deleted search list {stale}" in result.stdout
    assert {item["id"] for item in sim.open_lists()} == {fresh, foreign}
    result = runner.invoke(app, ["cleanup", "--older-than", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert [item["id"] for item in sim.open_lists()] == [foreign]


def test_demo_runs_a_search_and_a_kev_sweep_end_to_end() -> None:
    result = runner.invoke(app, ["demo", "--hosts", "400"])
    assert result.exit_code == 0, result.output
    assert "CVE-2021-44228" in result.stdout
    assert re.search(r"deleted: yes", result.stdout)
    assert "sweeping the shipped CISA KEV catalog (1404 CVEs)" in result.stdout
    assert re.search(r"KEV CVEs with vulnerable hosts \(top \d+ of \d+\)", result.stdout)
    assert re.search(r"CVEs\s+1404 \(", result.stdout)


def test_demo_without_the_kev_sweep() -> None:
    result = runner.invoke(app, ["demo", "--hosts", "300", "--no-kev"])
    assert result.exit_code == 0, result.output
    assert "KEV" not in result.stdout


def _command_names(group: object, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            names += _command_names(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_and_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = _command_names(typer.main.get_command(app))
    assert {"search", "parse", "cleanup", "demo", "simulator", "library cves"} <= set(commands)
    for name in commands:
        assert f"cvesweep {name}" in readme or name.split()[-1] in readme, name
    for spec in SETTINGS:
        documented = [spec.env_var, spec.config_key and spec.config_key.split(".")[-1]]
        assert any(d and d in readme for d in documented), spec.name
    for flag in [
        "--ips",
        "--since",
        "--min-severity",
        "--asset-groups",
        "--format",
        "--output",
        "--truncation-limit",
        "--no-store",
        "--db",
        "--ca-bundle",
        "--no-verify-ssl",
    ]:
        assert flag in readme, flag


@pytest.mark.parametrize("status", ["0", "1", "2", "3", "4"])
def test_every_exit_status_is_documented(status: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"^\| {status} \|", readme, re.MULTILINE)


def test_a_prefixed_list_of_unknown_age_is_kept_unless_older_than_is_0() -> None:
    lists = [(1, "cvesweep leftover"), (2, "cvesweep CVE-2021-44228 20200101T000000Z 0a1b2c3d")]
    assert searchlists.find_leftovers(lists, older_than_minutes=60) == [lists[1]]
    assert searchlists.find_leftovers(lists, older_than_minutes=0) == lists


def test_running_one_command_imports_only_its_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from cvesweep.cli import main; main.register(['simulator', '--help']); "
        "print('sqlalchemy' in sys.modules, 'fastapi' in sys.modules, 'stix2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["search", "CVE-2021-44228", "--min-severity", "high"], "--min-severity"),
        (["cleanup", "--older-than", "abc"], "--older-than"),
        (["demo", "--hosts", "0"], "--hosts"),
        (["search", "--no-such-flag"], "--no-such-flag"),
    ],
)
def test_usage_errors_are_one_line_in_the_usual_style_with_exit_2(
    args: list[str], option: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cvesweep", *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("error (input): ") and option in lines[0]
    assert lines[1] == f"hint: see 'cvesweep {args[0]} --help'"
    assert "╭" not in done.stderr and "│" not in done.stderr


@pytest.mark.parametrize("command", ["search", "serve", "simulator", "cleanup", "demo"])
def test_help_shows_no_type_noise_for_flags(command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cvesweep", command, "--help"], capture_output=True, text=True,
        timeout=60, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout and "╭" not in done.stdout
    assert "…" not in done.stdout  # no option name or help cut off


def test_a_closed_pipe_in_any_command_ends_quietly_with_141() -> None:
    """Whatever command writes (e.g. ``library show … | head``): no traceback, exit 141."""
    code = (
        "import cvesweep.cli.main as m\n"
        "def broken(**kw):\n    raise BrokenPipeError(32, 'Broken pipe')\n"
        "m._app = broken\nm.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (141, "")


def test_ctrl_c_while_the_commands_load_is_one_line_and_130() -> None:
    """SIGINT in the first second (modules still importing): no KeyboardInterrupt traceback."""
    code = (
        "import cvesweep.cli.main as m\n"
        "def loading(argv):\n    raise KeyboardInterrupt\n"
        "m.register = loading\nm.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "interrupted\n")
