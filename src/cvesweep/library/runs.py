"""Run records: the audit trail of each operation run (parameters without secrets, counts)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from cvesweep.library.schema import runs
from cvesweep.models import SearchOptions, SearchResult

log = logging.getLogger(__name__)

SWEEP_RUN_CVE = "SWEEP"  # the run record's ``cve`` for a sweep; its CVEs are in parameters["cves"]

OUTCOMES = ("success", "failed", "interrupted")
_SECRET_WORDS = ("password", "secret", "token", "credential")


@dataclass(frozen=True)
class IngestStats:
    """What one ingest changed in the library."""

    assets_created: int = 0
    assets_updated: int = 0
    attributes_added: int = 0
    attributes_removed: int = 0
    relationships_added: int = 0
    findings_added: int = 0
    findings_updated: int = 0
    tags_added: int = 0


@dataclass(frozen=True)
class RunRecord:
    """One run of the operation as the caller saw it; ``parameters`` must be JSON-safe."""

    cve: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: str | None = None
    parameters: Mapping[str, object] = field(default_factory=dict)
    hosts: int = 0
    detections: int = 0
    pages: int = 0
    api_calls: int = 0
    search_list_id: int | None = None
    search_list_deleted: bool = False

    @classmethod
    def from_result(
        cls,
        result: SearchResult,
        *,
        started_at: datetime,
        finished_at: datetime,
        parameters: Mapping[str, object],
    ) -> RunRecord:
        """Return the "success" record of ``result`` (counts from its summary)."""
        summary = result.summary
        return cls(
            cve=result.cve,
            started_at=started_at,
            finished_at=finished_at,
            outcome="success",
            parameters=parameters,
            hosts=summary.hosts if summary else 0,
            detections=summary.detections if summary else 0,
            pages=summary.pages if summary else 0,
            api_calls=summary.api_calls if summary else 0,
            search_list_id=summary.search_list_id if summary else None,
            search_list_deleted=summary.search_list_deleted if summary else False,
        )


def run_parameters(
    options: SearchOptions,
    *,
    flags: Mapping[str, bool],
    truncation_limit: int,
    base_url: str,
    username: str,
) -> dict[str, object]:
    """Return the JSON-safe ``parameters`` of a run: filters, flags, limit, URL and user."""
    return {
        "ips": list(options.ips),
        "since": options.since.isoformat() if options.since else None,
        "min_severity": options.min_severity,
        "asset_groups": list(options.asset_groups),
        "flags": dict(flags),
        "truncation_limit": truncation_limit,
        "qualys_base_url": base_url,
        "qualys_username": username,
    }


def without_secrets(parameters: Mapping[str, object]) -> dict[str, object]:
    """Return ``parameters`` without any key that names a secret (at any depth)."""
    clean: dict[str, object] = {}
    for key, value in parameters.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            log.warning("run parameter %r dropped: secrets are never stored", key)
            continue
        clean[key] = without_secrets(value) if isinstance(value, Mapping) else value
    return clean


def insert_run(connection: Connection, run: RunRecord, stats: IngestStats | None) -> int:
    """Insert ``run`` (with ``stats`` when something was stored); return its id.

    Raises ValueError for an unknown outcome; database errors propagate.
    """
    if run.outcome not in OUTCOMES:
        raise ValueError(f"run outcome must be one of {OUTCOMES}, not {run.outcome!r}")
    row: dict[str, object] = {
        "cve": run.cve.upper(),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "outcome": run.outcome,
        "error": run.error,
        "parameters": without_secrets(run.parameters),
        "hosts": run.hosts,
        "detections": run.detections,
        "pages": run.pages,
        "api_calls": run.api_calls,
        "search_list_id": run.search_list_id,
        "search_list_deleted": run.search_list_deleted,
    }
    if stats is not None:
        row.update(asdict(stats))
    result = connection.execute(runs.insert().values(**row))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def note_run(connection: Connection, run: RunRecord, note: str) -> int:
    """Set the ``error`` note of the recorded ``run`` (found by CVE and start time).

    For what happened after a run was stored, e.g. its output's reader went away; the
    outcome stays. Returns how many records were changed (0: not found). Database errors
    propagate.
    """
    match = (runs.c.cve == run.cve.upper()) & (runs.c.started_at == run.started_at)
    return connection.execute(runs.update().where(match).values(error=note)).rowcount
