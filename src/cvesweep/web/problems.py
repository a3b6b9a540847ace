"""The one mapping from errors to what the web UI shows: an HTTP status and a Problem.

Every error a page or an API call can meet becomes a :class:`Problem` here, and only here:

=============================================  ======  ==========================================
error                                          status  why
=============================================  ======  ==========================================
InputError                                     400     the request's own values are invalid
ConfigError                                    422     the server's Qualys settings are unusable
QualysRateLimited                              503     Qualys limits outlasted the wait budget
LibraryUpgradeNeeded                           503     the library needs 'library upgrade'
QualysRequestError (QualysAuthError)           502     Qualys refused our call (its code shown)
QualysConnectionError caused by a timeout      504     Qualys did not answer in time
other QualysError (server, connection, reply)  502     Qualys failed or could not be reached
LibraryError, ExportError, other errors        500     our side failed
=============================================  ======  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cvesweep.errors import (
    ConfigError,
    CvesweepError,
    InputError,
    LibraryUpgradeNeeded,
    QualysConnectionError,
    QualysError,
    QualysRateLimited,
    QualysRequestError,
)


@dataclass(frozen=True, slots=True)
class Problem:
    """One error as a person reads it: what failed, where it came from, what to do.

    ``code`` is the Qualys error code when Qualys gave one; ``field`` the input at fault.
    """

    status: int
    message: str
    source: str
    hint: str | None = None
    code: int | None = None
    field: str | None = None

    def as_json(self) -> dict[str, object]:
        """Return the problem as the API's ``error`` object."""
        return {
            "status": self.status,
            "message": self.message,
            "source": self.source,
            "hint": self.hint,
            "code": self.code,
            "field": self.field,
        }


def http_status(error: CvesweepError) -> int:
    """Return the HTTP status of ``error`` (see the table of this module)."""
    if isinstance(error, InputError):
        return 400
    if isinstance(error, ConfigError):
        return 422
    if isinstance(error, QualysRateLimited | LibraryUpgradeNeeded):
        return 503
    if isinstance(error, QualysRequestError):
        return 502
    if isinstance(error, QualysConnectionError) and isinstance(
        error.__cause__, httpx.TimeoutException
    ):
        return 504
    if isinstance(error, QualysError):
        return 502
    return 500


def problem_for(error: CvesweepError) -> Problem:
    """Return the Problem that shows ``error``: its status, message, source, hint, code."""
    return Problem(
        status=http_status(error),
        message=error.message,
        source=error.source,
        hint=error.hint,
        code=error.code if isinstance(error, QualysRequestError) else None,
        field=error.field if isinstance(error, InputError) else None,
    )


def unexpected_problem() -> Problem:
    """Return the Problem shown for a bug: no detail, which the server log holds instead."""
    return Problem(
        status=500,
        message="an unexpected error occurred in cvesweep",
        source="cvesweep",
        hint="the server log has the details; please report it",
    )
