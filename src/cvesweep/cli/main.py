"""Entry point of the ``cvesweep`` script: imports the command modules, then runs the app.

Importing a command module registers its command. Only the module of the command being
run is imported when it is known from the arguments (the library, the web UI and STIX
pull in SQLAlchemy, FastAPI and stix2, which would slow every start, e.g. the
simulator's); ``cvesweep --help`` and anything unrecognised import them all.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

# Typer 0.29 vendors click: its usage errors (typer._click.exceptions) are what a command
# line run with standalone_mode=False raises.
from typer._click import exceptions as click_exceptions

from cvesweep.cli.app import app as _app
from cvesweep.cli.failures import PIPE_CLOSED_EXIT, report_usage

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
    """Run the command line; a usage error is one line in the usual style, exit 2."""
    try:
        register(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C while the commands load: nothing was done yet
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    try:
        # standalone_mode=False: usage errors reach us; typer.Exit's code is returned.
        code = _app(standalone_mode=False, prog_name="cvesweep")
    except click_exceptions.NoArgsIsHelpError as shown:
        shown.show()  # the help text, as Typer prints it for a bare command
        sys.exit(2)
    except click_exceptions.UsageError as error:
        report_usage(error.format_message(), error.ctx.command_path if error.ctx else "cvesweep")
        sys.exit(2)
    except typer.Exit as done:  # --help, --version (when not returned)
        sys.exit(done.exit_code)
    except typer.Abort:  # Ctrl-C at a prompt
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # `cvesweep library show … | head`: end quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the flush at exit must not fail again
        sys.exit(PIPE_CLOSED_EXIT)
    sys.exit(code if isinstance(code, int) else 0)


def __getattr__(name: str) -> object:
    # ``from cvesweep.cli.main import app`` (tests, embedding) gets every command.
    if name == "app":
        register([])
        return _app
    raise AttributeError(name)
