"""One place where errors reach the terminal: one line, a hint, the documented exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer
from rich.console import Console
from rich.text import Text

from cvesweep.errors import CvesweepError

T = TypeVar("T")

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def report(error: CvesweepError) -> None:
    """Print ``error`` as one line on stderr, with its hint on a second line if it has one."""
    _stderr.print(Text.assemble(("error", "bold red"), f" ({error.source}): {error.message}"))
    if error.hint:
        _stderr.print(f"hint: {error.hint}", markup=False)


def report_usage(message: str, command: str) -> None:
    """Print a usage error (a bad flag value, an unknown option) as one line plus a hint."""
    text = " ".join(message.split())
    _stderr.print(Text.assemble(("error", "bold red"), f" (input): {text}"))
    _stderr.print(f"hint: see '{command} --help'", markup=False)


@contextmanager
def guarded(*, debug: bool = False) -> Iterator[None]:
    """Turn a CvesweepError raised inside into a one-line message and its exit code.

    With ``debug`` the traceback is printed too. Ctrl-C exits 130 without a traceback.
    """
    try:
        yield
    except CvesweepError as error:
        if debug:
            _stderr.print_exception()
        report(error)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        _stderr.print("interrupted", markup=False)
        raise typer.Exit(130) from None


def run(func: Callable[[], T], *, debug: bool = False) -> T:
    """Call ``func`` inside :func:`guarded`."""
    with guarded(debug=debug):
        return func()
    raise AssertionError("unreachable")  # pragma: no cover


def warn(message: str) -> None:
    """Print a warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)
