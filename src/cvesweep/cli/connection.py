"""Connection options shared by the commands that talk to Qualys, and the client they build."""

from __future__ import annotations

import os
import sys
from getpass import getpass
from pathlib import Path
from typing import Annotated

import typer

from cvesweep.cli.failures import warn
from cvesweep.errors import InputError
from cvesweep.qualys.endpoints import ENDPOINTS
from cvesweep.settings import Settings, load_settings

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Qualys API base URL, e.g. https://qualysapi.qg2.apps.qualys.com "
        "(env: CVESWEEP_QUALYS_URL)",
        rich_help_panel="Connection",
    ),
]
HostnameOpt = Annotated[
    str | None,
    typer.Option(
        "--hostname",
        help="Qualys API server name (https) instead of --url.",
        rich_help_panel="Connection",
    ),
]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port", help="Port with --hostname (default: 443).", rich_help_panel="Connection"
    ),
]
UsernameOpt = Annotated[
    str | None,
    typer.Option(
        "--username",
        help="Qualys API username (env: CVESWEEP_QUALYS_USERNAME). The password "
        "comes from CVESWEEP_QUALYS_PASSWORD, the config file (0600) or a prompt.",
        rich_help_panel="Connection",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML config file (default: config.toml in the user config directory).",
        rich_help_panel="Connection",
    ),
]
CaBundleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        help="PEM file of CA certificates to verify Qualys with.",
        rich_help_panel="Connection",
    ),
]
NoVerifyOpt = Annotated[
    bool,
    typer.Option(
        "--no-verify-ssl",
        help="Do not verify the TLS certificate (insecure; prints a warning).",
        rich_help_panel="Connection",
    ),
]
AuthOpt = Annotated[
    str | None,
    typer.Option(
        "--auth",
        metavar="basic|jwt|oauth-client",
        help="How to authenticate: basic (HTTP Basic, the default), jwt (a gateway token "
        "for the username and password) or oauth-client (a gateway token for the API client "
        "in CVESWEEP_QUALYS_CLIENT_ID / CVESWEEP_QUALYS_CLIENT_SECRET).",
        rich_help_panel="Connection",
    ),
]
GatewayUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--gateway-url",
        help="Qualys gateway URL for --auth jwt|oauth-client (default: derived from the "
        "API URL, e.g. https://gateway.qg2.apps.qualys.com).",
        rich_help_panel="Connection",
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="The library: a SQLAlchemy URL or a SQLite file path (env CVESWEEP_DB; "
        "default: library.db in the user data directory).",
        rich_help_panel="Library",
    ),
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
]


def resolve_settings(
    *,
    url: str | None,
    hostname: str | None,
    port: int | None,
    username: str | None,
    config: Path | None,
    ca_bundle: Path | None,
    no_verify_ssl: bool,
    truncation_limit: int | None = None,
    store_flags: dict[str, bool | None] | None = None,
    method: str | None = None,
    max_parallel: int | None = None,
    auth: str | None = None,
    gateway_url: str | None = None,
) -> Settings:
    """Settings from the flags, the environment, the config file and (on a TTY) a prompt.

    Raises InputError / ConfigError (exit 2) before anything is sent.
    """
    if url is not None and (hostname is not None or port is not None):
        other = "--hostname" if hostname is not None else "--port"
        raise InputError(other, "give either --url, or --hostname with --port, not both")
    flags: dict[str, object] = {
        "url": url,
        "hostname": hostname,
        "port": port,
        "username": username,
        "ca_bundle": ca_bundle,
        "verify_ssl": False if no_verify_ssl else None,
        "truncation_limit": truncation_limit,
        "method": method,
        "max_parallel": max_parallel,
        "auth": auth,
        "gateway_url": gateway_url,
        **(store_flags or {}),
    }
    prompt = getpass if sys.stdin.isatty() else None
    settings = load_settings(flags=flags, environ=os.environ, config_path=config, prompt=prompt)
    if not settings.verify_ssl:
        warn("TLS certificate verification is off (--no-verify-ssl): the connection is insecure")
    for endpoint, version, lifecycle in settings.versions.outdated():
        warn(
            f"the {endpoint.value} API {version} is past its {lifecycle.value} at Qualys "
            f"([qualys.versions] {endpoint.value}); the current one is "
            f"{ENDPOINTS[endpoint].default}"
        )
    return settings
