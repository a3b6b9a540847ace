"""The table as a real process writes it: to a pipe no value is split mid-word; on a narrow
terminal (a pty, COLUMNS=60) the columns left out are named, and every line fits."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.cli.test_search_cli import env_for
from tests.conftest import Sim

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("")
    path.chmod(0o600)
    return path


def _command(server: SimulatorServer, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(config),
            "--no-store", *args]  # fmt: skip


def _env(server: SimulatorServer, **extra: str) -> dict[str, str]:
    return {**os.environ, **env_for(server.url), **extra}


def _hosts(server: SimulatorServer, config: Path) -> list[dict[str, Any]]:
    done = subprocess.run(_command(server, config, "-f", "json"), env=_env(server),
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return list(json.loads(done.stdout)["hosts"])


def _column(lines: list[str], title: str, after: str | None) -> list[list[str]]:
    """Each host row's pieces of column ``title`` (a row starts where the IP column is set)."""
    header = lines[0]
    start = header.index(title)
    end = header.index(after) if after else None
    rows: list[list[str]] = []
    for line in lines[2:]:
        if not line.strip():
            break
        if line[:15].strip():
            rows.append([])
        piece = line[start:end].strip()
        if piece:
            rows[-1].append(piece)
    return rows


def test_a_table_to_a_pipe_never_splits_a_value_mid_word(
    live_sim: tuple[Sim, SimulatorServer], config: Path
) -> None:
    _, server = live_sim
    hosts = _hosts(server, config)
    done = subprocess.run(_command(server, config), env=_env(server), capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    lines = done.stdout.splitlines()
    names = _column(lines, "Hostname", "QIDs")
    tags = _column(lines, "Tags", None)
    assert len(names) == len(hosts) == len(tags)
    assert any(len(pieces) > 1 for pieces in names)  # the long names did wrap...
    for host, pieces, tag_pieces in zip(hosts, names, tags, strict=True):
        assert "".join(pieces) == (host["dns"] or "-")  # ...only before a dot
        assert all(piece.startswith(".") for piece in pieces[1:]), pieces
        assert " ".join(tag_pieces) == ", ".join(host["tags"])  # tags wrap at spaces only
    assert max(len(line) for line in lines) <= 160
    assert "left out" not in done.stdout


def _on_a_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``command`` with its stdout on a pty; return its exit status and what it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(command, env=env, stdout=follower, stderr=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc.wait(60), ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def test_a_narrow_terminal_names_the_columns_it_leaves_out(
    live_sim: tuple[Sim, SimulatorServer], config: Path
) -> None:
    _, server = live_sim
    code, out = _on_a_terminal(_command(server, config), _env(server, COLUMNS="60"))
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= 60
    header = lines[0]
    assert "Hostname" in header and "Status" not in header
    note = " ".join(out.split("\n\n")[0].splitlines()[-3:])
    assert "left out to fit 60 columns: Status, Type, Last found, Last scan, Tags" in " ".join(
        note.split()
    )
    assert "Time" in out  # the summary follows


def test_a_wide_terminal_leaves_nothing_out(
    live_sim: tuple[Sim, SimulatorServer], config: Path
) -> None:
    _, server = live_sim
    code, out = _on_a_terminal(_command(server, config), _env(server, COLUMNS="200"))
    assert code == 0, out
    assert "Last scan" in out and "left out" not in out
