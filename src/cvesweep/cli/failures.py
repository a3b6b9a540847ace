"""One place where errors reach the terminal: one line, a hint, the documented exit code."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from cvesweep.errors import CvesweepError

T = TypeVar("T")

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def report(error: CvesweepError) -> None:
    """Print ``error`` as one line on stderr, with its hint on a second line if it has one.

    Line breaks inside the message (an XML parser quoting the reply) become spaces.
    """
    message = _one_line(error.message)
    _stderr.print(Text.assemble(("error", "bold red"), f" ({error.source}): {message}"))
    if error.hint:
        _stderr.print(f"hint: {_one_line(error.hint)}", markup=False)


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text.strip("\r\n"))


_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")
PIPE_CLOSED_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a tool a closed pipe ended


def end_quietly_on_closed_pipe() -> NoReturn:
    """End the command with exit status 141 and no message: stdout's reader went away.

    Later flushes (at exit) would fail again and print a traceback, so stdout is silenced.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(PIPE_CLOSED_EXIT)


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
        if isinstance(error.__cause__, BrokenPipeError):  # `cvesweep export stix | head`
            end_quietly_on_closed_pipe()
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
