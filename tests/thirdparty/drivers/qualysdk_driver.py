"""Drive qualysdk 0.4.0 (``BasicAuth``/``TokenAuth`` with ``override_platform``, ``qualysdk.vmdr``).

qualysdk's ``override_platform`` takes the API, gateway and QualysGuard URLs (it forces
https). It has no CA option: its requests calls trust the simulator's certificate through
``REQUESTS_CA_BUNDLE`` (set by the test). Its calls, from its own call schema: about.php
(``test_login``, no X-Requested-With), host list 3.0 (``get_host_list``; ``get_hld`` uses it
first to collect host ids), detection 5.0 (``get_hld``), CVE detection 3.0 (``get_cve_hld``),
knowledge base 3.0 (``query_kb``), dynamic search lists 2.0 (``get_dynamic_searchlists``, list
only), gateway ``POST /auth`` expecting 201 (``TokenAuth``).
"""

from __future__ import annotations

import logging

from _harness import Harness


class Errors(logging.Handler):
    """Keeps qualysdk's ERROR log lines: its worker threads log a failed chunk and go on."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage()[:500])


def main() -> None:
    sim = Harness()
    from qualysdk import vmdr
    from qualysdk.auth import BasicAuth, TokenAuth

    errors = Errors()
    logging.getLogger("qualysdk").addHandler(errors)
    platform = {"api_url": sim.url, "gateway_url": sim.url, "qualysguard_url": sim.url}
    auth = BasicAuth(sim.username, sim.password, override_platform=dict(platform))

    def about() -> dict[str, object]:
        return auth.get_ratelimit()

    def gateway_token() -> dict[str, object]:
        token = TokenAuth(sim.username, sim.password, override_platform=dict(platform)).token
        return {"token_length": len(token), "segments": token.count(".") + 1}

    def host_list() -> dict[str, object]:
        # Threaded: host ids first (details=None, truncation_limit=0), then chunks of ids.
        hosts = vmdr.get_host_list(auth, threads=2, chunk_size=int(sim.inputs["chunk"]))
        return {"host_ids": sorted(int(h.ID) for h in hosts), "errors": errors.lines[:3]}

    def detection() -> dict[str, object]:
        hosts = vmdr.get_hld(auth, threads=2, chunk_size=int(sim.inputs["chunk"]))
        detections = sum(len(h.DETECTION_LIST or []) for h in hosts)
        ids = sorted(int(h.ID) for h in hosts)
        return {"host_ids": ids, "detections": detections, "errors": errors.lines[:3]}

    def cve_detection() -> dict[str, object]:
        hosts = vmdr.get_cve_hld(
            auth, threads=2, chunk_size=int(sim.inputs["chunk"]), cve=sim.inputs["cve"]
        )
        return {"host_ids": sorted(int(h.ID) for h in hosts)}

    def knowledge_base() -> dict[str, object]:
        ids = ",".join(str(q) for q in sim.inputs["qids"])
        return {"qids": sorted(int(v.QID) for v in vmdr.query_kb(auth, ids=ids))}

    def search_lists() -> dict[str, object]:
        return {"titles": [str(s.TITLE) for s in vmdr.get_dynamic_searchlists(auth)]}

    sim.call("about", about)
    sim.call("gateway_token", gateway_token)
    sim.call("host_list", host_list)
    sim.call("detection", detection)
    sim.call("cve_detection", cve_detection)
    sim.call("knowledge_base", knowledge_base)
    sim.call("search_lists", search_lists)
    sim.write()


if __name__ == "__main__":
    main()
