"""Dynamic search lists on 2.0 and 3.0: the list items third-party clients read, and update."""

from __future__ import annotations

import pytest

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE, VENDOR_EXAMPLE

from .conftest import LISTS, parse

LISTS_2 = ENDPOINTS[Endpoint.SEARCH_LIST].path("2.0")
ITEM = "RESPONSE/DYNAMIC_LISTS/DYNAMIC_LIST"


def create(client, title: str, cves: str, path: str = LISTS, **extra: str) -> int:
    response = client.post(
        path, data={"action": "create", "title": title, "cve_ids": cves, **extra}
    )
    assert response.status_code == 200, response.text
    return int(parse(response.content).findtext("RESPONSE/ITEM_LIST/ITEM/VALUE"))


def listed(client, path: str = LISTS, **params: str):
    return parse(client.get(path, params={"action": "list", **params}).content).findall(ITEM)


@pytest.mark.parametrize("path", [LISTS, LISTS_2])
def test_list_items_carry_modified_global_yes_no_and_the_cve_criteria(client, fleet, path):
    create(client, "a", f"{LOG4SHELL},{VENDOR_EXAMPLE}", path, **{"global": "1"})
    create(client, "b", LOG4SHELL, path)
    first, second = listed(client, path)
    assert [c.tag for c in first] == [
        "ID", "TITLE", "GLOBAL", "OWNER", "CREATED", "MODIFIED", "MODIFIED_BY", "QIDS", "CRITERIA",
    ]  # fmt: skip
    assert (first.findtext("GLOBAL"), second.findtext("GLOBAL")) == ("Yes", "No")
    assert first.findtext("MODIFIED") == first.findtext("CREATED")
    assert first.findtext("MODIFIED_BY") == "simuser"
    assert first.findtext("CRITERIA/CVE_ID") == f"{LOG4SHELL},{VENDOR_EXAMPLE}"
    assert first.find("LAST_UPDATE") is None
    qids = [int(q.text) for q in first.iterfind("QIDS/QID")]
    assert qids == list(fleet.kb.qids_for_cves([LOG4SHELL, VENDOR_EXAMPLE]))


def test_a_cve_qualys_knows_no_qid_for_gives_a_list_without_qids(client):
    list_id = create(client, "none", NO_QID_CVE)
    (item,) = listed(client, ids=str(list_id), show_qids="1")
    assert item.find("QIDS") is None
    assert item.findtext("CRITERIA/CVE_ID") == NO_QID_CVE


def test_list_by_id_returns_only_that_list(client):
    ids = [create(client, f"t{n}", LOG4SHELL) for n in range(5)]
    (item,) = listed(client, ids=str(ids[2]), show_qids="1")
    assert int(item.findtext("ID")) == ids[2]
    both = listed(client, ids=f"{ids[4]},{ids[0]}")
    assert [int(e.findtext("ID")) for e in both] == [ids[0], ids[4]]
    ranged = listed(client, ids=f"{ids[1]}-{ids[3]}")
    assert [int(e.findtext("ID")) for e in ranged] == ids[1:4]


def test_update_on_3_0_changes_cves_qids_title_and_modified(client, fleet):
    list_id = create(client, "old", VENDOR_EXAMPLE)
    response = client.post(
        LISTS, data={"action": "update", "id": str(list_id), "cve_ids": LOG4SHELL, "title": "new"}
    )
    assert response.status_code == 200
    root = parse(response.content)
    assert root.findtext("RESPONSE/TEXT") == "Dynamic search list updated successfully"
    assert root.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") == str(list_id)
    (item,) = listed(client)
    assert item.findtext("TITLE") == "new"
    assert item.findtext("CRITERIA/CVE_ID") == LOG4SHELL
    assert [int(q.text) for q in item.iterfind("QIDS/QID")] == list(
        fleet.kb.qids_for_cves([LOG4SHELL])
    )
    only_title = client.post(LISTS, data={"action": "update", "id": str(list_id), "title": "newer"})
    assert only_title.status_code == 200
    (item,) = listed(client)
    assert (item.findtext("TITLE"), item.findtext("CRITERIA/CVE_ID")) == ("newer", LOG4SHELL)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"action": "update", "cve_ids": LOG4SHELL}, 1903),
        ({"action": "update", "id": "999", "cve_ids": LOG4SHELL}, 1905),
        ({"action": "update", "id": "{id}", "cve_ids": "nope"}, 1905),
        ({"action": "update", "id": "{id}", "title": "taken"}, 1905),
        ({"action": "update", "id": "{id}", "qids": "1"}, 1901),
    ],
)
def test_bad_updates_are_refused(client, data, code):
    list_id = create(client, "mine", LOG4SHELL)
    create(client, "taken", LOG4SHELL)
    data = {k: v.format(id=list_id) for k, v in data.items()}
    response = client.post(LISTS, data=data)
    assert response.status_code == 400
    assert parse(response.content).findtext("RESPONSE/CODE") == str(code)


def test_update_needs_post_and_3_0(client):
    list_id = create(client, "x", LOG4SHELL)
    by_get = client.get(LISTS, params={"action": "update", "id": str(list_id), "title": "y"})
    assert parse(by_get.content).findtext("RESPONSE/CODE") == "1908"
    on_2_0 = client.post(LISTS_2, data={"action": "update", "id": str(list_id), "title": "y"})
    assert on_2_0.status_code == 400
    assert parse(on_2_0.content).findtext("RESPONSE/CODE") == "1905"
