"""Drive QualysPy 0.5.10.9 (``vmdr.VmdrAPI``) against the simulator.

QualysPy reads its settings from the environment (python-decouple): QUALYS_API_SERVER,
QUALYS_API_GATEWAY, QUALYS_USERNAME, QUALYS_PASSWORD; they are set here from the
simulator's coordinates before the client is built. It has no CA option: its httpx calls use
the default ``verify=True`` and trust the simulator's certificate through ``SSL_CERT_FILE``
(set by the test), httpx's standard knob. ``VmdrAPI()`` calls ``GET /msp/about.php/`` when
it is built; its replies are parsed by its own pydantic-xml models (strict element names).
"""

from __future__ import annotations

import os

from _harness import Harness


def main() -> None:
    sim = Harness()
    os.environ.update(
        QUALYS_API_SERVER=sim.url,
        QUALYS_API_GATEWAY=sim.url,
        QUALYS_USERNAME=sim.username,
        QUALYS_PASSWORD=sim.password,
    )
    from qualyspy import vmdr

    page = int(sim.inputs.get("page", 7))
    api: list[vmdr.VmdrAPI] = []

    def about() -> dict[str, object]:
        api.append(vmdr.VmdrAPI())  # GET /msp/about.php/ and read the limit headers
        return {"ratelimit_limit": api[0].ratelimit_limit}

    def detection() -> dict[str, object]:
        hosts, truncated, next_id = api[0].host_list_vm_detection(truncation_limit=page)
        qids = [d.qid for h in hosts for d in h.detections]
        return {
            "host_ids": [h.id for h in hosts],
            "truncated": truncated,
            "next_id_min": next_id,
            "detections": len(qids),
        }

    def host_list() -> dict[str, object]:
        hosts, truncated, _next_id = api[0].host_list(truncation_limit=page)
        return {"host_ids": [h.id for h in hosts], "truncated": truncated}

    def knowledge_base() -> dict[str, object]:
        vulns = api[0].knowledgebase(ids=list(sim.inputs["qids"]), details="All")
        return {"qids": [v.qid for v in vulns]}

    sim.call("about", about)
    for name, call in (
        ("detection", detection),
        ("host_list", host_list),
        ("knowledge_base", knowledge_base),
    ):
        sim.call(name, call if api else not_reached)
    sim.write()


def not_reached() -> None:
    raise RuntimeError("not reached: VmdrAPI() failed (its about.php call)")


if __name__ == "__main__":
    main()
