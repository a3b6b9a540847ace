"""``cvesweep simulator``: serve the built-in Qualys VM API simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import ipaddress
import os
import shlex
import signal
import time
from collections.abc import Callable
from typing import Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.runtime import configure_logging, sigterm_as_interrupt
from cvesweep.errors import ConfigError, InputError
from cvesweep.qualys.endpoints import ApiVersions, Endpoint
from cvesweep.simulator.app import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    SimulatorApp,
)
from cvesweep.simulator.faults import Faults
from cvesweep.simulator.fleet import Fleet
from cvesweep.simulator.server import SimulatorServer
from cvesweep.simulator.tokens import DEFAULT_LIFETIME_SEC
from cvesweep.simulator.world import shipped_kev_cves

PASSWORD_ENV = "CVESWEEP_SIM_PASSWORD"  # noqa: S105 - the name of a variable, not a password
CLIENT_SECRET_ENV = "CVESWEEP_SIM_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
DETECTION_PATH = ApiVersions().path(Endpoint.DETECTION)
_DEFAULT = Faults()
_FAULTS = "Faults and limits"


def _credential(value: str) -> str:
    if not value or ":" in value or any(c.isspace() for c in value):
        raise typer.BadParameter("must be non-empty, without ':' or spaces")
    return value


@app.command()
def simulator(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
    ] = 8080,
    hosts: Annotated[
        int, typer.Option("--hosts", min=0, help="Number of hosts in the simulated fleet.")
    ] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the deterministic fleet.")] = 1,
    username: Annotated[
        str, typer.Option("--username", callback=_credential, help="Basic auth user to accept.")
    ] = DEFAULT_USERNAME,
    password: Annotated[
        str,
        typer.Option(
            "--password",
            envvar=PASSWORD_ENV,
            callback=_credential,
            show_default=False,
            help=f"Basic auth password to accept (a fake one; default {DEFAULT_PASSWORD}).",
        ),
    ] = DEFAULT_PASSWORD,
    client_id: Annotated[
        str,
        typer.Option(
            "--client-id",
            callback=_credential,
            help=f"API client id /auth/oauth accepts (its secret: ${CLIENT_SECRET_ENV}, "
            f"default {DEFAULT_CLIENT_SECRET}).",
        ),
    ] = DEFAULT_CLIENT_ID,
    token_lifetime: Annotated[
        int,
        typer.Option(
            "--token-lifetime", min=1, help="Lifetime of gateway tokens (JWT) in seconds."
        ),
    ] = DEFAULT_LIFETIME_SEC,
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve HTTPS with a self-signed certificate.")
    ] = False,
    serve_eol: Annotated[
        bool,
        typer.Option("--serve-eol", help="Keep serving versions Qualys retired, for old clients."),
    ] = False,
    latency_page: Annotated[
        float,
        typer.Option(
            "--latency-page",
            min=0.0,
            help="Seconds before each detection body.",
            rich_help_panel=_FAULTS,
        ),
    ] = _DEFAULT.page_latency,
    latency_host: Annotated[
        float,
        typer.Option(
            "--latency-host", min=0.0, help="Seconds per host streamed.", rich_help_panel=_FAULTS
        ),
    ] = _DEFAULT.host_latency,
    rate_limit: Annotated[
        int,
        typer.Option(
            "--rate-limit", min=1, help="API calls allowed per window.", rich_help_panel=_FAULTS
        ),
    ] = _DEFAULT.rate_limit,
    rate_window: Annotated[
        int,
        typer.Option(
            "--rate-window", min=1, help="Rate-limit window in seconds.", rich_help_panel=_FAULTS
        ),
    ] = _DEFAULT.rate_window_sec,
    concurrency_limit: Annotated[
        int,
        typer.Option(
            "--concurrency-limit", min=1, help="API calls running at once.", rich_help_panel=_FAULTS
        ),
    ] = _DEFAULT.concurrency_limit,
    error_rate: Annotated[
        float,
        typer.Option(
            "--error-rate",
            min=0.0,
            max=1.0,
            help="Fraction of API calls answered 503 (0..1).",
            rich_help_panel=_FAULTS,
        ),
    ] = _DEFAULT.error_rate,
    drop_after_bytes: Annotated[
        int | None,
        typer.Option(
            "--drop-after-bytes",
            min=0,
            help="Cut each detection reply's connection after N body bytes.",
            rich_help_panel=_FAULTS,
        ),
    ] = _DEFAULT.drop_after_bytes,
    malformed_xml: Annotated[
        bool,
        typer.Option(
            "--malformed-xml",
            help="Garble detection replies into invalid XML.",
            rich_help_panel=_FAULTS,
        ),
    ] = _DEFAULT.malformed_xml,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log each request (never its credentials).")
    ] = False,
) -> None:
    """Serve a simulated Qualys VM API (deterministic fleet, real HTTP) until Ctrl-C."""
    configure_logging(verbose)
    with guarded(debug=verbose):
        try:
            faults = Faults(
                page_latency=latency_page,
                host_latency=latency_host,
                rate_limit=rate_limit,
                rate_window_sec=rate_window,
                concurrency_limit=concurrency_limit,
                error_rate=error_rate,
                drop_after_bytes=drop_after_bytes,
                malformed_xml=malformed_xml,
            )
        except ValueError as exc:
            raise InputError("faults", str(exc)) from exc
        if not _is_loopback(host):
            warn(f"--host {host} is not loopback: the simulator's fake credentials are exposed")
        fleet = Fleet(seed=seed, size=hosts)
        client_secret = _client_secret()
        simulated = SimulatorApp(
            fleet,
            username=username,
            password=password,
            client_id=client_id,
            client_secret=client_secret,
            faults=faults,
            serve_eol=serve_eol,
            token_lifetime=token_lifetime,
        )
        server = SimulatorServer(simulated, host=host, port=port, tls=tls)
        try:
            server.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another --port, or --port 0 for a free one",
            ) from exc
        try:
            credentials = (username, password, client_id, client_secret)
            _serve_until_interrupted(lambda: _announce(server, fleet, *credentials))
        finally:
            server.stop()
    typer.echo("simulator stopped", err=True)


def _client_secret() -> str:
    """Return the API client secret from the environment (never from argv), or the default."""
    secret = os.environ.get(CLIENT_SECRET_ENV) or DEFAULT_CLIENT_SECRET
    if ":" in secret or any(c.isspace() for c in secret):
        raise InputError(CLIENT_SECRET_ENV, "must be without ':' or spaces")
    return secret


def _announce(
    server: SimulatorServer,
    fleet: Fleet,
    username: str,
    password: str,
    client_id: str,
    client_secret: str,
) -> None:
    # The simulator's credentials are fake by design; printing them is the point.
    typer.echo(
        f"Qualys simulator on {server.url}  username={username} password={password}"
        f" client_id={client_id} client_secret={client_secret}"
        f"  ({fleet.size} hosts, seed {fleet.seed})"
    )
    if server.cert_path is not None:
        typer.echo(f"TLS certificate (use it as the CA bundle): {server.cert_path}")
    featured = fleet.featured_cves(5)
    typer.echo("CVEs with vulnerable hosts:" if featured else "No CVE has vulnerable hosts.")
    for cve, count in featured:
        typer.echo(f"  {cve:<18} {count} hosts")
    typer.echo(_world_line(fleet))
    groups = ", ".join(f"{group.title} ({group.id})" for group in fleet.asset_groups)
    typer.echo(f"Asset groups (title and id, for --asset-groups): {groups}")
    ca = f" --cacert {shlex.quote(str(server.cert_path))}" if server.cert_path else ""
    query = "action=list&show_tags=1&truncation_limit=5"
    typer.echo(
        f"Try: curl -sS{ca} -u {shlex.quote(f'{username}:{password}')} -H 'X-Requested-With: curl'"
        f" '{server.url}{DETECTION_PATH}?{query}'"
    )
    form = shlex.quote(f"username={username}&password={password}&token=true")
    typer.echo(
        f"Token: curl -sS{ca} -d {form} '{server.url}/auth'  (then -H 'Authorization: Bearer …')"
    )
    typer.echo(f"State: {server.url}/_sim/state   Stop: Ctrl-C")


def _world_line(fleet: Fleet) -> str:
    """Return the banner line on the world's CVEs: any id works, the KEV ones have hosts."""
    hits = fleet.world_hits()
    kev = shipped_kev_cves()
    examples = ", ".join(f"{cve} ({count} hosts)" for cve, count in hits[:3])
    return (
        f"Any CVE id works (QIDs drawn from the seed; some have none, as on Qualys);"
        f" {len(hits)} of the {len(kev):,} CVEs of the shipped CISA KEV catalog have hosts"
        + (f", most: {examples}" if examples else "")
    )


def _serve_until_interrupted(announce: Callable[[], None]) -> None:
    """Announce, then block until Ctrl-C, SIGINT or SIGTERM (the server has its own thread).

    The handlers are in place before the announcement, so a client that signals as soon as
    it has read the banner is always heard.
    """
    # A shell starts background jobs with SIGINT ignored; `kill -INT` must still stop us.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with sigterm_as_interrupt():
            announce()
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGINT, previous)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
