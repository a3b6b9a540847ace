"""What every way of finding a CVE's hosts takes and gives (pip-audit's service interface)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from cvesweep.inputs import format_qualys_datetime
from cvesweep.models import CveId, SearchOptions
from cvesweep.qualys.client import QualysClient
from cvesweep.qualys.detections import ProgressCallback
from cvesweep.qualys.searchlists import TemporaryList
from cvesweep.spool import HostSpool


@dataclass(frozen=True, slots=True)
class PullRequest:
    """One CVE's search as a method sees it (filters validated, spool directory chosen)."""

    cve: CveId
    options: SearchOptions
    truncation_limit: int
    progress: ProgressCallback | None = None
    on_search_list: Callable[[TemporaryList], None] | None = None
    spool_dir: str | None = None
    max_parallel: int | None = None  # detection calls at once; None: the concurrency limit

    @property
    def since(self) -> str | None:
        """The ``--since`` moment as a Qualys datetime, for the exact client-side filter."""
        return format_qualys_datetime(self.options.since) if self.options.since else None


@dataclass(frozen=True, slots=True)
class Pulled:
    """What a method found: the hosts (``spool``, maybe not the one it was given) and facts.

    ``search_list_qids`` are the QIDs Qualys put in the temporary list: ``()`` means Qualys
    knows no QID for the CVE, None that the method cannot tell.
    """

    spool: HostSpool
    pages: int
    qids: tuple[int, ...]
    search_list: TemporaryList | None = None
    search_list_qids: tuple[int, ...] | None = None


class HostSource(ABC):
    """A way to ask Qualys for every host with an open detection of one CVE."""

    @abstractmethod
    def pull(self, client: QualysClient, request: PullRequest, spool: HostSpool) -> Pulled:
        """Fetch the hosts of ``request.cve`` into ``spool`` (or a spool it returns instead).

        Any Qualys object the method creates is gone when it returns or raises. On error a
        spool it created itself is closed; ``spool`` is the caller's to close. Raises
        QualysError subclasses.
        """
