"""Every version of the endpoint table is routed; End-of-Life versions are refused unless
the app is built with ``serve_eol=True``."""

from __future__ import annotations

import pytest

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint, Lifecycle
from cvesweep.simulator.app import SimulatorApp

from .conftest import make_client, parse

LIST = {"action": "list", "truncation_limit": "1"}
PARAMS = {
    Endpoint.DETECTION: LIST,
    Endpoint.KNOWLEDGE_BASE: {"action": "list", "details": "None"},
    Endpoint.SEARCH_LIST: {"action": "list"},
}
SERVED = (Endpoint.DETECTION, Endpoint.KNOWLEDGE_BASE, Endpoint.SEARCH_LIST)
ROWS = [
    (endpoint, version, lifecycle)
    for endpoint in SERVED
    for version, lifecycle in ENDPOINTS[endpoint].lifecycle.items()
]


@pytest.mark.parametrize(("endpoint", "version", "lifecycle"), ROWS)
def test_every_version_answers_by_its_lifecycle(fleet, endpoint, version, lifecycle):
    path = ENDPOINTS[endpoint].path(version)
    with make_client(SimulatorApp(fleet)) as client:
        response = client.get(path, params=PARAMS[endpoint])
    if lifecycle is Lifecycle.END_OF_LIFE:
        assert response.status_code == 410
        root = parse(response.content)
        assert root.findtext("RESPONSE/CODE") == "1990"
        current = ENDPOINTS[endpoint].default
        assert root.findtext("RESPONSE/TEXT") == (
            f"API version {version} of {path} has reached End-of-Life; use version {current}"
        )
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(("endpoint", "version", "lifecycle"), ROWS)
def test_serve_eol_serves_every_version(fleet, endpoint, version, lifecycle):
    path = ENDPOINTS[endpoint].path(version)
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        response = client.get(path, params=PARAMS[endpoint])
    assert response.status_code == 200, response.text


def test_detection_2_0_is_refused_by_default_and_served_with_serve_eol(fleet):
    path = ENDPOINTS[Endpoint.DETECTION].path("2.0")
    with make_client(SimulatorApp(fleet)) as client:
        assert client.get(path, params=LIST).status_code == 410
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        served = client.get(path, params=LIST)
    assert served.status_code == 200
    assert parse(served.content).find("RESPONSE/HOST_LIST/HOST/ID") is not None


def test_eol_refusal_still_requires_login(fleet):
    path = ENDPOINTS[Endpoint.KNOWLEDGE_BASE].path("2.0")
    with make_client(SimulatorApp(fleet), auth=("simuser", "wrong")) as client:
        assert client.get(path, params=PARAMS[Endpoint.KNOWLEDGE_BASE]).status_code == 401
