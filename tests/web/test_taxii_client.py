"""``cvesweep serve``'s TAXII 2.1 server polled by the OASIS client library, taxii2-client,
over real HTTP on 127.0.0.1: discovery, collections, paging through a few thousand objects
with ``as_pages``, and ``added_after`` after a second search added hosts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from cvesweep.export.taxii_feed import MAIN
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.web import create_app
from tests.conftest import FakeClock, Sim
from tests.export.test_stix import assert_valid_stix
from tests.export.test_taxii_feed import exported
from tests.library.test_queries import SECOND, Filled, fill_library
from tests.web.conftest import TOKEN, settings_for

USER = "opencti-feed"  # any user name: the token is the password


class LiveServer:
    """The cvesweep web app served by uvicorn in a thread on 127.0.0.1:<free port>."""

    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(library: Filled) -> LiveServer:
    return LiveServer(create_app(lambda: settings_for("http://127.0.0.1:9"), library.url,
                                 token=TOKEN))  # fmt: skip


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Filled, LiveServer]]:
    """Two searches in a 4,000-host fleet (about 2,000 objects), served on a socket."""
    sim = Sim(4000, 7, None, FakeClock(), real_time=False)
    library = fill_library(tmp_path_factory.mktemp("taxii-large"), sim, [LOG4SHELL, SECOND])
    with serve(library) as live:
        yield library, live
    library.library.close()


def collection_of(live: LiveServer, password: str = TOKEN) -> Collection:
    server = Server(f"{live.url}/taxii2/", user=USER, password=password)
    api_root = server.default
    assert isinstance(api_root, ApiRoot)
    return next(c for c in api_root.collections if c.id == MAIN.id)


def poll(collection: Collection, per_request: int = 500, **filters: Any) -> list[dict[str, Any]]:
    """Every object of ``collection`` matching ``filters``, through taxii2-client's pager."""
    objects: list[dict[str, Any]] = []
    for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
        objects += envelope.get("objects", [])
    return objects


def last_date_added(collection: Collection) -> str:
    records = [r for page in as_pages(collection.get_manifest, per_request=1000)
               for r in page.get("objects", [])]  # fmt: skip
    return max(records, key=lambda r: r["date_added"])["date_added"]  # type: ignore[no-any-return]


def validated(objects: list[dict[str, Any]]) -> None:
    bundle = {"type": "bundle", "id": "bundle--0b5cf1f4-4b86-4d2a-8b7e-2e2f8c9d5e11"}
    assert_valid_stix(json.dumps({**bundle, "objects": objects}))


def test_discovery_api_root_and_collections_as_taxii2_client_reads_them(
    large: tuple[Filled, LiveServer],
) -> None:
    _, live = large
    server = Server(f"{live.url}/taxii2/", user=USER, password=TOKEN)
    assert server.title == "cvesweep"
    assert [root.url for root in server.api_roots] == [f"{live.url}/taxii2/cvesweep/"]
    root = server.default
    assert root is not None and root.versions == ["application/taxii+json;version=2.1"]
    aliases = [c.alias for c in root.collections]
    assert aliases == ["cvesweep", LOG4SHELL, SECOND]
    assert all(c.can_read and not c.can_write for c in root.collections)


def test_as_pages_reads_thousands_of_objects_once_each_as_export_stix_has_them(
    large: tuple[Filled, LiveServer],
) -> None:
    library, live = large
    objects = poll(collection_of(live), per_request=500)
    assert len(objects) > 2_000
    assert len({o["id"] for o in objects}) == len(objects)
    assert {o["id"]: json.dumps(o) for o in objects} == exported(library)
    validated(objects)


def test_a_limit_above_the_page_bound_is_honoured_as_the_bound(
    large: tuple[Filled, LiveServer],
) -> None:
    _, live = large
    collection = collection_of(live)
    first = collection.get_objects(limit=5000)
    assert len(first["objects"]) == 1000 and first["more"] is True
    assert len(poll(collection, per_request=5000)) == len(poll(collection, per_request=700))


def test_filters_and_one_object_through_the_client(large: tuple[Filled, LiveServer]) -> None:
    _, live = large
    collection = collection_of(live)
    vulnerabilities = poll(collection, type="vulnerability")
    assert sorted(v["name"] for v in vulnerabilities) == [LOG4SHELL, SECOND]
    has = poll(collection, per_request=100, type="relationship", id=[])[-1]
    envelope = collection.get_object(has["id"])
    assert envelope["objects"] == [has]
    assert collection.object_versions(has["id"])["versions"] == [has["modified"]]


def test_a_wrong_password_is_refused(large: tuple[Filled, LiveServer]) -> None:
    _, live = large
    with pytest.raises(requests.HTTPError) as refused:
        _ = Server(f"{live.url}/taxii2/", user=USER, password="not-the-token-0123456789").title
    assert refused.value.response.status_code == 401


def test_added_after_after_a_second_search_gives_exactly_its_new_and_changed_objects(
    tmp_path: Path,
) -> None:
    sim = Sim(1500, 7, None, FakeClock(), real_time=False)
    library = fill_library(tmp_path, sim, [LOG4SHELL])
    with serve(library) as live:
        collection = collection_of(live)
        first = poll(collection, per_request=100)
        mark = last_date_added(collection)
        hosts = library.ingest(sim, SECOND)
        news = poll(collection, per_request=100, added_after=mark)
        second = poll(collection, per_request=100)
        assert poll(collection, added_after=last_date_added(collection)) == []

    def versions(objects: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
        return {(o["id"], o.get("modified")) for o in objects}

    assert versions(news) == versions(second) - versions(first)
    assert len({o["id"] for o in news}) == len(news)  # never twice
    new_assets = {h.address for h in hosts if h.detections} - {
        o["name"] for o in first if o["type"] == "infrastructure"
    }
    assert new_assets and new_assets <= {o["name"] for o in news if o["type"] == "infrastructure"}
    validated(news)
    library.library.close()
