"""cvesweep: from a CVE to every vulnerable host in Qualys VM — search, show, store."""

from __future__ import annotations

from cvesweep.errors import CvesweepError
from cvesweep.models import Detection, Host, SearchOptions, SearchResult, Tag, parse_cve

__version__ = "0.1.0"

__all__ = [
    "CvesweepError",
    "Detection",
    "Host",
    "SearchOptions",
    "SearchResult",
    "Tag",
    "__version__",
    "parse_cve",
]
