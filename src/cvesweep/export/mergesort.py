"""Sorting more records than memory should hold: sorted runs spilled to disk, then merged.

Records are tuples that compare as their sort order and that :mod:`marshal` can write
(ints, strings, None, tuples of them). Up to ``run_size`` of them are sorted in memory at a
time; each sorted run goes to one nameless temporary file (see :mod:`cvesweep.spool` for why
nameless) in frames of :data:`FRAME` records, and :func:`heapq.merge` reads the runs back a
frame each. Memory stays at one run plus a frame per run however many records there are.
"""

from __future__ import annotations

import heapq
import marshal
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

RUN_SIZE = 20_000
FRAME = 1024
_LENGTH = struct.Struct("<Q")

Record = tuple[Any, ...]


def sorted_records(records: Iterable[Record], run_size: int = RUN_SIZE) -> Iterator[Record]:
    """Yield ``records`` in ascending order (ties keep no particular order: make keys unique)."""
    batch: list[Record] = []
    runs: list[tuple[int, int]] = []
    with tempfile.TemporaryFile(prefix="cvesweep-", suffix=".sort") as spill:
        for record in records:
            batch.append(record)
            if len(batch) >= run_size:
                runs.append(_write_run(spill, sorted(batch)))
                batch = []
        if not runs:
            yield from sorted(batch)
            return
        if batch:
            runs.append(_write_run(spill, sorted(batch)))
        spill.flush()
        yield from heapq.merge(*(_read_run(spill.fileno(), run) for run in runs))


def _write_run(spill: IO[bytes], run: list[Record]) -> tuple[int, int]:
    """Append a sorted run to ``spill``; return where it starts and ends."""
    start = spill.tell()
    for at in range(0, len(run), FRAME):
        data = marshal.dumps(run[at : at + FRAME])
        spill.write(_LENGTH.pack(len(data)))
        spill.write(data)
    return start, spill.tell()


def _read_run(fd: int, run: tuple[int, int]) -> Iterator[Record]:
    offset, end = run
    while offset < end:
        (size,) = _LENGTH.unpack(os.pread(fd, _LENGTH.size, offset))
        offset += _LENGTH.size
        # Safe: the file is this process's own nameless spill, written just above.
        yield from marshal.loads(os.pread(fd, size, offset))  # noqa: S302
        offset += size


class Frames:
    """Records kept in a nameless temporary file, read back in frames as often as needed.

    For an exporter that walks the same sorted records several times: memory holds one
    frame (``frame`` records) at a time. Use as a context manager; the file goes at exit.
    """

    def __init__(self, records: Iterable[Record], frame: int = FRAME) -> None:
        # Closed by __exit__ (or below, when reading ``records`` fails).
        self._spill = tempfile.TemporaryFile(prefix="cvesweep-", suffix=".frames")  # noqa: SIM115
        try:
            self._end = self._fill(records, frame)
        except BaseException:
            self._spill.close()
            raise

    def __enter__(self) -> Frames:
        return self

    def __exit__(self, *exc: object) -> None:
        self._spill.close()

    def __iter__(self) -> Iterator[list[Record]]:
        """Each frame in the order written (a list of records); a new walk each call."""
        fd, offset = self._spill.fileno(), 0
        while offset < self._end:
            (size,) = _LENGTH.unpack(os.pread(fd, _LENGTH.size, offset))
            offset += _LENGTH.size
            # Safe: the file is this object's own nameless spill, written above.
            yield list(marshal.loads(os.pread(fd, size, offset)))  # noqa: S302
            offset += size

    def _fill(self, records: Iterable[Record], frame: int) -> int:
        batch: list[Record] = []
        for record in records:
            batch.append(record)
            if len(batch) >= frame:
                self._write(batch)
                batch = []
        if batch:
            self._write(batch)
        self._spill.flush()
        return self._spill.tell()

    def _write(self, batch: list[Record]) -> None:
        data = marshal.dumps(batch)
        self._spill.write(_LENGTH.pack(len(data)))
        self._spill.write(data)
