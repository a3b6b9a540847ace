"""``cvesweep serve``: the web UI and JSON API, served by uvicorn."""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    UrlOpt,
    UsernameOpt,
    resolve_settings,
)
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import ConfigError, CvesweepError, InputError
from cvesweep.settings import Settings, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

# FastAPI, uvicorn, the web package and the library are imported inside the functions
# below: every command module is imported at start-up, and they would slow every command.

log = logging.getLogger(__name__)

TOKEN_ENV = "CVESWEEP_WEB_TOKEN"  # noqa: S105  (a variable name, not a token)
MIN_TOKEN_LENGTH = 16


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (default: loopback only).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port of the web UI.")
    ] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            show_envvar=True,
            help="Access token every page and API call must carry; required off loopback. "
            f"Prefer the {TOKEN_ENV} variable (a flag shows in process listings).",
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", help="The library: a SQLAlchemy URL or SQLite path (env CVESWEEP_DB)."
        ),
    ] = None,
    url: UrlOpt = None,
    hostname: HostnameOpt = None,
    qualys_port: Annotated[
        int | None,
        typer.Option(
            "--qualys-port",
            help="Qualys port with --hostname (default: 443).",
            rich_help_panel="Connection",
        ),
    ] = None,
    username: UsernameOpt = None,
    config: ConfigOpt = None,
    ca_bundle: CaBundleOpt = None,
    no_verify_ssl: NoVerifyOpt = False,
    auth: AuthOpt = None,
    gateway_url: GatewayUrlOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Serve the web UI and JSON API (search, library, STIX export) until Ctrl-C.

    Binds to 127.0.0.1 unless --host says otherwise; any other address requires an access
    token. SIGTERM, like Ctrl-C, cancels the running searches (their Qualys calls are
    aborted, their search lists deleted) and stops (then ending by that signal, as
    uvicorn does). Exit status: 2 for
    invalid options, a missing token, or a port in use (or an address that cannot be
    listened on); 1 if the library cannot be opened.
    """
    from cvesweep.library import resolve_library_url
    from cvesweep.web import create_app
    from cvesweep.web.state import SettingsLoader, SettingsPreview

    configure_logging(debug)
    with guarded(debug=debug):
        secret = _check_token(host, token)
        listening = bind(host, port)  # first: a port in use is the one line printed
        library_url = resolve_library_url(db, os.environ)
        flags: dict[str, object] = {
            "url": url, "hostname": hostname, "port": qualys_port, "username": username,
            "ca_bundle": ca_bundle, "verify_ssl": False if no_verify_ssl else None,
            "auth": auth, "gateway_url": gateway_url,
        }  # fmt: skip
        try:
            settings = resolve_settings(
                url=url, hostname=hostname, port=qualys_port, username=username,
                config=config, ca_bundle=ca_bundle, no_verify_ssl=no_verify_ssl,
                auth=auth, gateway_url=gateway_url,
            )  # fmt: skip
            loader: SettingsLoader = functools.partial(_same, settings)
            preview: SettingsPreview | None = None
        except ConfigError as error:
            warn(f"{error.message}; searches will fail until this is fixed")
            loader = functools.partial(_reload, flags, config)
            preview = functools.partial(_preview, flags, config)
        web = create_app(
            loader,
            library_url,
            token=secret,
            allowed_hosts=None if secret else _loopback_names(host),
            settings_preview=preview,
        )
    _run(web, listening, host, port, secret is not None)


def _check_token(host: str, token: str | None) -> str | None:
    """Return the token to require; raise InputError (exit 2) when it is blank, short or
    missing off loopback. A blank token (only spaces) is refused rather than read as none:
    whoever set it meant to require one."""
    from cvesweep.web.security import is_loopback

    if token is not None and not token.strip():
        raise InputError(
            "--token",
            f"the access token is blank; give {MIN_TOKEN_LENGTH}+ characters (or unset "
            f"{TOKEN_ENV} and drop --token to serve loopback without one)",
        )
    secret = token.strip() if token else None
    if secret is None and not is_loopback(host):
        raise InputError(
            "--token",
            f"serving on {host}, which is not a loopback address, needs an access token",
            hint=f"set {TOKEN_ENV} (e.g. to the output of "
            "'python -c \"import secrets; print(secrets.token_urlsafe(24))\"'), "
            "or serve on 127.0.0.1",
        )
    if secret is not None and len(secret) < MIN_TOKEN_LENGTH:
        raise InputError("--token", f"the token is too short; use {MIN_TOKEN_LENGTH}+ characters")
    return secret


def _same(settings: Settings) -> Settings:
    return settings


def _reload(flags: dict[str, object], config: Path | None) -> Settings:
    """Read the settings again (the environment or config file may have been fixed).

    Incomplete settings at start-up only warn: the library pages work, and each search
    shows the ConfigError until it is fixed. Raises ConfigError / InputError.
    """
    return load_settings(flags=flags, environ=os.environ, config_path=config, prompt=None)


def _preview(flags: dict[str, object], config: Path | None) -> Settings | None:
    """The settings given so far, a placeholder standing for a missing password or client
    secret: what the settings page shows (URL, username, TLS). None when more is missing
    or a value is invalid. Never used to send anything."""
    try:
        settings = load_settings(
            flags=flags, environ=os.environ, config_path=config, prompt=_placeholder
        )
    except CvesweepError:
        return None
    return settings


def _placeholder(_question: str) -> str:
    return "(not given)"


def _loopback_names(host: str) -> tuple[str, ...]:
    """The Host header names accepted without a token: loopback names and the bound host."""
    from cvesweep.web.security import LOOPBACK_HOSTS

    return (*LOOPBACK_HOSTS, host.strip("[]").lower())


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` for uvicorn to listen on (as uvicorn binds one).

    Raises InputError (exit 2, one line) naming --port when the port is in use or needs
    privileges, --host when the address cannot be listened on.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from None
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> InputError:
    if exc.errno == errno.EADDRINUSE:
        return InputError(
            "--port",
            f"port {port} on {host} is already in use; choose another port, or stop the "
            "program listening there",
        )
    if exc.errno == errno.EACCES:
        return InputError("--port", f"not allowed to listen on port {port} (below 1024?)")
    reason = exc.strerror or str(exc)
    return InputError("--host", f"cannot listen on {host} port {port}: {reason}")


def _run(web: FastAPI, listening: socket.socket, host: str, port: int, with_token: bool) -> None:
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"cvesweep web UI on http://{shown}:{port}/ (Ctrl-C to stop)", err=True)
    if with_token:
        typer.echo(f"sign in on http://{shown}:{port}/login with the access token", err=True)
    config = uvicorn.Config(web, host=host, port=port, log_level="warning", server_header=False)
    uvicorn.Server(config).run(sockets=[listening])
