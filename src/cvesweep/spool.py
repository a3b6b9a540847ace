"""A temporary on-disk spool of hosts, so a run's memory stays flat however many hosts match.

Hosts are appended as pickles to an unnamed-in-practice temporary file (deleted on close)
that only this process writes and reads. A page of a reply can be rolled back if it fails
half-way, so that a retried page never duplicates hosts.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from cvesweep.models import Host


@dataclass(frozen=True, slots=True)
class Mark:
    """A position in the spool to roll back to."""

    offset: int
    hosts: int
    detections: int


class HostSpool:
    """Append-only, re-iterable store of hosts on disk; a context manager that deletes it."""

    def __init__(self, directory: str | None = None) -> None:
        self._file: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in close())
            prefix="cvesweep-", suffix=".spool", dir=directory
        )
        self.hosts = 0
        self.detections = 0

    def __enter__(self) -> HostSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.hosts

    def append(self, host: Host) -> None:
        """Add one host at the end."""
        pickle.dump(host, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.hosts += 1
        self.detections += len(host.detections)

    def mark(self) -> Mark:
        """The current end, for :meth:`rollback`."""
        return Mark(self._file.tell(), self.hosts, self.detections)

    def rollback(self, mark: Mark) -> None:
        """Forget every host appended since ``mark``."""
        self._file.truncate(mark.offset)
        self._file.seek(mark.offset)
        self.hosts, self.detections = mark.hosts, mark.detections

    def __iter__(self) -> Iterator[Host]:
        self._file.flush()
        with open(self._file.name, "rb") as reader:
            for _ in range(self.hosts):
                # Safe: the file is our own temporary spool, written above by this process.
                yield pickle.load(reader)  # noqa: S301

    def close(self) -> None:
        """Delete the spool file."""
        self._file.close()
