"""``/msp/about.php``: the simulated platform's versions (unversioned v1 "msp" API)."""

from __future__ import annotations

from cvesweep.simulator import xmlout
from cvesweep.simulator.api.call import Call
from cvesweep.simulator.replies import Reply

VERSION = "10.39.0.0-1"  # a QWEB release of late 2026 (10.39 API added KB CVSS_V4)


def about(call: Call) -> Reply:
    """Return the ABOUT reply (any method, any parameters)."""
    return Reply(200, [xmlout.about(call.base_url, VERSION)])
