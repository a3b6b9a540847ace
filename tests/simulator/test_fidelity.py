"""The simulator's replies have the element structure of the real Qualys samples.

For each kind of reply the structure of the matching real samples is learned: per element
path, the child tags seen, the tags present in every instance, and the order in which
child tags follow each other (repeats collapsed). A simulator reply must use only those
child tags (or an explicit, reasoned exception from the Qualys DTD), keep every always-present
tag (unless excepted), and never order two tags against the samples. Renaming, reordering
or re-nesting an element in the simulator therefore fails here (see the mutation tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from cvesweep.qualys.endpoints import ENDPOINTS, Endpoint
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.faults import Faults

from .conftest import DETECTION, KB, LISTS, make_client, parse

D_HOST = "HOST_LIST_VM_DETECTION_OUTPUT/RESPONSE/HOST_LIST/HOST"
D_DET = f"{D_HOST}/DETECTION_LIST/DETECTION"
D_LIST = "DYNAMIC_SEARCH_LIST_OUTPUT/RESPONSE/DYNAMIC_LISTS/DYNAMIC_LIST"
K_VULN = "KNOWLEDGE_BASE_VULN_LIST_OUTPUT/RESPONSE/VULN_LIST/VULN"
_PR16436 = "detection 5.0 DTD: elastic/integrations PR #16436 (docs/qualys-2026.md §3.1)"
_QETL = "qualysetl 0.9.37 columns (QETL-META, QETL-COLS; docs/qualys-2026.md §3.1)"

# The elements newer versions added, which no real (2.0-era) sample can show, with their
# source: (path, tag) → (first version, source). The README lists the same table.
NEWER_TAGS: dict[tuple[str, str], tuple[str, str]] = {
    (D_DET, "CVE"): ("detection 5.0", _PR16436),
    (D_DET, "MITRE_TACTIC_NAME"): ("detection 4.0", f"{_QETL}; {_PR16436}"),
    (D_DET, "MITRE_TACTIC_ID"): ("detection 4.0", f"{_QETL}; {_PR16436}"),
    (D_DET, "MITRE_TECHNIQUE_NAME"): ("detection 4.0", f"{_QETL}; {_PR16436}"),
    (D_DET, "MITRE_TECHNIQUE_ID"): ("detection 4.0", f"{_QETL}; {_PR16436}"),
    (D_DET, "VULNERABILITY_DETECTION_SOURCES"): ("detection 5.0", _PR16436),
    (D_DET, "LATEST_VULNERABILITY_DETECTION_SOURCE"): ("detection 5.0", _PR16436),
    (D_DET, "TRURISK_ELIMINATION_STATUS"): ("detection 5.0", _PR16436),
    (K_VULN, "PATCH_PUBLISHED_DATE"): ("KB 3.0", "Elastic's v2/v3 diff (EL-13344; §3.2)"),
    (K_VULN, "CVSS_V4"): ("KB 4.0", "10.39 API, qualysetl column (QETL-META; §3.2)"),
    (f"{K_VULN}/CVSS_V4", "BASE"): ("KB 4.0", "structure undocumented: our choice"),
    (f"{K_VULN}/CVSS_V4", "THREAT"): ("KB 4.0", "structure undocumented: our choice"),
}

# (path, tag) the simulator may emit although no real sample has it there, with the reason.
EXTRA_TAGS: dict[tuple[str, str], str] = {
    (D_HOST, "IPV6"): "DTD: HOST (ID, ASSET_ID?, IP?, IPV6?, ...); IPv6 and dual-stack hosts",
    (D_HOST, "TAGS"): "DTD: TAGS? when show_tags=1; no recorded request asked for tags",
    (f"{D_HOST}/TAGS", "TAG"): "DTD: TAGS (TAG+)",
    (f"{D_HOST}/TAGS/TAG", "TAG_ID"): "DTD: TAG (TAG_ID?, NAME)",
    (f"{D_HOST}/TAGS/TAG", "NAME"): "DTD: TAG (TAG_ID?, NAME)",
    (D_LIST, "ID"): "qualysdk DynamicSearchList; the only list sample is a trimmed fixture",
    (D_LIST, "TITLE"): "qualysdk DynamicSearchList (same reason)",
    (D_LIST, "GLOBAL"): "qualysdk DynamicSearchList: Yes/No (same reason)",
    (D_LIST, "OWNER"): "qualysdk DynamicSearchList (same reason)",
    (D_LIST, "CREATED"): "qualysdk DynamicSearchList (same reason)",
    (D_LIST, "MODIFIED"): "qualysdk DynamicSearchList (same reason)",
    (D_LIST, "MODIFIED_BY"): "qualysdk DynamicSearchList (same reason)",
    (D_LIST, "CRITERIA"): "qualysdk DynamicSearchList (same reason)",
    (f"{D_LIST}/CRITERIA", "CVE_ID"): "docs/qualys-2026.md §3.3: CRITERIA/CVE_ID, a comma list",
    **{key: f"{version}: {source}" for key, (version, source) in NEWER_TAGS.items()},
}
# (path, tag) present in every sample instance that the simulator may still omit.
OPTIONAL_TAGS: dict[tuple[str, str], str] = {
    (D_HOST, "IP"): "DTD: IP?; IPv6-only hosts have only IPV6",
    (D_HOST, "OS"): "DTD: OS?; absent in demisto's second host",
    (D_HOST, "DNS"): "DTD: DNS?; hosts without a DNS name",
    (D_LIST, "QIDS"): "DTD: QIDS?; a CVE without QIDs gives a list without QIDS",
}
# Order the DTD fixes for the excepted tags (the samples cannot teach it).
DTD_ORDER: dict[str, tuple[tuple[str, ...], ...]] = {
    D_HOST: (
        ("ID", "IP", "IPV6", "TRACKING_METHOD"),
        ("LAST_SCAN_DATETIME", "LAST_VM_SCANNED_DATE", "LAST_VM_SCANNED_DURATION", "TAGS"),
        ("TAGS", "DETECTION_LIST"),
    ),
    f"{D_HOST}/TAGS/TAG": (("TAG_ID", "NAME"),),
    D_LIST: (
        ("ID", "TITLE", "GLOBAL", "OWNER", "CREATED", "MODIFIED", "MODIFIED_BY", "QIDS"),
        ("QIDS", "CRITERIA"),
    ),
    # Newer elements come after the last 2.0 one: their real order is unknown [unverified].
    D_DET: (("LAST_PROCESSED_DATETIME", "CVE"), ("LAST_PROCESSED_DATETIME", "MITRE_TACTIC_NAME")),
}


@dataclass
class Structure:
    """What element paths, child tags and child orders a set of replies shows."""

    children: dict[str, set[str]] = field(default_factory=dict)
    required: dict[str, set[str]] = field(default_factory=dict)
    before: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def add(self, element: etree._Element, path: str) -> None:
        tags = [child.tag for child in element if isinstance(child.tag, str)]
        sequence = [tag for i, tag in enumerate(tags) if i == 0 or tag != tags[i - 1]]
        self.children.setdefault(path, set()).update(sequence)
        present = set(sequence)
        self.required[path] = self.required.get(path, present) & present
        pairs = self.before.setdefault(path, set())
        pairs.update((a, b) for i, a in enumerate(sequence) for b in sequence[i + 1 :] if a != b)
        for child in element:
            if isinstance(child.tag, str):
                self.add(child, f"{path}/{child.tag}")


def structure_of(roots: Iterable[etree._Element]) -> Structure:
    """Return the structure learned from ``roots``."""
    learned = Structure()
    for root in roots:
        learned.add(root, root.tag)
    for path, sequences in DTD_ORDER.items():
        for sequence in sequences:
            learned.before.setdefault(path, set()).update(
                (a, b) for i, a in enumerate(sequence) for b in sequence[i + 1 :]
            )
    return learned


def problems(real: Structure, simulated: Structure) -> list[str]:
    """Return every way ``simulated`` departs from ``real`` (empty when faithful)."""
    found = []
    for path, tags in sorted(simulated.children.items()):
        if path not in real.children and not any(f"{p}/{t}" == path for p, t in EXTRA_TAGS):
            found.append(f"{path}: element path never seen in the real replies")
            continue
        for tag in sorted(tags - real.children.get(path, set())):
            if (path, tag) not in EXTRA_TAGS:
                found.append(f"{path}: unexpected child {tag}")
        for tag in sorted(real.required.get(path, set()) - simulated.required[path]):
            if (path, tag) not in OPTIONAL_TAGS:
                found.append(f"{path}: child {tag} is always present in real replies")
        known = real.before.get(path, set())
        for a, b in sorted(simulated.before.get(path, set())):
            if (b, a) in known and (a, b) not in known:
                found.append(f"{path}: {a} comes before {b}, real replies have it after")
    return found


def samples(samples_dir: Path, *names: str) -> list[etree._Element]:
    return [parse((samples_dir / name).read_bytes()) for name in names]


DETECTION_SAMPLES = (
    "detection_multi_host_5hosts_jupiterone_qg3.xml",
    "detection_single_host_qualys_doccenter_sample1.xml",
    "detection_two_hosts_dns_data_potential_new_demisto.xml",
    "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml",
    "detection_qds_factors_warning_mockderived_elastic.xml",
)


FULL_DETECTION = {
    "action": "list",
    "show_tags": "1",
    "show_igs": "1",
    "status": "New,Active,Re-Opened,Fixed",
    "truncation_limit": "0",
    "show_qds": "1",
    "show_qds_factors": "1",
}
NEWER_FLAGS = {
    "mitre_attack_details": "1",
    "vuln_detection_source": "1",
    "show_cve": "1",  # [unverified] our name: no client or page names it (README)
    "show_trurisk_elimination": "1",  # [unverified] likewise
}


@pytest.fixture(params=["2.0", "4.0", "5.0"])
def detection_reply(request, fleet) -> etree._Element:
    """The fullest detection reply of each version: every show_* flag it takes."""
    version = request.param
    allowed = {"4.0": ("mitre_attack_details",), "5.0": tuple(NEWER_FLAGS)}.get(version, ())
    data = {**FULL_DETECTION, **{k: v for k, v in NEWER_FLAGS.items() if k in allowed}}
    with make_client(SimulatorApp(fleet, serve_eol=True)) as client:
        path = ENDPOINTS[Endpoint.DETECTION].path(version)
        root = parse(client.post(path, data=data).content)
    root.set("version", version)  # for the test; attributes are not compared
    return root


def assert_faithful(real: list[etree._Element], simulated: list[etree._Element]) -> None:
    assert {root.tag for root in simulated} <= {root.tag for root in real}
    assert problems(structure_of(real), structure_of(simulated)) == []


def test_detection_with_hosts_has_the_real_structure(samples_dir, detection_reply):
    hosts = detection_reply.findall("RESPONSE/HOST_LIST/HOST")
    assert len(hosts) > 100
    # The reply exercises the optional parts: IPv6-only hosts, tags, Info detections, QDS.
    assert any(h.find("IP") is None for h in hosts)
    assert any(h.find("TAGS") is not None for h in hosts)
    assert detection_reply.find(".//DETECTION[TYPE='Info']") is not None
    assert detection_reply.find(".//DETECTION/QDS_FACTORS/QDS_FACTOR") is not None
    assert_faithful(samples(samples_dir, *DETECTION_SAMPLES), [detection_reply])


def test_each_version_shows_exactly_its_newer_detection_elements(detection_reply):
    version = detection_reply.get("version")
    shown = {child.tag for det in detection_reply.iterfind(".//DETECTION") for child in det}
    newer = {tag for (path, tag), (first, _) in NEWER_TAGS.items() if path == D_DET}
    expected = {
        tag
        for (path, tag), (first, _) in NEWER_TAGS.items()
        if path == D_DET and float(first.split()[-1]) <= float(version)
    }
    assert shown & newer == expected


def test_empty_detection_has_the_real_structure(samples_dir, client):
    reply = parse(client.post(DETECTION, data={"action": "list", "ips": "203.0.113.9"}).content)
    real = samples(samples_dir, "detection_empty_no_host_list_jupiterone_qg3.xml")
    assert_faithful(real, [reply])
    assert problems(structure_of([reply]), structure_of(real)) == []


def test_truncated_detection_has_the_real_structure(samples_dir, client):
    reply = parse(client.post(DETECTION, data={"action": "list", "truncation_limit": "2"}).content)
    real = samples(
        samples_dir,
        "detection_truncated_warning_1980_info_qids_sn_qualys_integration_qg2.xml",
        "detection_qds_factors_warning_mockderived_elastic.xml",
    )
    assert [c.tag for c in reply.find("RESPONSE")] == ["DATETIME", "HOST_LIST", "WARNING"]
    assert_faithful(samples(samples_dir, *DETECTION_SAMPLES), [reply])
    warning_paths = structure_of([reply]).children
    assert (
        warning_paths["HOST_LIST_VM_DETECTION_OUTPUT/RESPONSE/WARNING"]
        == (structure_of(real).children["HOST_LIST_VM_DETECTION_OUTPUT/RESPONSE/WARNING"])
    )


def test_search_list_create_and_list_have_the_real_structure(samples_dir, client):
    created = client.post(
        LISTS, data={"action": "create", "title": "t", "cve_ids": "CVE-2021-44228"}
    )
    assert_faithful(
        samples(
            samples_dir,
            "searchlist_create_success_simple_return_kcare_test.xml",
            "searchlist_create_success_with_doctype_unidentified_repo.xml",
        ),
        [parse(created.content)],
    )
    listed = parse(client.get(LISTS, params={"action": "list"}).content)
    real = samples(samples_dir, "searchlist_dynamic_list_qids_minimal_kcare_test.xml")
    assert_faithful(real, [listed])


def test_knowledge_base_reply_has_the_real_structure(samples_dir, client, fleet):
    qids = ",".join(map(str, fleet.kb.all_qids()[:60]))
    reply = parse(client.post(KB, data={"action": "list", "ids": qids, "details": "All"}).content)
    assert len(reply.findall("RESPONSE/VULN_LIST/VULN")) == 60
    assert reply.find("RESPONSE/VULN_LIST/VULN/CVSS_V4/BASE") is not None
    assert reply.find("RESPONSE/VULN_LIST/VULN/PATCH_PUBLISHED_DATE") is not None
    real = samples(
        samples_dir,
        "kb_vuln_316760_single_cve_jupiterone_qg3.xml",
        "kb_vuln_150208_jupiterone_qg3.xml",
        "kb_vuln_list_42_qids_mixed_types_jupiterone_qg3.xml",
        "kb_vulns_multi_cve_sanitized_demisto.xml",
    )
    assert_faithful(real, [reply])


def error_replies(client, fleet) -> dict[str, etree._Element]:
    replies = {
        "1901": client.get(DETECTION, params={"action": "list", "show_asset_ids": "1"}),
        "1905": client.post(DETECTION, data={"action": "list", "ids": "abc123"}),
    }
    with make_client(SimulatorApp(fleet), auth=("simuser", "bad")) as c:
        replies["2000"] = c.get(DETECTION, params={"action": "list"})
    with make_client(SimulatorApp(fleet, faults=Faults(expired_account=True))) as c:
        replies["2001"] = c.get(DETECTION, params={"action": "list"})
    with make_client(SimulatorApp(fleet, faults=Faults(rate_limit=1))) as c:
        c.get("/msp/about.php")
        replies["1965"] = c.get("/msp/about.php")
    app = SimulatorApp(fleet, faults=Faults(concurrency_limit=1))
    data = {"action": "list", "truncation_limit": "0"}
    with make_client(app) as c, c.stream("POST", DETECTION, data=data):
        replies["1960"] = c.get(DETECTION, params={"action": "list"})
    assert [r.status_code for r in replies.values()] == [400, 400, 401, 200, 409, 409]
    return {code: parse(r.content) for code, r in replies.items()}


ERROR_SAMPLES = {
    "1901": ("error_1901_unrecognized_param_lists_allowed_detection_params_powerqualys.xml",),
    "1905": (
        "error_1905_invalid_ids_detection_http400_jupiterone_qg3.xml",
        "error_1905_ips_do_not_exist_qg2_demisto_test.xml",
    ),
    "1960": ("error_1960_concurrency_limit_docderived_jupiterone_test.xml",),
    "1965": ("error_1965_rate_limit_docderived_jupiterone_test.xml",),
    "2000": ("error_2000_bad_login_http401_jupiterone_qg3.xml",),
    "2001": ("error_2001_account_expired_http200_jupiterone_qg3.xml",),
}


def test_error_replies_have_the_real_structure_and_codes(samples_dir, client, fleet):
    replies = error_replies(client, fleet)
    for code, names in ERROR_SAMPLES.items():
        real = samples(samples_dir, *names)
        assert replies[code].findtext("RESPONSE/CODE") == code
        assert_faithful(real, [replies[code]])
        # Errors are exact in shape both ways: nothing the real one has is missing either.
        assert structure_of([replies[code]]).children == structure_of(real).children, code


@pytest.mark.parametrize(
    ("path", "new"),
    [
        (".//DETECTION/SEVERITY", "SEVERITY_LEVEL"),
        (".//HOST/TRACKING_METHOD", "TRACKING"),
        ("RESPONSE/WARNING/URL", "NEXT_URL"),
        ("RESPONSE/HOST_LIST", "HOSTS"),
    ],
)
def test_checker_catches_a_renamed_element(samples_dir, client, path, new):
    body = client.post(DETECTION, data={"action": "list", "truncation_limit": "3"}).content
    mutated = parse(body)
    for element in mutated.iterfind(path):
        element.tag = new
    found = problems(
        structure_of(samples(samples_dir, *DETECTION_SAMPLES)), structure_of([mutated])
    )
    assert any(f"unexpected child {new}" in problem for problem in found)


def test_checker_catches_reordered_and_renested_elements(samples_dir, client):
    real = structure_of(samples(samples_dir, *DETECTION_SAMPLES))
    body = client.post(DETECTION, data={"action": "list", "truncation_limit": "3"}).content
    reordered = parse(body)
    for host in reordered.iterfind(".//HOST"):
        host.insert(0, host.find("TRACKING_METHOD"))
    assert any("comes before" in p for p in problems(real, structure_of([reordered])))
    renested = parse(body)
    for host in renested.iterfind(".//HOST"):
        host.find("DETECTION_LIST").append(host.find("LAST_SCAN_DATETIME"))
    found = problems(real, structure_of([renested]))
    assert any("DETECTION_LIST: unexpected child LAST_SCAN_DATETIME" in p for p in found)
    assert any("LAST_SCAN_DATETIME is always present" in p for p in found)
