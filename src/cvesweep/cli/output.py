"""Where results go: the --format and --output options, written only once a run succeeded."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TextIO

import typer

from cvesweep.cli.failures import end_quietly_on_closed_pipe
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
        check_writable(output, "--output")
    return chosen


def check_writable(output: Path, field: str) -> None:
    """Raise InputError unless ``output`` can be written (see :func:`write_file`)."""
    if output.is_dir():
        raise InputError(field, f"{output} is a directory; give a file path")
    if _is_special(output):
        if not os.access(output, os.W_OK):
            raise InputError(field, f"{output} is not writable")
        return
    parent = Path(os.path.realpath(output)).parent
    if not parent.is_dir():
        raise InputError(field, f"the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(field, f"the directory {parent} is not writable")


def emit(result: SearchResult, fmt: OutputFormat, output: Path | None) -> None:
    """Write ``result`` to stdout, or to ``output`` with :func:`write_file`."""
    emit_with(lambda stream: write_result(result, fmt, stream), output)


def emit_with(write: Callable[[TextIO], object], output: Path | None) -> None:
    """Write through ``write`` to stdout, or to ``output`` with :func:`write_file`.

    When the reader of stdout goes away (``… | head``), the command ends quietly with exit
    status 141, like other Unix tools ended by a closed pipe.
    """
    if output is not None:
        write_file(output, write)
        return
    try:
        write(sys.stdout)
        sys.stdout.flush()
    except (BrokenPipeError, ExportError) as error:
        if not _closed_pipe(error):
            raise
        end_quietly_on_closed_pipe()


def _closed_pipe(error: BaseException) -> bool:
    return isinstance(error, BrokenPipeError) or isinstance(error.__cause__, BrokenPipeError)


def write_file(output: Path, write: Callable[[TextIO], object]) -> None:
    """Write ``output`` through ``write``, never leaving a half-written file.

    A regular file (or a new path) is written to a temporary file beside it, then renamed
    over it; a symlink is followed, so the link stays and its target is replaced. Anything
    else that exists (``/dev/stdout``, a pipe, a terminal) is written directly. A new file
    gets the usual mode (0666 less the umask), a replaced one keeps its mode.
    Raises ExportError when the file cannot be written.
    """
    try:
        if _is_special(output):
            with open(output, "w", encoding="utf-8", newline="") as stream:
                write(stream)
            return
        target = Path(os.path.realpath(output))
        mode = target.stat().st_mode & 0o7777 if target.exists() else _default_mode()
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ExportError(f"could not write {output}: {exc.strerror or exc}") from exc
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            write(stream)
        os.chmod(temp, mode)
        os.replace(temp, target)
    except OSError as exc:
        raise ExportError(f"could not write {output}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _is_special(path: Path) -> bool:
    """True for an existing path (symlinks followed) that is not a regular file or folder."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
