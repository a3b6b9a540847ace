"""Pydantic models of the JSON API: what it accepts and returns (and what /openapi.json shows)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cvesweep.export.jsonout import filters_record, host_record
from cvesweep.inputs import ASSET_GROUPS_MAX_CHARS, IPS_MAX_CHARS, SINCE_MAX_CHARS
from cvesweep.library.listing import Page
from cvesweep.models import Host
from cvesweep.web.bounds import CveText
from cvesweep.web.jobs import JobState, JobView


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorModel(_Out):
    """What failed, where (source: input, configuration, Qualys, library...), what to do."""

    status: int
    message: str
    source: str
    hint: str | None = None
    code: int | None = Field(None, description="the Qualys error code, when Qualys gave one")
    field: str | None = Field(None, description="the input at fault, for input errors")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorModel


class SearchRequestModel(BaseModel):
    """A search to start: the CVE, the four filters (as the CLI takes them), what to store.

    Strictly typed: a string is a string, a number a number and a flag ``true`` or
    ``false`` (``"min_severity": true`` or ``"store": 0`` is a 422). The schema's bounds are
    enforced before anything else; the filters' grammar (IP ranges, dates) is then checked
    by the CLI's validators (400 naming the option).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    cve: CveText
    ips: str | None = Field(
        None,
        max_length=IPS_MAX_CHARS,
        description="as --ips: IPv4 addresses, ranges a-b, CIDR blocks, comma-separated "
        "(at most 1,000 items)",
        examples=["10.0.0.1, 10.0.0.5-10.0.0.9, 10.1.0.0/24"],
    )
    since: str | None = Field(
        None,
        max_length=SINCE_MAX_CHARS,
        description='as --since: "YYYY-MM-DD HH:MM" (UTC), "YYYY-MM-DD" or ISO 8601',
        examples=["2020-04-01 17:35"],
    )
    min_severity: int | None = Field(None, ge=1, le=5, examples=[3])
    asset_groups: str | None = Field(
        None,
        max_length=ASSET_GROUPS_MAX_CHARS,
        description="as --asset-groups: titles (or ids), comma-separated (at most 100 items "
        "of at most 256 characters)",
        examples=["DMZ, Servers"],
    )
    add_assets: bool = True
    add_discovered_assets: bool = True
    tag_cves: bool = True
    store: bool = Field(True, description="false: store nothing in the library")


class ProgressModel(_Out):
    """How far a running search has come."""

    pages: int
    hosts: int
    detections: int


class DetectionModel(BaseModel):
    """One detection of a host (the CLI's JSON contract)."""

    qid: int
    type: str | None
    severity: int | None
    status: str | None
    port: int | None
    protocol: str | None
    first_found: str | None
    last_found: str | None
    times_found: int | None
    unique_vuln_id: int | None = None
    cves: list[str] = Field(default_factory=list)
    qds: int | None = Field(None, description="Qualys Detection Score (detection 5.0)")
    qds_severity: str | None = None
    mitre_tactic_ids: list[str] = Field(default_factory=list)
    mitre_tactic_names: list[str] = Field(default_factory=list)
    mitre_technique_ids: list[str] = Field(default_factory=list)
    mitre_technique_names: list[str] = Field(default_factory=list)
    detection_sources: list[str] = Field(default_factory=list)
    latest_detection_source: str | None = None


class HostModel(BaseModel):
    """One vulnerable host (the CLI's JSON contract)."""

    id: int
    ip: str | None
    ipv6: str | None
    dns: str | None
    netbios: str | None
    os: str | None
    tracking_method: str | None
    last_scan: str | None
    tags: list[str]
    detections: list[DetectionModel]


class SummaryModel(_Out):
    """The run summary: counts, the Qualys search list, the time taken."""

    hosts: int
    detections: int
    qids: list[int]
    pages: int
    api_calls: int
    search_list_id: int | None
    search_list_deleted: bool
    elapsed_s: float
    method: str = Field("search-list", description="search-list or cve-detection")
    search_list_qids: list[int] | None = Field(
        None,
        description="the QIDs Qualys put in the search list: [] means Qualys knows no QID for "
        "the CVE, so no host could be checked (not an all-clear); null when the method "
        "cannot tell",
    )


class StoredModel(_Out):
    """What the run changed in the library."""

    assets_created: int
    assets_updated: int
    attributes_added: int
    attributes_removed: int
    relationships_added: int
    findings_added: int
    findings_updated: int
    tags_added: int


