"""The TAXII 2.1 server of ``cvesweep serve``, in-process: resources, media type, access
control as the web UI's (Bearer, or Basic with the token as password), paging, filters,
errors as TAXII error messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cvesweep.export.taxii_feed import MAIN, collection_id
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.web import create_app
from tests.library.test_queries import SECOND, Filled, fill_library
from tests.web.conftest import TOKEN, WebClient, settings_for

MEDIA = "application/taxii+json;version=2.1"
ROOT = "/taxii2/cvesweep/"
OBJECTS = f"{ROOT}collections/{MAIN.id}/objects/"
MANIFEST = f"{ROOT}collections/{MAIN.id}/manifest/"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = basic("opencti", TOKEN)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    from tests.conftest import FakeClock, Sim

    sim = Sim(300, 7, None, FakeClock(), real_time=False)
    library = fill_library(tmp_path_factory.mktemp("taxii-web"), sim, [LOG4SHELL, SECOND])
    yield library
    library.library.close()


@pytest.fixture(scope="module")
def app_client(filled: Filled) -> Iterator[WebClient]:
    app = create_app(lambda: settings_for("http://127.0.0.1:9"), filled.url, token=TOKEN)
    owner = WebClient(app)
    yield owner
    owner.close()


@pytest.fixture
def web(app_client: WebClient) -> Iterator[WebClient]:
    """A fresh client (no cookies) of the module's app, which requires the token."""
    client = WebClient(app_client.app, lifespan=False)
    yield client
    client.close()


