"""Writers of the simulator's small XML replies: SIMPLE_RETURN, search lists, KB, about.

Layout (declaration, DOCTYPE with an external DTD URL, two-space indentation, CDATA for
free text) follows the real replies in tests/data/qualys-samples/; the DTD URL points at the
serving host as the real platforms do, and clients must never fetch it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from cvesweep.simulator.facts import Facts
from cvesweep.simulator.records import KbVuln
from cvesweep.simulator.searchlists import SearchList

XML_DECL = '<?xml version="1.0" encoding="UTF-8" ?>\n'


def cdata(text: str) -> str:
    """Return ``text`` in a CDATA section, splitting any ``]]>`` so it stays well-formed."""
    if "]]>" in text:
        text = text.replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{text}]]>"


def escape(text: str) -> str:
    """Return ``text`` with the XML special characters of element content escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def qdt(moment: datetime) -> str:
    """Return an aware UTC datetime in the Qualys form ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.isoformat()[:19] + "Z"


def doctype(root: str, dtd_url: str) -> str:
    """Return the declaration and DOCTYPE lines that open a real Qualys reply."""
    return f'{XML_DECL}<!DOCTYPE {root} SYSTEM "{dtd_url}">\n'


def simple_return(
    base_url: str,
    now: datetime,
    text: str,
    *,
    code: int | None = None,
    items: Iterable[tuple[str, str]] = (),
) -> bytes:
    """Return a SIMPLE_RETURN reply (an error when ``code`` is set, else a success)."""
    lines = [
        doctype("SIMPLE_RETURN", f"{base_url}/api/2.0/simple_return.dtd"),
        "<SIMPLE_RETURN>\n  <RESPONSE>\n",
        f"    <DATETIME>{qdt(now)}</DATETIME>\n",
    ]
    if code is not None:
        lines.append(f"    <CODE>{code}</CODE>\n")
    lines.append(f"    <TEXT>{escape(text)}</TEXT>\n")
    items = list(items)
    if items:
        lines.append("    <ITEM_LIST>\n")
        for key, value in items:
            lines.append(
                f"      <ITEM>\n        <KEY>{escape(key)}</KEY>\n"
                f"        <VALUE>{escape(value)}</VALUE>\n      </ITEM>\n"
            )
        lines.append("    </ITEM_LIST>\n")
    lines.append("  </RESPONSE>\n</SIMPLE_RETURN>\n")
    return "".join(lines).encode()


def generic_return(base_url: str, now: datetime, user: str) -> bytes:
    """Return the older GENERIC_RETURN 999 internal-error reply (a well-formed version of
    error_999_generic_return_internal_error_qualys_doc_sample.txt)."""
    return (
        f"{doctype('GENERIC_RETURN', f'{base_url}/generic_return.dtd')}<GENERIC_RETURN>\n"
        f' <API name="index.php" username="{escape(user)}" at="{qdt(now)}" />\n'
        ' <RETURN status="FAILED" number="999">Internal error. '
        "Please contact customer support.</RETURN>\n</GENERIC_RETURN>\n"
        "<!-- Incident signature: 00000000000000000000000000000000 //-->\n"
    ).encode()


def about(base_url: str, version: str) -> bytes:
    """Return the ``/msp/about.php`` reply naming the simulated versions."""
    return (
        f"{doctype('ABOUT', f'{base_url}/about.dtd')}<ABOUT>\n"
        '  <API-VERSION MAJOR="2" MINOR="0" />\n'
        f"  <WEB-VERSION>{escape(version)}</WEB-VERSION>\n"
        "  <SCANNER-VERSION>13.0.0-1</SCANNER-VERSION>\n"
        "  <VULNSIGS-VERSION>2.6.0-1</VULNSIGS-VERSION>\n"
        "</ABOUT>\n"
        "<!-- cvesweep Qualys simulator //-->\n"
    ).encode()


def dynamic_lists(
    base_url: str, now: datetime, lists: Iterable[SearchList], show_qids: bool
) -> bytes:
    """Return DYNAMIC_SEARCH_LIST_OUTPUT for ``lists`` (RESPONSE holds only DATETIME if none).

    Items follow qualysdk's DynamicSearchList (ID, TITLE, GLOBAL Yes/No, OWNER, CREATED,
    MODIFIED, MODIFIED_BY, QIDS, CRITERIA); ``CRITERIA/CVE_ID`` holds the comma list of CVEs
    (docs/qualys-2026.md §3.3, seen on 3.0; the same on 2.0 is [unverified]). A list whose
    CVEs map to no QID has no QIDS element.
    """
    lines = [
        doctype(
            "DYNAMIC_SEARCH_LIST_OUTPUT",
            f"{base_url}/api/2.0/fo/qid/search_list/dynamic/dynamic_list_output.dtd",
        ),
        "<DYNAMIC_SEARCH_LIST_OUTPUT>\n  <RESPONSE>\n",
        f"    <DATETIME>{qdt(now)}</DATETIME>\n",
    ]
    body = [_dynamic_list(one, show_qids) for one in lists]
    if body:
        lines += ["    <DYNAMIC_LISTS>\n", *body, "    </DYNAMIC_LISTS>\n"]
    lines.append("  </RESPONSE>\n</DYNAMIC_SEARCH_LIST_OUTPUT>\n")
    return "".join(lines).encode()


def _dynamic_list(one: SearchList, show_qids: bool) -> str:
    parts = [
        "      <DYNAMIC_LIST>\n",
        f"        <ID>{one.id}</ID>\n",
        f"        <TITLE>{cdata(one.title)}</TITLE>\n",
        f"        <GLOBAL>{'Yes' if one.is_global else 'No'}</GLOBAL>\n",
        f"        <OWNER>{cdata(one.owner)}</OWNER>\n",
        f"        <CREATED>{qdt(one.created)}</CREATED>\n",
        f"        <MODIFIED>{qdt(one.modified)}</MODIFIED>\n",
        f"        <MODIFIED_BY>{cdata(one.modified_by)}</MODIFIED_BY>\n",
    ]
    if show_qids and one.qids:
        qids = "".join(f"          <QID>{qid}</QID>\n" for qid in one.qids)
        parts.append(f"        <QIDS>\n{qids}        </QIDS>\n")
    if one.cve_ids:
        parts.append(
            "        <CRITERIA>\n"
            f"          <CVE_ID>{cdata(','.join(one.cve_ids))}</CVE_ID>\n"
            "        </CRITERIA>\n"
        )
    parts.append("      </DYNAMIC_LIST>\n")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class KbOptions:
    """How a KB reply is written: ``details`` (Basic, All, None), the API's major version."""

    details: str = "Basic"
    major: int = 4
    facts: Facts | None = None


