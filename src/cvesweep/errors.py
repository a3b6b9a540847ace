"""The whole cvesweep exception tree; every error a user can see is one of these.

::

    CvesweepError                      exit 1 unless a subclass says otherwise
    ├── InputError                     exit 2: a user input is invalid (names the field)
    ├── ConfigError                    exit 2: settings, config file or credentials unusable
    ├── QualysError                    something went wrong talking to Qualys
    │   ├── QualysRequestError         exit 3: Qualys refused the request (code, text, status)
    │   │   ├── QualysAuthError        exit 3: 2000 bad login (401), 2001 account expired
    │   │   └── QualysRateLimited      exit 3: 1960/1965 beyond the wait budget (retry_after)
    │   ├── QualysServerError          exit 4: 5xx, 999 internal error, 1999 maintenance
    │   ├── QualysConnectionError      exit 4: network, TLS, timeouts (source: network)
    │   └── QualysResponseError        exit 4: a reply that is not the XML we expect
    ├── LibraryError                   exit 1: the threat library failed
    ├── ExportError                    exit 1: an output could not be written
    └── Cancelled                      exit 130: the run was cancelled by its user (web UI)

Foreign errors (httpx, lxml, OS) are translated at one boundary each with
``raise ... from exc``; nothing above that boundary sees them.
"""

from __future__ import annotations

from typing import ClassVar


class CvesweepError(Exception):
    """Base of every error cvesweep raises on purpose."""

    exit_code: ClassVar[int] = 1
    source: ClassVar[str] = "cvesweep"
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(CvesweepError):
    """A user input is invalid; ``field`` names the option, the message the accepted form."""

    exit_code = 2
    source = "input"

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}", hint=hint)
        self.field = field


class ConfigError(CvesweepError):
    """Settings, the config file or the credentials cannot be used."""

    exit_code = 2
    source = "configuration"


class QualysError(CvesweepError):
    """Talking to Qualys failed; ``call`` says which call (e.g. "detection list")."""

    exit_code = 4
    source = "Qualys"

    def __init__(
        self,
        message: str,
        *,
        call: str | None = None,
        http_status: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.call = call
        self.http_status = http_status


class QualysRequestError(QualysError):
    """Qualys answered with an error CODE: the request was refused."""

    exit_code = 3

    def __init__(
        self,
        code: int,
        text: str,
        *,
        call: str | None = None,
        http_status: int | None = None,
        hint: str | None = None,
    ) -> None:
        what = call or "request"
        super().__init__(
            f"Qualys rejected the {what} (code {code}): {text}",
            call=call,
            http_status=http_status,
            hint=hint,
        )
        self.code = code
        self.text = text


class QualysAuthError(QualysRequestError):
    """Bad login (2000, HTTP 401) or an expired/locked account (2001, 2002...)."""

    hint = "check the Qualys username and password, and that the account is active"


class QualysRateLimited(QualysRequestError):
    """A rate (1965) or concurrency (1960) limit outlasted the wait budget."""

    hint = "wait and try again later, or raise the wait budget"

    def __init__(
        self,
        code: int,
        text: str,
        *,
        retry_after: float | None = None,
        call: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(code, text, call=call, http_status=http_status)
        self.retry_after = retry_after


class QualysServerError(QualysError):
    """Qualys failed on its side (HTTP 5xx, code 999 or 1999) and kept failing."""

    hint = "Qualys is failing on its side; try again later"

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        call: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, call=call, http_status=http_status)
        self.code = code


class QualysConnectionError(QualysError):
    """Qualys could not be reached: DNS, refused connection, reset, TLS, timeout."""

    source = "network"
    hint = "check the URL, the network and the TLS settings (--ca-bundle)"


class QualysResponseError(QualysError):
    """Qualys answered with something that is not the XML we expect (malformed, cut off)."""

    hint = "the reply was malformed or cut off; try again"


class LibraryError(CvesweepError):
    """The threat library could not be read or written."""

    source = "library"


class LibraryUpgradeNeeded(LibraryError):
    """The library's schema is older than this cvesweep reads: 'cvesweep library upgrade'."""


class ExportError(CvesweepError):
    """An output (file or format) could not be produced."""

    source = "output"


class Cancelled(CvesweepError):
    """The run was cancelled by its user (web UI cancel button, or serve stopping)."""

    exit_code = 130
    source = "user"
