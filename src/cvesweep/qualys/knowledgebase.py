"""KnowledgeBase lookups: the severity of QIDs (the CVE detection endpoint gives none)."""

from __future__ import annotations

from collections.abc import Iterable

from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.endpoints import Endpoint
from cvesweep.qualys.responses import parse_kb_severities

BATCH = (
    1000  # QIDs per call: one POST form of ~7 KB, a reply of a few hundred KB with details=Basic
)
CALL = "knowledge base request"


def severities(client: QualysClient, qids: Iterable[int]) -> dict[int, int]:
    """Return QID → severity level (1-5) for ``qids``, in calls of :data:`BATCH` QIDs.

    QIDs Qualys does not know are absent. Raises QualysError subclasses.
    """
    wanted = sorted(set(qids))
    found: dict[int, int] = {}
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        data = {"action": "list", "details": "Basic", "ids": ",".join(map(str, chunk))}
        body = client.post(client.path(Endpoint.KNOWLEDGE_BASE), data, call=CALL)
        found.update(parse_kb_severities(body, call=CALL))
    return found
