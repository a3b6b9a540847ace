"""The simulator's route table, built from the one table of Qualys endpoints and versions.

Every ``/api/N.0/...`` path comes from :data:`cvesweep.qualys.endpoints.ENDPOINTS`; this
module only says which handler answers each endpoint family and whether a version is
retired (End-of-Life) on 2026-12-01.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint, Lifecycle
from cvesweep.simulator.api.about import about
from cvesweep.simulator.api.call import Call
from cvesweep.simulator.api.cve_detection import cve_detection
from cvesweep.simulator.api.detection import detection
from cvesweep.simulator.api.host_list import host_list
from cvesweep.simulator.api.knowledge_base import knowledge_base
from cvesweep.simulator.api.search_list import search_list
from cvesweep.simulator.params import ApiError
from cvesweep.simulator.replies import Reply

Handler = Callable[[Call], Reply]
ABOUT_PATH = "/msp/about.php"

# The handler of each endpoint family.
HANDLERS: Mapping[Endpoint, Handler] = {
    Endpoint.DETECTION: detection,
    Endpoint.KNOWLEDGE_BASE: knowledge_base,
    Endpoint.SEARCH_LIST: search_list,
    Endpoint.HOST_LIST: host_list,
    Endpoint.CVE_DETECTION: cve_detection,
}


@dataclass(frozen=True, slots=True)
class Route:
    """One served path: the family name (for counters and limits), endpoint, version, handler.

    ``requires_xrw`` is False for ``/msp/about.php``, which third-party connectivity checks
    call without X-Requested-With (Sentinel CCF, qualysetl ``test_about_qualys``).
    """

    name: str
    handler: Handler
    endpoint: Endpoint | None = None
    version: str | None = None
    requires_xrw: bool = True

    @property
    def end_of_life(self) -> bool:
        """True when Qualys no longer serves this version (Lifecycle.END_OF_LIFE)."""
        if self.endpoint is None or self.version is None:
            return False
        return ENDPOINTS[self.endpoint].lifecycle[self.version] is Lifecycle.END_OF_LIFE


def build_routes() -> dict[str, Route]:
    """Return request path → Route for every version of every endpoint with a handler."""
    about_route = Route("about", about, requires_xrw=False)
    routes = {ABOUT_PATH: about_route, ABOUT_PATH + "/": about_route}
    for endpoint, handler in HANDLERS.items():
        spec = ENDPOINTS[endpoint]
        for version in spec.versions:
            routes[spec.path(version)] = Route(endpoint.value, handler, endpoint, version)
    return routes


def find(routes: Mapping[str, Route], path: str) -> Route | None:
    """Return the route of ``path`` (with or without its trailing slash), or None."""
    return routes.get(path) or routes.get(path + "/") or routes.get(path.rstrip("/"))


def end_of_life_error(route: Route) -> ApiError:
    """Return the error a retired version answers with.

    [unverified] The real End-of-Life reply is not public: HTTP 410 with a SIMPLE_RETURN,
    CODE 1990 and this wording is our assumption (docs/qualys-2026.md, README).
    """
    assert route.endpoint is not None and route.version is not None
    spec = ENDPOINTS[route.endpoint]
    path = spec.path(route.version)
    text = (
        f"API version {route.version} of {path} has reached End-of-Life; use version {spec.default}"
    )
    return ApiError(1990, text, status=410)
