"""Writers of the simulator's small XML replies: SIMPLE_RETURN, search lists, KB, about.

Layout (declaration, DOCTYPE with an external DTD URL, two-space indentation, CDATA for
free text) follows the real replies in tests/data/qualys-samples/; the DTD URL points at the
serving host as the real platforms do, and clients must never fetch it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

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
    """Return DYNAMIC_SEARCH_LIST_OUTPUT for ``lists`` (RESPONSE holds only DATETIME if none)."""
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
        f"        <GLOBAL>{int(one.is_global)}</GLOBAL>\n",
        f"        <OWNER>{cdata(one.owner)}</OWNER>\n",
        f"        <CREATED>{qdt(one.created)}</CREATED>\n",
        f"        <LAST_UPDATE>{qdt(one.created)}</LAST_UPDATE>\n",
    ]
    if show_qids and one.qids:
        qids = "".join(f"          <QID>{qid}</QID>\n" for qid in one.qids)
        parts.append(f"        <QIDS>\n{qids}        </QIDS>\n")
    parts.append(
        "        <CRITERIA>\n"
        f"          <CVE_IDS>{cdata(','.join(one.cve_ids))}</CVE_IDS>\n"
        "        </CRITERIA>\n      </DYNAMIC_LIST>\n"
    )
    return "".join(parts)


def kb_vulns(
    base_url: str, now: datetime, vulns: Iterable[KbVuln], details: str
) -> Iterator[bytes]:
    """Yield KNOWLEDGE_BASE_VULN_LIST_OUTPUT for ``vulns`` (details: Basic, All or None)."""
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
        yield _kb_vuln(vuln, details).encode()
    tail = "    </VULN_LIST>\n" if opened else ""
    yield f"{tail}  </RESPONSE>\n</KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n".encode()


def _kb_vuln(v: KbVuln, details: str) -> str:
    parts = [f"      <VULN>\n        <QID>{v.qid}</QID>\n"]
    if details == "None":
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
    if v.cves:
        parts.append("        <CVE_LIST>\n")
        for cve in v.cves:
            url = f"http://cve.mitre.org/cgi-bin/cvename.cgi?name={cve}"
            parts.append(
                f"          <CVE>\n            <ID>{cdata(cve)}</ID>\n"
                f"            <URL>{cdata(url)}</URL>\n          </CVE>\n"
            )
        parts.append("        </CVE_LIST>\n")
    if details == "All":
        parts.append(
            f"        <DIAGNOSIS>{cdata(v.diagnosis)}</DIAGNOSIS>\n"
            f"        <CONSEQUENCE>{cdata(v.consequence)}</CONSEQUENCE>\n"
            f"        <SOLUTION>{cdata(v.solution)}</SOLUTION>\n"
        )
    parts.append(
        "        <PCI_FLAG>0</PCI_FLAG>\n"
        "        <DISCOVERY>\n          <REMOTE>1</REMOTE>\n        </DISCOVERY>\n      </VULN>\n"
    )
    return "".join(parts)
