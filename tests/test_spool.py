"""The on-disk host spool: hosts come back equal, re-iterably, and a page rolls back."""

from __future__ import annotations

import pickle

from cvesweep.models import Detection, Host, HostId, Qid, Tag
from cvesweep.spool import HostSpool


def host(i: int) -> Host:
    return Host(
        id=HostId(i), ip=f"10.0.0.{i}", ipv6=None, os="Linux", tags=(Tag("PCI", 7),),
        detections=(Detection(qid=Qid(376157), type="Confirmed", severity=5, status="New"),),
    )  # fmt: skip


def test_models_pickle_to_equal_values() -> None:
    original = host(3)
    assert pickle.loads(pickle.dumps(original)) == original  # noqa: S301 (our own bytes)
    assert pickle.loads(pickle.dumps(original.detections[0])) == original.detections[0]  # noqa: S301


def test_hosts_come_back_in_order_and_can_be_read_twice() -> None:
    with HostSpool() as spool:
        for i in range(1, 6):
            spool.append(host(i))
        assert [h.id for h in spool] == [1, 2, 3, 4, 5]
        assert list(spool) == [host(i) for i in range(1, 6)]
        assert (spool.hosts, spool.detections) == (5, 5)


def test_rollback_forgets_a_failed_page() -> None:
    with HostSpool() as spool:
        spool.append(host(1))
        mark = spool.mark()
        spool.append(host(2))
        spool.append(host(3))
        spool.rollback(mark)
        spool.append(host(4))
        assert [h.id for h in spool] == [1, 4]
        assert len(spool) == 2
