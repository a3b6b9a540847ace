"""Sweep output: a table grouped by CVE, JSON with one object per CVE, CSV with a cve column.

Hosts are read back from the sweep's spool CVE by CVE (by position), so memory stays flat; a
host vulnerable to several CVEs appears under each, with that CVE's detections only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import TextIO, assert_never

from rich import box
from rich.table import Table
from rich.text import Text

from cvesweep.cvelists import KevFacts
from cvesweep.errors import ExportError
from cvesweep.export.csvout import COLUMNS, host_rows
from cvesweep.export.interface import OutputFormat
from cvesweep.export.jsonout import filters_record, host_record
from cvesweep.export.table import describe_filters, make_console
from cvesweep.sweep import CveOutcome, SweepResult

LISTED = 40  # CVEs named in the table's "no host" and "no QID" lines before "and N more"


def write_sweep(result: SweepResult, fmt: OutputFormat, stream: TextIO) -> None:
    """Write a sweep's result in ``fmt``. Raises ExportError when the stream fails."""
    try:
        if fmt is OutputFormat.TABLE:
            write_sweep_table(result, stream)
        elif fmt is OutputFormat.JSON:
            write_sweep_json(result, stream)
        elif fmt is OutputFormat.CSV:
            write_sweep_csv(result, stream)
        else:
            assert_never(fmt)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(f"could not write the {fmt.value} output: {reason}") from exc


def hit_first(result: SweepResult) -> list[CveOutcome]:
    """CVEs with hosts, most hosts first (then highest severity, then id)."""
    hit = [o for o in result.outcomes.values() if o.hosts]
    return sorted(hit, key=lambda o: (-o.hosts, -(o.highest_severity or 0), o.target.cve))


# --- table ------------------------------------------------------------------------------------


def write_sweep_table(result: SweepResult, stream: TextIO) -> None:
    """The per-CVE table, the CVEs with no host and with no QID, then the sweep summary."""
    console = make_console(stream)
    hit = hit_first(result)
    kev = any(t.kev is not None for t in result.targets)
    if hit:
        console.print(_cve_table(hit, kev))
    else:
        console.print("No vulnerable hosts found for any of these CVEs.")
    for label, cves in _apart(result):
        if cves:
            console.print(Text(f"{label} ({len(cves)}): {_named(cves)}"))
    console.print()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in sweep_summary_rows(result):
        grid.add_row(Text(label), Text(value))
    console.print(grid)


