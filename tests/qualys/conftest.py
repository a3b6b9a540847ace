"""Fixtures for the Qualys parser tests: hand-made XML and an idle loopback listener."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory of hand-made XML documents (tests/data)."""
    return DATA


@dataclass
class Listener:
    """A listening TCP socket on 127.0.0.1 nobody should connect to."""

    sock: socket.socket

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()
        return f"http://{host}:{port}"

    def connections(self) -> int:
        """Accept (without blocking) whatever connected so far; return how many did."""
        count = 0
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback server socket; a parser that fetched a DTD or entity would connect to it.

    The kernel completes a connection into the backlog even if nobody calls accept(), so
    a non-blocking accept() afterwards sees any attempt without threads or timing.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield Listener(sock)
    finally:
        sock.close()
