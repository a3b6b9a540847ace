"""``cvesweep search CVE-ID...``: every host in Qualys with an open detection of the CVE(s).

One CVE runs the single search; several (arguments, ``--cve-file``, ``--kev``) run a sweep
(:mod:`cvesweep.sweep`): one pull for all of them, results grouped by CVE.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import (
    AuthOpt,
    CaBundleOpt,
    ConfigOpt,
    DbOpt,
    DebugOpt,
    GatewayUrlOpt,
    HostnameOpt,
    NoVerifyOpt,
    PortOpt,
    UrlOpt,
    UsernameOpt,
    resolve_settings,
)
from cvesweep.cli.failures import PIPE_CLOSED_EXIT, guarded, warn
from cvesweep.cli.output import (
    FormatOpt,
    OutputOpt,
    check_output_path,
    emit,
    emit_with,
)
from cvesweep.cli.runtime import configure_logging, progress_reporter, sigterm_as_interrupt
from cvesweep.cvelists import CveTarget, load_targets, parse_added_since
from cvesweep.errors import InputError
from cvesweep.export import OutputFormat
from cvesweep.export.table import no_qid_message
from cvesweep.inputs import build_options, parse_truncation_limit
from cvesweep.operation import released

if TYPE_CHECKING:
    from cvesweep.runner import RunRequest
    from cvesweep.settings import Settings
    from cvesweep.sweeprun import SweepRequest

NO_QID_EXIT = 5  # not 0: "nothing could be checked" must never read as "all clear"


@app.command()
def search(
    cves: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="CVE-ID",
            help="e.g. CVE-2021-44228; several (or a comma list) sweep them all at once.",
            show_default=False,
        ),
    ] = None,
    cve_file: Annotated[
        list[str] | None,
        typer.Option(
            "--cve-file",
            metavar="PATH|-",
            help="Sweep the CVE ids of a file: one per line (# comments), or a CSV with a "
            "cveID or cve column; - reads standard input. Repeatable.",
            rich_help_panel="CVE lists",
            show_default=False,
        ),
    ] = None,
    kev: Annotated[
        list[str] | None,
        typer.Option(
            "--kev",
            metavar="PATH|-",
            help="Sweep the CVEs of a CISA KEV catalog (its JSON); - reads standard input.",
            rich_help_panel="CVE lists",
            show_default=False,
        ),
    ] = None,
    kev_added_since: Annotated[
        str | None,
        typer.Option(
            "--kev-added-since",
            metavar="YYYY-MM-DD",
            help="With --kev: only entries added to the catalog on or after this date.",
            rich_help_panel="CVE lists",
        ),
    ] = None,
    kev_ransomware: Annotated[
        bool,
        typer.Option(
            "--kev-ransomware",
            help='With --kev: only entries whose knownRansomwareCampaignUse is "Known".',
            rich_help_panel="CVE lists",
        ),
    ] = False,
    url: UrlOpt = None,
    hostname: HostnameOpt = None,
    port: PortOpt = None,
    username: UsernameOpt = None,
    config: ConfigOpt = None,
    ca_bundle: CaBundleOpt = None,
    no_verify_ssl: NoVerifyOpt = False,
    auth: AuthOpt = None,
    gateway_url: GatewayUrlOpt = None,
    ips: Annotated[
        str | None,
        typer.Option(
            "--ips",
            help='Only these IPv4 addresses: "10.0.0.1, 10.0.0.5-10.0.0.9, 10.1.0.0/24".',
            rich_help_panel="Filters",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help='Only detections last found at or after this time: "2020-04-01 17:35" or '
            '"2020-04-01" (UTC), or ISO 8601 with an offset.',
            rich_help_panel="Filters",
        ),
    ] = None,
    min_severity: Annotated[
        int | None,
        typer.Option(
            "--min-severity",
            help="Only detections of severity N..5 (N in 1..5).",
            rich_help_panel="Filters",
        ),
    ] = None,
    asset_groups: Annotated[
        str | None,
        typer.Option(
            "--asset-groups",
            help='Only hosts in these asset groups: titles "DMZ, Servers" or numeric ids '
            '"1403056, 1403081".',
            rich_help_panel="Filters",
        ),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            metavar="search-list|cve-detection",
            help="How to find the hosts: search-list (a temporary QID search list, then the "
            "detection API; default) or cve-detection (the CVE detection API, no list).",
        ),
    ] = None,
    max_parallel: Annotated[
        int | None,
        typer.Option(
            "--max-parallel",
            metavar="N",
            help="At most N detection calls at once, 1-32 (default: the subscription's "
            "concurrency limit minus one; 1 = serial, no host list call).",
        ),
    ] = None,
    output_format: FormatOpt = "table",
    output: OutputOpt = None,
    truncation_limit: Annotated[
        int | None,
        typer.Option(
            "--truncation-limit", help="Hosts per Qualys page (0 = no limit; default: 1000)."
        ),
    ] = None,
    add_assets: Annotated[
        bool | None,
        typer.Option(
            "--add-assets/--no-add-assets",
            rich_help_panel="Library",
            help="Store each vulnerable host as an Asset related to the CVE "
            "(default: on, or the config file's library.add_assets).",
        ),
    ] = None,
    add_discovered_assets: Annotated[
        bool | None,
        typer.Option(
            "--add-discovered-assets/--no-add-discovered-assets",
            rich_help_panel="Library",
            help="Keep every host found as an Asset with its identity attributes (default: on).",
        ),
    ] = None,
    tag_cves: Annotated[
        bool | None,
        typer.Option(
            "--tag-cves/--no-tag-cves",
            rich_help_panel="Library",
            help="Add the vulnerable hosts' Qualys tags to the CVE (default: on).",
        ),
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", rich_help_panel="Library", help="Touch no library at all.")
    ] = False,
    db: DbOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Find every host with an open detection of CVE-ID (or of many: a sweep), show them.

    Exit status: 0 success (also when no host is vulnerable), 2 invalid input, 3 Qualys
    refused the request, 4 Qualys unreachable or failing, 5 Qualys knows no QID for the CVE
    (for a sweep: for none of its CVEs) so nothing could be checked, 130 interrupted,
    1 anything else.
    """
    # Imported here, not at the top: the library pulls in SQLAlchemy, and every command
    # module is imported at start-up (keeps `cvesweep simulator` and --help quick).
    from cvesweep.library import StoreFlags, resolve_library_url
    from cvesweep.runner import RunRequest
    from cvesweep.sweeprun import SweepRequest

    configure_logging(debug)
    with guarded(debug=debug):
        targets = _targets(cves, cve_file, kev, kev_added_since, kev_ransomware)
        options = build_options(
            ips=ips, since=since, min_severity=min_severity, asset_groups=asset_groups
        )
        if options.since is not None and options.since > datetime.now(UTC):
            warn(f"--since {since} is in the future: no detection can have been found since")
        if truncation_limit is not None:
            parse_truncation_limit(truncation_limit)
        fmt = check_output_path(output_format, output)
        library_url = None if no_store else resolve_library_url(db, os.environ)
        settings = resolve_settings(
            url=url, hostname=hostname, port=port, username=username, config=config,
            ca_bundle=ca_bundle, no_verify_ssl=no_verify_ssl, truncation_limit=truncation_limit,
            method=method, max_parallel=max_parallel, auth=auth, gateway_url=gateway_url,
            store_flags={"add_assets": add_assets, "tag_cves": tag_cves,
                         "add_discovered_assets": add_discovered_assets},
        )  # fmt: skip
        flags = StoreFlags(
            add_assets=settings.add_assets,
            add_discovered_assets=settings.add_discovered_assets,
            tag_cves=settings.tag_cves,
        )
        if len(targets) == 1 and not (cve_file or kev):
            request = RunRequest(
                cve=targets[0].cve, options=options, flags=flags, store=not no_store
            )
            _search_one(settings, request, library_url, fmt, output)
        else:
            sweep = SweepRequest(targets=targets, options=options, flags=flags, store=not no_store)
            _sweep(settings, sweep, library_url, fmt, output)


