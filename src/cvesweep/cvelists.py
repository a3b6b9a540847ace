"""CVE lists a sweep starts from: ids on the command line, a file of ids, a CISA KEV catalog.

Pure parsing: text in, validated :class:`CveTarget` values out, every problem an InputError
naming the file and the line or entry. Nothing here touches the network.

- An id file holds one CVE id per line; ``#`` starts a comment, blank lines are skipped. A
  file whose first line names a ``cveID`` or ``cve`` column is read as CSV instead.
- A KEV catalog is CISA's JSON (schema in src/cvesweep/data/kev/): its ``vulnerabilities``
  entries give the id and the facts a team acts on (due date, vendor/product, ransomware use).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from cvesweep.errors import InputError
from cvesweep.models import CveId, parse_cve

MAX_CVES = 5_000  # ids in one sweep (the KEV catalog holds ~1,400)
MAX_FILE_BYTES = 16 * 1024 * 1024  # an id file or a KEV catalog (CISA's is ~1.3 MB)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class KevFacts:
    """What the CISA KEV catalog says of one CVE (as CISA writes it)."""

    vendor_project: str | None = None
    product: str | None = None
    name: str | None = None
    date_added: str | None = None
    due_date: str | None = None
    ransomware: str | None = None  # "Known" or "Unknown"


@dataclass(frozen=True, slots=True)
class CveTarget:
    """One CVE of a sweep, with its KEV facts when it came from a catalog."""

    cve: CveId
    kev: KevFacts | None = None


def fold(targets: Iterable[CveTarget]) -> tuple[CveTarget, ...]:
    """``targets`` without repeats (the first occurrence kept, its KEV facts first found).

    Raises InputError when more than :data:`MAX_CVES` remain.
    """
    seen: dict[str, CveTarget] = {}
    for target in targets:
        if target.cve not in seen or (seen[target.cve].kev is None and target.kev is not None):
            seen[target.cve] = target
    if len(seen) > MAX_CVES:
        raise InputError("CVE-ID", f"{len(seen):,} CVE ids; a sweep takes at most {MAX_CVES:,}")
    return tuple(seen.values())


def from_arguments(values: Sequence[str]) -> list[CveTarget]:
    """The ids given on the command line (each may hold a comma list)."""
    return [
        CveTarget(parse_cve(item, field="CVE-ID"))
        for value in values
        for item in value.split(",")
        if item.strip()
    ]


def read_text(path: str, stream: IO[bytes] | None = None) -> str:
    """The UTF-8 text of ``path`` (``-``: ``stream``, standard input), bounded in size."""
    try:
        if path == "-":
            data = stream.read(MAX_FILE_BYTES + 1) if stream is not None else b""
        else:
            with open(path, "rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(path, f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(path, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None


def from_id_file(name: str, text: str) -> list[CveTarget]:
    """The ids of an id file or of a CSV with a ``cveID``/``cve`` column (see module doc)."""
    try:
        return _from_id_file(name, text)
    except csv.Error as exc:  # e.g. a cell past the csv module's field size limit
        raise InputError(name, f"not a readable CSV or id list: {exc}") from None


def _from_id_file(name: str, text: str) -> list[CveTarget]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    if _csv_column(first) is not None:
        return _from_csv(name, text)
    targets = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip()
        if value:
            targets.append(CveTarget(parse_cve(value, field=f"{name} line {number}")))
    return targets


def _csv_column(header: str) -> str | None:
    names = [cell.strip().lower() for cell in next(csv.reader([header]), [])]
    for wanted in ("cveid", "cve"):
        if (wanted in names and len(names) > 1) or names == [wanted]:
            return wanted
    return None


def _from_csv(name: str, text: str) -> list[CveTarget]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or ()}
    column = columns.get("cveid") or columns["cve"]
    targets = []
    for row in reader:
        value = (row.get(column) or "").strip()
        if value:
            field = f"{name} line {reader.line_num}"
            targets.append(CveTarget(parse_cve(value, field=field)))
    return targets


def parse_added_since(text: str) -> date:
    """``--kev-added-since``: a ``YYYY-MM-DD`` date. Raises InputError."""
    value = text.strip()
    try:
        if _DATE_RE.match(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InputError("--kev-added-since", f"{text!r} is not a date; expected YYYY-MM-DD")


def from_kev(
    name: str, text: str, *, added_since: date | None = None, ransomware_only: bool = False
) -> list[CveTarget]:
    """The CVEs of a CISA KEV catalog, optionally only those added since a date or with
    known ransomware use. Raises InputError naming the entry that is malformed."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(name, f"not JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise InputError(name, "not a CISA KEV catalog: nested too deeply") from None
    entries = document.get("vulnerabilities") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InputError(name, "not a CISA KEV catalog: no 'vulnerabilities' list")
    targets = []
    for number, entry in enumerate(entries, start=1):
        target = _kev_entry(f"{name} entry {number}", entry)
        facts = target.kev
        assert facts is not None
        if added_since is not None and (facts.date_added or "") < added_since.isoformat():
            continue
        if ransomware_only and facts.ransomware != "Known":
            continue
        targets.append(target)
    return targets


def _kev_entry(field: str, entry: Any) -> CveTarget:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("cveID"), str):
        raise InputError(field, "has no cveID string")
    cve = parse_cve(entry["cveID"], field=field)
    facts = KevFacts(
        vendor_project=_text(entry.get("vendorProject")),
        product=_text(entry.get("product")),
        name=_text(entry.get("vulnerabilityName")),
        date_added=_date(field, entry.get("dateAdded"), "dateAdded"),
        due_date=_date(field, entry.get("dueDate"), "dueDate"),
        ransomware=_text(entry.get("knownRansomwareCampaignUse")),
    )
    return CveTarget(cve, facts)


def _text(value: object) -> str | None:
    return value.strip()[:500] or None if isinstance(value, str) else None


def _date(field: str, value: object, key: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise InputError(field, f"{key} {value!r} is not a YYYY-MM-DD date")
    return value.strip()


def load_targets(
    *,
    arguments: Sequence[str] = (),
    id_files: Sequence[str] = (),
    kev_files: Sequence[str] = (),
    added_since: date | None = None,
    ransomware_only: bool = False,
    stdin: IO[bytes] | None = None,
) -> tuple[CveTarget, ...]:
    """Every CVE of the sweep from every source, validated and folded. Raises InputError."""
    if [*id_files, *kev_files].count("-") > 1:
        raise InputError("--cve-file/--kev", "standard input (-) can be read only once")
    targets = from_arguments(arguments)
    for path in id_files:
        targets += from_id_file(_label(path), read_text(path, stdin))
    for path in kev_files:
        text = read_text(path, stdin)
        targets += from_kev(
            _label(path), text, added_since=added_since, ransomware_only=ransomware_only
        )
    return fold(targets)


def _label(path: str) -> str:
    return "standard input" if path == "-" else str(Path(path))
