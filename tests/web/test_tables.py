"""Tables that scale (issue 13 items 1-2), in-process: a result's hosts and the library's
tables paged, sorted and filtered on the server; whole results downloaded as the CLI writes
them, "Don't store" runs included, for as long as they are kept."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
from typing import Any

import pytest

from cvesweep.simulator.knowledgebase import LOG4SHELL, VENDOR_EXAMPLE
from cvesweep.web.jobs import JobManager
from tests.web.conftest import MakeClient, WebClient, start_search

LOG4SHELL_HOSTS = 23


def by_ip(values: list[str]) -> list[str]:
    return sorted(values, key=lambda v: int(ipaddress.ip_address(v)))


def finished(client: WebClient, **body: Any) -> str:
    job_id = start_search(client, **body)
    status = client.wait(job_id)
    assert status["state"] == "succeeded", status
    return job_id


def hosts_of(client: WebClient, job_id: str, **params: Any) -> dict[str, Any]:
    reply = client.get(f"/api/searches/{job_id}", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_api_pages_cover_the_result_once_in_numeric_ip_order(client: WebClient) -> None:
    job_id = finished(client, cve=LOG4SHELL, store=False)
    seen: list[str] = []
    for offset in range(0, LOG4SHELL_HOSTS, 10):
        status = hosts_of(client, job_id, offset=offset, limit=10)
        seen += [h["ip"] for h in status["hosts"]]
        assert status["hosts_truncated"] is (offset + 10 < LOG4SHELL_HOSTS)
    assert len(seen) == LOG4SHELL_HOSTS == len(set(seen))
    assert seen == by_ip(seen)


def test_api_sorts_by_severity_high_to_low_first(client: WebClient) -> None:
    job_id = finished(client, cve=LOG4SHELL, store=False)
    hosts = hosts_of(client, job_id, sort="severity", limit=100)["hosts"]
    top = [max((d["severity"] or 0) for d in h["detections"]) for h in hosts]
    assert top == sorted(top, reverse=True)
    rising = hosts_of(client, job_id, sort="severity", order="asc", limit=100)["hosts"]
    assert [max((d["severity"] or 0) for d in h["detections"]) for h in rising] == sorted(top)


def test_api_filter_narrows_the_matched_count(client: WebClient) -> None:
    job_id = finished(client, cve=LOG4SHELL, store=False)
    ip = hosts_of(client, job_id, limit=1)["hosts"][0]["ip"]
    status = hosts_of(client, job_id, q=ip)
    assert [h["ip"] for h in status["hosts"]] == [ip]
    assert (status["hosts_matched"], status["hosts_total"]) == (1, LOG4SHELL_HOSTS)


@pytest.mark.parametrize(
    ("params", "name"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset"),
     ({"sort": "os"}, "sort"), ({"order": "up"}, "order")],
)  # fmt: skip
def test_api_paging_parameters_are_bounded(
    client: WebClient, params: dict[str, Any], name: str
) -> None:
    job_id = finished(client, cve=VENDOR_EXAMPLE, store=False)
    reply = client.get(f"/api/searches/{job_id}", params=params)
    assert reply.status_code == 422
    assert reply.json()["error"]["field"] == name


def test_download_of_a_dont_store_result_is_the_cli_output(client: WebClient) -> None:
    job_id = finished(client, cve=LOG4SHELL, store=False)
    reply = client.get(f"/api/searches/{job_id}/result", params={"format": "json"})
    assert reply.status_code == 200
    assert reply.headers["content-disposition"].startswith("attachment; filename=")
    data = json.loads(reply.text)
    assert data["cve"] == LOG4SHELL
    assert len(data["hosts"]) == LOG4SHELL_HOSTS
    assert data["summary"]["hosts"] == LOG4SHELL_HOSTS
    table = list(csv.reader(io.StringIO(client.get(f"/api/searches/{job_id}/result").text)))
    assert table[0][:2] == ["host_id", "ip"]
    assert {row[1] for row in table[1:]} == {h["ip"] for h in data["hosts"]}


def test_expired_result_is_gone_and_the_page_says_so(make_client: MakeClient) -> None:
    jobs = JobManager(kept_for=0.0)
    client = make_client(jobs=jobs)
    job_id = finished(client, cve=VENDOR_EXAMPLE, store=False)
    status = hosts_of(client, job_id)
    assert status["result_expired"] is True
    assert status["hosts"] is None
    assert client.get(f"/api/searches/{job_id}/result").status_code == 410
    page = client.get(f"/search/{job_id}")
    assert 'id="result-expired"' in page.text
    assert "download-csv" not in page.text


def test_forgotten_job_frees_its_result(make_client: MakeClient) -> None:
    jobs = JobManager(max_kept=1)
    client = make_client(jobs=jobs)
    first = finished(client, cve=VENDOR_EXAMPLE, store=False)
    kept = jobs.get(first)
    assert kept is not None and kept.result is not None
    finished(client, cve=VENDOR_EXAMPLE, store=False)
    assert kept.result.expired


def test_result_page_is_paged_sorted_and_offers_downloads(client: WebClient) -> None:
    job_id = finished(client, cve=LOG4SHELL, store=False)
    page = client.get(f"/search/{job_id}", params={"limit": 10}).text
    rows = re.findall(r"<tr>\s*<td>([0-9.]+)</td>", page)
    assert len(rows) == 10 and rows == by_ip(rows)
    assert f'Hosts 1–10 of <span class="total">{LOG4SHELL_HOSTS}</span>' in page
    assert f'href="/api/searches/{job_id}/result?format=csv"' in page
    assert "kept on this server" in page and "60 minutes" in page
    assert 'rel="next"' in page
    severity = client.get(f"/search/{job_id}", params={"sort": "severity"}).text
    assert 'aria-sort="descending"' in severity


def test_asset_list_is_numeric_and_counts_every_match(client: WebClient) -> None:
    finished(client, cve=LOG4SHELL)
    api = client.get("/api/assets", params={"limit": 1000}).json()
    values = [a["value"] for a in api["assets"]]
    assert values == by_ip(values)
    assert api["total"] == len(values)
    page = client.get("/assets", params={"limit": 5, "offset": 5}).text
    assert re.findall(r'<a href="/assets/([0-9.]+)">', page) == values[5:10]
    assert f'of <span class="total">{len(values)}</span>' in page


def test_cve_page_pages_its_assets_and_offers_csv_and_json(client: WebClient) -> None:
    finished(client, cve=LOG4SHELL)
    page = client.get(f"/cves/{LOG4SHELL}", params={"limit": 5}).text
    assets_table, findings_table = page.split('id="cve-findings"', 1)
    assets = re.findall(r'<td><a href="/assets/([0-9.]+)">', assets_table)
    assert len(assets) == 5 and assets == by_ip(assets)
    # the findings shown are those of the page's assets, in the same order
    shown = re.findall(r'<td><a href="/assets/([0-9.]+)">', findings_table)
    assert sorted(set(shown), key=shown.index) == assets
    assert f'id="asset-count">{LOG4SHELL_HOSTS}<' in page
    assert f"/api/cves/{LOG4SHELL}/export?format=csv" in page
    assert "per finding (CSV)" in page and "one object per asset with its findings (JSON)" in page
    assert "one object (JSON) per finding" not in page
    table = list(csv.reader(io.StringIO(client.get(f"/api/cves/{LOG4SHELL}/export").text)))
    assert table[0][:2] == ["asset", "hostname"]
    ips = [row[0] for row in table[1:]]
    assert len(set(ips)) == LOG4SHELL_HOSTS and ips == by_ip(ips)
    data = client.get(f"/api/cves/{LOG4SHELL}/export", params={"format": "json"}).json()
    assert [a["value"] for a in data["assets"]] == sorted(set(ips), key=ips.index)
    assert all(a["findings"] for a in data["assets"])


def test_api_cve_pages_assets_and_findings(client: WebClient) -> None:
    finished(client, cve=LOG4SHELL)
    detail = client.get(f"/api/cves/{LOG4SHELL}", params={"limit": 4, "offset": 2}).json()
    assert len(detail["assets"]) == 4
    assert detail["assets_total"] == LOG4SHELL_HOSTS
    assert len(detail["cve"]["findings"]) == 4
    assert detail["findings_total"] >= LOG4SHELL_HOSTS


def test_runs_are_paged_with_their_total(client: WebClient) -> None:
    for _ in range(3):
        finished(client, cve=VENDOR_EXAMPLE)
    reply = client.get("/api/runs", params={"limit": 2, "offset": 1})
    assert (len(reply.json()), reply.headers["x-total-count"]) == (2, "3")
    page = client.get("/runs", params={"limit": 2}).text
    assert 'Runs 1–2 of <span class="total">3</span>' in page
