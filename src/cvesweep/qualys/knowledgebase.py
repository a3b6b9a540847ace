"""KnowledgeBase lookups: the severity and the CVEs of QIDs (KnowledgeBase 4.0, details=Basic).

The CVE detection endpoint gives no severity; a sweep needs each QID's CVEs to attribute a
detection to the CVEs it answers for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.endpoints import Endpoint
from cvesweep.qualys.responses import parse_kb_facts

BATCH = (
    1000  # QIDs per call: one POST form of ~7 KB, a reply of a few hundred KB with details=Basic
)
CALL = "knowledge base request"


@dataclass(frozen=True, slots=True)
class QidFacts:
    """What the KnowledgeBase says of one QID."""

    severity: int | None
    cves: tuple[str, ...]


def facts(client: QualysClient, qids: Iterable[int]) -> dict[int, QidFacts]:
    """Return QID → its facts for ``qids``, in calls of :data:`BATCH` QIDs.

    QIDs Qualys does not know are absent. Raises QualysError subclasses.
    """
    wanted = sorted(set(qids))
    found: dict[int, QidFacts] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        data = {"action": "list", "details": "Basic", "ids": ",".join(map(str, chunk))}
        body = client.post(client.path(Endpoint.KNOWLEDGE_BASE), data, call=CALL)
        for qid, (severity, cves) in parse_kb_facts(body, call=CALL).items():
            found[qid] = QidFacts(severity, cves)
    return found


def severities(client: QualysClient, qids: Iterable[int]) -> dict[int, int]:
    """Return QID → severity level (1-5) for ``qids`` (see :func:`facts`)."""
    return {q: f.severity for q, f in facts(client, qids).items() if f.severity is not None}
