"""The HTTP/1.1 request handler that calls a WSGI app and streams its body to the client.

Bodies go out with ``Transfer-Encoding: chunked`` (unless the app sets ``Content-Length``),
block by block as the app yields them, so a multi-GB reply keeps memory flat. The extensions
of :mod:`cvesweep.simulator.protocol` are honoured: :class:`DropConnection` cuts the socket
without the terminating chunk, and the iterable's ``close()`` is always called, whether the
response ends normally, by a drop, by an app error or because the client went away.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import sys
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, cast
from urllib.parse import unquote

from cvesweep import __version__
from cvesweep.simulator.protocol import DropConnection, HostingServer

logger = logging.getLogger(__name__)

# A client that stops reading (or idles on a keep-alive connection) frees its thread after this.
IDLE_TIMEOUT_SECONDS = 60.0
# Headers the server owns: a WSGI app must not set hop-by-hop headers (PEP 3333).
_HOP_BY_HOP = frozenset({"transfer-encoding", "connection", "keep-alive"})
_NO_BODY_STATUSES = frozenset({204, 304})


class _BodyReader:
    """``wsgi.input``: the request body, never read past its ``Content-Length``."""

    def __init__(self, stream: io.BufferedIOBase, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def read(self, size: int | None = -1) -> bytes:
        """Return up to ``size`` bytes (all that is left when ``size`` is negative or None)."""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._stream.read(size) if size else b""
        self.remaining -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """Return one line, at most ``size`` bytes and never past the body."""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._stream.readline(size) if size else b""
        self.remaining -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Return the remaining lines."""
        return list(iter(self.readline, b""))

    def __iter__(self) -> _BodyReader:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class _Response:
    """State of one response: the status and headers the app chose, and what was sent."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.chunked = False


class WsgiRequestHandler(BaseHTTPRequestHandler):
    """Serves each HTTP request by calling the server's WSGI app and streaming its body."""

    protocol_version = "HTTP/1.1"
    server_version = f"cvesweep-simulator/{__version__}"
    disable_nagle_algorithm = True  # each yielded block goes out at once, terminator included
    timeout = IDLE_TIMEOUT_SECONDS

    @property
    def hosting(self) -> HostingServer:
        """The server hosting the app (``WsgiHTTPServer``; typed by protocol, no import)."""
        return cast(HostingServer, self.server)

    def setup(self) -> None:
        super().setup()
        self.hosting.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.hosting.untrack(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, ValueError) as exc:  # reset, timeout, TLS failure, closed socket
            logger.debug("connection from %s ended: %r", self.client_address[0], exc)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # The request line and status only: never headers, so never Authorization.
        logger.debug("%s - %s", self.client_address[0], format % args)

    def _serve_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "Length Required", "chunked request bodies are not supported")
            return
        length = _content_length(self.headers.get("Content-Length"))
        if length is None:
            self.send_error(400, "Bad Request", "invalid Content-Length")
            return
        body = _BodyReader(self.rfile, length)
        response = _Response()
        try:
            result = self.hosting.app(self._environ(body), self._start_response(response))
        except Exception:
            logger.exception("simulator app failed on %s", self.path.split("?")[0])
            self.close_connection = True
            self.send_error(500, "Internal Server Error")
            return
        try:
            self._send_body(result, response)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if body.remaining and not self.close_connection:
            self._discard(body)

    # Every method goes to the app, which decides what it accepts.
    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve_wsgi

    def _send_body(self, result: Any, response: _Response) -> None:
        try:
            for block in result:
                if block:
                    self._send_headers(response)
                    self._write(block, response)
            self._send_headers(response)
            if response.chunked:
                self.wfile.write(b"0\r\n\r\n")
        except DropConnection:
            logger.debug("app dropped the connection after headers_sent=%s", response.headers_sent)
            self._cut()
        except OSError as exc:  # the client went away; nothing left to tell it
            logger.debug("client %s disconnected: %r", self.client_address[0], exc)
            self.close_connection = True
        except Exception:
            logger.exception("simulator app failed while answering %s", self.path.split("?")[0])
            if response.headers_sent:
                self._cut()
            else:
                self.send_error(500, "Internal Server Error")
                self.close_connection = True

    def _start_response(self, response: _Response) -> Any:
        def start_response(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: tuple[type[BaseException], BaseException, TracebackType] | None = None,
        ) -> Any:
            if exc_info is not None and response.headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            response.status, response.headers = status, list(headers)
            return lambda data: self._write_now(data, response)

        return start_response

    def _write_now(self, data: bytes, response: _Response) -> None:
        # The legacy WSGI write() callable.
        if data:
            self._send_headers(response)
            self._write(data, response)

    def _send_headers(self, response: _Response) -> None:
        if response.headers_sent:
            return
        if not response.status:
            raise RuntimeError("the WSGI app sent a body before calling start_response")
        code_text, _, reason = response.status.partition(" ")
        code = int(code_text)
        self.log_request(code)
        self.send_response_only(code, reason)
        names = set()
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
                names.add(name.lower())
        self._frame(code, names, response)
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        if "server" not in names:
            self.send_header("Server", self.version_string())
        self.end_headers()
        response.headers_sent = True

    def _frame(self, code: int, names: set[str], response: _Response) -> None:
        """Choose how the body is delimited, and whether the connection stays open."""
        has_body = self.command != "HEAD" and code >= 200 and code not in _NO_BODY_STATUSES
        if has_body and "content-length" not in names:
            if self.request_version >= "HTTP/1.1":
                response.chunked = True
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.close_connection = True  # HTTP/1.0: the end of the body is the close
        if any(v.lower() == "close" for n, v in response.headers if n.lower() == "connection"):
            self.close_connection = True
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")

    def _write(self, block: bytes, response: _Response) -> None:
        if self.command == "HEAD":
            return
        if response.chunked:
            block = b"%x\r\n%b\r\n" % (len(block), block)
        self.wfile.write(block)

    def _cut(self) -> None:
        """Close the connection at once, leaving the body incomplete for the client."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _discard(self, body: _BodyReader) -> None:
        # Skip what the app did not read so the next request on this connection parses.
        while body.remaining and body.read(min(body.remaining, 65536)):
            pass

    def _environ(self, body: _BodyReader) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        host, port = self.hosting.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(body.remaining) if body.remaining else "",
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "SERVER_SOFTWARE": self.server_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.hosting.scheme,
            "wsgi.input": body,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ


def _content_length(value: str | None) -> int | None:
    """The body length a Content-Length header announces (0 when absent), None when invalid."""
    if value is None:
        return 0
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else None
