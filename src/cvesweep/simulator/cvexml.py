"""The streamed HOST_LIST_CVE_VM_DETECTION_OUTPUT writer (CVE detection 3.0).

One CVE_DETECTION per (CVE, QID) pair of a host's matching detections, CVEs limited to the
ones asked for. Element names and their order are those qualysdk reads
(docs/qualys-2026.md §3.4); no real reply is recorded [unverified].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from cvesweep.simulator import facts as f
from cvesweep.simulator.facts import Facts
from cvesweep.simulator.hostxml import DatetimeCache, host_head, stream_hosts, tags_xml
from cvesweep.simulator.records import SimDetection, SimHost
from cvesweep.simulator.xmlout import cdata

ROOT = "HOST_LIST_CVE_VM_DETECTION_OUTPUT"


@dataclass(frozen=True, slots=True)
class CveView:
    """What a CVE detection reply shows: the CVEs asked for and the show_* flags."""

    facts: Facts
    titles: Callable[[int], str]
    cves: frozenset[str]
    show_qvs: bool = False
    show_tags: bool = False
    show_asset_id: bool = False


def cve_stream(
    matches: Iterable[tuple[SimHost, list[SimDetection]]],
    *,
    head: str,
    limit: int,
    view: CveView,
    next_page_url: Callable[[int], str],
    on_host: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Yield the CVE detection reply for ``matches`` (see :func:`hostxml.stream_hosts`)."""
    return stream_hosts(
        matches,
        head=head,
        root=ROOT,
        limit=limit,
        render=lambda match: host_xml(match[0], match[1], view),
        id_of=lambda match: match[0].id,
        next_page_url=next_page_url,
        on_host=on_host,
    )


def pairs(detections: Iterable[SimDetection], view: CveView) -> list[tuple[str, SimDetection]]:
    """Return the (CVE, detection) pairs to show: one per (CVE, QID), in QID then CVE order."""
    seen: set[int] = set()
    found = []
    for d in detections:
        if d.qid in seen:
            continue  # the same QID on a second port: one CVE_DETECTION per (CVE, QID)
        seen.add(d.qid)
        found += [(cve, d) for cve in view.facts.cves(d.qid) if cve in view.cves]
    return found


def host_xml(host: SimHost, detections: Iterable[SimDetection], view: CveView) -> str:
    """Return one HOST with its CVE_DETECTION_LIST."""
    when = DatetimeCache().text
    parts = host_head(host, when, show_asset_id=view.show_asset_id)
    if view.show_tags:
        parts.append(tags_xml(host))
    parts.append("        <CVE_DETECTION_LIST>\n")
    parts.extend(cve_detection_xml(host, cve, d, view, when) for cve, d in pairs(detections, view))
    parts.append("        </CVE_DETECTION_LIST>\n      </HOST>\n")
    return "".join(parts)


def cve_detection_xml(
    host: SimHost, cve: str, d: SimDetection, view: CveView, when: Callable[[datetime], str]
) -> str:
    """Return one CVE_DETECTION element. [unverified] CVSS and CVSS_BASE carry the same
    base score: what distinguishes them is undocumented."""
    s = view.facts.scores(d.qid)
    cvss = "" if s is None else (
        f"            <CVSS>{s.cvss2}</CVSS>\n            <CVSS_BASE>{s.cvss2}</CVSS_BASE>\n"
        f"            <CVSS_TEMPORAL>{s.cvss2_temporal}</CVSS_TEMPORAL>\n"
        f"            <CVSS3.1>{s.cvss3}</CVSS3.1>\n"
        f"            <CVSS3.1_BASE>{s.cvss3}</CVSS3.1_BASE>\n"
        f"            <CVSS3.1_TEMPORAL>{s.cvss3_temporal}</CVSS3.1_TEMPORAL>\n"
    )  # fmt: skip
    qvs = f"            <QVS>{f.qvs(cve)}</QVS>\n" if view.show_qvs else ""
    status = "" if d.status is None else f"            <STATUS>{d.status}</STATUS>\n"
    fixed = (
        ""
        if d.last_fixed is None
        else f"            <LAST_FIXED_DATETIME>{when(d.last_fixed)}</LAST_FIXED_DATETIME>\n"
    )
    return (
        f"          <CVE_DETECTION>\n            <VULN_CVE>{cdata(cve)}</VULN_CVE>\n"
        f"            <ASSOCIATED_QID>{d.qid}</ASSOCIATED_QID>\n"
        f"            <QID_TITLE>{cdata(view.titles(d.qid))}</QID_TITLE>\n{cvss}{qvs}"
        f"            <UNIQUE_VULN_ID>{f.unique_vuln_id(host, d)}</UNIQUE_VULN_ID>\n"
        f"            <TYPE>{d.type}</TYPE>\n            <SSL>{int(d.ssl)}</SSL>\n"
        f"            <RESULTS>{cdata(d.results)}</RESULTS>\n{status}"
        f"            <FIRST_FOUND_DATETIME>{when(d.first_found)}</FIRST_FOUND_DATETIME>\n"
        f"            <LAST_FOUND_DATETIME>{when(d.last_found)}</LAST_FOUND_DATETIME>\n"
        f"            <TIMES_FOUND>{d.times_found}</TIMES_FOUND>\n"
        f"            <LAST_TEST_DATETIME>{when(d.last_test)}</LAST_TEST_DATETIME>\n"
        f"            <LAST_UPDATE_DATETIME>{when(d.last_update)}</LAST_UPDATE_DATETIME>\n"
        f"            <LAST_PROCESSED_DATETIME>{when(d.last_processed)}</LAST_PROCESSED_DATETIME>\n"
        f"{fixed}            <IS_IGNORED>0</IS_IGNORED>\n            <IS_DISABLED>0</IS_DISABLED>\n"
        "          </CVE_DETECTION>\n"
    )
