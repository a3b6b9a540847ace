"""``cvesweep search`` as a user runs it: inputs validated first, outputs, exit codes, TLS."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cvesweep.cli.main import app
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE
from cvesweep.simulator.server import SimulatorServer
from tests.conftest import SIM_PASSWORD, SIM_USER, Sim

runner = CliRunner()


def env_for(url: str | None, *, password: str | None = SIM_PASSWORD) -> dict[str, str]:
    env = {"CVESWEEP_QUALYS_USERNAME": SIM_USER, "NO_COLOR": "1", "COLUMNS": "200"}
    if url is not None:
        env["CVESWEEP_QUALYS_URL"] = url
    if password is not None:
        env["CVESWEEP_QUALYS_PASSWORD"] = password
    return env


@pytest.fixture
def no_config(tmp_path: Path) -> Path:
    """An empty config file (so the user's own config never leaks into tests)."""
    path = tmp_path / "config.toml"
    path.write_text("")
    path.chmod(0o600)
    return path


def search(live: tuple[Sim, SimulatorServer], no_config: Path, *args: str, **env_kw: object):  # type: ignore[no-untyped-def]
    _, server = live
    env = env_for(server.url, **env_kw)  # type: ignore[arg-type]
    return runner.invoke(app, ["search", *args, "--config", str(no_config)], env=env)


def test_json_output_follows_the_contract(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, LOG4SHELL, "--format", "json", "--min-severity", "1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["cve", "filters", "hosts", "summary"]
    assert data["cve"] == LOG4SHELL
    assert data["filters"] == {"ips": [], "since": None, "min_severity": 1, "asset_groups": []}
    host = data["hosts"][0]
    assert list(host) == [
        "id",
        "ip",
        "ipv6",
        "dns",
        "netbios",
        "os",
        "tracking_method",
        "last_scan",
        "tags",
        "detections",
    ]
    assert list(host["detections"][0]) == [
        "qid",
        "type",
        "severity",
        "status",
        "port",
        "protocol",
        "first_found",
        "last_found",
        "times_found",
        "unique_vuln_id",
        "cves",
        "qds",
        "qds_severity",
        "mitre_tactic_ids",
        "mitre_tactic_names",
        "mitre_technique_ids",
        "mitre_technique_names",
        "detection_sources",
        "latest_detection_source",
    ]
    summary = data["summary"]
    assert summary["hosts"] == len(data["hosts"]) > 0
    assert summary["search_list_deleted"] is True
    # create, read back, the host list (the simulator allows 10 calls at once: parallel
    # ranges could pay; 300 hosts fit one page, so one detection call), delete
    assert summary["api_calls"] == 5
    assert summary["method"] == "search-list"
    assert summary["search_list_qids"] and set(summary["qids"]) <= set(summary["search_list_qids"])
    assert live_sim[0].open_lists() == []


def test_csv_output_has_one_row_per_host_and_detection(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, LOG4SHELL, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and {"host_id", "ip", "qid", "severity"} <= set(rows[0])
    assert len(rows) == len({(r["host_id"], r["qid"]) for r in rows})


def test_table_output_lists_hosts_and_the_summary(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, LOG4SHELL)
    assert result.exit_code == 0, result.output
    sim, _ = live_sim
    first = next(
        iter(
            sim.fleet.host(i)
            for i in range(sim.fleet.size)
            if sim.fleet.host(i).ip and sim.fleet.host(i).ip in result.stdout
        ),
        None,
    )
    assert first is not None
    assert "deleted" in result.stdout.lower()


def test_output_file_is_written_atomically(live_sim, no_config: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "hosts.json"
    result = search(live_sim, no_config, LOG4SHELL, "-f", "json", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text())["summary"]["hosts"] > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".hosts")] == []


def test_zero_hosts_exits_0(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    sim, _ = live_sim
    no_host = next(c for c in sim.fleet.kb.cves() if not sim.fleet.host_count_for_cve(c))
    result = search(live_sim, no_config, no_host, "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["hosts"] == [] and data["summary"]["search_list_qids"]


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_a_cve_qualys_knows_no_qid_for_exits_5_and_says_so(  # type: ignore[no-untyped-def]
    live_sim, no_config: Path, output_format: str
) -> None:
    result = search(live_sim, no_config, NO_QID_CVE, "-f", output_format)
    assert result.exit_code == 5, result.output
    said = f"Qualys knows no QID for {NO_QID_CVE}: no host can be checked for it"
    assert said in result.stderr
    assert "No vulnerable hosts found" not in result.stdout
    if output_format == "json":
        summary = json.loads(result.stdout)["summary"]
        assert summary["search_list_qids"] == [] and summary["pages"] == 0
    else:
        assert said in " ".join(result.stdout.split())
    assert live_sim[0].open_lists() == []


def test_method_cve_detection_finds_the_same_hosts(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    listed = search(live_sim, no_config, LOG4SHELL, "-f", "json")
    direct = search(live_sim, no_config, LOG4SHELL, "-f", "json", "--method", "cve-detection")
    assert listed.exit_code == direct.exit_code == 0, direct.output
    hosts = [json.loads(r.stdout)["hosts"] for r in (listed, direct)]
    assert [[(h["id"], [d["qid"] for d in h["detections"]]) for h in x] for x in hosts] == [
        [(h["id"], [d["qid"] for d in h["detections"]]) for h in hosts[0]]
    ] * 2
    summary = json.loads(direct.stdout)["summary"]
    assert summary["method"] == "cve-detection" and summary["search_list_id"] is None
    assert summary["search_list_qids"] is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["CVE-21-44228"], "CVE-ID"),
        (["log4shell"], "CVE-ID"),
        (["CVE-2021-123"], "CVE-ID"),
        ([LOG4SHELL, "--method", "quick"], "--method"),
        ([LOG4SHELL, "--ips", "10.0.0.256"], "--ips"),
        ([LOG4SHELL, "--ips", "10.0.0.9-10.0.0.1"], "--ips"),
        ([LOG4SHELL, "--ips", "10.0.0.0/33"], "--ips"),
        ([LOG4SHELL, "--ips", "10.0.0.1,,10.0.0.2"], "--ips"),
        ([LOG4SHELL, "--ips", "host.example.com"], "--ips"),
        ([LOG4SHELL, "--since", "yesterday"], "--since"),
        ([LOG4SHELL, "--since", "2020-13-01 10:00"], "--since"),
        ([LOG4SHELL, "--min-severity", "0"], "--min-severity"),
        ([LOG4SHELL, "--min-severity", "6"], "--min-severity"),
        ([LOG4SHELL, "--min-severity", "high"], "--min-severity"),
        ([LOG4SHELL, "--asset-groups", " , "], "--asset-groups"),
        ([LOG4SHELL, "--format", "xml"], "--format"),
        ([LOG4SHELL, "--truncation-limit", "-1"], "--truncation-limit"),
        ([LOG4SHELL, "--url", "ftp://qualys.example.com"], "--url"),
        (
            [LOG4SHELL, "--url", "http://127.0.0.1:1", "--hostname", "qualys.example.com"],
            "--hostname",
        ),
        ([LOG4SHELL, "--ca-bundle", "/etc/hostname"], "--ca-bundle"),
    ],
)
def test_bad_input_exits_2_naming_the_option_and_sends_nothing(
    live_sim,
    no_config: Path,
    args: list[str],
    field: str,  # type: ignore[no-untyped-def]
) -> None:
    result = search(live_sim, no_config, *args)
    assert result.exit_code == 2, result.output
    assert field in result.output
    assert "Traceback" not in result.output
    assert live_sim[0].recorder.requests == []


@pytest.mark.parametrize("missing", ["password", "username", "url"])
def test_missing_credentials_exit_2_and_send_nothing(
    live_sim,
    no_config: Path,
    missing: str,  # type: ignore[no-untyped-def]
) -> None:
    sim, server = live_sim
    env = env_for(server.url)
    env.pop(
        {
            "password": "CVESWEEP_QUALYS_PASSWORD",
            "username": "CVESWEEP_QUALYS_USERNAME",
            "url": "CVESWEEP_QUALYS_URL",
        }[missing]
    )
    result = runner.invoke(app, ["search", LOG4SHELL, "--config", str(no_config)], env=env)
    assert result.exit_code == 2, result.output
    assert missing in result.output.lower()
    assert sim.recorder.requests == []


def test_bad_password_exits_3_with_a_hint_and_no_secret(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, LOG4SHELL, password="s3cret-wrong")
    assert result.exit_code == 3, result.output
    assert "2000" in result.output and "password" in result.output.lower()
    assert "s3cret-wrong" not in result.output


def test_unreachable_qualys_exits_4(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "two-tries.toml"
    config.write_text("[qualys]\nretries = 2\n")  # keep the backoff short
    env = env_for(f"http://127.0.0.1:{port}")
    result = runner.invoke(app, ["search", LOG4SHELL, "--config", str(config)], env=env)
    assert result.exit_code == 4, result.output
    assert "127.0.0.1" in result.output
    assert "error (network)" in result.output


def test_a_url_with_a_path_exits_4_with_a_hint(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    _, server = live_sim
    env = env_for(server.url + "/api/2.0")
    result = runner.invoke(app, ["search", LOG4SHELL, "--config", str(no_config)], env=env)
    assert result.exit_code == 4, result.output
    assert "HTTP 404" in result.output and "without a path" in result.output
    assert "code 404" not in result.output


# --- TLS for real, against the simulator's self-signed certificate ----------------------------


@pytest.fixture
def tls_sim(make_sim):  # type: ignore[no-untyped-def]
    simulator = make_sim()
    with SimulatorServer(simulator.recorder, port=0, tls=True) as server:
        yield simulator, server


def test_tls_fails_by_default_with_a_certificate_error(tls_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(tls_sim, no_config, LOG4SHELL)
    assert result.exit_code == 4, result.output
    assert "certificate" in result.output.lower()
    assert "--ca-bundle" in result.output


def test_tls_succeeds_with_the_ca_bundle(tls_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    _, server = tls_sim
    result = search(
        tls_sim, no_config, LOG4SHELL, "-f", "json", "--ca-bundle", str(server.cert_path)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["hosts"] > 0


def test_tls_succeeds_without_verification_but_warns(tls_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(tls_sim, no_config, LOG4SHELL, "-f", "json", "--no-verify-ssl")
    assert result.exit_code == 0, result.output
    assert "warning" in result.stderr.lower() and "verif" in result.stderr.lower()


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [("https", "does not speak TLS on that port: use http://"), ("http", "use https://")],
)
def test_the_wrong_scheme_ends_at_once_with_a_hint(  # type: ignore[no-untyped-def]
    live_sim, tls_sim, no_config: Path, wrong: str, hint: str
) -> None:
    server = live_sim[1] if wrong == "https" else tls_sim[1]
    url = (
        server.url.replace("http://", "https://")
        if wrong == "https"
        else server.url.replace("https://", "http://")
    )
    env = env_for(url)
    started = time.monotonic()
    result = runner.invoke(
        app, ["search", LOG4SHELL, "--config", str(no_config), "--no-verify-ssl"], env=env
    )
    assert result.exit_code == 4, result.output
    assert hint in result.stderr
    assert time.monotonic() - started < 3  # no retries with backoff


@pytest.mark.parametrize("output_format", ["json", "table"])
def test_a_closed_pipe_ends_quietly_with_141(make_sim, no_config: Path, output_format: str) -> None:  # type: ignore[no-untyped-def]
    simulator = make_sim(size=3000, real_time=True)
    with SimulatorServer(simulator.app, port=0) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(no_config),
             "--no-store", "-f", output_format],
            env={**os.environ, **env_for(server.url), "COLUMNS": "80"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(200)  # like `| head -c 200`: read a little, then go away
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(60) == 141, err
    assert err == ""
    assert simulator.open_lists() == []


def test_output_to_a_file_says_what_was_written(  # type: ignore[no-untyped-def]
    live_sim, no_config: Path, tmp_path: Path
) -> None:
    target = tmp_path / "hosts.csv"
    result = search(live_sim, no_config, LOG4SHELL, "-f", "csv", "-o", str(target), "--no-store")
    assert result.exit_code == 0, result.output
    hosts = json.loads(search(live_sim, no_config, LOG4SHELL, "-f", "json", "--no-store").stdout)
    count = hosts["summary"]["hosts"]
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("wrote ")]
    assert (
        line
        == f"wrote {count} hosts ({hosts['summary']['detections']} detections) as csv to {target}"
    )


# --- a real process: the password never shows in the process list; SIGTERM cleans up ---------


def test_sigterm_mid_run_deletes_the_search_list(make_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    from cvesweep.simulator.faults import Faults

    simulator = make_sim(faults=Faults(host_latency=0.05), real_time=True)
    with SimulatorServer(simulator.recorder, port=0) as server:
        env = {**os.environ, **env_for(server.url)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(no_config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while not simulator.recorder.forms("/detection/"):
            assert time.monotonic() < deadline, "search never reached Qualys"
            time.sleep(0.05)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert SIM_PASSWORD.encode() not in cmdline
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert simulator.open_lists() == []


def _versioned(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "versions.toml"
    path.write_text(f"[qualys.versions]\n{table}\n")
    path.chmod(0o600)
    return path


def test_an_unknown_api_version_is_exit_2_before_any_call(live_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, _ = live_sim
    config = _versioned(tmp_path, 'detection = "7.0"')
    result = search(live_sim, config, LOG4SHELL)
    assert result.exit_code == 2, result.output
    assert "qualys.versions.detection" in result.stderr and "2.0, 3.0, 4.0, 5.0" in result.stderr
    assert sim.recorder.requests == []


def test_a_retired_version_warns_and_the_refusal_says_what_to_do(live_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, _ = live_sim
    result = search(live_sim, _versioned(tmp_path, 'detection = "2.0"'), LOG4SHELL)
    assert result.exit_code == 3, result.output
    assert "detection API 2.0 is past its end of life" in result.stderr
    assert "[qualys.versions]" in result.stderr  # the hint
    assert sim.open_lists() == []


def test_a_version_written_as_a_toml_number_is_accepted(live_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, _ = live_sim
    result = search(live_sim, _versioned(tmp_path, "detection = 5.0"), LOG4SHELL, "-f", "json")
    assert result.exit_code == 0, result.output
    assert {p for p, _ in sim.recorder.requests} == {
        "/api/3.0/fo/qid/search_list/dynamic/",
        "/api/5.0/fo/asset/host/",
        "/api/5.0/fo/asset/host/vm/detection/",
    }


def test_a_future_since_warns(live_sim, no_config: Path) -> None:  # type: ignore[no-untyped-def]
    result = search(live_sim, no_config, LOG4SHELL, "--since", "2999-01-01", "--no-store")
    assert result.exit_code == 0, result.output
    assert "--since 2999-01-01 is in the future" in result.stderr


def test_a_closed_pipe_is_noted_in_the_run_record(
    make_sim, no_config: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from cvesweep.library import Library
    from cvesweep.library.queries import runs

    db = tmp_path / "library.db"
    simulator = make_sim(size=3000, real_time=True)
    with SimulatorServer(simulator.app, port=0) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(no_config),
             "--db", str(db), "-f", "json"],
            env={**os.environ, **env_for(server.url)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(200)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(60) == 141, err
    library = Library.open(f"sqlite:///{db}")
    try:
        (run,) = runs(library.engine)
    finally:
        library.close()
    assert run.outcome == "success" and run.hosts > 0  # the result was stored...
    assert run.error == "output cut short: its reader went away (closed pipe, exit 141)"


def test_without_a_closed_pipe_the_run_has_no_note(
    live_sim, no_config: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from cvesweep.library import Library
    from cvesweep.library.queries import runs

    db = tmp_path / "library.db"
    result = search(live_sim, no_config, LOG4SHELL, "-f", "json", "--db", str(db))
    assert result.exit_code == 0, result.output
    library = Library.open(f"sqlite:///{db}")
    try:
        (run,) = runs(library.engine)
    finally:
        library.close()
    assert (run.outcome, run.error) == ("success", None)


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_the_summary_time_covers_the_qualys_calls(  # type: ignore[no-untyped-def]
    make_sim, no_config: Path, output_format: str
) -> None:
    from cvesweep.simulator.faults import Faults

    latency = 0.6  # before every detection reply: the run takes over a second
    simulator = make_sim(faults=Faults(reply_latency=latency, latency_endpoint="detection"),
                         real_time=True)  # fmt: skip
    with SimulatorServer(simulator.app, port=0) as server:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "cvesweep", "search", LOG4SHELL, "--config", str(no_config),
             "--no-store", "-f", output_format, "--max-parallel", "1"],
            env={**os.environ, **env_for(server.url)}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    if output_format == "json":
        elapsed = json.loads(done.stdout)["summary"]["elapsed_s"]
    else:
        (line,) = [x for x in done.stdout.splitlines() if x.startswith("Time ")]
        elapsed = float(line.split()[1])
    assert latency <= elapsed <= wall


def test_asset_groups_help_says_numeric_ids_work() -> None:
    done = subprocess.run([sys.executable, "-m", "cvesweep", "search", "--help"],
                          env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    text = " ".join(done.stdout.replace("│", " ").split())
    assert 'titles "DMZ, Servers" or numeric ids "1403056, 1403081"' in text


@pytest.mark.parametrize(
    ("groups", "key"), [("1681071, 1681080", "ag_ids"), ("AWS us-east-1", "ag_titles")]
)
def test_asset_groups_are_sent_as_ids_or_titles(  # type: ignore[no-untyped-def]
    live_sim, no_config: Path, groups: str, key: str
) -> None:
    sim, _ = live_sim
    result = search(live_sim, no_config, LOG4SHELL, "--asset-groups", groups, "--no-store",
                    "-f", "json", "--max-parallel", "1")  # fmt: skip
    assert result.exit_code == 0, result.output
    (form, *_) = sim.recorder.forms("/asset/host/vm/detection")
    assert form[key].replace(" ", "") == groups.replace(" ", "")
    assert json.loads(result.stdout)["hosts"]  # the simulator's groups (seed 7) have hosts
