"""The streamed HOST_LIST_VM_DETECTION_OUTPUT writer: hosts in, chunks of XML bytes out.

The 2.0 elements follow the real samples, ``UNIQUE_VULN_ID`` and ``QDS``/``QDS_FACTORS``
sit where detection_qds_factors_warning_mockderived_elastic.xml has them. The elements
versions 4.0 and 5.0 added (``CVE``, ``MITRE_*``, ``VULNERABILITY_DETECTION_SOURCES``,
``LATEST_VULNERABILITY_DETECTION_SOURCE``, ``TRURISK_ELIMINATION_STATUS``; elastic/integrations
PR #16436 DTD diff, docs/qualys-2026.md §3.1) come after LAST_PROCESSED_DATETIME: their
real order is unknown [unverified]; clients must read them by name. Each is written only
when the request asks for it (see :class:`DetectionView`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from cvesweep.simulator import facts as f
from cvesweep.simulator.facts import Facts
from cvesweep.simulator.hostxml import DatetimeCache, host_head, stream_hosts, tags_xml
from cvesweep.simulator.records import SimDetection, SimHost
from cvesweep.simulator.xmlout import cdata, escape, qdt

ROOT = "HOST_LIST_VM_DETECTION_OUTPUT"


@dataclass(frozen=True, slots=True)
class DetectionView:
    """What a detection reply shows: the request's show_* flags and the version's elements.

    ``mitre`` needs 4.0+ and ``mitre_attack_details=1``; ``sources`` 5.0 and
    ``vuln_detection_source=1``; ``cves`` 5.0 and ``show_cve=1``; ``trurisk`` 5.0 and
    ``show_trurisk_elimination=1`` (those two names are ours [unverified]).
    """

    facts: Facts | None = None
    show_tags: bool = False
    show_results: bool = True
    show_asset_id: bool = False
    qds: bool = False
    qds_factors: bool = False
    cves: bool = False
    mitre: bool = False
    sources: bool = False
    trurisk: bool = False


def detection_stream(
    matches: Iterable[tuple[SimHost, list[SimDetection]]],
    *,
    head: str,
    limit: int,
    view: DetectionView,
    next_page_url: Callable[[int], str],
    on_host: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """Yield the detection reply for ``matches`` (see :func:`hostxml.stream_hosts`)."""
    snippets = Snippets(view)
    return stream_hosts(
        matches,
        head=head,
        root=ROOT,
        limit=limit,
        render=lambda match: host_xml(match[0], match[1], view, snippets),
        id_of=lambda match: match[0].id,
        next_page_url=next_page_url,
        on_host=on_host,
    )


def host_xml(
    host: SimHost,
    detections: Iterable[SimDetection],
    view: DetectionView,
    snippets: Snippets | None = None,
) -> str:
    """Return one ``HOST`` element with the given detections."""
    snippets = snippets or Snippets(view)
    when = DatetimeCache().text
    parts = host_head(host, when, show_asset_id=view.show_asset_id)
    if view.show_tags:
        parts.append(tags_xml(host))
    parts.append("        <DETECTION_LIST>\n")
    parts.extend(detection_xml(host, d, view, snippets, when) for d in detections)
    parts.append("        </DETECTION_LIST>\n      </HOST>\n")
    return "".join(parts)


class Snippets:
    """Per-QID XML pieces (QDS, CVE, MITRE) of one reply, formatted once per QID."""

    def __init__(self, view: DetectionView) -> None:
        self._facts = view.facts
        self._qds_factors = view.qds_factors
        self._qds: dict[int, str] = {}
        self._cves: dict[int, str] = {}
        self._mitre: dict[int, str] = {}

    def qds(self, qid: int) -> str:
        """Return QDS (and QDS_FACTORS when asked) of ``qid``; "" when it has no score."""
        known = self._qds.get(qid)
        if known is None:
            scores = None if self._facts is None else self._facts.scores(qid)
            known = self._qds[qid] = "" if scores is None else _qds_xml(scores, self._qds_factors)
        return known

    def cves(self, qid: int) -> str:
        """Return one CVE element per CVE of ``qid`` [unverified shape]; "" when none."""
        known = self._cves.get(qid)
        if known is None:
            cves = () if self._facts is None else self._facts.cves(qid)
            known = "".join(f"            <CVE>{cdata(cve)}</CVE>\n" for cve in cves)
            self._cves[qid] = known
        return known

    def mitre(self, qid: int) -> str:
        """Return the four MITRE_* elements (comma lists) of ``qid`` [unverified]; "" if none."""
        known = self._mitre.get(qid)
        if known is None:
            attack = None if self._facts is None else self._facts.attack(qid)
            known = self._mitre[qid] = "" if attack is None else _mitre_xml(attack)
        return known


def _qds_xml(scores: f.Scores, factors: bool) -> str:
    text = f'            <QDS severity="{scores.qds_severity}">{scores.qds}</QDS>\n'
    if not factors:
        return text
    rows = (
        ("CVSS", str(scores.cvss3)),
        ("CVSS_version", "v3.x"),
        ("epss", f"{scores.epss:.5f}"),
        ("CVSS_vector", scores.cvss3_vector),
    )
    listed = "".join(
        f'              <QDS_FACTOR name="{name}">{cdata(value)}</QDS_FACTOR>\n'
        for name, value in rows
    )
    return f"{text}            <QDS_FACTORS>\n{listed}            </QDS_FACTORS>\n"


def _mitre_xml(attack: f.Attack) -> str:
    return (
        f"            <MITRE_TACTIC_NAME>{cdata(','.join(attack.tactic_names))}"
        "</MITRE_TACTIC_NAME>\n"
        f"            <MITRE_TACTIC_ID>{','.join(attack.tactic_ids)}</MITRE_TACTIC_ID>\n"
        f"            <MITRE_TECHNIQUE_NAME>{cdata(','.join(attack.technique_names))}"
        "</MITRE_TECHNIQUE_NAME>\n"
        f"            <MITRE_TECHNIQUE_ID>{','.join(attack.technique_ids)}</MITRE_TECHNIQUE_ID>\n"
    )


def detection_xml(
    host: SimHost,
    d: SimDetection,
    view: DetectionView,
    snippets: Snippets,
    when: Callable[[datetime], str] = qdt,
) -> str:
    """Return one ``DETECTION`` element (Info detections carry no SEVERITY or STATUS)."""
    severity = "" if d.severity is None else f"            <SEVERITY>{d.severity}</SEVERITY>\n"
    port = "" if d.port is None else f"            <PORT>{d.port}</PORT>\n"
    protocol = (
        "" if d.protocol is None else f"            <PROTOCOL>{escape(d.protocol)}</PROTOCOL>\n"
    )
    results = f"            <RESULTS>{cdata(d.results)}</RESULTS>\n" if view.show_results else ""
    status = "" if d.status is None else f"            <STATUS>{d.status}</STATUS>\n"
    fixed = (
        ""
        if d.last_fixed is None
        else f"            <LAST_FIXED_DATETIME>{when(d.last_fixed)}</LAST_FIXED_DATETIME>\n"
    )
    qds = snippets.qds(d.qid) if view.qds else ""
    return (
        f"          <DETECTION>\n"
        f"            <UNIQUE_VULN_ID>{f.unique_vuln_id(host, d)}</UNIQUE_VULN_ID>\n"
        f"            <QID>{d.qid}</QID>\n            <TYPE>{d.type}</TYPE>\n"
        f"{severity}{port}{protocol}            <SSL>{int(d.ssl)}</SSL>\n{results}{status}"
        f"            <FIRST_FOUND_DATETIME>{when(d.first_found)}</FIRST_FOUND_DATETIME>\n"
        f"            <LAST_FOUND_DATETIME>{when(d.last_found)}</LAST_FOUND_DATETIME>\n{qds}"
        f"            <TIMES_FOUND>{d.times_found}</TIMES_FOUND>\n"
        f"            <LAST_TEST_DATETIME>{when(d.last_test)}</LAST_TEST_DATETIME>\n"
        f"            <LAST_UPDATE_DATETIME>{when(d.last_update)}</LAST_UPDATE_DATETIME>\n{fixed}"
        "            <IS_IGNORED>0</IS_IGNORED>\n            <IS_DISABLED>0</IS_DISABLED>\n"
        f"            <LAST_PROCESSED_DATETIME>{when(d.last_processed)}</LAST_PROCESSED_DATETIME>\n"
        f"{_newer(host, d, view, snippets)}          </DETECTION>\n"
    )


def _newer(host: SimHost, d: SimDetection, view: DetectionView, snippets: Snippets) -> str:
    """Return the 4.0/5.0 elements the view asks for, after the 2.0 ones [unverified order]."""
    parts = []
    if view.cves:
        parts.append(snippets.cves(d.qid))
    if view.mitre:
        parts.append(snippets.mitre(d.qid))
    if view.sources:
        sources, latest = f.detection_sources(host, d.qid)
        parts.append(
            "            <VULNERABILITY_DETECTION_SOURCES>"
            f"{cdata(','.join(sources))}</VULNERABILITY_DETECTION_SOURCES>\n"
            "            <LATEST_VULNERABILITY_DETECTION_SOURCE>"
            f"{cdata(latest)}</LATEST_VULNERABILITY_DETECTION_SOURCE>\n"
        )
    if view.trurisk:
        status = f.trurisk_status(host, d)
        if status is not None:
            parts.append(
                f"            <TRURISK_ELIMINATION_STATUS>{status}</TRURISK_ELIMINATION_STATUS>\n"
            )
    return "".join(parts)
