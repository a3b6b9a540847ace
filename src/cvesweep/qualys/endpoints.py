"""The one table of Qualys endpoints: each one's path per API version, the default, lifecycles.

Every caller asks :class:`ApiVersions` for a path; nobody else spells ``/api/N.0/``. The
facts (docs/qualys-2026.md has them with their sources):

- Host List Detection 2.0, 3.0 and 4.0 reached End-of-Support in Dec 2025 and End-of-Life in
  June 2026 (Qualys VM/PC API guide p.1042, quoted by elastic/integrations#15968); 5.0
  (QWEB 10.36.1) is the only current one. 3.0 dropped the ``arf_*_filter`` parameters
  (qualysetl 0.9.37 strips them for any version past 2.0). 4.0 added
  ``mitre_attack_details``; 5.0 added ``vuln_detection_source`` (ServiceNow's 5.0 request).
- KnowledgeBase 2.0 and 3.0: End-of-Support Dec 2025, End-of-Life June 2026; 4.0 current.
- Host List 2.0-4.0: End-of-Support Dec 2025; End-of-Life not found, taken as June 2026 like
  detection [unverified]; 5.0 current.
- Dynamic search list 2.0: End-of-Support Aug 2026, End-of-Life about Feb 2027 (a single
  third-party source [unverified]); 3.0 exists (n8n-nodes-qualys) and is the default here.
- CVE detection (``cve_detection``): only 3.0 has been seen (qualysdk) [unverified].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum

from cvesweep.errors import InputError


class Endpoint(StrEnum):
    """The Qualys API endpoints cvesweep speaks (the names of ``[qualys.versions]`` keys)."""

    DETECTION = "detection"
    KNOWLEDGE_BASE = "knowledge_base"
    SEARCH_LIST = "search_list"
    HOST_LIST = "host_list"
    CVE_DETECTION = "cve_detection"


class Lifecycle(StrEnum):
    """Where a version stands on 2026-12-01."""

    CURRENT = "current"
    END_OF_SUPPORT = "end of support"  # still served, no longer maintained
    END_OF_LIFE = "end of life"  # Qualys no longer serves it


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One row of the table: the path template and what each version is."""

    endpoint: Endpoint
    template: str  # "{version}" stands for e.g. "5.0"
    default: str
    lifecycle: Mapping[str, Lifecycle]
    dropped: Mapping[str, frozenset[str]] = field(default_factory=dict)  # version → params
    introduced: Mapping[str, str] = field(default_factory=dict)  # param → first version

    @property
    def versions(self) -> tuple[str, ...]:
        """Every known version, oldest first."""
        return tuple(self.lifecycle)

    def path(self, version: str) -> str:
        """The request path of ``version`` (a known one)."""
        return self.template.format(version=version)


_ARF = frozenset({"arf_kernel_filter", "arf_service_filter", "arf_config_filter"})
_OLD_EOL = {"2.0": Lifecycle.END_OF_LIFE, "3.0": Lifecycle.END_OF_LIFE}

ENDPOINTS: Mapping[Endpoint, EndpointSpec] = {
    spec.endpoint: spec
    for spec in (
        EndpointSpec(
            Endpoint.DETECTION,
            "/api/{version}/fo/asset/host/vm/detection/",
            "5.0",
            {**_OLD_EOL, "4.0": Lifecycle.END_OF_LIFE, "5.0": Lifecycle.CURRENT},
            {"3.0": _ARF, "4.0": _ARF, "5.0": _ARF},
            {"mitre_attack_details": "4.0", "vuln_detection_source": "5.0"},
        ),
        EndpointSpec(
            Endpoint.KNOWLEDGE_BASE,
            "/api/{version}/fo/knowledge_base/vuln/",
            "4.0",
            {**_OLD_EOL, "4.0": Lifecycle.CURRENT},
        ),
        EndpointSpec(
            Endpoint.SEARCH_LIST,
            "/api/{version}/fo/qid/search_list/dynamic/",
            "3.0",
            {"2.0": Lifecycle.END_OF_SUPPORT, "3.0": Lifecycle.CURRENT},
        ),
        EndpointSpec(
            Endpoint.HOST_LIST,
            "/api/{version}/fo/asset/host/",
            "5.0",
            {**_OLD_EOL, "4.0": Lifecycle.END_OF_LIFE, "5.0": Lifecycle.CURRENT},
        ),
        EndpointSpec(
            Endpoint.CVE_DETECTION,
            "/api/{version}/fo/asset/host/vm/cve_detection/",
            "3.0",
            {"3.0": Lifecycle.CURRENT},
        ),
    )
}


def parse_version(endpoint: Endpoint, value: object, *, field: str) -> str:
    """Return ``value`` as a known version of ``endpoint`` ("5", "5.0", "v5.0" → "5.0").

    Raises InputError naming ``field`` and the accepted versions otherwise.
    """
    spec = ENDPOINTS[endpoint]
    text = str(value).strip().lower().removeprefix("v") if isinstance(value, str | int) else ""
    if isinstance(value, bool):
        text = ""
    if text.isdigit():
        text += ".0"
    if text not in spec.lifecycle:
        raise InputError(
            field,
            f"{value!r} is not a {endpoint.value} API version; accepted: "
            f"{', '.join(spec.versions)} (default {spec.default})",
        )
    return text


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True, slots=True)
class ApiVersions:
    """The version used for each endpoint; the defaults are what Qualys serves on 2026-12-01."""

    detection: str = ENDPOINTS[Endpoint.DETECTION].default
    knowledge_base: str = ENDPOINTS[Endpoint.KNOWLEDGE_BASE].default
    search_list: str = ENDPOINTS[Endpoint.SEARCH_LIST].default
    host_list: str = ENDPOINTS[Endpoint.HOST_LIST].default
    cve_detection: str = ENDPOINTS[Endpoint.CVE_DETECTION].default

    def __post_init__(self) -> None:
        for endpoint in Endpoint:
            parse_version(endpoint, self.version(endpoint), field=f"{endpoint.value} version")

    def version(self, endpoint: Endpoint) -> str:
        """The version used for ``endpoint``."""
        return str(getattr(self, endpoint.value))

    def path(self, endpoint: Endpoint) -> str:
        """The request path of ``endpoint`` at the chosen version."""
        return ENDPOINTS[endpoint].path(self.version(endpoint))

    def lifecycle(self, endpoint: Endpoint) -> Lifecycle:
        """Where the chosen version of ``endpoint`` stands."""
        return ENDPOINTS[endpoint].lifecycle[self.version(endpoint)]

    def outdated(self) -> list[tuple[Endpoint, str, Lifecycle]]:
        """The chosen versions that are not current, for a warning."""
        return [
            (endpoint, self.version(endpoint), self.lifecycle(endpoint))
            for endpoint in Endpoint
            if self.lifecycle(endpoint) is not Lifecycle.CURRENT
        ]

    def supported(self, endpoint: Endpoint, params: Mapping[str, str]) -> dict[str, str]:
        """``params`` without those the chosen version of ``endpoint`` does not take (dropped
        by it or an earlier version, or introduced by a later one)."""
        spec = ENDPOINTS[endpoint]
        version = self.version(endpoint)
        dropped = spec.dropped.get(version, frozenset())
        return {
            name: value
            for name, value in params.items()
            if name not in dropped and _number(spec.introduced.get(name, "0")) <= _number(version)
        }

    def as_dict(self) -> dict[str, str]:
        """Endpoint name → version, e.g. for a run's audit record."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
