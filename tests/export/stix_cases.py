"""Deterministic export data for the STIX golden bundles (tests/export/data/*.stix.json).

The golden files were written by the stix2-based exporter this project had before the
streaming one (issue 11 item 4); the streaming exporter must give the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cvesweep.library.mapping import finding_attributes
from cvesweep.library.queries import ExportAsset, ExportCve, ExportData, ExportLink, FindingRecord

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CVES = ("CVE-2021-44228", "CVE-2021-45046", "CVE-2023-4966", "CVE-2019-0708")
TAGS = ("Production", "Linux Servers", "DMZ", 'Ünïcode "quoted" tag', "PCI")
ADDRESSES = (
    [f"10.0.{i // 7}.{(i * 37) % 256}" for i in range(40)]
    + ["2001:db8::7", "2001:db8::10", "fe80::1", "10.0.0.100", "10.0.0.9"]
    + ["web02", "host with spaces", "ünïcode-host"]
)


def _moment(i: int) -> datetime:
    """Whole seconds, milliseconds and microseconds; aware and naive."""
    moment = T0 + timedelta(hours=i, microseconds=(0, 120_000, 123_456, 100, 999_999)[i % 5])
    return moment.replace(tzinfo=None) if i % 7 == 3 else moment


def _finding(asset: str, cve: str, i: int) -> FindingRecord:
    full = i % 3 == 0
    return FindingRecord(
        asset=asset, cve=cve, qid=376157 + (i * 13) % 50, severity=1 + i % 5,
        status=("Active", "New", "Re-Opened", None)[i % 4], type=("Confirmed", "Potential")[i % 2],
        first_found="2025-01-01T00:00:00Z" if full else None, last_found="2026-02-01T10:00:00Z",
        last_scan=None if i % 5 else "2026-02-02T10:00:00Z",
        unique_vuln_id=10**11 + i if full else None, qds=(0, 95, None)[i % 3],
        qds_severity=("CRITICAL", None, "")[i % 3], cves=(cve, "CVE-2021-45046") if full else (),
        mitre_tactic_ids=("TA0001",) if full else (),
        mitre_tactic_names=("Initial Access",) if full else (),
        mitre_technique_ids=("T1190", "T1210") if full else (),
        mitre_technique_names=("Exploit Public-Facing Application",) if full else (),
        detection_sources=("Cloud Agent", "Internal Scanner") if full else (),
        latest_detection_source="Cloud Agent" if full else None,
    )  # fmt: skip


def many() -> ExportData:
    """48 assets, 4 CVEs, links with 0-3 findings; every optional part on some objects."""
    cves = tuple(
        ExportCve(cve, _moment(i), _moment(i + 3), TAGS[: i % 4]) for i, cve in enumerate(CVES)
    )
    assets = tuple(
        ExportAsset(
            value, _moment(i), _moment(i + i % 3), f"host{i}.example.com" if i % 4 else None,
            TAGS[i % 5 : i % 5 + 2] if i % 6 else (),
            tuple((name, f"{name} {i}") for name in ("Operating System", "Qualys Host ID"))
            + ((("Hostname", f"host{i}.example.com"),) if i % 4 else ())
            + ((("Severity", "5"), ("Severity", "5")) if i % 9 == 0 else ()),
        )
        for i, value in enumerate(ADDRESSES)
    )  # fmt: skip
    links = (
        *(
            ExportLink(
                value, cve, _moment(i), _moment(i + 1),
                tuple(_finding(value, cve, i + k) for k in range((i + j) % 4)),
            )
            for i, value in enumerate(ADDRESSES)
            for j, cve in enumerate(CVES)
            if (i + j) % 3 != 1
        ),
        # Links to an asset and a CVE outside the export: left out.
        ExportLink("10.99.99.99", CVES[0], T0, T0),
        ExportLink(ADDRESSES[0], "CVE-1999-0001", T0, T0),
    )  # fmt: skip
    return ExportData(cves=cves, assets=assets, links=links)


def chosen() -> ExportData:
    """The same, as an export of one CVE and its assets."""
    data = many()
    cve = CVES[1]
    linked = {link.asset for link in data.links if link.cve == cve}
    return ExportData(
        cves=tuple(c for c in data.cves if c.value == cve),
        assets=tuple(a for a in data.assets if a.value in linked),
        links=tuple(link for link in data.links if link.cve == cve),
    )


def stored() -> ExportData:
    """:func:`many` as a library can hold it (what :func:`export_records` reads back).

    Attributes are unique pairs: identity ones stored, and those the library derives from
    the asset's findings (schema 5, :func:`cvesweep.library.mapping.finding_attributes`); a link's
    ``modified`` is the latest ``updated_at`` of its findings (its ``created`` without any:
    findings are stored with ``updated_at`` = the link's ``modified``), and every link joins
    a stored asset to a stored CVE.
    """
    data = many()
    values, cves = {a.value for a in data.assets}, {c.value for c in data.cves}
    derived: dict[str, set[tuple[str, str]]] = {value: set() for value in values}
    for link in data.links:
        for f in link.findings if link.asset in values else ():
            derived[f.asset].update(
                finding_attributes(f.qid, f.severity, f.status, f.type, f.last_found)
            )
    assets = tuple(
        ExportAsset(
            a.value, a.created, a.modified, a.hostname, a.tags,
            tuple(pair for pair in a.attributes if pair[0] != "Severity")
            + tuple(sorted(derived[a.value])),
        )
        for a in data.assets
    )  # fmt: skip
    links = tuple(
        ExportLink(link.asset, link.cve, link.created,
                   link.modified if link.findings else link.created, link.findings)
        for link in data.links
        if link.asset in values and link.cve in cves
    )  # fmt: skip
    return ExportData(cves=data.cves, assets=assets, links=links)


def stored_chosen() -> ExportData:
    """:func:`stored` as an export of one CVE (``CVES[1]``) and its assets."""
    data = stored()
    linked = {link.asset for link in data.links if link.cve == CVES[1]}
    return ExportData(
        cves=tuple(c for c in data.cves if c.value == CVES[1]),
        assets=tuple(a for a in data.assets if a.value in linked),
        links=tuple(link for link in data.links if link.cve == CVES[1]),
    )
