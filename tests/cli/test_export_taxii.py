"""``cvesweep export taxii``: pushing the library to the OASIS reference TAXII 2.1 server,
medallion (memory backend, run from the test venv on 127.0.0.1), and reading it back with
the OASIS client, taxii2-client: bounded envelopes, statuses, counts, idempotent re-pushes,
the password's sources, and every failure a non-zero exit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from taxii2client.v21 import Collection, as_pages
from typer.testing import CliRunner, Result

from cvesweep.cli.main import app
from cvesweep.export.taxii_push import PushTarget, _Pusher, _Server
from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from tests.conftest import FakeClock, Sim
from tests.export.test_stix import assert_valid_stix
from tests.export.test_taxii_feed import exported
from tests.library.test_queries import SECOND, Filled, fill_library

runner = CliRunner()
USER = "pusher"
PASSWORD = "Mq7-taxii-PASS-2b9d41"  # distinctive, so a leak is easy to grep for
READ_WRITE = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
WRITE_ONLY = "2d8c7f3e-5a1b-4c6d-9e0f-7a8b9c0d1e2f"
READ_ONLY = "64993447-4d7e-4f70-b94d-d7f33742ee63"
BUNDLE_ID = "bundle--5d3c1f0e-2a4b-4c6d-8e9f-0a1b2c3d4e5f"
SMALL_LIMIT = 30_000  # max_content_length of the "small" API root
READABLE_TYPES = ["identity", "vulnerability", "infrastructure", "ipv4-addr", "ipv6-addr",
                  "relationship"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Medallion:
    """medallion on 127.0.0.1:<free port>, API roots "intel" and "small", fresh collections."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data, config = folder / "data.json", folder / "config.json"
        data.write_text(json.dumps(self._data()), encoding="utf-8")
        config.write_text(json.dumps({
            "backend": {"module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend", "filename": str(data)},
            "users": {USER: PASSWORD},
            "taxii": {"max_page_size": 100},
        }), encoding="utf-8")  # fmt: skip
        self.log = (folder / "medallion.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1",
             "--port", str(self.port), str(config)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_until_up()

    def _data(self) -> dict[str, Any]:
        def collection(cid: str, read: bool, write: bool) -> dict[str, Any]:
            return {"id": cid, "title": cid, "can_read": read, "can_write": write,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [], "manifest": []}  # fmt: skip

        def root(limit: int, *collections: dict[str, Any]) -> dict[str, Any]:
            versions = ["application/taxii+json;version=2.1"]
            information = {"title": "root", "versions": versions, "max_content_length": limit}
            return {"information": information, "status": [], "collections": list(collections)}

        roots = [f"{self.url}/intel/", f"{self.url}/small/"]
        return {
            "/discovery": {"title": "medallion", "api_roots": roots, "default": roots[0]},
            "intel": root(10_000_000, collection(READ_WRITE, True, True),
                          collection(WRITE_ONLY, False, True),
                          collection(READ_ONLY, True, False)),
            "small": root(SMALL_LIMIT, collection(READ_WRITE, True, True)),
        }  # fmt: skip

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "medallion exited"
            try:
                httpx.get(f"{self.url}/taxii2/", auth=(USER, PASSWORD), timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("medallion did not start")

    def collection_url(self, cid: str = READ_WRITE, root: str = "intel") -> str:
        return f"{self.url}/{root}/collections/{cid}/"

    def collection(self, cid: str = READ_WRITE, root: str = "intel") -> Collection:
        return Collection(self.collection_url(cid, root), user=USER, password=PASSWORD)

    def objects(self, cid: str = READ_WRITE, root: str = "intel") -> list[dict[str, Any]]:
        """Every object version the collection holds, read with taxii2-client.

        [medallion 3.0.0 defect] its ``find_att`` takes an object's own ``version`` property
        for its TAXII version: the extension-definition's ("1.0.0", STIX 2.1 requires it)
        is no timestamp, so any objects request that would hold it answers 500. The other
        types are read as objects; the extension definition is read off the manifest.
        """
        collection = self.collection(cid, root)
        found: list[dict[str, Any]] = []
        for envelope in as_pages(collection.get_objects, per_request=100, version="all",
                                 type=READABLE_TYPES):  # fmt: skip
            found += envelope.get("objects", [])
        for page in as_pages(collection.get_manifest, per_request=100, version="all",
                             type="extension-definition"):  # fmt: skip
            found += [{"id": r["id"], "type": "extension-definition"} for r in page["objects"]]
        return found

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[Medallion]:
    server = Medallion(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    filled = fill_library(tmp_path_factory.mktemp("push"), sim, [LOG4SHELL, VENDOR_EXAMPLE])
    yield filled
    filled.library.close()


def push(db: str, url: str, *args: str, password: str | None = PASSWORD, **env: str) -> Result:
    environ = {"NO_COLOR": "1", "COLUMNS": "200", **env}
    if password is not None:
        environ["CVESWEEP_TAXII_PASSWORD"] = password
    result = runner.invoke(app, ["export", "taxii", "--db", db, "--url", url, *args], env=environ)
    assert PASSWORD not in result.output
    return result


def latest(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest version of each object, by id."""
    found: dict[str, dict[str, Any]] = {}
    for obj in sorted(objects, key=lambda o: o.get("modified", "")):
        found[obj["id"]] = obj
    return found


def as_dicts(objects: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Exported objects by id; the extension definition as medallion lets it be read back."""
    found = {key: json.loads(text) for key, text in objects.items()}
    return {key: _readable(obj) for key, obj in found.items()}


def _readable(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["type"] == "extension-definition":
        return {"id": obj["id"], "type": obj["type"]}
    return obj


def test_push_adds_the_library_which_reads_back_as_export_stix_wrote_it(
    library: Filled, medallion: Medallion
) -> None:
    result = push(library.url, medallion.collection_url(), "--user", USER)
    assert result.exit_code == 0, result.output
    objects = medallion.objects()
    expected = as_dicts(exported(library))
    assert f"{len(expected):,} objects, 0 already there, {len(expected):,} sent" in result.stdout
    assert f"{len(expected):,} added, 0 failed, 0 pending" in result.stdout
    assert {o["id"]: o for o in objects} == expected
    readable = [o for o in objects if o["type"] != "extension-definition"]
    assert_valid_stix(json.dumps({"type": "bundle", "id": BUNDLE_ID, "objects": readable}))


def test_pushing_again_sends_nothing_and_changes_nothing(
    library: Filled, medallion: Medallion
) -> None:
    assert push(library.url, medallion.collection_url(), "--user", USER).exit_code == 0
    before = medallion.objects()
    again = push(library.url, medallion.collection_url(), "--user", USER)
    assert again.exit_code == 0, again.output
    assert f"{len(before):,} already there, 0 sent in 0 requests" in again.stdout
    assert medallion.objects() == before


def test_after_a_second_search_only_new_and_changed_objects_are_sent(
    tmp_path: Path, medallion: Medallion
) -> None:
    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    filled = fill_library(tmp_path, sim, [LOG4SHELL])
    assert push(filled.url, medallion.collection_url(), "--user", USER).exit_code == 0
    first = {(o["id"], o.get("modified")) for o in medallion.objects()}
    filled.ingest(sim, SECOND)
    current = as_dicts(exported(filled))
    changed = {(i, o.get("modified")) for i, o in current.items()} - first
    result = push(filled.url, medallion.collection_url(), "--user", USER)
    assert result.exit_code == 0, result.output
    assert f", {len(changed):,} sent in 1 request: {len(changed):,} added" in result.stdout
    assert latest(medallion.objects()) == current
    filled.library.close()


def test_envelopes_stay_within_the_servers_max_content_length(
    library: Filled, medallion: Medallion
) -> None:
    body = len(", ".join(exported(library).values()))
    result = push(library.url, medallion.collection_url(root="small"), "--user", USER,
                  "--batch-size", "1000")  # fmt: skip
    assert result.exit_code == 0, result.output
    requests = int(result.stdout.split(" sent in ")[1].split()[0].replace(",", ""))
    assert requests >= body // SMALL_LIMIT + 1 and requests > 1
    assert {o["id"] for o in medallion.objects(root="small")} == set(exported(library))


def test_batch_size_bounds_the_objects_per_request(library: Filled, medallion: Medallion) -> None:
    result = push(library.url, medallion.collection_url(), "--user", USER, "--batch-size", "10")
    assert result.exit_code == 0, result.output
    total = len(exported(library))
    assert f"sent in {-(-total // 10):,} requests" in result.stdout


def test_one_cve_pushes_what_export_stix_cve_exports(library: Filled, medallion: Medallion) -> None:
    result = push(library.url, medallion.collection_url(), "--user", USER, "--cve", VENDOR_EXAMPLE)
    assert result.exit_code == 0, result.output
    assert {o["id"] for o in medallion.objects()} == set(exported(library, [VENDOR_EXAMPLE]))
    unknown = push(library.url, medallion.collection_url(), "--user", USER, "--cve", SECOND)
    assert unknown.exit_code == 2 and "is not in the library" in unknown.output


def test_objects_the_server_refuses_are_counted_and_the_exit_is_1(
    library: Filled, medallion: Medallion
) -> None:
    """A write-only collection cannot be asked what it holds: a re-push sends everything,
    and medallion counts what it had already as failures."""
    url = medallion.collection_url(WRITE_ONLY)
    assert push(library.url, url, "--user", USER).exit_code == 0
    again = push(library.url, url, "--user", USER)
    total = len(exported(library))
    assert again.exit_code == 1
    assert f"0 added, {total:,} failed, 0 pending" in again.stdout
    assert "failed: identity--" in again.stderr
    assert f"{total:,} of the {total:,} objects sent were not added" in again.stderr


def test_the_status_resource_is_polled_until_complete(
    library: Filled, medallion: Medallion
) -> None:
    target = PushTarget(medallion.collection_url(), USER, PASSWORD)
    with _Server(target, None) as server:
        status = server.post(target.url, b'{"objects": []}')
        pusher = _Pusher(server, target, f"{medallion.url}/intel/", 10_000, True, time.sleep)
        settled = pusher._settled({**status, "status": "pending"})
    assert settled["id"] == status["id"] and settled["status"] == "complete"


@pytest.mark.parametrize(
    ("cid", "message"),
    [(READ_ONLY, "does not accept objects"), ("not-there", "has nothing at the collection")],
)
def test_a_collection_that_takes_nothing_is_exit_1(
    library: Filled, medallion: Medallion, cid: str, message: str
) -> None:
    result = push(library.url, medallion.collection_url(cid), "--user", USER)
    assert result.exit_code == 1 and message in result.output


def test_a_wrong_password_is_exit_2_and_never_shown(library: Filled, medallion: Medallion) -> None:
    result = push(library.url, medallion.collection_url(), "--user", USER, password="not-it-1234")
    assert result.exit_code == 2
    assert "refused the login" in result.output and "not-it-1234" not in result.output


def test_the_password_may_come_from_a_private_config_file(
    library: Filled, medallion: Medallion, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[taxii]\nurl = "{medallion.collection_url()}"\nuser = "{USER}"\npassword = "{PASSWORD}"\n'
    )
    os.chmod(config, 0o644)
    args = ["export", "taxii", "--db", library.url, "--config", str(config)]
    refused = runner.invoke(app, args, env={"NO_COLOR": "1"})
    assert refused.exit_code == 2 and "chmod 600" in refused.output
    os.chmod(config, 0o600)
    result = runner.invoke(app, args, env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_a_user_without_a_password_outside_a_terminal_is_exit_2(library: Filled) -> None:
    url = "http://127.0.0.1:9/api/collections/x/"
    result = push(library.url, url, "--user", USER, password=None)
    assert result.exit_code == 2 and "CVESWEEP_TAXII_PASSWORD" in result.output
    lone = push(library.url, url)
    assert lone.exit_code == 2 and "no user" in lone.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://taxii.example.com/api/collections/x/", "plain http"),
        ("https://taxii.example.com/api/collections/", "collection"),
        ("https://taxii.example.com/api/", "collection"),
        ("https://u:p@taxii.example.com/api/collections/x/", "credentials"),
    ],
)
def test_urls_that_are_no_collection_or_would_leak_the_password_are_exit_2(
    library: Filled, url: str, says: str
) -> None:
    result = push(library.url, url, "--user", USER)
    assert result.exit_code == 2 and says in result.output


def test_an_unreachable_server_is_exit_1(library: Filled) -> None:
    result = push(library.url, f"http://127.0.0.1:{free_port()}/api/collections/x/", "--user", USER)
    assert result.exit_code == 1 and "could not reach the TAXII server" in result.output
