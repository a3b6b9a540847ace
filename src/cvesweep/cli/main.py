"""Entry point of the ``cvesweep`` script: imports every command module, then runs the app."""

from __future__ import annotations

from cvesweep.cli import cleanup as _cleanup  # noqa: F401  (each import registers a command)
from cvesweep.cli import demo as _demo  # noqa: F401
from cvesweep.cli import export as _export  # noqa: F401
from cvesweep.cli import library as _library  # noqa: F401
from cvesweep.cli import parse as _parse  # noqa: F401
from cvesweep.cli import search as _search  # noqa: F401
from cvesweep.cli import serve as _serve  # noqa: F401
from cvesweep.cli import simulator as _simulator  # noqa: F401
from cvesweep.cli.app import app


def main() -> None:
    """Run the command line."""
    app()
