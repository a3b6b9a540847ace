"""What every third-party client driver shares (stdlib only: drivers run in the clients' venvs).

A driver is run as ``<client venv>/bin/python drivers/<client>.py``. It reads where the
simulator is from the environment — ``SIM_URL``, ``SIM_CA`` (the simulator's certificate, a
PEM file), ``SIM_USERNAME``, ``SIM_PASSWORD`` (never from argv) — and ``DRIVER_INPUT`` (JSON:
which calls to make and their inputs). It makes each call with the client's own public API,
unpatched, and writes one record per call to the JSON file ``DRIVER_OUTPUT``:
``{"call": {"ok": true, "value": ...}}`` or ``{"call": {"ok": false, "error": "..."}}``.
A failing call never stops the next one.
"""

from __future__ import annotations

import json
import os
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


class Harness:
    """The simulator's coordinates and the record of the calls made."""

    def __init__(self) -> None:
        self.url = os.environ["SIM_URL"].rstrip("/")
        self.ca = os.environ["SIM_CA"]
        self.username = os.environ["SIM_USERNAME"]
        self.password = os.environ["SIM_PASSWORD"]
        self.inputs: dict[str, Any] = json.loads(os.environ.get("DRIVER_INPUT") or "{}")
        self.results: dict[str, dict[str, Any]] = {}

    @property
    def hostport(self) -> str:
        """``127.0.0.1:PORT``, for clients that take a host name instead of a URL."""
        return urlsplit(self.url).netloc

    def wanted(self, name: str) -> bool:
        """True when DRIVER_INPUT asks for call ``name`` (all calls when it names none)."""
        calls = self.inputs.get("calls")
        return calls is None or name in calls

    def call(self, name: str, function: Callable[[], Any]) -> None:
        """Run ``function`` as call ``name`` (if wanted) and record its value or its error."""
        if not self.wanted(name):
            return
        try:
            self.results[name] = {"ok": True, "value": function()}
        except BaseException as error:
            where = traceback.extract_tb(error.__traceback__)[-1]
            text = f"{type(error).__name__}: {error} (at {where.filename}:{where.lineno})"
            body = getattr(getattr(error, "response", None), "text", None)
            if isinstance(body, str) and body:  # an HTTP error: what the server said
                text += f" reply: {body[:1500]}"
            self.results[name] = {"ok": False, "error": text[:3000]}

    def write(self) -> None:
        """Write the records to DRIVER_OUTPUT."""
        with open(os.environ["DRIVER_OUTPUT"], "w", encoding="utf-8") as out:
            json.dump(self.results, out, indent=1, default=str)


def xml_root(text: str | bytes) -> ET.Element:
    """Parse a reply body (ElementTree neither fetches DTDs nor expands external entities)."""
    return ET.fromstring(text)  # noqa: S314 - the reply of our own loopback simulator


def host_ids(root: ET.Element) -> list[int]:
    """The HOST/ID values of a host list or detection reply, in order."""
    return [int(text) for text in (e.findtext("ID") for e in root.iter("HOST")) if text]


def truncation_url(root: ET.Element) -> str | None:
    """The RESPONSE/WARNING/URL of a truncated reply, or None."""
    return root.findtext("RESPONSE/WARNING/URL")
