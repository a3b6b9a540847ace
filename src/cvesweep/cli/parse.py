"""``cvesweep parse FILE...``: show the hosts of saved Qualys detection XML files, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import DebugOpt
from cvesweep.cli.failures import guarded
from cvesweep.cli.output import FormatOpt, OutputOpt, check_output_path, emit
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import InputError
from cvesweep.models import CveId, SearchOptions, SearchResult
from cvesweep.qualys.xml import parse_detection_file
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
            for path in files:
                for host in parse_detection_file(path):
                    spool.append(host)
            result = SearchResult(cve=CveId(""), options=SearchOptions(), hosts=spool)
            emit(result, fmt, output)
