"""``cvesweep cleanup``: delete search lists left behind by killed runs (reserved title prefix)."""

from __future__ import annotations

from typing import Annotated

import typer

from cvesweep.cli.app import app
from cvesweep.cli.connection import (
    AuthOpt,
    CaBundleOpt,
    ConfigOpt,
    DebugOpt,
    GatewayUrlOpt,
    HostnameOpt,
    NoVerifyOpt,
    PortOpt,
    UrlOpt,
    UsernameOpt,
    resolve_settings,
)
from cvesweep.cli.failures import guarded
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import InputError
from cvesweep.qualys import searchlists
from cvesweep.qualys.client import QualysClient


@app.command()
def cleanup(
    url: UrlOpt = None,
    hostname: HostnameOpt = None,
    port: PortOpt = None,
    username: UsernameOpt = None,
    config: ConfigOpt = None,
    ca_bundle: CaBundleOpt = None,
    no_verify_ssl: NoVerifyOpt = False,
    auth: AuthOpt = None,
    gateway_url: GatewayUrlOpt = None,
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than",
            metavar="MINUTES",
            help="Only lists created at least this many minutes ago (spares running searches).",
        ),
    ] = 60.0,
    debug: DebugOpt = False,
) -> None:
    """Delete the Qualys search lists whose titles carry the reserved prefix 'cvesweep '."""
    configure_logging(debug)
    with guarded(debug=debug):
        if older_than < 0:
            raise InputError("--older-than", f"{older_than} is negative; give minutes >= 0")
        settings = resolve_settings(
            url=url, hostname=hostname, port=port, username=username, config=config,
            ca_bundle=ca_bundle, no_verify_ssl=no_verify_ssl, auth=auth, gateway_url=gateway_url,
        )  # fmt: skip
        with QualysClient(settings.client_config()) as client:
            lists = searchlists.list_all(client)
            ours = [item for item in lists if item[1].startswith(searchlists.TITLE_PREFIX)]
            stale = searchlists.find_leftovers(lists, older_than_minutes=older_than)
            for list_id, title in stale:
                searchlists.delete(client, list_id)
                typer.echo(f"deleted search list {list_id} ({title})")
        kept = len(ours) - len(stale)
        typer.echo(
            f"{len(stale)} search list(s) deleted"
            + (
                f"; {kept} younger than {older_than:g} minutes (or of unknown age) kept"
                if kept
                else ""
            )
        )
