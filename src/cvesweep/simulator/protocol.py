"""What the simulator's WSGI app and its HTTP server agree on, beyond plain WSGI.

The app is a standard WSGI callable (PEP 3333), so tests can also reach it in-process
through ``httpx.WSGITransport``. Two extensions:

- A body iterator may raise :class:`DropConnection` after some chunks: the server then
  closes the socket abruptly without the terminating chunk, as a network failure in the
  middle of a body would (a client must see an incomplete body, never a short success).
- The server calls ``close()`` on the returned iterable when the response ends, however it
  ends; the app relies on that to count running calls for the concurrency limit.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any, Protocol

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class DropConnection(Exception):
    """Raised by a response body iterator to make the server cut the connection."""


class HostingServer(Protocol):
    """What the request handler needs from the HTTP server that hosts the app."""

    app: WsgiApp
    scheme: str
    server_address: Any

    def track(self, connection: socket.socket) -> None:
        """Remember a live connection (so stopping the server can close it)."""

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection that ended."""