def kb_vulns(
    base_url: str, now: datetime, vulns: Iterable[KbVuln], options: KbOptions
) -> Iterator[bytes]:
    """Yield KNOWLEDGE_BASE_VULN_LIST_OUTPUT for ``vulns``."""
    yield (
        doctype(
            "KNOWLEDGE_BASE_VULN_LIST_OUTPUT",
            f"{base_url}/api/2.0/fo/knowledge_base/vuln/knowledge_base_vuln_list_output.dtd",
        )
        + f"<KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>{qdt(now)}</DATETIME>\n"
    ).encode()
    opened = False
    for vuln in vulns:
        if not opened:
            opened = True
            yield b"    <VULN_LIST>\n"
        yield _kb_vuln(vuln, options).encode()
    tail = "    </VULN_LIST>\n" if opened else ""
    yield f"{tail}  </RESPONSE>\n</KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n".encode()


def _kb_vuln(v: KbVuln, options: KbOptions) -> str:
    parts = [f"      <VULN>\n        <QID>{v.qid}</QID>\n"]
    if options.details == "None":
        return parts[0] + "      </VULN>\n"
    parts.append(
        f"        <VULN_TYPE>{escape(v.vuln_type)}</VULN_TYPE>\n"
        f"        <SEVERITY_LEVEL>{v.severity}</SEVERITY_LEVEL>\n"
        f"        <TITLE>{cdata(v.title)}</TITLE>\n"
        f"        <CATEGORY>{escape(v.category)}</CATEGORY>\n"
        f"        <LAST_SERVICE_MODIFICATION_DATETIME>{qdt(v.last_modified)}"
        "</LAST_SERVICE_MODIFICATION_DATETIME>\n"
        f"        <PUBLISHED_DATETIME>{qdt(v.published)}</PUBLISHED_DATETIME>\n"
        f"        <PATCHABLE>{int(v.patchable)}</PATCHABLE>\n"
    )
    if options.major >= 3 and v.patchable:
        parts.append(f"        <PATCH_PUBLISHED_DATE>{qdt(patch_date(v))}</PATCH_PUBLISHED_DATE>\n")
    parts.append(_kb_cves(v))
    if options.details == "All":
        parts.append(
            f"        <DIAGNOSIS>{cdata(v.diagnosis)}</DIAGNOSIS>\n"
            f"        <CONSEQUENCE>{cdata(v.consequence)}</CONSEQUENCE>\n"
            f"        <SOLUTION>{cdata(v.solution)}</SOLUTION>\n"
        )
    if options.major >= 4:
        parts.append(_cvss_v4(v, options.facts))
    parts.append(
        "        <PCI_FLAG>0</PCI_FLAG>\n"
        "        <DISCOVERY>\n          <REMOTE>1</REMOTE>\n        </DISCOVERY>\n      </VULN>\n"
    )
    return "".join(parts)


def patch_date(v: KbVuln) -> datetime:
    """Return when the vendor patch of a patchable QID came out: after publication, stable."""
    days = min(v.qid % 21, max(0, (v.last_modified - v.published).days))
    return v.published + timedelta(days=days)


def _kb_cves(v: KbVuln) -> str:
    if not v.cves:
        return ""
    parts = ["        <CVE_LIST>\n"]
    for cve in v.cves:
        url = f"http://cve.mitre.org/cgi-bin/cvename.cgi?name={cve}"
        parts.append(
            f"          <CVE>\n            <ID>{cdata(cve)}</ID>\n"
            f"            <URL>{cdata(url)}</URL>\n          </CVE>\n"
        )
    parts.append("        </CVE_LIST>\n")
    return "".join(parts)


def _cvss_v4(v: KbVuln, facts: Facts | None) -> str:
    """Return CVSS_V4 (10.39 API, docs/qualys-2026.md §3.2) before PCI_FLAG, where the KB
    DTD keeps CVSS and CVSS_V3. [unverified] Its structure is undocumented: BASE and THREAT
    scores are our choice."""
    scores = None if facts is None else facts.scores(v.qid)
    if scores is None:
        return ""
    return (
        f"        <CVSS_V4>\n          <BASE>{scores.cvss4}</BASE>\n"
        f"          <THREAT>{scores.cvss4_threat}</THREAT>\n        </CVSS_V4>\n"
    )
