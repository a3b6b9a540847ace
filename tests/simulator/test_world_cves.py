"""The simulator knows the world's CVEs (issue 12 item 5): any CVE id gets QIDs from the seed,
the shipped KEV catalog's CVEs sit on the fleet's hosts, and every endpoint agrees on them."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator

import httpx
import pytest

from cvesweep.simulator import synthetic
from cvesweep.simulator.app import SimulatorApp
from cvesweep.simulator.detections import DEFAULT_STATUSES
from cvesweep.simulator.fleet import PERIOD, Fleet
from cvesweep.simulator.knowledgebase import LOG4SHELL, NO_QID_CVE, KnowledgeBase
from cvesweep.simulator.records import SimHost
from cvesweep.simulator.world import shipped_kev_cves

from .conftest import CVE_DETECTION, DETECTION, KB, LISTS, make_client, parse

KEV = shipped_kev_cves()
SIZE = 3000


@pytest.fixture(scope="module")
def world_fleet() -> Fleet:
    return Fleet(seed=5, size=SIZE)


@pytest.fixture(scope="module")
def hosts(world_fleet: Fleet) -> list[SimHost]:
    """Every host of the fleet, built once: the brute-force reference."""
    return [world_fleet.host(i) for i in range(world_fleet.size)]


@pytest.fixture
def wclient(world_fleet: Fleet) -> Iterator[httpx.Client]:
    with make_client(SimulatorApp(world_fleet)) as c:
        yield c


def brute_force(fleet: Fleet, hosts: list[SimHost], cves: list[str]) -> dict[int, set[int]]:
    """host id → QIDs of its default-visible detections (Confirmed/Potential, open) of ``cves``."""
    qids = set(fleet.kb.qids_for_cves(cves))
    found: dict[int, set[int]] = {}
    for host in hosts:
        hit = {
            d.qid
            for d in host.detections
            if d.qid in qids and d.type != "Info" and d.status in DEFAULT_STATUSES
        }
        if hit:
            found[host.id] = hit
    return found


def create_list(client: httpx.Client, cves: list[str], title: str) -> int:
    reply = client.post(LISTS, data={"action": "create", "title": title, "cve_ids": ",".join(cves)})
    assert reply.status_code == 200, reply.text
    return int(parse(reply.content).findtext(".//ITEM/VALUE") or 0)


def pairs_of(root, detection_tag: str, qid_tag: str) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for host in root.iterfind("RESPONSE/HOST_LIST/HOST"):
        qids = {int(d.findtext(qid_tag)) for d in host.iter(detection_tag)}
        found.setdefault(int(host.findtext("ID")), set()).update(qids)
    return found


def via_lists(client: httpx.Client, list_ids: list[int], **extra: str) -> dict[int, set[int]]:
    form = {"action": "list", "truncation_limit": "0", **extra}
    form["include_search_list_ids"] = ",".join(map(str, list_ids))
    reply = client.post(DETECTION, data=form)
    assert reply.status_code == 200, reply.text[:500]
    return pairs_of(parse(reply.content), "DETECTION", "QID")


def via_cve_detection(client: httpx.Client, cves: list[str]) -> dict[int, set[int]]:
    reply = client.post(
        CVE_DETECTION, data={"action": "list", "cve": ",".join(cves), "truncation_limit": "0"}
    )
    assert reply.status_code == 200, reply.text[:500]
    return pairs_of(parse(reply.content), "CVE_DETECTION", "ASSOCIATED_QID")


def read_back(client: httpx.Client, list_id: int) -> list[int]:
    reply = client.get(LISTS, params={"action": "list", "ids": str(list_id), "show_qids": "1"})
    return [int(q) for q in parse(reply.content).xpath("//DYNAMIC_LIST/QIDS/QID/text()")]


def sample_kev(fleet: Fleet, n: int, seed: int) -> list[str]:
    """``n`` KEV CVEs at random, half of them among those with hosts in ``fleet``."""
    rng = random.Random(seed)
    hit = [cve for cve, _ in fleet.world_hits()]
    picked = set(rng.sample(hit, n // 2))
    picked |= set(rng.sample([c for c in KEV if c not in picked], n - len(picked)))
    return sorted(picked)


def test_the_world_is_the_shipped_kev_catalog_without_the_table_and_the_no_qid_cves() -> None:
    assert len(KEV) == 1404 and tuple(sorted(set(KEV))) == KEV
    kb = KnowledgeBase(1)
    world = set(kb.world_cves())
    assert world < set(KEV) and LOG4SHELL in KEV and LOG4SHELL not in world  # table CVE
    assert all(kb.own(synthetic.code_of(cve)) for cve in world)
    assert len(world) > 0.8 * len(KEV)


def test_50_kev_cves_agree_on_every_endpoint(world_fleet, hosts, wclient) -> None:
    for number, cve in enumerate(sample_kev(world_fleet, 50, 12)):
        expected = brute_force(world_fleet, hosts, [cve])
        list_id = create_list(wclient, [cve], f"world {number}")
        try:
            listed = via_lists(wclient, [list_id])
            assert read_back(wclient, list_id) == list(world_fleet.kb.qids_for_cves([cve]))
        finally:
            wclient.post(LISTS, data={"action": "delete", "id": str(list_id)})
        assert listed == expected, cve
        assert via_cve_detection(wclient, [cve]) == expected, cve
        assert world_fleet.host_count_for_cve(cve) == len(expected), cve


def test_kev_cves_without_qid_read_back_an_empty_list(world_fleet, wclient) -> None:
    none = [cve for cve in KEV if not world_fleet.kb.qids_for_cves([cve])]
    assert 0.05 * len(KEV) <= len(none) <= 0.15 * len(KEV)  # "Qualys knows no QID" happens
    list_id = create_list(wclient, none[:20], "no qid")
    reply = wclient.get(LISTS, params={"action": "list", "ids": str(list_id), "show_qids": "1"})
    item = parse(reply.content).find(".//DYNAMIC_LIST")
    assert item is not None and item.find("QIDS") is None
    assert item.findtext("CRITERIA/CVE_ID") == ",".join(none[:20])
    assert via_lists(wclient, [list_id]) == {}


def test_a_whole_sweep_in_one_list_and_in_three(world_fleet, hosts, wclient) -> None:
    everything = list(KEV)
    expected = brute_force(world_fleet, hosts, everything)
    assert len(expected) > SIZE / 2  # a KEV sweep finds most hosts
    whole = create_list(wclient, everything, "kev whole")
    chunks = [create_list(wclient, everything[i : i + 500], f"kev {i}") for i in (0, 500, 1000)]
    assert read_back(wclient, whole) == list(world_fleet.kb.qids_for_cves(everything))
    assert via_lists(wclient, [whole]) == expected
    assert via_lists(wclient, chunks) == expected
    assert via_lists(wclient, chunks, truncation_limit="97") == {
        k: v for k, v in expected.items() if k <= sorted(expected)[96]
    }


def test_cve_detection_with_a_comma_list_gives_each_cve_its_qids(world_fleet, hosts, wclient):
    cves = sample_kev(world_fleet, 100, 3)
    reply = wclient.post(
        CVE_DETECTION, data={"action": "list", "cve": ",".join(cves), "truncation_limit": "0"}
    )
    triples = {
        (int(h.findtext("ID")), d.findtext("VULN_CVE"), int(d.findtext("ASSOCIATED_QID")))
        for h in parse(reply.content).iterfind(".//HOST")
        for d in h.iter("CVE_DETECTION")
    }
    expected = {
        (host, cve, qid)
        for cve in cves
        for host, qids in brute_force(world_fleet, hosts, [cve]).items()
        for qid in qids
    }
    assert triples == expected and triples


def test_knowledge_base_4_0_names_the_cves_of_a_sweeps_qids(world_fleet, wclient) -> None:
    kb = world_fleet.kb
    qids = [qid for qid in kb.qids_for_cves(KEV) if qid >= synthetic.BASE]  # table ones aside
    reply = wclient.post(KB, data={"action": "list", "ids": ",".join(map(str, qids[:1000]))})
    vulns = parse(reply.content).findall(".//VULN")
    assert [int(v.findtext("QID")) for v in vulns] == qids[:1000]
    for vuln in vulns:
        cves = [c.text for c in vuln.iterfind("CVE_LIST/CVE/ID")]
        assert cves and all(int(vuln.findtext("QID")) in kb.qids_for_cves([c]) for c in cves)
        assert vuln.findtext("SEVERITY_LEVEL") in {"3", "4", "5"}
        assert all(c in vuln.findtext("TITLE") for c in cves)
        assert vuln.findtext("PATCHABLE") in {"0", "1"}
    assert any(len(v.findall("CVE_LIST/CVE")) == 2 for v in vulns)  # some QIDs share


def test_hosts_show_the_cves_of_world_qids_on_5_0_when_asked(world_fleet, wclient) -> None:
    cve = world_fleet.world_hits()[0][0]
    list_id = create_list(wclient, [cve], "show cve")
    reply = wclient.post(
        DETECTION,
        data={"action": "list", "include_search_list_ids": str(list_id), "show_cve": "1"},
    )
    detections = parse(reply.content).findall(".//DETECTION")
    assert detections
    assert all(cve in [c.text for c in d.iterfind("CVE")] for d in detections)


def test_kev_cves_mostly_get_one_to_three_qids_and_a_skewed_prevalence(world_fleet) -> None:
    kb = world_fleet.kb
    counts = [len(kb.own(synthetic.code_of(cve))) for cve in kb.world_cves()]
    assert set(counts) == {1, 2, 3} and statistics.median(counts) == 1
    hosts = [world_fleet.host_count_for_cve(cve) for cve in KEV]
    assert statistics.median(hosts) <= 1  # most KEV CVEs are on no or very few hosts
    assert sum(h > 0.04 * SIZE for h in hosts) >= 3  # a few are on many
    assert max(hosts) <= 0.2 * SIZE


def test_table_cves_keep_their_qids_and_counts() -> None:
    # Pinned: the world's CVEs must not change the hand-written ones (nor the filler).
    with_world, without = Fleet(seed=1, size=500), Fleet(seed=1, size=500, world=())
    for cve in (LOG4SHELL, "CVE-2019-17053", "CVE-1999-0524", "CVE-2021-34527"):
        assert with_world.kb.qids_for_cves([cve]) == without.kb.qids_for_cves([cve])
        assert with_world.host_count_for_cve(cve) == without.host_count_for_cve(cve)
    assert with_world.host_count_for_cve(LOG4SHELL) == 44
    assert with_world.kb.qids_for_cves([NO_QID_CVE]) == ()
    host, bare = with_world.host(137), without.host(137)
    assert [d for d in host.detections if d.qid < synthetic.BASE] == list(bare.detections)


def test_any_cve_id_gets_qids_from_the_seed_and_no_host_outside_the_world() -> None:
    fleet = Fleet(seed=1, size=2000)
    ids = [f"CVE-2019-{n}" for n in range(30_000, 30_200)]
    mapped = {cve: fleet.kb.qids_for_cves([cve]) for cve in ids}
    assert 0.8 * len(ids) <= sum(bool(q) for q in mapped.values()) <= 0.97 * len(ids)
    same, other = KnowledgeBase(1), KnowledgeBase(2)
    assert mapped == {cve: same.qids_for_cves([cve]) for cve in ids}
    assert mapped != {cve: other.qids_for_cves([cve]) for cve in ids}
    for cve, qids in mapped.items():
        assert all(q >= synthetic.BASE and q < 2**31 for q in qids)
        assert all(cve in fleet.kb.vuln(q).cves for q in qids)
    alone = [
        c for c in ids if c not in KEV and all(len(fleet.kb.vuln(q).cves) == 1 for q in mapped[c])
    ]
    assert all(fleet.host_count_for_cve(c) == 0 for c in alone)  # no world CVE near them


@pytest.mark.parametrize(
    "cve", ["CVE-2027-1234", "CVE-2020-01099", "CVE-1998-0001", "CVE-2020-12345678", "CVE-20-1"]
)
def test_future_non_canonical_and_malformed_ids_have_no_qid(cve: str) -> None:
    assert KnowledgeBase(1).qids_for_cves([cve]) == ()


def test_qid_numbers_encode_their_cve_and_slot() -> None:
    for cve in ("CVE-1999-0001", "CVE-2014-0160", "CVE-2017-1000253", "CVE-2026-9999999"):
        code = synthetic.code_of(cve)
        assert code is not None and synthetic.cve_of(code) == cve
        for slot in range(synthetic.MAX_SLOTS):
            assert synthetic.decode(synthetic.qid_of(code, slot)) == (code, slot)
    assert synthetic.qid_of(synthetic.code_of("CVE-2023-4966"), 0) == 241_004_966
    assert synthetic.decode(730297) is None and synthetic.decode(2**31) is None


def test_a_shared_qid_belongs_to_both_cves_on_every_lookup() -> None:
    kb = KnowledgeBase(1)
    world = [qid for qid in kb.all_qids() if qid >= synthetic.BASE]
    shared = next(v for v in kb.vulns(world) if len(v.cves) == 2)
    first, second = shared.cves
    assert shared.qid in kb.qids_for_cves([first]) and shared.qid in kb.qids_for_cves([second])
    assert shared.title.startswith(f"Vulnerabilities in {first} and {second}")


class CountingFleet(Fleet):
    built = 0

    def host(self, index: int, *, with_detections: bool = True) -> SimHost:
        CountingFleet.built += 1
        return super().host(index, with_detections=with_detections)


def test_a_200000_host_fleet_counts_world_cves_without_building_hosts() -> None:
    big, one = CountingFleet(seed=5, size=200_000), Fleet(seed=5, size=PERIOD)
    CountingFleet.built = 0
    cve = one.world_hits()[0][0]
    full, rest = divmod(big.size, PERIOD)
    assert big.host_count_for_cve(cve) == full * one.host_count_for_cve(cve) + Fleet(
        seed=5, size=rest
    ).host_count_for_cve(cve)
    assert CountingFleet.built == 0
