"""Stop one client's Qualys calls in flight when its run is cancelled (web UI Cancel, SIGTERM).

A run's cancel event is checked by the paging loop only between progress reports, and a slow
Qualys page can take minutes to start. :class:`CallAbort` watches the event in a thread of its
own; when it is set, the sockets of the client's calls in flight are shut down (a read blocked
in another thread returns at once) and every later call, retry or wait of the run raises
:class:`~cvesweep.errors.Cancelled` instead of being sent or retried — except the calls of a
clean-up already under way (``with abort.shielded():``, e.g. the search list's delete), which
are made as usual. Sockets are known from httpcore's ``trace`` request extension, so only the
standard HTTP transport can be interrupted mid-call (an in-process transport is not).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cvesweep.errors import Cancelled

log = logging.getLogger(__name__)

WATCH_S = 0.1  # how often the watcher looks at the cancel event: well within the 2 s promise
_STREAM_EVENTS = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class CallAbort:
    """The watcher of one client's cancel event; :meth:`close` it with the client."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._streams: list[Any] = []  # httpcore network streams this client opened
        self._shield = threading.local()
        self._shielded = 0  # clean-ups under way, in any thread
        self._watcher = threading.Thread(target=self._watch, name="cancel-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop watching (the client is closed); returns once the watcher thread ended."""
        self._closed.set()
        self._watcher.join()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore ``trace`` hook: remember each connection's stream (TCP, then TLS)."""
        if event in _STREAM_EVENTS and info.get("return_value") is not None:
            with self._lock:
                self._streams.append(info["return_value"])

    def check(self) -> None:
        """Raise Cancelled when the run is cancelled, unless this thread is cleaning up."""
        if self.cancel.is_set() and not getattr(self._shield, "depth", 0):
            raise Cancelled("the search was cancelled; the Qualys call in flight was aborted")

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Let this thread's calls through after a cancel (a clean-up that must be made)."""
        self._shield.depth = getattr(self._shield, "depth", 0) + 1
        with self._lock:
            self._shielded += 1
        try:
            yield
        finally:
            self._shield.depth -= 1
            with self._lock:
                self._shielded -= 1

    def sleeper(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """``sleep`` that a cancel cuts short with Cancelled (in full while shielded)."""

        def wait(seconds: float) -> None:
            self.check()
            if getattr(self._shield, "depth", 0):
                sleep(seconds)
            elif self.cancel.wait(seconds):
                self.check()

        return wait

    def _watch(self) -> None:
        while not self._closed.is_set():
            if self.cancel.wait(WATCH_S):
                self._abort_in_flight()
                return

    def _abort_in_flight(self) -> None:
        """Shut down every socket of the client, unless a clean-up is using one right now."""
        with self._lock:
            if self._shielded:
                return
            streams = list(self._streams)
        for stream in streams:
            shut_down(stream)
        log.info("run cancelled: %d connection(s) to Qualys shut down", len(streams))


def shut_down(stream: Any) -> None:
    """Shut down the socket of an httpcore stream (both ways); a closed one is left alone."""
    sock = stream.get_extra_info("socket")
    if not isinstance(sock, socket.socket):
        return
    # OSError: already closed, or detached by the TLS wrapper (its TLS stream is shut instead).
    with contextlib.suppress(OSError):
        # socket.socket's own shutdown, not SSLSocket's: that one would also drop the TLS
        # object that the thread blocked in a read is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
