"""The simulated knowledge base: determinism, CVE <-> QID mappings, lookups like Qualys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cvesweep.models import parse_cve
from cvesweep.simulator.knowledgebase import (
    IG_ONLY_CVE,
    LOG4SHELL,
    NO_QID_CVE,
    VENDOR_EXAMPLE,
    Draw,
    KnowledgeBase,
    mix,
)

VULN_TYPES = {
    "Vulnerability",
    "Potential Vulnerability",
    "Vulnerability or Potential Vulnerability",
    "Information Gathered",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase(seed=1)


def test_same_seed_gives_identical_knowledge_base() -> None:
    first, second = KnowledgeBase(seed=5), KnowledgeBase(seed=5)
    assert first.vulns(first.all_qids()) == second.vulns(second.all_qids())


def test_different_seeds_give_different_filler() -> None:
    first, second = KnowledgeBase(seed=1), KnowledgeBase(seed=2)
    assert first.all_qids() != second.all_qids()
    assert first.qids_for_cves([LOG4SHELL]) == second.qids_for_cves([LOG4SHELL])


def test_mix_and_draw_give_the_same_values_in_every_process() -> None:
    # Pinned values: a change here silently changes every simulated fleet.
    assert mix(1, 2, 3) == 5246500226706903259
    assert mix(3, 2, 1) != mix(1, 2, 3)
    assert 0 <= mix(-1) < 2**64
    draw = Draw(1, 2)
    assert [draw.below(1000) for _ in range(5)] == [309, 460, 648, 19, 799]


@pytest.mark.parametrize("cve", [LOG4SHELL, VENDOR_EXAMPLE, IG_ONLY_CVE, NO_QID_CVE])
def test_named_cves_are_well_formed(cve: str) -> None:
    assert parse_cve(cve) == cve


def test_kb_table_has_a_few_hundred_sorted_unique_qids(kb: KnowledgeBase) -> None:
    qids = kb.table_qids()
    assert 200 <= len(qids) <= 600
    assert list(qids) == sorted(set(qids))


def test_all_qids_are_the_table_and_the_world_cves_qids(kb: KnowledgeBase) -> None:
    world = set(kb.qids_for_cves(kb.world_cves()))
    assert kb.all_qids() == tuple(sorted(world | set(kb.table_qids())))
    assert len(world) > 1000 and not world & set(kb.table_qids())


def test_log4shell_maps_to_several_qids_including_the_well_known_ones(kb: KnowledgeBase) -> None:
    qids = kb.qids_for_cves([LOG4SHELL])
    assert {376157, 730297, 45515} <= set(qids)


def test_a_qid_can_carry_several_cves_as_in_the_real_sample(kb: KnowledgeBase) -> None:
    vuln = kb.vuln(10052)
    assert vuln is not None
    assert vuln.cves == ("CVE-2020-10227", "CVE-2020-10228", "CVE-2020-10229")
    assert vuln.title == "Vtecrm Vtenext Multiple Security Vulnerabilities"


def test_mappings_agree_both_ways(kb: KnowledgeBase) -> None:
    for cve in kb.cves():
        qids = kb.qids_for_cves([cve])
        assert qids, cve
        assert all(cve in vuln.cves for vuln in kb.vulns(qids))
    for vuln in kb.vulns(kb.all_qids()):
        assert all(vuln.qid in kb.qids_for_cves([cve]) for cve in vuln.cves)


def test_some_cves_map_to_several_qids_and_some_qids_to_several_cves(kb: KnowledgeBase) -> None:
    assert sum(len(kb.qids_for_cves([cve])) > 1 for cve in kb.cves()) >= 10
    assert sum(len(vuln.cves) > 1 for vuln in kb.vulns(kb.all_qids())) >= 10


@pytest.mark.parametrize("text", ["cve-2021-44228", "Cve-2021-44228", " CVE-2021-44228 "])
def test_cve_lookup_ignores_case_and_surrounding_space(kb: KnowledgeBase, text: str) -> None:
    assert kb.qids_for_cves([text]) == kb.qids_for_cves([LOG4SHELL])


def test_qids_for_several_cves_are_sorted_and_unique(kb: KnowledgeBase) -> None:
    both = kb.qids_for_cves([LOG4SHELL, "CVE-2021-45046", LOG4SHELL])
    assert list(both) == sorted(set(both))
    assert set(kb.qids_for_cves([LOG4SHELL])) < set(both)


def test_ig_only_cve_maps_only_to_information_gathered_qids(kb: KnowledgeBase) -> None:
    vulns = kb.vulns(kb.qids_for_cves([IG_ONLY_CVE]))
    assert vulns
    assert {vuln.vuln_type for vuln in vulns} == {"Information Gathered"}


def test_no_qid_cve_maps_to_nothing(kb: KnowledgeBase) -> None:
    assert kb.qids_for_cves([NO_QID_CVE]) == ()
    assert NO_QID_CVE not in kb.cves()


def test_vulns_are_sorted_and_unknown_qids_silently_omitted(kb: KnowledgeBase) -> None:
    vulns = kb.vulns([730297, 6, 123, 6, 45017])
    assert [vuln.qid for vuln in vulns] == [6, 45017, 730297]


@pytest.mark.parametrize("qid", [0, 123, 999_999_999, -6])
def test_unknown_qid_has_no_entry(kb: KnowledgeBase, qid: int) -> None:
    assert kb.vuln(qid) is None
    assert kb.vulns([qid]) == []


@pytest.mark.parametrize(
    ("qid", "title"),
    [
        (6, "DNS Host Name"),
        (45017, "Operating System Detected"),
        (150208, "Missing header: Referrer-Policy"),
    ],
)
def test_information_gathered_qids_have_no_cves(kb: KnowledgeBase, qid: int, title: str) -> None:
    vuln = kb.vuln(qid)
    assert vuln is not None
    assert (vuln.vuln_type, vuln.title, vuln.cves) == ("Information Gathered", title, ())


def test_every_entry_is_well_formed(kb: KnowledgeBase) -> None:
    for vuln in kb.vulns(kb.all_qids()):
        assert vuln.vuln_type in VULN_TYPES
        assert 1 <= vuln.severity <= 5
        assert vuln.title and vuln.category and vuln.diagnosis and vuln.solution
        assert vuln.published.tzinfo is UTC
        assert vuln.published <= vuln.last_modified < datetime(2026, 11, 1, tzinfo=UTC)
        assert all(parse_cve(cve) == cve for cve in vuln.cves)
        assert list(vuln.cves) == sorted(set(vuln.cves))


def test_kb_mixes_every_vuln_type(kb: KnowledgeBase) -> None:
    assert {vuln.vuln_type for vuln in kb.vulns(kb.all_qids())} == VULN_TYPES