class SearchStatusModel(BaseModel):
    """A search job: its request, progress, and when done its result or its error."""

    id: str
    cve: str
    state: JobState
    cancel_requested: bool
    started_at: datetime
    finished_at: datetime | None
    filters: dict[str, object]
    store: bool
    flags: dict[str, bool]
    progress: ProgressModel
    summary: SummaryModel | None
    stored: StoredModel | None
    hosts: list[HostModel] | None = Field(
        None,
        description="a page of the hosts found (when succeeded and still kept): "
        "hosts_offset and hosts_limit say which, in the order asked for (IP order by default)",
    )
    hosts_total: int = Field(description="hosts in the result (all pages)")
    hosts_matched: int = Field(0, description="hosts matching q (all pages)")
    hosts_offset: int = 0
    hosts_limit: int = 0
    hosts_truncated: bool = Field(description="true when more matching hosts follow this page")
    result_expired: bool = Field(
        False, description="true when the kept result was deleted (kept one hour, see README)"
    )
    error: ErrorModel | None


class CveModel(_Out):
    """A CVE in the library."""

    cve: str
    assets: int
    highest_severity: int | None
    tags: list[str]
    last_run_at: datetime | None
    last_run_outcome: str | None


class AssetModel(_Out):
    """An asset in the library."""

    value: str
    hostname: str | None
    tags: list[str]
    cves: int
    highest_severity: int | None


class FindingModel(_Out):
    """What Qualys said about one QID of one CVE on one asset."""

    asset: str
    cve: str
    qid: int
    severity: int | None
    status: str | None
    type: str | None
    first_found: str | None
    last_found: str | None
    last_scan: str | None


class AttributeModel(_Out):
    """One attribute of an object."""

    name: str
    value: str
    source: str
    published: datetime


class RelatedModel(_Out):
    """An object related to another."""

    kind: str
    type: str
    value: str


class ObjectModel(_Out):
    """One library object (a CVE or an asset) with everything known about it."""

    kind: str
    type: str
    value: str
    description: str | None
    created: datetime
    updated: datetime
    attributes: list[AttributeModel]
    tags: list[str]
    sources: list[str]
    related: list[RelatedModel]
    findings: list[FindingModel]


class RunModel(_Out):
    """One recorded run (its parameters never hold a password)."""

    id: int
    cve: str
    started_at: datetime
    finished_at: datetime
    outcome: str
    error: str | None
    hosts: int
    detections: int
    search_list_id: int | None
    search_list_deleted: bool
    assets_created: int | None
    assets_updated: int | None
    parameters: dict[str, object]


def search_status(
    view: JobView, *, with_hosts: bool = True, hosts: Page[Host] | None = None
) -> SearchStatusModel:
    """Return the API model of a search job; ``hosts`` (a page) only when it succeeded and
    ``with_hosts`` asks for them."""
    request = view.request
    succeeded = view.state is JobState.SUCCEEDED
    problem = view.problem
    shown = hosts if succeeded and with_hosts else None
    return SearchStatusModel(
        id=view.id,
        cve=request.cve,
        state=view.state,
        cancel_requested=view.cancel_requested,
        started_at=view.started_at,
        finished_at=view.finished_at,
        filters=filters_record(request.options),
        store=request.store,
        flags={
            "add_assets": request.flags.add_assets,
            "add_discovered_assets": request.flags.add_discovered_assets,
            "tag_cves": request.flags.tag_cves,
        },
        progress=ProgressModel.model_validate(view.progress),
        summary=SummaryModel.model_validate(view.summary) if view.summary else None,
        stored=StoredModel.model_validate(view.stats) if view.stats else None,
        hosts=[HostModel.model_validate(host_record(h)) for h in shown.items] if shown else None,
        hosts_total=view.hosts_total,
        hosts_matched=shown.total if shown else 0,
        hosts_offset=shown.offset if shown else 0,
        hosts_limit=shown.limit if shown else 0,
        hosts_truncated=bool(shown and shown.more),
        result_expired=view.result_expired,
        error=ErrorModel.model_validate(problem.as_json()) if problem else None,
    )


class CveDetailModel(BaseModel):
    """One CVE: its library object and a page of its vulnerable assets (IP order) and of
    its findings (by asset IP, QID); ``offset``/``limit`` apply to both lists."""

    cve: ObjectModel
    assets: list[AssetModel]
    assets_total: int = 0
    findings_total: int = 0
    offset: int = 0
    limit: int = 0


class AssetPageModel(BaseModel):
    """A page of assets; ``more`` says whether another page follows at ``offset + limit``."""

    assets: list[AssetModel]
    offset: int
    limit: int
    more: bool
    total: int = Field(0, description="assets matching the filters (all pages)")
