"""Drive qualys-cli 0.2.0 (its ``qualys-cli`` command, as a user runs it) against the simulator.

Configuration is its documented environment: QUALYS_URL, QUALYS_GATEWAY_URL,
QUALYS_USERNAME, QUALYS_PASSWORD (passed in the child's environment, never argv). It has no
CA option: httpx trusts the simulator's certificate through ``SSL_CERT_FILE`` (set by the
test). Its FO paths are hard-wired to ``/api/2.0/...``; ``QUALYS_FO_API_VERSION=3|4`` rewrites
host/knowledge-base paths to 3.0/4.0 and switches them to a gateway JWT (``POST /auth``) with
``Authorization: Bearer`` — the ``*_v4`` calls below. It never reaches 5.0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import Harness


def main() -> None:
    sim = Harness()
    env = dict(
        os.environ,
        QUALYS_URL=sim.url,
        QUALYS_GATEWAY_URL=sim.url,
        QUALYS_USERNAME=sim.username,
        QUALYS_PASSWORD=sim.password,
        QUALYS_NO_TELEMETRY_HEADERS="1",
        QUALYS_MAX_RETRIES="1",
        NO_COLOR="1",
        TERM="dumb",
    )
    page = str(sim.inputs.get("page", 7))
    ids = ",".join(str(q) for q in sim.inputs.get("qids", []))
    command = Path(sys.executable).with_name("qualys-cli")

    def cli(*args: str, version: str = "2") -> object:
        # A fresh HOME per command: qualys-cli caches replies (ETag cache) and JWTs there.
        home = tempfile.mkdtemp(prefix="qualys-cli-home-")
        run_env = dict(env, HOME=home, QUALYS_FO_API_VERSION=version)
        done = subprocess.run(
            [str(command), *args, "--format", "json"],
            capture_output=True,
            text=True,
            env=run_env,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")
        return json.loads(done.stdout)

    def ids_of(data: object, key: str = "ID") -> list[int]:
        found: list[int] = []
        walk(data, key, found)
        return found

    sim.call(
        "detection",
        lambda: {"host_ids": ids_of(cli("vm", "host", "detection", "--limit", page), "ID")},
    )
    sim.call("host_list", lambda: {"host_ids": ids_of(cli("vm", "host", "list", "--limit", page))})
    sim.call(
        "knowledge_base", lambda: {"qids": ids_of(cli("vm", "kb", "list", "--ids", ids), "QID")}
    )
    sim.call(
        "knowledge_base_v4",
        lambda: {"qids": ids_of(cli("vm", "kb", "list", "--ids", ids, version="4"), "QID")},
    )
    sim.write()


def walk(data: object, key: str, found: list[int]) -> None:
    """Collect the ``key`` value of every record (a dict that has one) in the parsed output."""
    if isinstance(data, dict):
        if str(data.get(key, "")).isdigit():
            found.append(int(data[key]))
            return
        for value in data.values():
            walk(value, key, found)
    elif isinstance(data, list):
        for item in data:
            walk(item, key, found)


if __name__ == "__main__":
    main()
