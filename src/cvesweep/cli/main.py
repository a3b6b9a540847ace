"""Entry point of the ``cvesweep`` script: imports the command modules, then runs the app.

Importing a command module registers its command. Only the module of the command being
run is imported when it is known from the arguments (the library, the web UI and STIX
pull in SQLAlchemy, FastAPI and stix2, which would slow every start, e.g. the
simulator's); ``cvesweep --help`` and anything unrecognised import them all.
"""

from __future__ import annotations

import importlib
import sys

from cvesweep.cli.app import app as _app

COMMAND_MODULES = {
    "cleanup": "cleanup",
    "demo": "demo",
    "export": "export",
    "library": "library",
    "parse": "parse",
    "search": "search",
    "serve": "serve",
    "simulator": "simulator",
}


def register(argv: list[str]) -> None:
    """Import the module of the command named in ``argv``, or every command module."""
    named = next((arg for arg in argv if not arg.startswith("-")), None)
    modules = [COMMAND_MODULES[named]] if named in COMMAND_MODULES else COMMAND_MODULES.values()
    for module in modules:
        importlib.import_module(f"cvesweep.cli.{module}")


def main() -> None:
    """Run the command line."""
    register(sys.argv[1:])
    _app()


def __getattr__(name: str) -> object:
    # ``from cvesweep.cli.main import app`` (tests, embedding) gets every command.
    if name == "app":
        register([])
        return _app
    raise AttributeError(name)
