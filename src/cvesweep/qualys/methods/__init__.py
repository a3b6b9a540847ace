"""The ways of asking Qualys for a CVE's hosts, one module each behind :mod:`.interface`."""

from __future__ import annotations

from collections.abc import Mapping

from cvesweep.models import SearchMethod
from cvesweep.qualys.methods.cvedetection import CveDetectionSource
from cvesweep.qualys.methods.interface import HostSource, Pulled, PullRequest
from cvesweep.qualys.methods.searchlist import SearchListSource

SOURCES: Mapping[SearchMethod, HostSource] = {
    SearchMethod.SEARCH_LIST: SearchListSource(),
    SearchMethod.CVE_DETECTION: CveDetectionSource(),
}

__all__ = ["SOURCES", "HostSource", "PullRequest", "Pulled"]
