"""Fixtures for the simulator app tests: a small fleet, an app, an in-process httpx client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.fleet import Fleet

BASE_URL = "http://qualys.test"
AUTH = ("simuser", "simpass")
CURRENT = ApiVersions()
DETECTION = CURRENT.path(Endpoint.DETECTION)
LISTS = CURRENT.path(Endpoint.SEARCH_LIST)
KB = CURRENT.path(Endpoint.KNOWLEDGE_BASE)
HOST_LIST = CURRENT.path(Endpoint.HOST_LIST)
CVE_DETECTION = CURRENT.path(Endpoint.CVE_DETECTION)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    """A 400-host fleet, shared (the fleet is immutable)."""
    return Fleet(seed=7, size=400)


@pytest.fixture
def app(fleet: Fleet) -> SimulatorApp:
    """A fresh app over the shared fleet, default faults and limits."""
    return SimulatorApp(fleet)


def make_client(app: SimulatorApp, **kwargs: object) -> httpx.Client:
    """Return an httpx client that calls ``app`` in-process, with auth and X-Requested-With."""
    options: dict[str, object] = {
        "transport": httpx.WSGITransport(app=app),
        "base_url": BASE_URL,
        "auth": AUTH,
        "headers": {"X-Requested-With": "cvesweep tests"},
    }
    options.update(kwargs)
    return httpx.Client(**options)  # type: ignore[arg-type]


@pytest.fixture
def client(app: SimulatorApp) -> Iterator[httpx.Client]:
    """An in-process client of ``app``."""
    with make_client(app) as c:
        yield c


def parse(content: bytes) -> etree._Element:
    """Parse a reply safely (no DTD, no network, no entities)."""
    return etree.fromstring(content, PARSER)
