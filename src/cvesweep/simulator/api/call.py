"""What every FO handler receives (:class:`Call`) and the checks they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from cvesweep.simulator import params as p
from cvesweep.simulator.params import ApiError, Params
from cvesweep.simulator.searchlists import SearchListStore

if TYPE_CHECKING:
    from cvesweep.simulator.fleet import Fleet


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated, admitted API call and what the handlers may use.

    ``version`` is the API version of the path called ("5.0"), "" for unversioned paths.
    """

    method: str
    path: str
    version: str
    params: Params
    user: str
    base_url: str
    now: datetime
    fleet: Fleet
    lists: SearchListStore
    on_host: Callable[[], None] | None = None

    @property
    def major(self) -> int:
        """The major API version as a number (2 for "2.0"; 0 when unversioned)."""
        return int(self.version.partition(".")[0] or 0)


def action_of(call: Call, allowed: tuple[str, ...]) -> str:
    """Return the ``action`` parameter; raise ApiError 1903 if absent, 1905 if not allowed."""
    action = call.params.require("action")
    if action not in allowed:
        raise p.invalid("action", action, f"must be one of {', '.join(allowed)}")
    return action


def require_post(call: Call, action: str) -> None:
    """Raise ApiError 1908 unless the call is a POST (Qualys's rule for changing actions)."""
    if call.method != "POST":
        raise ApiError(
            1908,
            f"Request method {call.method} is incompatible with specified parameter(s): "
            f"action={action} (use POST)",
        )


def next_page_url(call: Call) -> Callable[[int], str]:
    """Return id → the URL of the next page: the call's parameters with ``id_min`` replaced.

    As on Qualys (detection_truncated_warning_1980_*.xml), the URL repeats every parameter
    of the request, query and body alike, in their order, and ends with ``id_min``.
    """
    kept = [(k, v) for k, v in call.params.pairs if k != "id_min"]
    prefix = f"{call.base_url}{call.path}?" + "&".join(
        f"{quote(k, safe='_')}={quote(v, safe=',-.:_')}" for k, v in kept
    )
    return lambda next_id: f"{prefix}&id_min={next_id}"
