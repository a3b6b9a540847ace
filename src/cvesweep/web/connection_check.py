"""The settings page's "test connection": one call to Qualys ``/msp/about.php``."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import httpx
from lxml import etree

from cvesweep.errors import QualysResponseError
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.responses import refuse_declared_entities, safe_xml_parser
from cvesweep.settings import Settings

ABOUT_PATH = "/msp/about.php"
CALL = "about request"


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """A successful connection test: where, which versions Qualys reported, how long it took."""

    base_url: str
    api_version: str | None
    web_version: str | None
    elapsed_s: float


def check_connection(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> ConnectionCheck:
    """Call ``/msp/about.php`` with the configured credentials and return what Qualys said.

    Tries once (no retries: a person is waiting). Raises the QualysError subclasses of the
    client: QualysAuthError for bad credentials, QualysConnectionError when Qualys cannot
    be reached, QualysResponseError when the reply is not the ABOUT document.
    """
    started = time.monotonic()
    config = replace(settings.client_config(), retries=1, wait_budget=0.0)
    with QualysClient(config, transport=transport) as client:
        body = client.post(ABOUT_PATH, {}, call=CALL)
    api_version, web_version = _versions(body)
    return ConnectionCheck(
        base_url=settings.base_url,
        api_version=api_version,
        web_version=web_version,
        elapsed_s=round(time.monotonic() - started, 3),
    )


def _versions(body: bytes) -> tuple[str | None, str | None]:
    """The API and web versions of an ABOUT reply; QualysResponseError if it is not one."""
    refuse_declared_entities(body, call=CALL)
    try:
        root = etree.fromstring(body, safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise QualysResponseError(f"the {CALL} reply is not XML: {exc}", call=CALL) from exc
    if root is None or root.tag != "ABOUT":
        raise QualysResponseError(f"the {CALL} reply is not an ABOUT document", call=CALL)
    api = root.find("API-VERSION")
    api_version = None
    if api is not None and api.get("MAJOR") is not None:
        api_version = f"{api.get('MAJOR')}.{api.get('MINOR', '0')}"
    web_version = (root.findtext("WEB-VERSION") or "").strip() or None
    return api_version, web_version