def written(what: str, fmt: OutputFormat, output: Path) -> None:
    """The one stderr line after a successful ``--output FILE``."""
    print(f"wrote {what} as {fmt.value} to {output}", file=sys.stderr)


def _targets(
    cves: list[str] | None,
    cve_files: list[str] | None,
    kev: list[str] | None,
    added_since: str | None,
    ransomware: bool,
) -> tuple[CveTarget, ...]:
    """Every CVE the command names, validated before anything is sent. Raises InputError."""
    if (added_since is not None or ransomware) and not kev:
        flag = "--kev-added-since" if added_since is not None else "--kev-ransomware"
        raise InputError(flag, "filters a KEV catalog: give it with --kev PATH")
    since = parse_added_since(added_since) if added_since is not None else None
    targets = load_targets(
        arguments=cves or [],
        id_files=cve_files or [],
        kev_files=kev or [],
        added_since=since,
        ransomware_only=ransomware,
        stdin=sys.stdin.buffer,
    )
    if not targets and kev and (since is not None or ransomware):
        filters = [f"--kev-added-since {added_since}"] if since is not None else []
        filters += ["--kev-ransomware"] if ransomware else []
        raise InputError(
            filters[0].split()[0],
            f"no entry of the KEV catalog matches {' and '.join(filters)}: nothing to search",
            hint="loosen the filter (an earlier date, or without --kev-ransomware)",
        )
    if not targets:
        given = cves or cve_files or kev
        raise InputError(
            "CVE-ID",
            "no CVE to search for in what was given"
            if given
            else "give a CVE id (e.g. CVE-2021-44228), --cve-file PATH or --kev PATH",
        )
    return targets


