"""Drive qualysapi 8.1.0 (``qualysapi.connect``, ``QGConnector.request``) against the simulator.

qualysapi builds ``https://<hostname>/...`` itself and passes ``verify`` to requests; the
simulator's certificate is given as ``verify=`` where the call takes it and through
``REQUESTS_CA_BUNDLE`` (set by the test) for its internal retries.

Its ``request`` recognises ``about.php`` (API v1, GET on /msp/) and ``api/2.0/...`` paths by
itself; any other FO path needs ``api_version=2`` ("FO API v2 family": POST, base URL /),
which is its documented way to call a path it does not know, e.g. ``/api/5.0/...``.
"""

from __future__ import annotations

import qualysapi
from _harness import Harness, host_ids, truncation_url, xml_root


def main() -> None:
    sim = Harness()
    qgc = qualysapi.connect(username=sim.username, password=sim.password, hostname=sim.hostport)
    paths = sim.inputs.get("paths", {})
    page = int(sim.inputs.get("page", 7))

    def fo(path: str, data: dict[str, str]) -> str:
        return qgc.request(path, data, api_version=2, verify=sim.ca)

    def about() -> dict[str, object]:
        root = xml_root(qgc.request("about.php", verify=sim.ca))
        return {"root": root.tag, "web_version": root.findtext("WEB-VERSION")}

    def detection() -> dict[str, object]:
        root = xml_root(fo(paths["detection"], {"action": "list", "truncation_limit": str(page)}))
        return {"host_ids": host_ids(root), "truncated": truncation_url(root) is not None}

    def host_list() -> dict[str, object]:
        root = xml_root(fo(paths["host_list"], {"action": "list", "truncation_limit": str(page)}))
        return {"host_ids": host_ids(root)}

    def knowledge_base() -> dict[str, object]:
        qids = ",".join(str(q) for q in sim.inputs["qids"])
        root = xml_root(fo(paths["knowledge_base"], {"action": "list", "ids": qids}))
        return {"qids": [int(v.findtext("QID") or 0) for v in root.iter("VULN")]}

    def search_list() -> dict[str, object]:
        return search_list_lifecycle(fo, paths["search_list"], sim.inputs["cve"])

    def cve_detection() -> dict[str, object]:
        data = {"action": "list", "cve": sim.inputs["cve"], "truncation_limit": "0"}
        return {"host_ids": host_ids(xml_root(fo(paths["cve_detection"], data)))}

    def legacy_list_hosts() -> dict[str, object]:  # its own helper, hard-wired to 2.0
        return {"host_ids": [host.id for host in qgc.listHosts(limit=page)]}

    sim.call("about", about)
    sim.call("detection", detection)
    sim.call("host_list", host_list)
    sim.call("knowledge_base", knowledge_base)
    sim.call("search_list", search_list)
    sim.call("cve_detection", cve_detection)
    sim.call("legacy_list_hosts", legacy_list_hosts)
    sim.write()


def search_list_lifecycle(fo, path: str, cve: str) -> dict[str, object]:
    """Create a dynamic search list for ``cve``, list it, delete it, list again."""
    title = f"thirdparty qualysapi {cve}"
    created = xml_root(fo(path, {"action": "create", "title": title, "cve_ids": cve}))
    list_id = int(created.findtext("RESPONSE/ITEM_LIST/ITEM/VALUE") or 0)

    def titles() -> list[str]:
        root = xml_root(fo(path, {"action": "list"}))
        return [e.findtext("TITLE") or "" for e in root.iter("DYNAMIC_LIST")]

    listed = title in titles()
    fo(path, {"action": "delete", "id": str(list_id)})
    return {"id": list_id, "listed": listed, "listed_after_delete": title in titles()}


if __name__ == "__main__":
    main()
