"""A temporary on-disk spool of hosts, so a run's memory stays flat however many hosts match.

Hosts are appended to a temporary file that has no name from the moment it exists
(``O_TMPFILE`` where the kernel offers it, else created and unlinked at once by
:func:`tempfile.TemporaryFile`): no other process can open, read or delete it, a cleaner of the
temporary directory cannot make a running search fail, and a ``kill -9`` leaves nothing behind.
Reading goes through ``os.pread`` on the same descriptor, so it needs no name either. A page
of a reply can be rolled back if it fails half-way, so that a retried page never duplicates hosts.

On disk a host is a :data:`HostRow`, a flat tuple of its field values in
:func:`dataclasses.fields` order whose ``tags`` and ``detections`` are tuples of such rows;
rows are written in frames of up to :data:`FRAME_HOSTS` hosts, each frame one
:func:`marshal.dumps` of a list of rows after its length. Measured on 18,248 simulator hosts
(bench/bench_search.py), this costs a fifth of pickling each host through its ``__reduce__``,
and a reader that needs no objects (the JSON writer) takes the rows as they are (:meth:`rows`).
marshal only ever reads back what this process wrote to its own nameless file.
"""

from __future__ import annotations

import marshal
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import IO, Any

from cvesweep.models import Detection, Host, Tag

HostRow = tuple[Any, ...]
"""A host as plain values: see :func:`host_row` (its layout is :data:`HOST_FIELDS`)."""

HOST_FIELDS = tuple(f.name for f in fields(Host))
TAG_FIELDS = tuple(f.name for f in fields(Tag))
DETECTION_FIELDS = tuple(f.name for f in fields(Detection))
ID_AT = HOST_FIELDS.index("id")
TAGS_AT = HOST_FIELDS.index("tags")
DETECTIONS_AT = HOST_FIELDS.index("detections")
FRAME_HOSTS = 256  # hosts per frame; a frame also ends after FRAME_DETECTIONS detections
FRAME_DETECTIONS = 4096
_LENGTH = struct.Struct("<Q")
_INDEX_BITS = 8  # a frame holds at most FRAME_HOSTS (256) hosts

if not all(f.init for cls in (Host, Tag, Detection) for f in fields(cls)):  # pragma: no cover
    # Rows are rebuilt positionally: every field must be an __init__ argument, in order.
    raise TypeError("a model field is not an __init__ argument; the spool cannot rebuild it")

_host_values = attrgetter(*HOST_FIELDS)
_tag_values = attrgetter(*TAG_FIELDS)
_detection_values = attrgetter(*DETECTION_FIELDS)


def host_row(host: Host) -> HostRow:
    """``host`` as a :data:`HostRow` (plain values that :mod:`marshal` can write)."""
    row = list(_host_values(host))
    row[TAGS_AT] = tuple(map(_tag_values, host.tags))
    row[DETECTIONS_AT] = tuple(map(_detection_values, host.detections))
    return tuple(row)


def host_from_row(row: HostRow) -> Host:
    """The Host a :func:`host_row` came from (equal to it)."""
    values = list(row)
    values[TAGS_AT] = tuple([Tag(*tag) for tag in row[TAGS_AT]])
    values[DETECTIONS_AT] = tuple([Detection(*detection) for detection in row[DETECTIONS_AT]])
    return Host(*values)


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
        self._frame: list[HostRow] = []  # rows not yet written
        self._frame_detections = 0
        self._cached: tuple[int, list[HostRow]] | None = None  # the last frame read_at read
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
        self.append_row(host_row(host))

    def append_row(self, row: HostRow) -> None:
        """Add one host, given as its :data:`HostRow`, at the end."""
        self._frame.append(row)
        found = len(row[DETECTIONS_AT])
        self.hosts += 1
        self.detections += found
        self._frame_detections += found
        if len(self._frame) >= FRAME_HOSTS or self._frame_detections >= FRAME_DETECTIONS:
            self._write_frame()

    def mark(self) -> Mark:
        """The current end, for :meth:`rollback`."""
        self._write_frame()
        return Mark(self._file.tell(), self.hosts, self.detections)

    def rollback(self, mark: Mark) -> None:
        """Forget every host appended since ``mark``."""
        self._cached = None
        self._frame.clear()
        self._frame_detections = 0
        self._file.truncate(mark.offset)
        self._file.seek(mark.offset)
        self.hosts, self.detections = mark.hosts, mark.detections

    def absorb(self, other: HostSpool) -> None:
        """Append every host of ``other`` at the end, as bytes (no unpickling)."""
        self._write_frame()
        other._write_frame()
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

    def rows(self) -> Iterator[HostRow]:
        """Yield every host as a :data:`HostRow`, in order, without building models.

        Hosts appended while this runs are not yielded by it.
        """
        for _offset, frame in self._frames():
            yield from frame

    def __iter__(self) -> Iterator[Host]:
        return map(host_from_row, self.rows())

    def positions(self) -> Iterator[tuple[int, Host]]:
        """Each host with its position, for :meth:`read_at` (a sweep's per-CVE index).

        A position is the frame's offset shifted left by 8 bits plus the host's index in it.
        """
        for frame_at, frame in self._frames():
            for index, row in enumerate(frame):
                yield frame_at << _INDEX_BITS | index, host_from_row(row)

    def read_at(self, position: int) -> Host:
        """The host :meth:`positions` gave at ``position`` (its frame is kept for the next)."""
        frame_at, index = position >> _INDEX_BITS, position & ((1 << _INDEX_BITS) - 1)
        if self._cached is None or self._cached[0] != frame_at:
            self._write_frame()
            self._file.flush()
            (size,) = _LENGTH.unpack(os.pread(self._file.fileno(), _LENGTH.size, frame_at))
            data = os.pread(self._file.fileno(), size, frame_at + _LENGTH.size)
            self._cached = (frame_at, marshal.loads(data))  # noqa: S302  (our own file)
        return host_from_row(self._cached[1][index])

    def _frames(self) -> Iterator[tuple[int, list[HostRow]]]:
        self._write_frame()
        self._file.flush()
        fd, offset, end = self._file.fileno(), 0, self._file.tell()
        while offset < end:
            (size,) = _LENGTH.unpack(os.pread(fd, _LENGTH.size, offset))
            # Safe: the file is our own nameless spool, written above by this process.
            yield offset, marshal.loads(os.pread(fd, size, offset + _LENGTH.size))  # noqa: S302
            offset += _LENGTH.size + size

    def close(self) -> None:
        """Delete the spool file (closing the nameless file frees it)."""
        self._file.close()

    def _write_frame(self) -> None:
        if self._frame:
            data = marshal.dumps(self._frame)
            self._file.write(_LENGTH.pack(len(data)))
            self._file.write(data)
            self._frame.clear()
            self._frame_detections = 0
