"""``cvesweep parse FILE...``: show the hosts of saved Qualys detection XML files, offline.

The output is the files' hosts and a summary of the files (no CVE, filters or run facts:
there was no search). A file that is one page of a truncated reply is named on stderr,
unless its continuation (a page starting at or after its next ``id_min``) is among the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TextIO, assert_never

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import DebugOpt
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.output import FormatOpt, OutputOpt, check_output_path, emit_with
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import ExportError, InputError, QualysError
from cvesweep.export.csvout import write_csv
from cvesweep.export.interface import OutputFormat
from cvesweep.export.jsonout import host_rows, row_record
from cvesweep.export.table import HostCounts, write_hosts
from cvesweep.models import CveId, SearchOptions, SearchResult
from cvesweep.qualys.xml import PageEnd, parse_detection_rows
from cvesweep.spool import ID_AT, HostSpool


@dataclass(frozen=True)
class ParsedFile:
    """One file read: how its reply ended and the id of its first host (None: no host)."""

    path: Path
    end: PageEnd
    first_id: int | None

    @property
    def next_id_min(self) -> int | None:
        """Where the reply goes on, when the file is one page of a truncated reply."""
        return self.end.truncation.next_id_min if self.end.truncation is not None else None


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
            parsed = [_spool_file(path, spool) for path in files]
            emit_with(lambda stream: _write(spool, parsed, fmt, stream), output)
        for page in unfinished(parsed):
            assert page.end.truncation is not None
            warn(
                f"{page.path} is one page of a truncated reply "
                f"(WARNING {page.end.truncation.code}): hosts from id {page.next_id_min} on "
                "are not in the files given"
            )


def unfinished(parsed: list[ParsedFile]) -> list[ParsedFile]:
    """The truncated pages whose continuation is not among ``parsed``.

    Qualys pages are in host id order, so the continuation of a page ending at
    ``id_min=N`` is a page whose first host has an id of N or more.
    """
    firsts = [one.first_id for one in parsed if one.first_id is not None]
    return [
        one
        for one in parsed
        if one.end.truncation is not None
        and (one.next_id_min is None or not any(first >= one.next_id_min for first in firsts))
    ]


def _write(spool: HostSpool, parsed: list[ParsedFile], fmt: OutputFormat, stream: TextIO) -> None:
    """Write the hosts and the files' summary in ``fmt``. Raises ExportError."""
    try:
        if fmt is OutputFormat.TABLE:
            write_hosts(
                spool, stream, empty="No hosts in these files.",
                summary=lambda counts: _summary_rows(parsed, counts),
            )  # fmt: skip
        elif fmt is OutputFormat.JSON:
            _write_json(spool, parsed, stream)
        elif fmt is OutputFormat.CSV:
            write_csv(SearchResult(cve=CveId(""), options=SearchOptions(), hosts=spool), stream)
        else:
            assert_never(fmt)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(f"could not write the {fmt.value} output: {reason}") from exc


def _summary_rows(parsed: list[ParsedFile], counts: HostCounts) -> list[tuple[str, str]]:
    rows = [
        ("Files", str(len(parsed))),
        ("Hosts", str(counts.hosts)),
        ("Detections", str(counts.detections)),
    ]
    left = unfinished(parsed)
    if left:
        rows.append(("Incomplete", ", ".join(f"{one.path} (more from id {one.next_id_min})"
                                             for one in left)))  # fmt: skip
    return rows


def _write_json(spool: HostSpool, parsed: list[ParsedFile], stream: TextIO) -> None:
    """``{"files": [...], "hosts": [...], "summary": {...}}``, one host per line."""
    files = [{"path": str(one.path), "hosts": one.end.hosts,
              "next_id_min": one.next_id_min} for one in parsed]  # fmt: skip
    stream.write('{"files": ' + json.dumps(files) + ',\n "hosts": [')
    separator = "\n  "
    for row in host_rows(spool):
        stream.write(separator + json.dumps(row_record(row)))
        separator = ",\n  "
    closing = "]" if separator == "\n  " else "\n ]"
    summary = {
        "files": len(parsed),
        "hosts": spool.hosts,
        "detections": spool.detections,
        "incomplete": [str(one.path) for one in unfinished(parsed)],
    }
    stream.write(f'{closing},\n "summary": {json.dumps(summary)}}}\n')


def _spool_file(path: Path, spool: HostSpool) -> ParsedFile:
    """Append the hosts of one saved reply to ``spool``; return how the reply ended.

    A file that is not a complete detection reply is the user's input, not a Qualys
    failure: InputError (exit 2) naming the file.
    """
    hosts = parse_detection_rows(path)  # rows: no models built for hosts only spooled
    first: int | None = None
    try:
        while True:
            host = next(hosts)
            first = host[ID_AT] if first is None else first
            spool.append_row(host)
    except StopIteration as stop:
        end: PageEnd = stop.value
        return ParsedFile(path, end, first)
    except QualysError as error:
        raise InputError("FILE", f"{path}: {error.message}") from error
