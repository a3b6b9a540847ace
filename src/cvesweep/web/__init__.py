"""The web UI and JSON API over the same search and library as the command line."""

from __future__ import annotations

from cvesweep.web.app import create_app

__all__ = ["create_app"]
