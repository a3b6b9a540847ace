"""Drive bibt-qualys 0.0.28 (``bibt.qualys.Client``) against the simulator.

Its one VM call the simulator serves is ``list_hosts``: GET ``/api/2.0/fo/asset/host/``
(hard-wired 2.0) with ``action=list``, ``truncation_limit`` and ``show_attributes=ALL`` (an
asset-group parameter it also sends to the host list), following ``RESPONSE/WARNING/URL``
page by page. It has no CA option: requests trusts the simulator's certificate through
``REQUESTS_CA_BUNDLE`` (set by the test).
"""

from __future__ import annotations

from _harness import Harness
from bibt.qualys import Client


def main() -> None:
    sim = Harness()
    client = Client(sim.username, sim.password, sim.url)

    def host_list_all_pages() -> dict[str, object]:
        hosts = client.list_hosts(truncation_limit=int(sim.inputs.get("page", 7)))
        return {"host_ids": [int(h["ID"]) for h in hosts]}

    sim.call("host_list_all_pages", host_list_all_pages)
    client.close()
    sim.write()


if __name__ == "__main__":
    main()
