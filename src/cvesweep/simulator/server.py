"""A threaded HTTP/1.1 server that serves any WSGI app on loopback, optionally over TLS.

Built on :class:`http.server.ThreadingHTTPServer`: one daemon thread per connection,
keep-alive, streaming (see :mod:`cvesweep.simulator.handler`). :class:`SimulatorServer`
runs it in a background thread for tests, the demo and ``cvesweep simulator``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import ssl
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cvesweep.simulator.certificate import write_self_signed
from cvesweep.simulator.handler import IDLE_TIMEOUT_SECONDS, WsgiRequestHandler
from cvesweep.simulator.protocol import WsgiApp

logger = logging.getLogger(__name__)


class WsgiHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its app and TLS context and can close live connections."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: WsgiApp, tls: ssl.SSLContext | None) -> None:
        self.app = app
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(address, WsgiRequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # In the connection's own thread, so a slow TLS handshake never blocks accept().
        request.settimeout(IDLE_TIMEOUT_SECONDS)
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:
            logger.debug("TLS handshake with %s failed: %r", client_address[0], exc)
            return
        # The plain socket is detached now; socketserver closes only that one.
        with secure:
            super().finish_request(secure, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("error serving %s", client_address, exc_info=True)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection so :meth:`close_connections` can end it."""
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection that has ended."""
        with self._lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open connection, which unblocks the threads serving them."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SimulatorServer:
    """Serves a WSGI app on ``host:port`` in a background thread; a context manager.

    ``port=0`` picks a free port (read it back from :attr:`url` or :attr:`port`). With
    ``tls=True`` a self-signed certificate for 127.0.0.1/localhost is written to ``cert_dir``
    (a temporary directory, removed by :meth:`stop`, when None).
    """

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = False,
        cert_dir: Path | str | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.tls = tls
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._temp_dir: Path | None = None
        self.cert_path: Path | None = None
        self._httpd: WsgiHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatorServer:
        """Bind the socket and serve in a daemon thread; return self.

        Raises OSError when the address cannot be bound (port in use, bad host).
        """
        context = self._tls_context() if self.tls else None
        try:
            self._httpd = WsgiHTTPServer((self.host, self.requested_port), self.app, context)
        except BaseException:
            self._remove_temp_dir()
            raise
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulator-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("serving on %s", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listening socket and live connections, join the thread."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._remove_temp_dir()

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tls_context(self) -> ssl.SSLContext:
        directory = self._cert_dir
        if directory is None:
            directory = self._temp_dir = Path(tempfile.mkdtemp(prefix="cvesweep-sim-tls-"))
        self.cert_path, key_path = write_self_signed(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, key_path)
        return context

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
