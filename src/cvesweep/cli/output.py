"""Where results go: the --format and --output options, written only once a run succeeded."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cvesweep.errors import ExportError, InputError
from cvesweep.export.interface import OutputFormat, write_result
from cvesweep.models import SearchResult

FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="Output format: table, json or csv.", rich_help_panel="Output"
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to this file instead of standard output.",
        rich_help_panel="Output",
    ),
]


def check_output_path(fmt: str, output: Path | None) -> OutputFormat:
    """Validate ``--format`` and ``--output`` before any network call; return the format."""
    try:
        chosen = OutputFormat(fmt.lower())
    except ValueError:
        choices = ", ".join(f.value for f in OutputFormat)
        raise InputError("--format", f"{fmt!r} is not a format; choose one of {choices}") from None
    if output is not None:
        parent = output.resolve().parent
        if output.is_dir():
            raise InputError("--output", f"{output} is a directory; give a file path")
        if not parent.is_dir():
            raise InputError("--output", f"the directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise InputError("--output", f"the directory {parent} is not writable")
    return chosen


def emit(result: SearchResult, fmt: OutputFormat, output: Path | None) -> None:
    """Write ``result`` to stdout, or atomically to ``output`` (temp file, then rename)."""
    if output is None:
        write_result(result, fmt, sys.stdout)
        sys.stdout.flush()
        return
    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.resolve().parent)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            write_result(result, fmt, stream)
        os.replace(temp, output)
    except OSError as exc:
        raise ExportError(f"could not write {output}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
