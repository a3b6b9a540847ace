"""Drive pyqualys 0.1.1 (``QualysAPI(...).service("vulnerability")``) against the simulator.

pyqualys takes ``verify_ssl`` and hands it to requests as ``verify``: the simulator's
certificate path is passed there (no verification switched off).
"""

from __future__ import annotations

from _harness import Harness, host_ids, xml_root
from pyqualys import QualysAPI


def main() -> None:
    sim = Harness()
    api = QualysAPI(
        username=sim.username, password=sim.password, host=sim.url + "/", verify_ssl=sim.ca
    )
    vm = api.service("vulnerability")
    page = int(sim.inputs.get("page", 7))

    def detection_page() -> dict[str, object]:
        root = xml_root(vm.list_host_detections(truncation_limit=page))
        return {"host_ids": host_ids(root)}

    def detection_all_pages() -> dict[str, object]:
        pages = list(vm.iter_host_detections(truncation_limit=page))
        return {"pages": len(pages), "host_ids": [i for p in pages for i in host_ids(xml_root(p))]}

    def host_list_all_pages() -> dict[str, object]:
        pages = list(vm.iter_hosts(truncation_limit=page))
        return {"pages": len(pages), "host_ids": [i for p in pages for i in host_ids(xml_root(p))]}

    sim.call("detection_page", detection_page)
    sim.call("detection_all_pages", detection_all_pages)
    sim.call("host_list_all_pages", host_list_all_pages)
    sim.write()


if __name__ == "__main__":
    main()
