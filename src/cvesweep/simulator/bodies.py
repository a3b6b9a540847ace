"""Reply bodies as the WSGI server sees them: closing once, and the body faults.

The faults (delay, garbling, dropping the connection) wrap the body iterator of a
detection reply; :class:`ClosingBody` releases the call's concurrency slot when the
server closes the body, however the reply ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from cvesweep.simulator.protocol import DropConnection

logger = logging.getLogger(__name__)


class ClosingBody:
    """A WSGI body that runs ``on_close`` exactly once when the server closes it."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None] | None) -> None:
        self._chunks = chunks
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        """Stop the body generator and release the call's concurrency slot."""
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()


def delayed(
    body: Iterator[bytes], seconds: float, sleep: Callable[[float], None]
) -> Iterator[bytes]:
    """Yield ``body`` after sleeping ``seconds`` (the page latency fault)."""
    sleep(seconds)
    yield from body


def garbled(body: Iterator[bytes]) -> Iterator[bytes]:
    """Cut the body inside its first chunk and end it with text no XML parser accepts."""
    first = next(body, b"")
    yield first[: max(1, len(first) * 2 // 3)] + b"<<!-- simulator fault: malformed XML"


def dropped(body: Iterator[bytes], after: int) -> Iterator[bytes]:
    """Yield ``after`` bytes of ``body``, then raise DropConnection (the server cuts it)."""
    sent = 0
    for chunk in body:
        if sent + len(chunk) > after:
            if after > sent:
                yield chunk[: after - sent]
            logger.info("dropping the connection after %d body bytes (fault)", after)
            raise DropConnection(f"simulated connection drop after {after} bytes")
        sent += len(chunk)
        yield chunk