def get(web: WebClient, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Accept": MEDIA, **AUTH, **kwargs.pop("headers", {})}
    return web.get(path, headers=headers, **kwargs)


def every_object(web: WebClient, path: str = OBJECTS, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        reply = get(web, path, params=query)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        found += body.get("objects", [])
        if not body.get("more"):
            return found
        query = {**params, "next": body["next"]}


@pytest.mark.parametrize(
    "path",
    ["/taxii2/", ROOT, f"{ROOT}collections/", f"{ROOT}collections/{MAIN.id}/", OBJECTS, MANIFEST],
)
def test_every_resource_answers_the_taxii_media_type(web: WebClient, path: str) -> None:
    reply = get(web, path)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == MEDIA
    assert isinstance(reply.json(), dict)


def test_discovery_names_one_api_root_the_default(web: WebClient) -> None:
    body = get(web, "/taxii2/").json()
    assert body["title"] == "cvesweep"
    assert body["api_roots"] == ["http://127.0.0.1:8000/taxii2/cvesweep/"]
    assert body["default"] == body["api_roots"][0]
    root = get(web, ROOT).json()
    assert root["versions"] == [MEDIA] and root["max_content_length"] > 0


def test_collections_are_the_library_and_one_per_cve_all_read_only(web: WebClient) -> None:
    found = get(web, f"{ROOT}collections/").json()["collections"]
    assert [c["alias"] for c in found] == ["cvesweep", LOG4SHELL, SECOND]
    assert [c["id"] for c in found] == [collection_id(c["alias"]) for c in found]
    for collection in found:
        assert (collection["can_read"], collection["can_write"]) == (True, False)
        assert collection["media_types"] == ["application/stix+json;version=2.1"]
        assert get(web, f"{ROOT}collections/{collection['id']}/").json() == collection
        assert get(web, f"{ROOT}collections/{collection['alias']}/").json() == collection


def test_objects_are_those_of_the_stix_export_in_the_same_bytes(web: WebClient) -> None:
    bundle = web.get("/api/export/stix", headers=AUTH).json()["objects"]
    raw = get(web, OBJECTS).content.decode()
    served = json.loads(raw)["objects"]
    assert {o["id"]: json.dumps(o) for o in served} == {o["id"]: json.dumps(o) for o in bundle}
    for obj in served:
        assert json.dumps(obj) in raw  # each object verbatim, as stix2 serialises it


def test_a_cve_collection_serves_what_export_stix_cve_exports(web: WebClient) -> None:
    bundle = web.get("/api/export/stix", params={"cve": SECOND}, headers=AUTH).json()["objects"]
    served = every_object(web, f"{ROOT}collections/{SECOND}/objects/")
    assert sorted(o["id"] for o in served) == sorted(o["id"] for o in bundle)


def test_next_pages_through_everything_once_with_date_added_headers(web: WebClient) -> None:
    whole = get(web, OBJECTS).json()["objects"]
    first = get(web, OBJECTS, params={"limit": 10})
    body = first.json()
    assert body["more"] is True and len(body["objects"]) == 10
    manifest = get(web, MANIFEST, params={"limit": 10}).json()["objects"]
    assert first.headers["X-TAXII-Date-Added-First"] == manifest[0]["date_added"]
    assert first.headers["X-TAXII-Date-Added-Last"] == manifest[-1]["date_added"]
    assert every_object(web, limit=10) == whole
    last = get(web, OBJECTS, params={"limit": 10000})
    assert last.json()["more"] is False and "next" not in last.json()


def test_added_after_the_last_date_added_gives_nothing_more(web: WebClient) -> None:
    reply = get(web, OBJECTS)
    later = get(web, OBJECTS, params={"added_after": reply.headers["X-TAXII-Date-Added-Last"]})
    assert later.status_code == 200 and later.json() == {}
    assert "X-TAXII-Date-Added-First" not in later.headers


def test_manifest_lists_id_date_added_version_and_media_type_of_every_object(
    web: WebClient,
) -> None:
    objects = every_object(web)
    records = every_object(web, MANIFEST, limit=25)
    assert [r["id"] for r in records] == [o["id"] for o in objects]
    for record, obj in zip(records, objects, strict=True):
        assert record["media_type"] == "application/stix+json;version=2.1"
        assert record["version"] == obj.get("modified", record["date_added"])


def test_match_filters_take_comma_lists_and_repeats(web: WebClient) -> None:
    repeated = every_object(web, **{"match[type]": ["vulnerability", "identity"]})
    comma = every_object(web, **{"match[type]": "vulnerability,identity"})
    assert repeated == comma and {o["type"] for o in comma} == {"vulnerability", "identity"}
    some = [o["id"] for o in every_object(web)][::9]
    by_id = every_object(web, **{"match[id]": ",".join(some)})
    assert sorted(o["id"] for o in by_id) == sorted(some)
    assert every_object(web, **{"match[version]": "first,last"}) == every_object(web)
    assert every_object(web, **{"match[spec_version]": "2.0"}) == []


def test_one_object_its_versions_and_an_unknown_one(web: WebClient) -> None:
    obj = every_object(web, **{"match[type]": "relationship"})[0]
    path = f"{OBJECTS}{obj['id']}/"
    assert get(web, path).json()["objects"] == [obj]
    assert get(web, f"{path}versions/").json() == {"more": False, "versions": [obj["modified"]]}
    missing = get(web, f"{OBJECTS}relationship--00000000-0000-5000-8000-000000000000/")
    assert missing.status_code == 404 and missing.headers["content-type"] == MEDIA
    assert get(web, path, params={"added_after": obj["modified"]}).json() == {}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"added_after": "yesterday"}, "added_after"),
        ({"next": "not-a-token"}, "next"),
        ({"match[version]": "2026-99-01T00:00:00Z"}, "match[version]"),
        ({"match[id]": ",".join(f"indicator--{i}" for i in range(101))}, "match[id]"),
    ],
)
def test_malformed_parameters_are_400_taxii_errors_naming_them(
    web: WebClient, params: dict[str, str], named: str
) -> None:
    reply = get(web, OBJECTS, params=params)
    assert reply.status_code == 400 and reply.headers["content-type"] == MEDIA
    body = reply.json()
    assert body["http_status"] == "400" and body["title"] == "Bad Request"
    assert named in body["description"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", OBJECTS, 403),
        ("GET", f"{ROOT}collections/CVE-1999-0001/objects/", 404),
        ("GET", f"{ROOT}collections/not-a-collection/", 404),
        ("GET", "/taxii2/other-root/", 404),
        ("DELETE", f"{OBJECTS}vulnerability--x/", 404),
    ],
)
def test_writes_and_unknown_resources_are_taxii_errors(
    web: WebClient, method: str, path: str, status: int
) -> None:
    reply = web.request(method, path, headers={"Accept": MEDIA, **AUTH})
    assert reply.status_code == status
    assert reply.headers["content-type"] == MEDIA
    assert reply.json()["http_status"] == str(status)