def _search_one(
    settings: Settings,
    request: RunRequest,
    library_url: str | None,
    fmt: OutputFormat,
    output: Path | None,
) -> None:
    from cvesweep.runner import record_output_lost, run_search

    with sigterm_as_interrupt(), progress_reporter() as progress:
        outcome = run_search(settings, request, library_url=library_url, progress=progress)
    with released(outcome.result) as result:
        try:
            emit(result, fmt, output)
        except typer.Exit as stop:
            if stop.exit_code == PIPE_CLOSED_EXIT:
                record_output_lost(library_url, outcome.run)
            raise
    summary = result.summary
    if output is not None and summary is not None:
        written(f"{summary.hosts} hosts ({summary.detections} detections)", fmt, output)
    for left in (one for one in outcome.search_lists if not one.deleted):
        reason = f" ({left.delete_error})" if left.delete_error is not None else ""
        warn(
            f"the Qualys search list {left.id} could not be deleted{reason}; "
            "run 'cvesweep cleanup --older-than 0' to remove it"
        )
    if summary is not None and summary.no_qid:
        warn(no_qid_message(result.cve))
        raise typer.Exit(NO_QID_EXIT)


def _sweep(
    settings: Settings,
    request: SweepRequest,
    library_url: str | None,
    fmt: OutputFormat,
    output: Path | None,
) -> None:
    from cvesweep.export.sweepout import write_sweep
    from cvesweep.sweeprun import run_sweep

    with sigterm_as_interrupt(), progress_reporter() as progress:
        outcome = run_sweep(settings, request, library_url=library_url, progress=progress)
    result = outcome.result
    try:
        emit_with(lambda stream: write_sweep(result, fmt, stream), output)
    finally:
        outcome.release()
    summary = result.summary
    if output is not None:
        written(f"{summary.cves} CVEs, {summary.hosts} hosts", fmt, output)
    left = [one.id for one in summary.search_lists if not one.deleted]
    if left:
        warn(
            f"the Qualys search lists {', '.join(map(str, left))} could not be deleted; "
            "run 'cvesweep cleanup --older-than 0' to remove them"
        )
    if summary.cves_without_qid:
        warn(
            f"Qualys knows no QID for {summary.cves_without_qid} of the {summary.cves} CVEs: "
            "no host could be checked for them (listed in the output)"
        )
    if summary.cves_without_qid == summary.cves:
        raise typer.Exit(NO_QID_EXIT)  # nothing at all could be checked
