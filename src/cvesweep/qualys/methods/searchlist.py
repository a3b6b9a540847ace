"""The search-list method (SPEC §1): a temporary dynamic QID list, detections restricted to it.

Right after creating the list it is read back (``show_qids=1``): a list Qualys put no QID in
means Qualys knows no QID for the CVE, so no host can be checked and no detection call is made.
"""

from __future__ import annotations

from cvesweep.qualys import searchlists
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import detection_params
from cvesweep.qualys.methods.interface import HostSource, Pulled, PullRequest
from cvesweep.qualys.parallel import fetch_scoped
from cvesweep.spool import HostSpool


class SearchListSource(HostSource):
    """Search list 3.0 create → read back → detection 5.0 pages → delete (always)."""

    def pull(self, client: QualysClient, request: PullRequest, spool: HostSpool) -> Pulled:
        qids: set[int] = set()
        pages = 0
        with searchlists.temporary(client, request.cve) as search_list:
            if request.on_search_list is not None:
                request.on_search_list(search_list)
            list_qids = searchlists.qids_of(client, search_list.id)
            if list_qids:
                params = detection_params(
                    search_list.id,
                    request.options,
                    request.truncation_limit,
                    client.config.versions,
                )
                pages = fetch_scoped(
                    client,
                    params,
                    spool,
                    scope=request.options,
                    max_parallel=request.max_parallel,
                    since=request.since,
                    progress=request.progress,
                    qids=qids,
                )
        return Pulled(spool, pages, tuple(sorted(qids)), search_list, list_qids)