def test_a_taxii_url_without_its_final_slash_redirects_to_it(web: WebClient) -> None:
    reply = get(web, "/taxii2/cvesweep/collections", params={"x": "1"})
    assert reply.status_code == 307
    assert reply.headers["location"] == "/taxii2/cvesweep/collections/?x=1"
    assert get(web, "/taxii2/cvesweep/nothing/").status_code == 404


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/taxii+json;version=2.1", 200),
        ("application/taxii+json", 200),
        ("application/taxii+json; version=2.1, text/html", 200),
        ("*/*", 200),
        ("application/taxii+json;version=2.0", 406),
        ("application/stix+json;version=2.1", 406),
        ("text/html", 406),
    ],
)
def test_accept_must_allow_taxii_2_1(web: WebClient, accept: str, status: int) -> None:
    reply = web.get("/taxii2/", headers={"Accept": accept, **AUTH})
    assert reply.status_code == status
    assert reply.headers["content-type"] == MEDIA


@pytest.mark.parametrize(
    "headers",
    [
        AUTH,
        basic("", TOKEN),
        basic("any-user-at-all", TOKEN),
        {"Authorization": f"Bearer {TOKEN}"},
    ],
)
def test_the_token_opens_taxii_as_basic_password_or_bearer(
    web: WebClient, headers: dict[str, str]
) -> None:
    assert web.get(OBJECTS, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(TOKEN, "wrong-password-0123456789"),
        basic("user", TOKEN + "x"),
        {"Authorization": "Basic %%%not-base64"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    ],
)
def test_without_the_token_taxii_answers_401_with_a_basic_challenge(
    web: WebClient, headers: dict[str, str]
) -> None:
    reply = web.get(OBJECTS, headers=headers)
    assert reply.status_code == 401
    assert reply.headers["content-type"] == MEDIA
    assert reply.headers["www-authenticate"].startswith('Basic realm="cvesweep"')
    assert reply.json()["http_status"] == "401"
    assert TOKEN not in reply.text


def test_wrong_basic_passwords_are_throttled_like_bearer_tokens(filled: Filled) -> None:
    app = create_app(lambda: settings_for("http://127.0.0.1:9"), filled.url, token=TOKEN)
    client = WebClient(app)
    try:
        for _ in range(5):
            assert (
                client.get(OBJECTS, headers=basic("u", "wrong-token-xxxxxxxx")).status_code == 401
            )
        refused = client.get(OBJECTS, headers=AUTH)  # even the right one waits now
        assert refused.status_code == 429 and refused.headers["content-type"] == MEDIA
        assert int(refused.headers["retry-after"]) >= 1
    finally:
        client.close()


def test_on_loopback_without_a_token_another_host_header_is_refused(filled: Filled) -> None:
    app = create_app(
        lambda: settings_for("http://127.0.0.1:9"), filled.url, allowed_hosts=("127.0.0.1",)
    )
    client = WebClient(app)
    try:
        assert client.get("/taxii2/").status_code == 200
        rebound = client.get("/taxii2/", headers={"Host": "evil.example"})
        assert rebound.status_code == 400 and rebound.headers["content-type"] == MEDIA
    finally:
        client.close()
