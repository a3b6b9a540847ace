"""The CVEs the simulated fleet carries beyond its own table: the shipped CISA KEV catalog.

Any CVE id gets QIDs (``synthetic.py``), but hosts can only carry a finite, fixed set of
them, or a full detection pull would depend on what was asked before. That set is the
catalog shipped in ``cvesweep/data/kev/`` (CISA KEV, 1,404 CVEs, CC0), read once per process.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from importlib import resources

logger = logging.getLogger(__name__)

KEV_FILE = ("data", "kev", "known_exploited_vulnerabilities.json")
_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$")


@functools.cache
def shipped_kev_cves() -> tuple[str, ...]:
    """Return the sorted, unique CVE ids of the shipped KEV catalog (``cveID`` of each entry).

    An unreadable or missing catalog gives an empty tuple and a warning: the simulator then
    serves its own table only.
    """
    try:
        text = resources.files("cvesweep").joinpath(*KEV_FILE).read_text(encoding="utf-8")
        entries = json.loads(text).get("vulnerabilities", [])
    except (OSError, ValueError, AttributeError) as exc:
        logger.warning("simulator: the shipped KEV catalog is unreadable (%s)", exc)
        return ()
    found = {str(e.get("cveID", "")).strip().upper() for e in entries if isinstance(e, dict)}
    return tuple(sorted(cve for cve in found if _CVE_RE.match(cve)))
