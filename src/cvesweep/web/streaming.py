"""Stream what a writer of text (``write_csv(result, stream)``) writes, as the body of a reply.

The writer runs in its own thread and writes into a bounded queue of chunks that the reply
reads as it goes: the whole body is never in memory, and the first bytes leave before the
last are written. When the client goes away the reply stops reading; the writer's next
``write`` then raises :class:`Abandoned` and the thread ends.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

CHUNK_CHARS = 64 * 1024
QUEUE_CHUNKS = 16  # at most ~1 MB waits for a slow client
_DONE = object()


class Abandoned(Exception):
    """The reader stopped reading (the client went away): the writer stops too."""


class _QueueWriter(io.TextIOBase):
    """A text stream that hands chunks of about CHUNK_CHARS to a queue."""

    def __init__(self, chunks: queue.Queue[object], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._buffer: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._buffer.append(text)
        self._size += len(text)
        if self._size >= CHUNK_CHARS:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._put("".join(self._buffer).encode())
            self._buffer, self._size = [], 0

    def _put(self, item: object) -> None:
        while True:
            if self._stop.is_set():
                raise Abandoned
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def stream_text(write: Callable[[TextIO], None]) -> Iterator[bytes]:
    """Yield, as UTF-8 chunks, what ``write(stream)`` writes; it runs in another thread.

    An exception of the writer ends the body early (the client sees a cut reply) after
    being raised here, so the server logs it.
    """
    chunks: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        out = _QueueWriter(chunks, stop)
        try:
            write(out)  # type: ignore[arg-type]
            out.flush()
        except Abandoned:
            return
        except BaseException as error:  # handed to the reading side, which raises it
            failure.append(error)
        with contextlib.suppress(Abandoned):
            out._put(_DONE)

    thread = threading.Thread(target=work, name="download", daemon=True)
    thread.start()
    try:
        while (item := chunks.get()) is not _DONE:
            assert isinstance(item, bytes)
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
