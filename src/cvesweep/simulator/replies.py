"""What an endpoint hands back to the app (:class:`Reply`) and the fixed Qualys replies:
401/2000, 2001 on HTTP 200, 409/1960/1965, 5xx faults, 404, and errors from ApiError.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cvesweep.simulator.limits import Admission
from cvesweep.simulator.params import ApiError
from cvesweep.simulator.xmlout import generic_return, simple_return

XML = "application/xml"
# The 401 and 2001 replies come as text/xml (http_exchanges_headers_observed_jupiterone_qg3.json).
TEXT_XML = "text/xml;charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP reply before the app adds headers and fault wrappers.

    ``limit_headers`` is False for the replies Qualys sends without rate and concurrency
    headers (401, 2001); ``detection`` marks a detection list body, the one that the
    latency, drop and malformed faults apply to.
    """

    status: int
    body: Iterable[bytes]
    content_type: str = XML
    limit_headers: bool = True
    detection: bool = False


def from_error(error: ApiError, base_url: str, now: datetime) -> Reply:
    """Return the SIMPLE_RETURN error reply for ``error`` with its HTTP status."""
    body = simple_return(base_url, now, error.text, code=error.code, items=error.items)
    return Reply(error.status, [body])


def bad_login(base_url: str, now: datetime) -> Reply:
    """Return the 2000 reply of error_2000_bad_login_http401_jupiterone_qg3.xml (HTTP 401)."""
    body = simple_return(base_url, now, "Bad Login/Password", code=2000)
    return Reply(401, [body], TEXT_XML, limit_headers=False)


def account_expired(base_url: str, now: datetime) -> Reply:
    """Return the 2001 reply, on HTTP 200 as the real platform sends it."""
    body = simple_return(base_url, now, "This account has expired.", code=2001)
    return Reply(200, [body], TEXT_XML, limit_headers=False)


def blocked(admission: Admission, base_url: str, now: datetime) -> Reply:
    """Return the HTTP 409 reply of a call blocked by the rate (1965) or concurrency (1960)
    limit, worded like the Qualys API-limits documentation examples."""
    if admission.blocked == 1965:
        wait = admission.to_wait_sec
        text = f"This API cannot be run again for another {_duration(wait)}."
        items = (("SECONDS_TO_WAIT", str(wait)),)
    else:
        calls = admission.calls_to_finish
        instance = "instance has" if calls == 1 else "instances have"
        text = (
            f"This API cannot be run again until {calls} currently running API {instance} finished."
        )
        items = (("CALLS_TO_FINISH", str(calls)),)
    code = admission.blocked or 1960
    return Reply(409, [simple_return(base_url, now, text, code=code, items=items)])


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value} {unit}{'' if value == 1 else 's'}"
        for value, unit in ((hours, "hour"), (minutes, "minute"), (secs, "second"))
        if value
    ] or ["0 seconds"]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def server_fault(status: int, base_url: str, now: datetime, user: str) -> Reply:
    """Return a 500 (older GENERIC_RETURN 999) or 503 (SIMPLE_RETURN 1999) fault reply."""
    if status == 500:
        return Reply(500, [generic_return(base_url, now, user)])
    text = "The service is temporarily unavailable. Please try again later."
    return Reply(503, [simple_return(base_url, now, text, code=1999)])


def not_found() -> Reply:
    """Return the plain 404 reply for a path the simulated platform does not serve."""
    body = b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n"
    return Reply(404, [body], "text/html", limit_headers=False)
