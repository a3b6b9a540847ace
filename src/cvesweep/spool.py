"""A temporary on-disk spool of hosts, so a run's memory stays flat however many hosts match.

Hosts are appended as pickles to a temporary file that has no name from the moment it exists
(``O_TMPFILE`` where the kernel offers it, else created and unlinked at once by
:func:`tempfile.TemporaryFile`): no other process can open, read or delete it, a cleaner of the
temporary directory cannot make a running search fail, and a ``kill -9`` leaves nothing behind.
Reading goes through ``os.pread`` on the same descriptor, so it needs no name either. A page
of a reply can be rolled back if it fails half-way, so that a retried page never duplicates hosts.
"""

from __future__ import annotations

import io
import os
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
        self._file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 (closed in close())
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

    def absorb(self, other: HostSpool) -> None:
        """Append every host of ``other`` at the end, as bytes (no unpickling)."""
        other._file.flush()
        self._file.seek(0, os.SEEK_END)
        offset, end = 0, other._file.tell() if other.hosts else 0
        other_fd = other._file.fileno()
        while offset < end:
            chunk = os.pread(other_fd, min(1 << 20, end - offset), offset)
            if not chunk:
                break
            self._file.write(chunk)
            offset += len(chunk)
        self.hosts += other.hosts
        self.detections += other.detections

    def positions(self) -> Iterator[tuple[int, Host]]:
        """Each host with its position, for :meth:`read_at` (a sweep's per-CVE index)."""
        self._file.flush()
        raw = _PositionalReader(self._file.fileno())
        with io.BufferedReader(raw, buffer_size=1 << 16) as reader:
            for _ in range(self.hosts):
                offset = reader.tell()
                # Safe: the file is our own temporary spool, written above by this process.
                yield offset, pickle.load(reader)  # noqa: S301

    def read_at(self, offset: int) -> Host:
        """The host that :meth:`positions` gave at ``offset``."""
        self._file.flush()
        raw = _PositionalReader(self._file.fileno(), offset)
        with io.BufferedReader(raw, buffer_size=1 << 14) as reader:
            return pickle.load(reader)  # type: ignore[no-any-return]  # noqa: S301

    def __iter__(self) -> Iterator[Host]:
        self._file.flush()
        raw = _PositionalReader(self._file.fileno())
        with io.BufferedReader(raw, buffer_size=1 << 16) as reader:
            for _ in range(self.hosts):
                # Safe: the file is our own temporary spool, written above by this process.
                yield pickle.load(reader)  # noqa: S301

    def close(self) -> None:
        """Delete the spool file (closing the nameless file frees it)."""
        self._file.close()


class _PositionalReader(io.RawIOBase):
    """Reads a descriptor from offset 0 with ``os.pread``: the writer's position is untouched."""

    def __init__(self, fd: int, offset: int = 0) -> None:
        super().__init__()
        self._fd = fd
        self._offset = offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._offset = offset
        elif whence == os.SEEK_CUR:
            self._offset += offset
        else:
            raise OSError("the spool reader seeks from the start or the current position only")
        return self._offset

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = os.pread(self._fd, len(buffer), self._offset)
        buffer[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def close(self) -> None:
        # The descriptor belongs to the spool's file; closing this reader must not close it.
        super().close()
