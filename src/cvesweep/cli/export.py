"""``cvesweep export stix``: the threat library as a STIX 2.1 bundle, on stdout or in a file;
``cvesweep export taxii``: the same objects pushed to a TAXII 2.1 collection."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from getpass import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import ConfigOpt, DbOpt, DebugOpt
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.library import EMPTY_HINT, reading
from cvesweep.cli.output import OutputOpt, check_output_path, write_file
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import ExportError, InputError
from cvesweep.models import parse_cve

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cvesweep.export.taxii_feed import Collection
    from cvesweep.export.taxii_push import PushReport

CvesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cve", metavar="CVE-ID", help="Only this CVE and its assets (repeat for several)."
    ),
]

export_app = typer.Typer(
    name="export", help="Export the threat library to other tools.", no_args_is_help=True
)
app.add_typer(export_app, name="export")


@export_app.command("stix")
def stix(
    cves: CvesOpt = None,
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
            counts = write_bundle(engine, chosen, output)
        if counts == (0, 0):
            warn(EMPTY_HINT)


def write_bundle(
    engine: Engine, cves: Sequence[str] | None, output: Path | None
) -> tuple[int, int]:
    """Write the bundle as it is read to stdout, or to ``output`` (see cli.output.write_file).

    Returns how many CVEs and assets it holds. Raises InputError (--cve), LibraryError,
    ExportError when it cannot be written.
    """
    from cvesweep.export.stix import write_library_stix

    if output is not None:
        counts: list[tuple[int, int]] = []
        write_file(output, lambda stream: counts.append(write_library_stix(engine, stream, cves)))
        return counts[0]
    try:
        found = write_library_stix(engine, sys.stdout, cves)
        sys.stdout.flush()
    except OSError as exc:
        raise ExportError(f"could not write the bundle: {exc.strerror or exc}") from exc
    return found


@export_app.command("taxii")
def taxii(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="The TAXII 2.1 collection to push to, https://HOST/API-ROOT/collections/ID/ "
            "(or url in the [taxii] table of the config file).",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            metavar="USER",
            help="User name at the TAXII server. The password comes from "
            "CVESWEEP_TAXII_PASSWORD, the config file (0600) or a prompt.",
        ),
    ] = None,
    cves: CvesOpt = None,
    config: ConfigOpt = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            "--ca-bundle", metavar="PATH", help="PEM file of CA certificates to verify the server."
        ),
    ] = None,
    no_verify_ssl: Annotated[
        bool,
        typer.Option("--no-verify-ssl", help="Do not verify the TLS certificate (insecure)."),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            metavar="N",
            min=1,
            max=1000,
            help="Objects per request, at most (the server's max_content_length bounds the bytes).",
        ),
    ] = 500,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", metavar="SECONDS", min=0, help="Seconds to wait for each request to complete."
        ),
    ] = 300.0,
    db: DbOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Push the library (or some CVEs of it) to a TAXII 2.1 collection.

    Objects the collection holds already at the same version are not sent again.
    Exit status: 0 every object is there, 1 an object failed or the server could not be
    reached, 2 a bad option, login or CVE.
    """
    from cvesweep.export.taxii_push import PushTarget, push  # httpx, stix2: only here
    from cvesweep.export.taxii_settings import load_taxii_login

    configure_logging(debug)
    with guarded(debug=debug):
        chosen = [parse_cve(cve, field="--cve") for cve in cves] if cves else None
        prompt = getpass if sys.stdin.isatty() else None
        login = load_taxii_login(
            flags={"url": url, "user": user}, environ=os.environ, config_path=config, prompt=prompt
        )
        target = PushTarget(
            url=login.url,
            user=login.user,
            password=login.password,
            verify=_verify(ca_bundle, no_verify_ssl),
            wait=wait,
            batch_objects=batch_size,
        )
        with reading(db) as engine:
            report = push(engine, _collection(engine, chosen), target)
        _report_push(login.url, report)


def _verify(ca_bundle: Path | None, no_verify_ssl: bool) -> bool | str:
    """TLS verification: off (with a warning), a checked CA bundle, or the system's CAs."""
    from cvesweep.settings import Origin, convert

    if no_verify_ssl:
        warn("TLS certificate verification is off (--no-verify-ssl): the connection is insecure")
        return False
    if ca_bundle is None:
        return True
    return str(convert("file", str(ca_bundle), Origin("--ca-bundle", is_flag=True)))


def _collection(engine: Engine, cves: Sequence[str] | None) -> Collection:
    """The whole library, or the CVEs asked for; InputError (--cve) names one not stored."""
    from cvesweep.export.taxii_feed import MAIN, for_cves
    from cvesweep.library.changes import stored_cves

    if cves is None:
        return MAIN
    stored = set(stored_cves(engine, cves))
    for cve in cves:
        if cve not in stored:
            raise InputError(
                "--cve",
                f"{cve!r} is not in the library",
                hint="list the stored CVEs with 'cvesweep library cves'",
            )
    return for_cves(cves)


def _report_push(url: str, report: PushReport) -> None:
    """Print what the push did; raise ExportError (exit 1) when an object was not added."""
    typer.echo(
        f"pushed to {url}: {report.objects:,} objects, {report.skipped:,} already there, "
        f"{report.sent:,} sent in {report.batches:,} request{'' if report.batches == 1 else 's'}: "
        f"{report.succeeded:,} added, "
        f"{report.failed:,} failed, {report.pending:,} pending"
    )
    if report.ok:
        return
    for line in report.failures:
        print(f"failed: {line}", file=sys.stderr)
    raise ExportError(
        f"{report.failed + report.pending:,} of the {report.sent:,} objects sent were not "
        f"added ({report.failed:,} failed, {report.pending:,} still pending)",
        hint="run the push again: objects the collection holds already are not sent twice",
    )
