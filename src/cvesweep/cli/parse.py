"""``cvesweep parse FILE...``: show the hosts of saved Qualys detection XML files, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import DebugOpt
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.output import FormatOpt, OutputOpt, check_output_path, emit
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import InputError, QualysError
from cvesweep.models import CveId, SearchOptions, SearchResult
from cvesweep.qualys.xml import PageEnd, parse_detection_file
from cvesweep.spool import HostSpool


@app.command()
def parse(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Detection list XML files.")
    ],
    output_format: FormatOpt = "table",
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Parse saved HOST_LIST_VM_DETECTION_OUTPUT files and show their hosts (no network).

    Nothing is shown unless every file parses completely.
    """
    configure_logging(debug)
    with guarded(debug=debug):
        for path in files:
            if not path.is_file():
                raise InputError("FILE", f"{path} does not exist or is not a file")
        fmt = check_output_path(output_format, output)
        with HostSpool() as spool:
            ends = [(path, _spool_file(path, spool)) for path in files]
            result = SearchResult(cve=CveId(""), options=SearchOptions(), hosts=spool)
            emit(result, fmt, output)
        for path, end in ends:
            if end.truncation is not None:
                warn(
                    f"{path} is one page of a truncated reply (WARNING {end.truncation.code}): "
                    f"hosts from id {end.truncation.next_id_min} on are not in it"
                )


def _spool_file(path: Path, spool: HostSpool) -> PageEnd:
    """Append the hosts of one saved reply to ``spool``; return how the reply ended.

    A file that is not a complete detection reply is the user's input, not a Qualys
    failure: InputError (exit 2) naming the file.
    """
    hosts = parse_detection_file(path)
    try:
        while True:
            spool.append(next(hosts))
    except StopIteration as stop:
        end: PageEnd = stop.value
        return end
    except QualysError as error:
        raise InputError("FILE", f"{path}: {error.message}") from error
