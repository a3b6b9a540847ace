"""``cvesweep demo``: a real search, end to end, against the built-in simulator on loopback."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cvesweep.cli import library as library_cli
from cvesweep.cli.app import app
from cvesweep.cli.connection import DebugOpt
from cvesweep.cli.failures import guarded
from cvesweep.cli.output import check_output_path, emit
from cvesweep.cli.runtime import configure_logging, progress_reporter
from cvesweep.library import listing
from cvesweep.models import parse_cve
from cvesweep.runner import RunRequest, run_search
from cvesweep.settings import Settings
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer

if TYPE_CHECKING:
    from cvesweep.sweeprun import SweepOutcome

KEV_CATALOG = (
    Path(__file__).resolve().parents[1] / "data" / "kev" / ("known_exploited_vulnerabilities.json")
)
DEMO_TOP = 10


@app.command()
def demo(
    hosts: Annotated[
        int, typer.Option("--hosts", min=1, help="Size of the simulated fleet.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated fleet.")] = 1,
    cve: Annotated[str, typer.Option("--cve", help="CVE to search for.")] = LOG4SHELL,
    kev: Annotated[
        bool,
        typer.Option(
            "--kev/--no-kev",
            help="Also sweep the shipped CISA KEV catalog (1,404 CVEs) and show its top CVEs.",
        ),
    ] = True,
    debug: DebugOpt = False,
) -> None:
    """Start the Qualys simulator on a free loopback port, search it, show and store, stop.

    With --kev (the default) it then sweeps the shipped CISA KEV catalog the same way. The
    results are stored in a temporary library (deleted at the end), never in yours.
    """
    configure_logging(debug)
    with guarded(debug=debug), tempfile.TemporaryDirectory(prefix="cvesweep-demo-") as tmp:
        cve_id = parse_cve(cve, field="--cve")
        fmt = check_output_path("table", None)
        library_url = f"sqlite:///{Path(tmp) / 'library.db'}"
        fleet = Fleet(seed=seed, size=hosts)
        with SimulatorServer(SimulatorApp(fleet), port=0) as server:
            typer.echo(f"Qualys simulator: {server.url} ({hosts} hosts, seed {seed})")
            typer.echo(
                f"Searching it for {cve_id}, as 'cvesweep search {cve_id} --url {server.url}'\n"
            )
            settings = Settings(
                username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, url=server.url
            )
            with progress_reporter() as progress:
                outcome = run_search(
                    settings, RunRequest(cve=cve_id), library_url=library_url, progress=progress
                )
            try:
                emit(outcome.result, fmt, None)
            finally:
                outcome.release()
            typer.echo("\nStored in a temporary threat library ('cvesweep library cves'):")
            library_cli.cves(db=library_url, output_format="table", debug=debug)
            typer.echo("\nIts first assets ('cvesweep library assets --cve ...'):")
            library_cli.list_assets(
                listing.AssetFilter(cve_id, None, None), limit=5, offset=0, db=library_url,
                fmt=library_cli.BrowseFormat.TABLE, next_command=None,  # gone after the demo
            )  # fmt: skip
            swept = _sweep_kev(settings, library_url, server.url) if kev else None

    if swept is not None:
        _show_sweep(swept)


def _sweep_kev(settings: Settings, library_url: str, url: str) -> SweepOutcome:
    from cvesweep.cvelists import load_targets
    from cvesweep.sweeprun import SweepRequest, run_sweep

    targets = load_targets(kev_files=[str(KEV_CATALOG)])
    typer.echo(
        f"\nThen sweeping the shipped CISA KEV catalog ({len(targets)} CVEs), as "
        f"'cvesweep search --kev {KEV_CATALOG.name} --url {url}'"
    )
    with progress_reporter() as progress:
        return run_sweep(
            settings, SweepRequest(targets=targets), library_url=library_url, progress=progress
        )


def _show_sweep(swept: SweepOutcome) -> None:
    from cvesweep.export.sweepout import hit_first, sweep_summary_rows

    try:
        result = swept.result
        typer.echo(
            f"\nKEV CVEs with vulnerable hosts (top {DEMO_TOP} of {len(hit_first(result))}):"
        )
        for outcome in hit_first(result)[:DEMO_TOP]:
            facts = outcome.target.kev
            product = f"{facts.vendor_project} / {facts.product}" if facts else "-"
            due = facts.due_date if facts and facts.due_date else "-"
            typer.echo(
                f"  {outcome.target.cve:<16} {outcome.hosts:>5} hosts  severity "
                f"{outcome.highest_severity or '-'}  due {due}  {product}"
            )
        for label, value in sweep_summary_rows(result):
            typer.echo(f"  {label:<13}{value}")
    finally:
        swept.release()
