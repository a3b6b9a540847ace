"""The sweep pages: paste CVEs or upload a KEV file, follow the sweep, read the per-CVE table."""

from __future__ import annotations

import re
import time
from html import unescape
from pathlib import Path

from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE
from tests.web.conftest import WebClient

KEV = (
    Path(__file__).resolve().parents[2]
    / "src/cvesweep/data/kev/known_exploited_vulnerabilities.json"
)
FLAGS = {"add_assets": "1", "add_discovered_assets": "1", "tag_cves": "1"}


def start(client: WebClient, files: dict[str, tuple[str, bytes, str]] | None = None,
          **fields: str) -> str:  # fmt: skip
    data = {**FLAGS, **fields, "csrf_token": client.csrf()}
    reply = client.post("/sweep", data=data, files=files)
    assert reply.status_code == 303, reply.text
    return reply.headers["location"].rsplit("/", 1)[-1]


def finished(client: WebClient, job_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        html = client.get(f"/sweep/{job_id}").text
        if 'data-state="running"' not in html or time.monotonic() > deadline:
            return unescape(html)
        time.sleep(0.1)


def test_pasted_cves_give_a_per_cve_table_linking_to_each_cve(client: WebClient) -> None:
    job = start(client, cves=f"{LOG4SHELL}\nCVE-2014-0160, {NO_QID_CVE}")
    html = finished(client, job)
    assert 'data-state="succeeded"' in html
    assert f'href="/cves/{LOG4SHELL}"' in html and 'href="/cves/CVE-2014-0160"' in html
    assert "Qualys knows no QID for 1 of these CVEs" in html and NO_QID_CVE in html
    assert re.search(r"3 \(2 with hosts, 1 without QID\)", html)
    assert re.search(
        r"\d+ assets created, \d+ updated, \d+ attributes added, \d+ relationships added", html
    )
    assert client.get(f"/cves/{LOG4SHELL}").status_code == 200  # stored
    listed = {c["cve"]: c for c in client.get("/api/cves").json()}  # the sweep is their last run
    assert "SWEEP" not in listed and listed[LOG4SHELL]["last_run_outcome"] == "success"
    assert listed[LOG4SHELL]["last_run_at"] is not None


def test_an_uploaded_kev_catalog_shows_due_dates_and_products(client: WebClient) -> None:
    files = {"file": ("known_exploited_vulnerabilities.json", KEV.read_bytes(), "application/json")}
    html = finished(client, start(client, files=files, no_store="1"))
    assert 'data-state="succeeded"' in html
    assert "Due date" in html and "Apache / Log4j2" in html
    assert "1404 (" in html and "deleted" in html
    calls = int(re.search(r'id="api-calls">(\d+)<', html)[1])  # type: ignore[index]
    assert calls < 40  # a handful of calls for the whole catalog


def test_a_bad_list_or_filter_shows_the_form_again_with_messages(client: WebClient) -> None:
    data = {**FLAGS, "cves": "CVE-2021-44228, log4shell", "min_severity": "9"}
    reply = client.post("/sweep", data={**data, "csrf_token": client.csrf()})
    assert reply.status_code == 400
    html = unescape(reply.text)
    assert "'log4shell' is not a CVE id" in html and 'id="min_severity-error"' in html
    assert "CVE-2021-44228, log4shell" in html  # what was typed is kept


def test_a_malformed_uploaded_catalog_names_the_entry(client: WebClient) -> None:
    files = {
        "file": ("kev.json", b'{"vulnerabilities": [{"cveID": "CVE-2021-1"}]}', "application/json")
    }
    reply = client.post("/sweep", data={**FLAGS, "csrf_token": client.csrf()}, files=files)
    assert reply.status_code == 400
    assert "kev.json entry 1" in unescape(reply.text)
