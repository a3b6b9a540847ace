"""The Typer application every command module registers itself on."""

from __future__ import annotations

import typer

from cvesweep import __version__

app = typer.Typer(
    name="cvesweep",
    help="From a CVE to every vulnerable host in Qualys VM: search, show, store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no boxes, no <bool> noise, paragraphs re-wrapped
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"cvesweep {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """From a CVE to every vulnerable host in Qualys VM: search, show, store."""
