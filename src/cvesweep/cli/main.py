"""Entry point of the ``cvesweep`` script: imports every command module, then runs the app."""

from __future__ import annotations

from cvesweep.cli import simulator as _simulator  # noqa: F401  (registers the command)
from cvesweep.cli.app import app


def main() -> None:
    """Run the command line."""
    app()
