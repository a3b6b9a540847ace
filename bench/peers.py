"""The peer patterns cvesweep's search is compared with, over the same pages of the same simulator.

Run by bench/bench_search.py as a child process (its CPU seconds and peak RSS are read from
``wait4``), never by bench/run.py directly::

    python bench/peers.py MODE URL SEARCH_LIST_PATH DETECTION_PATH CVE FORM_JSON

It does what a qualysapi user does, with httpx: create a dynamic search list for the CVE,
POST the detection list restricted to it page by page (the same form as cvesweep's first
page, ``FORM_JSON``, following ``RESPONSE/WARNING/URL``'s ``id_min``), delete the list.
``MODE`` says what becomes of each page:

* ``objectify``: ``lxml.objectify.fromstring`` of the whole page, every page's tree kept
  (qualysapi's pattern: ``objectify.fromstring(response.content)``);
* ``xmltodict``: ``xmltodict.parse`` of the whole page, every page's dict kept;
* ``discard``: the body streamed and thrown away (a fetch-only floor: the HTTP cost alone).

The password comes from ``CVESWEEP_QUALYS_PASSWORD`` (never argv); the username from
``CVESWEEP_QUALYS_USERNAME``. Prints one JSON line: pages, hosts, bytes.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

import httpx

_ID_MIN = re.compile(rb"id_min=(\d+)")
_HOST_END = b"</HOST>"


def main(argv: list[str]) -> int:
    mode, url, list_path, detection_path, cve, form_json = argv
    auth = (os.environ["CVESWEEP_QUALYS_USERNAME"], os.environ["CVESWEEP_QUALYS_PASSWORD"])
    headers = {"X-Requested-With": "cvesweep bench peer"}
    with httpx.Client(base_url=url, auth=auth, headers=headers, timeout=600) as client:
        title = f"cvesweep bench peer {cve} {time.time_ns():x}"
        reply = client.post(
            list_path, data={"action": "create", "title": title, "cve_ids": cve, "global": "1"}
        )
        found = re.search(rb"<VALUE>(\d+)</VALUE>", reply.content)
        if found is None:
            raise SystemExit(f"search list not created: HTTP {reply.status_code}")
        list_id = found[1].decode()
        try:
            form = {**json.loads(form_json), "include_search_list_ids": list_id}
            kept, pages, hosts, size = pull(client, detection_path, form, mode)
        finally:
            client.post(list_path, data={"action": "delete", "id": list_id})
    print(json.dumps({"mode": mode, "pages": pages, "hosts": hosts, "bytes": size, "kept": kept}))
    return 0


def pull(
    client: httpx.Client, path: str, form: dict[str, str], mode: str
) -> tuple[int, int, int, int]:
    """Every page of ``form`` handled as ``mode`` says; return (kept, pages, hosts, bytes)."""
    kept: list[Any] = []  # every page's tree or dict stays alive, as in the peers' pattern
    pages = hosts = size = 0
    while True:
        if mode == "discard":
            body_tail, received, page_hosts = discard(client, path, form)
        else:
            body = client.post(path, data=form).content
            received, body_tail = len(body), body[-4096:]
            kept.append(parse(body, mode))
            page_hosts = body.count(_HOST_END)
        pages, hosts, size = pages + 1, hosts + page_hosts, size + received
        next_page = _ID_MIN.search(body_tail) if b"<WARNING>" in body_tail else None
        if next_page is None:
            return len(kept), pages, hosts, size
        form = {**form, "id_min": next_page[1].decode()}


def parse(body: bytes, mode: str) -> Any:
    if mode == "objectify":
        from lxml import objectify

        return objectify.fromstring(body)
    if mode == "xmltodict":
        import xmltodict

        return xmltodict.parse(body)
    raise SystemExit(f"unknown mode {mode!r}")


def discard(client: httpx.Client, path: str, form: dict[str, str]) -> tuple[bytes, int, int]:
    """Stream one page and throw its bytes away; return its tail, size and </HOST> count."""
    received = hosts = 0
    tail = b""
    with client.stream("POST", path, data=form) as reply:
        for data in reply.iter_raw():
            received += len(data)
            hosts += (tail[-(len(_HOST_END) - 1) :] + data).count(_HOST_END)
            tail = (tail + data)[-4096:]
    return tail, received, hosts


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