def _cve_table(hit: list[CveOutcome], kev: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header in ("CVE", "Hosts", "Highest severity", "QIDs"):
        table.add_column(header, no_wrap=True)
    if kev:
        for header in ("Due date", "Vendor / product", "Ransomware"):
            table.add_column(header, overflow="fold")
    for outcome in hit:
        cells = [
            outcome.target.cve,
            str(outcome.hosts),
            str(outcome.highest_severity or "-"),
            ", ".join(map(str, outcome.qids or ())) or "-",
        ]
        if kev:
            cells += _kev_cells(outcome.target.kev)
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _kev_cells(facts: KevFacts | None) -> list[str]:
    if facts is None:
        return ["-", "-", "-"]
    product = " / ".join(x for x in (facts.vendor_project, facts.product) if x) or "-"
    return [facts.due_date or "-", product, facts.ransomware or "-"]


def _apart(result: SweepResult) -> list[tuple[str, list[str]]]:
    no_host = [c for c, o in result.outcomes.items() if not o.hosts and not o.no_qid]
    no_qid = [c for c, o in result.outcomes.items() if o.no_qid]
    unknown = result.summary.method == "cve-detection"
    return [
        ("No vulnerable host" + (" (or no QID: this method cannot tell)" if unknown else ""),
         no_host),
        ("Qualys knows no QID for (no host could be checked; are the ids right?)", no_qid),
    ]  # fmt: skip


def _named(cves: list[str]) -> str:
    shown = ", ".join(cves[:LISTED])
    return shown + (f" and {len(cves) - LISTED} more" if len(cves) > LISTED else "")


def sweep_summary_rows(result: SweepResult) -> list[tuple[str, str]]:
    """The sweep summary as (label, value) pairs, in the order they are shown."""
    s = result.summary
    lists = ", ".join(str(one.id) for one in s.search_lists) or "none"
    deleted = "yes" if s.lists_deleted else "NO (run: cvesweep cleanup)"
    return [
        ("CVEs", f"{s.cves} ({s.cves_with_hosts} with hosts, {s.cves_without_qid} without QID)"),
        ("Filters", describe_filters(result.options)),
        ("Hosts", f"{s.hosts} (each fetched once)"),
        ("Detections", str(s.detections)),
        ("Method", s.method),
        ("Pages", str(s.pages)),
        ("API calls", str(s.api_calls)),
        ("Search lists", f"{lists}; deleted: {deleted}" if s.search_lists else "none"),
        ("Time", f"{s.elapsed_s:.2f} s"),
    ]


# --- JSON -------------------------------------------------------------------------------------


def write_sweep_json(result: SweepResult, stream: TextIO) -> None:
    """``{"filters", "cves": [one object per CVE with its hosts], "sweep": summary}``."""
    stream.write('{"filters": ' + json.dumps(filters_record(result.options)) + ',\n "cves": [')
    separator = "\n  "
    for target in result.targets:
        outcome = result.outcomes[target.cve]
        stream.write(separator)
        _write_cve(result, outcome, stream)
        separator = ",\n  "
    closing = "]" if separator == "\n  " else "\n ]"
    stream.write(f'{closing},\n "sweep": {json.dumps(sweep_record(result))}}}\n')


def _write_cve(result: SweepResult, outcome: CveOutcome, stream: TextIO) -> None:
    head = {
        "cve": outcome.target.cve,
        "kev": _kev_record(outcome.target.kev),
        "qids": None if outcome.qids is None else list(outcome.qids),
        "no_qid": outcome.no_qid,
        "host_count": outcome.hosts,
        "highest_severity": outcome.highest_severity,
    }
    stream.write(json.dumps(head)[:-1] + ', "hosts": [')
    separator = ""
    for host in result.hosts_of(outcome.target.cve):
        stream.write(separator + "\n    " + json.dumps(host_record(host)))
        separator = ","
    stream.write("\n  ]}" if separator else "]}")


def _kev_record(facts: KevFacts | None) -> dict[str, object] | None:
    if facts is None:
        return None
    return {
        "vendorProject": facts.vendor_project,
        "product": facts.product,
        "vulnerabilityName": facts.name,
        "dateAdded": facts.date_added,
        "dueDate": facts.due_date,
        "knownRansomwareCampaignUse": facts.ransomware,
    }


def sweep_record(result: SweepResult) -> dict[str, object]:
    """The ``sweep`` summary object of the JSON output."""
    s = result.summary
    return {
        "cves": s.cves,
        "cves_with_hosts": s.cves_with_hosts,
        "cves_without_qid": s.cves_without_qid,
        "hosts": s.hosts,
        "detections": s.detections,
        "pages": s.pages,
        "api_calls": s.api_calls,
        "method": s.method,
        "search_lists": [{"id": one.id, "deleted": one.deleted} for one in s.search_lists],
        "elapsed_s": round(s.elapsed_s, 3),
    }


# --- CSV --------------------------------------------------------------------------------------


def write_sweep_csv(result: SweepResult, stream: TextIO) -> None:
    """The single-search CSV with a leading ``cve`` column; hosts of CVEs with hosts only."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(("cve", *COLUMNS))
    for outcome in hit_first(result):
        writer.writerows(_rows_of(result, outcome.target.cve))


def _rows_of(result: SweepResult, cve: str) -> Iterator[list[object]]:
    for host in result.hosts_of(cve):
        for row in host_rows(host):
            yield [cve, *row]
