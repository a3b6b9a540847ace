"""``--auth`` and ``--gateway-url`` as a user runs them, against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.simulator.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim

runner = CliRunner()

WRONG_SECRET = "Wr0ng-client-SECRET-5d1e"  # distinctive, so a leak is easy to grep for
Live = tuple[Sim, SimulatorServer]


@pytest.fixture(autouse=True)
def _no_client_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CVESWEEP_QUALYS_CLIENT_ID", "CVESWEEP_QUALYS_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def no_config(tmp_path: Path) -> Path:
    """An empty config file (so the user's own config never leaks into tests)."""
    path = tmp_path / "config.toml"
    path.write_text("")
    path.chmod(0o600)
    return path


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {"CVESWEEP_QUALYS_URL": url, "NO_COLOR": "1", "COLUMNS": "200", **extra}


USER_ENV = {"CVESWEEP_QUALYS_USERNAME": SIM_USER, "CVESWEEP_QUALYS_PASSWORD": SIM_PASSWORD}
CLIENT_ENV = {
    "CVESWEEP_QUALYS_CLIENT_ID": DEFAULT_CLIENT_ID,
    "CVESWEEP_QUALYS_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
}


def invoke(live: Live, config: Path, *args: str, env: dict[str, str]) -> Any:
    _, server = live
    return runner.invoke(
        app,
        [*args, "--config", str(config)],
        env=env_for(server.url, **env),
        catch_exceptions=False,
    )


def hosts_of(result: Any) -> set[int]:
    assert result.exit_code == 0, result.output
    return {host["id"] for host in json.loads(result.stdout)["hosts"]}


@pytest.mark.parametrize(
    ("auth", "env"), [("jwt", USER_ENV), ("oauth-client", CLIENT_ENV)], ids=["jwt", "oauth-client"]
)
def test_a_token_search_over_a_socket_finds_the_hosts_with_no_basic_header(
    live_sim: Live, no_config: Path, auth: str, env: dict[str, str]
) -> None:
    sim, _ = live_sim
    basic = invoke(
        live_sim, no_config, "search", LOG4SHELL, "-f", "json", "--no-store", env=USER_ENV
    )
    before = sim.state()["auth"]
    result = invoke(
        live_sim, no_config, "search", LOG4SHELL, "-f", "json", "--no-store", "--auth", auth,
        env=env,
    )  # fmt: skip
    assert hosts_of(result) == hosts_of(basic) != set()
    after = sim.state()["auth"]
    assert after["basic"] == before["basic"]  # not one Basic header
    assert after["bearer"] > before["bearer"]
    assert after["tokens_issued"] == before["tokens_issued"] + 1


def test_cleanup_takes_the_auth_options_too(live_sim: Live, no_config: Path) -> None:
    sim, server = live_sim
    result = invoke(
        live_sim, no_config, "cleanup", "--auth", "oauth-client", "--gateway-url", server.url,
        env=CLIENT_ENV,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sim.state()["auth"] == {"basic": 0, "bearer": 1, "none": 0, "tokens_issued": 1}


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_wrong_client_secret_is_exit_3_with_a_hint_and_the_secret_nowhere(
    live_sim: Live, no_config: Path, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    sim, _ = live_sim
    env = {**CLIENT_ENV, "CVESWEEP_QUALYS_CLIENT_SECRET": WRONG_SECRET}
    args = ["search", LOG4SHELL, "--auth", "oauth-client", *(["--debug"] if debug else [])]
    result = invoke(live_sim, no_config, *args, env=env)
    assert result.exit_code == 3, result.output
    assert "refused the API client id and secret (HTTP 401)" in result.stderr
    assert "hint: check the Qualys API client id and secret" in result.stderr
    assert "CVESWEEP_QUALYS_CLIENT_SECRET" in result.stderr
    for seen in (result.stdout, result.stderr, caplog.text):
        assert WRONG_SECRET not in seen
    assert sim.state()["calls"] == {}  # no API call was made


def test_oauth_client_without_a_secret_is_exit_2_before_any_call(
    live_sim: Live, no_config: Path
) -> None:
    sim, _ = live_sim
    env = {"CVESWEEP_QUALYS_CLIENT_ID": DEFAULT_CLIENT_ID}
    result = invoke(live_sim, no_config, "search", LOG4SHELL, "--auth", "oauth-client", env=env)
    assert result.exit_code == 2, result.output
    assert "API client secret for --auth oauth-client" in result.stderr
    assert "CVESWEEP_QUALYS_CLIENT_SECRET" in result.stderr
    assert sim.recorder.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "kerberos"], "--auth: 'kerberos' is not one of basic, jwt, oauth-client"),
        (["--auth", "jwt", "--gateway-url", "http://gateway.example"], "--gateway-url"),
        (["--auth", "jwt", "--gateway-url", "not a url"], "--gateway-url"),
    ],
)
def test_a_bad_auth_option_is_exit_2_before_any_call(
    live_sim: Live, no_config: Path, args: list[str], message: str
) -> None:
    sim, _ = live_sim
    result = invoke(live_sim, no_config, "search", LOG4SHELL, *args, env=USER_ENV)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert sim.recorder.requests == []


def test_the_auth_method_comes_from_the_config_file(live_sim: Live, tmp_path: Path) -> None:
    sim, server = live_sim
    config = tmp_path / "config.toml"
    config.write_text(
        f'[qualys]\nauth = "oauth-client"\ngateway_url = "{server.url}"\n'
        f'client_id = "{DEFAULT_CLIENT_ID}"\nclient_secret = "{DEFAULT_CLIENT_SECRET}"\n'
    )
    config.chmod(0o600)
    result = invoke(live_sim, config, "search", LOG4SHELL, "--no-store", env={})
    assert result.exit_code == 0, result.output
    auth = sim.state()["auth"]
    assert (auth["basic"], auth["tokens_issued"]) == (0, 1)
