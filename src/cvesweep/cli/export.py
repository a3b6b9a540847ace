"""``cvesweep export stix``: the threat library as a STIX 2.1 bundle, on stdout or in a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import DbOpt, DebugOpt
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.library import EMPTY_HINT, reading
from cvesweep.cli.output import OutputOpt, check_output_path, write_file
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import ExportError
from cvesweep.library import queries
from cvesweep.models import parse_cve

export_app = typer.Typer(
    name="export", help="Export the threat library to other tools.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


@export_app.command("stix")
def stix(
    cves: Annotated[
        list[str] | None,
        typer.Option(
            "--cve", metavar="CVE-ID", help="Only this CVE and its assets (repeat for several)."
        ),
    ] = None,
    output: OutputOpt = None,
    db: DbOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write the library (or some CVEs of it) as one STIX 2.1 bundle.

    The same library always gives the same bytes: ids are derived from the data.
    Exit status: 0 success, 2 a CVE that is not in the library or a bad option.
    """
    configure_logging(debug)
    with guarded(debug=debug):
        chosen = [parse_cve(cve, field="--cve") for cve in cves] if cves else None
        check_output_path("json", output)  # the --output checks of every command
        with reading(db) as engine:
            data = queries.export_records(engine, chosen)
        from cvesweep.export.stix import bundle_json  # stix2 is slow to import: only here

        text = bundle_json(data)
        write_text(text, output)
        if not data.cves and not data.assets:
            warn(EMPTY_HINT)


def write_text(text: str, output: Path | None) -> None:
    """Write ``text`` to stdout, or to ``output`` (see cli.output.write_file).

    Raises ExportError when it cannot be written.
    """
    if output is None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as exc:
            raise ExportError(f"could not write the bundle: {exc.strerror or exc}") from exc
        return
    write_file(output, lambda stream: stream.write(text))
