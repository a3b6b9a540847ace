"""``cvesweep library cves|assets|show|runs|upgrade``: browse the threat library; upgrade it."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, assert_never

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cvesweep.cli.app import app
from cvesweep.cli.connection import DbOpt, DebugOpt
from cvesweep.cli.failures import guarded, warn
from cvesweep.cli.runtime import configure_logging
from cvesweep.errors import InputError
from cvesweep.export.table import make_console
from cvesweep.library import Library, listing, queries, resolve_library_url
from cvesweep.library.database import create_library_engine, display_url, library_errors
from cvesweep.library.listing import AssetFilter
from cvesweep.library.migrations import ensure_schema
from cvesweep.library.schema import SCHEMA_VERSION
from cvesweep.models import parse_cve

library_app = typer.Typer(
    name="library",
    help="Browse the threat library: CVEs, assets, one object, the run history.",
    no_args_is_help=True,
)
app.add_typer(library_app, name="library")

EMPTY_HINT = "the library is empty; run 'cvesweep search CVE-…' to fill it"
DEFAULT_ASSET_LIMIT = 1000
DEFAULT_SHOW_LIMIT = 100
LIMIT_MAX = 10_000  # rows a command prints at most; --offset reaches the others
OFFSET_MAX = 1_000_000_000

BrowseFormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="Output format: table or json.")
]


class BrowseFormat(StrEnum):
    """How the ``library`` commands write (``--format``)."""

    TABLE = "table"
    JSON = "json"


def parse_format(text: str) -> BrowseFormat:
    """Return the ``--format`` choice; raise InputError (exit 2) for anything else."""
    try:
        return BrowseFormat(text.strip().lower())
    except ValueError:
        choices = ", ".join(f.value for f in BrowseFormat)
        raise InputError("--format", f"{text!r} is not a format; choose one of {choices}") from None


@contextmanager
def reading(db: str | None) -> Iterator[Engine]:
    """Yield the engine of the library named by ``--db`` / CVESWEEP_DB / the default.

    A SQLite file that does not exist is not created: an empty in-memory library stands
    in for it, so reading commands answer "empty" and leave no file behind.
    Raises LibraryError when the library cannot be opened.
    """
    url = resolve_library_url(db, os.environ)
    with Library.open("sqlite://" if _missing_sqlite_file(url) else url) as library:
        yield library.engine


def _missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # Library.open reports the bad URL
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return False
    return not name.startswith("file:") and not Path(name).exists()


@library_app.command("cves")
def cves(
    db: DbOpt = None, output_format: BrowseFormatOpt = "table", debug: DebugOpt = False
) -> None:
    """Each CVE with its number of vulnerable assets, highest severity and last run."""
    configure_logging(debug)
    with guarded(debug=debug):
        fmt = parse_format(output_format)
        with reading(db) as engine:
            found = queries.cve_summaries(engine)
        rows = [
            (c.cve, str(c.assets), _text(c.highest_severity), ", ".join(c.tags),
             _when(c.last_run_at), _text(c.last_run_outcome))
            for c in found
        ]  # fmt: skip
        headers = ("CVE", "Assets", "Highest severity", "Tags", "Last run", "Outcome")
        _render(fmt, [asdict(c) for c in found], headers, rows)
        if not found:
            warn(EMPTY_HINT)


@library_app.command("assets")
def assets(
    cve: Annotated[
        str | None, typer.Option("--cve", help="Only assets vulnerable to this CVE.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only assets with this tag.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Only assets whose IP or hostname contains this.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=1, max=LIMIT_MAX, help=f"Show at most N assets (1 to {LIMIT_MAX:,})."
        ),
    ] = DEFAULT_ASSET_LIMIT,
    offset: Annotated[
        int, typer.Option("--offset", min=0, max=OFFSET_MAX, help="Skip the first N assets.")
    ] = 0,
    db: DbOpt = None,
    output_format: BrowseFormatOpt = "table",
    debug: DebugOpt = False,
) -> None:
    """Assets with IP, hostname, tags, number of CVEs and highest severity, in numeric IP order."""
    configure_logging(debug)
    with guarded(debug=debug):
        options = {"--cve": cve, "--tag": tag, "--search": search}
        if limit != DEFAULT_ASSET_LIMIT:
            options["--limit"] = str(limit)
        list_assets(
            AssetFilter(parse_cve(cve, field="--cve") if cve is not None else None, tag, search),
            limit=limit, offset=offset, db=db, fmt=parse_format(output_format),
            next_command=_command("cvesweep library assets", options, db),
        )  # fmt: skip


def list_assets(
    chosen: AssetFilter,
    *,
    limit: int,
    offset: int,
    db: str | None,
    fmt: BrowseFormat,
    next_command: str | None,
) -> None:
    """Print a page of assets; when more follow, say how many (and, given ``next_command``,
    the command that shows the next page)."""
    with reading(db) as engine:
        page = listing.asset_page(engine, chosen, limit=limit, offset=offset)
    found = list(page.items)
    rows = [
        (a.value, _text(a.hostname), str(a.cves), _text(a.highest_severity), ", ".join(a.tags))
        for a in found
    ]
    headers = ("IP", "Hostname", "CVEs", "Highest severity", "Tags")
    _render(fmt, [asdict(a) for a in found], headers, rows)
    if page.more:
        shown = f"showing assets {offset + 1} to {offset + len(found)} of {page.total}"
        then = f" ({next_command} --offset {offset + limit})" if next_command else ""
        warn(f"{shown}; {page.more} more follow{then}")
    elif not found and offset and page.total:
        warn(f"--offset {offset} is past the last asset ({page.total} match)")
    elif not found and not (chosen.cve or chosen.tag or chosen.search or offset):
        warn(
            "no assets in the library (runs stored with --no-add-assets and "
            "--no-add-discovered-assets keep none); run 'cvesweep search CVE-…' to add some"
        )


@library_app.command("show")
def show(
    value: Annotated[str, typer.Argument(metavar="VALUE", help="An IP address or a CVE id.")],
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=1,
            max=LIMIT_MAX,
            help=f"Show at most N related objects and N findings (1 to {LIMIT_MAX:,}).",
        ),
    ] = DEFAULT_SHOW_LIMIT,
    offset: Annotated[
        int,
        typer.Option(
            "--offset", min=0, max=OFFSET_MAX, help="Skip the first N related objects and findings."
        ),
    ] = 0,
    db: DbOpt = None,
    output_format: BrowseFormatOpt = "table",
    debug: DebugOpt = False,
) -> None:
    """One object with its attributes, tags, sources, related objects and findings (by IP)."""
    configure_logging(debug)
    with guarded(debug=debug):
        fmt = parse_format(output_format)
        with reading(db) as engine:
            page = listing.object_page(engine, value, limit=limit, offset=offset)
        if fmt is BrowseFormat.JSON:
            _write_json(asdict(page.detail))
        elif fmt is BrowseFormat.TABLE:
            _show_table(make_console(sys.stdout), page)
        else:
            assert_never(fmt)
        _say_more(page, value, offset, limit, db)


def _say_more(
    page: listing.ObjectPage, value: str, offset: int, limit: int, db: str | None
) -> None:
    """Warn when related objects or findings were left out after this page."""
    detail = page.detail
    left = {
        "related objects": page.related_total - offset - len(detail.related),
        "findings": page.findings_total - offset - len(detail.findings),
    }
    cut = [f"{count} more {what}" for what, count in left.items() if count > 0]
    if cut:
        options = {"--limit": str(limit)} if limit != DEFAULT_SHOW_LIMIT else {}
        command = _command(f"cvesweep library show {shlex.quote(value.strip())}", options, db)
        warn(f"{' and '.join(cut)}; use --offset ({command} --offset {offset + limit})")
    elif (
        offset
        and not (detail.related or detail.findings)
        and (page.related_total or page.findings_total)
    ):
        warn(f"--offset {offset} is past the last related object and finding")


def _command(base: str, options: Mapping[str, str | None], db: str | None) -> str:
    """``base`` with the options given (quoted for a shell); a --db is named, not repeated
    (a URL may hold a password)."""
    parts = [base, *(f"{flag} {shlex.quote(text)}" for flag, text in options.items() if text)]
    return " ".join(parts) + (" --db …" if db else "")


@library_app.command("runs")
def runs(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=LIMIT_MAX, help="Show the last N runs.")
    ] = 50,
    db: DbOpt = None,
    output_format: BrowseFormatOpt = "table",
    debug: DebugOpt = False,
) -> None:
    """The run history, newest first: outcome, counts, search list."""
    configure_logging(debug)
    with guarded(debug=debug):
        fmt = parse_format(output_format)
        with reading(db) as engine:
            found = queries.runs(engine, limit=limit)
        rows = [
            (str(r.id), r.cve, _when(r.started_at), r.outcome, str(r.hosts), str(r.detections),
             f"{_text(r.assets_created)} / {_text(r.assets_updated)}",
             _search_list(r), _text(r.error))
            for r in found
        ]  # fmt: skip
        headers = ("Run", "CVE", "Started", "Outcome", "Hosts", "Detections",
                   "Assets new / updated", "Search list", "Error")  # fmt: skip
        _render(fmt, [asdict(r) for r in found], headers, rows)
        if not found:
            warn(EMPTY_HINT)


@library_app.command("upgrade")
def upgrade(db: DbOpt = None, debug: DebugOpt = False) -> None:
    """Upgrade a library written by an older cvesweep to this version's schema, in place.

    Reading commands never change a library; this one does, once, under the schema lock
    (other processes may use the library meanwhile). Nothing else is changed.
    """
    configure_logging(debug)
    with guarded(debug=debug):
        url = resolve_library_url(db, os.environ)
        if _missing_sqlite_file(url):
            shown = make_url(url).database
            raise InputError("--db", f"there is no library at {shown}; nothing to upgrade")
        engine = create_library_engine(url)
        try:
            with library_errors(url, "upgrading"):
                found = ensure_schema(engine, url)
        finally:
            engine.dispose()
        where = display_url(url)
        if found == SCHEMA_VERSION:
            print(f"library {where} is at schema {SCHEMA_VERSION}: nothing to do", file=sys.stderr)
        elif found == 0:
            print(f"created library {where} (schema {SCHEMA_VERSION})", file=sys.stderr)
        else:
            print(
                f"upgraded library {where} from schema {found} to {SCHEMA_VERSION}", file=sys.stderr
            )


def _render(
    fmt: BrowseFormat,
    records: list[dict[str, object]],
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
) -> None:
    if fmt is BrowseFormat.JSON:
        _write_json(records)
    elif fmt is BrowseFormat.TABLE:
        console = make_console(sys.stdout)
        if rows:
            console.print(_table(headers, rows))
    else:
        assert_never(fmt)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A plain table; every cell is Text, so library values are never read as markup."""
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _show_table(console: Console, page: listing.ObjectPage) -> None:
    detail = page.detail
    facts = [
        ("Value", detail.value), ("Kind", f"{detail.kind} ({detail.type})"),
        ("Description", _text(detail.description)), ("Created", _when(detail.created)),
        ("Updated", _when(detail.updated)), ("Sources", ", ".join(detail.sources) or "-"),
        ("Tags", ", ".join(detail.tags) or "-"),
    ]  # fmt: skip
    console.print(_table(("Field", "Value"), facts))
    sections: list[tuple[str, int, Sequence[str], list[tuple[str, ...]]]] = [
        ("Attributes", len(detail.attributes), ("Name", "Value", "Source", "Published"),
         [(a.name, a.value, a.source, _when(a.published)) for a in detail.attributes]),
        ("Related", page.related_total, ("Kind", "Type", "Value"),
         [(r.kind, r.type, r.value) for r in detail.related]),
        ("Findings", page.findings_total,
         ("Asset", "CVE", "QID", "Severity", "Status", "Type", "First found", "Last found"),
         [(f.asset, f.cve, str(f.qid), _text(f.severity), _text(f.status), _text(f.type),
           _text(f.first_found), _text(f.last_found)) for f in detail.findings]),
    ]  # fmt: skip
    for title, total, headers, rows in sections:
        console.print()
        shown = f"{total}" if total == len(rows) else f"{len(rows)} shown of {total}"
        console.print(Text(f"{title} ({shown})", style="bold"))
        if rows:
            console.print(_table(headers, rows))


def _write_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return _when(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _when(moment: datetime | None) -> str:
    """A library time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), or ``-``."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _search_list(run: queries.RunSummary) -> str:
    if run.search_list_id is None:
        return "-"
    return f"{run.search_list_id} ({'deleted' if run.search_list_deleted else 'NOT deleted'})"
