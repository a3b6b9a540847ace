"""``cvesweep demo``: a real search, end to end, against the built-in simulator on loopback."""

from __future__ import annotations

from typing import Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import DebugOpt
from cvesweep.cli.failures import guarded
from cvesweep.cli.output import check_output_path, emit
from cvesweep.cli.runtime import configure_logging, progress_reporter
from cvesweep.models import CveId
from cvesweep.operation import release, search_vulnerable_hosts
from cvesweep.qualys.client import ClientConfig, QualysClient
from cvesweep.simulator.app import DEFAULT_PASSWORD, DEFAULT_USERNAME, SimulatorApp
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL
from cvesweep.simulator.server import SimulatorServer


@app.command()
def demo(
    hosts: Annotated[
        int, typer.Option("--hosts", min=1, help="Size of the simulated fleet.")
    ] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated fleet.")] = 1,
    cve: Annotated[str, typer.Option("--cve", help="CVE to search for.")] = LOG4SHELL,
    debug: DebugOpt = False,
) -> None:
    """Start the Qualys simulator on a free loopback port, search it for a CVE, show, stop."""
    configure_logging(debug)
    with guarded(debug=debug):
        fmt = check_output_path("table", None)
        fleet = Fleet(seed=seed, size=hosts)
        with SimulatorServer(SimulatorApp(fleet), port=0) as server:
            typer.echo(f"Qualys simulator: {server.url} ({hosts} hosts, seed {seed})")
            typer.echo(f"Searching it for {cve}, as 'cvesweep search {cve} --url {server.url}'\n")
            config = ClientConfig(
                base_url=server.url, username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD
            )
            with QualysClient(config) as client, progress_reporter() as progress:
                result = search_vulnerable_hosts(client, CveId(cve.upper()), progress=progress)
        try:
            emit(result, fmt, None)
        finally:
            release(result)
