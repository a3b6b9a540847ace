"""The simulator's HTTP server over real sockets on 127.0.0.1, with small WSGI apps."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from cryptography import x509

from cvesweep.simulator.protocol import DropConnection
from cvesweep.simulator.server import SimulatorServer

from .conftest import LISTS

BLOCK = b"x" * 65536
WAIT = 10.0  # seconds to wait for something the server does in its own thread


class Body:
    """A response iterable that records when the server calls its close()."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        return self._blocks

    def close(self) -> None:
        self.closed.set()


def streaming_app(body: Body, headers: list[tuple[str, str]] | None = None) -> Callable[..., Any]:
    """Serves ``body`` on every path but /ok, which answers "ok" (to check the server lives on)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        start_response("200 OK", [("Content-Type", "text/plain"), *(headers or [])])
        return body

    return app


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Replies with the environ keys a WSGI app relies on, and the request body it read."""
    keys = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH")
    keys += ("SERVER_NAME", "SERVER_PORT", "REMOTE_PORT", "wsgi.url_scheme")
    echoed = {key: environ[key] for key in keys}
    echoed["body"] = environ["wsgi.input"].read().decode()
    echoed["headers"] = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    payload = json.dumps(echoed).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


def lazy_blocks(total: int) -> Iterator[bytes]:
    for _ in range(total // len(BLOCK)):
        yield BLOCK


def blocks_then(count: int, error: Exception) -> Iterator[bytes]:
    for _ in range(count):
        yield BLOCK
    raise error


def handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request_thread" in t.name]


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def echo_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(echo_app) as server:
        yield server


def test_port_zero_picks_a_free_port_and_url_names_it(echo_server: SimulatorServer) -> None:
    assert echo_server.port > 0
    assert echo_server.url == f"http://127.0.0.1:{echo_server.port}"
    assert httpx.get(echo_server.url + "/").status_code == 200


def test_stop_closes_the_listening_socket_so_the_port_is_free() -> None:
    server = SimulatorServer(echo_app).start()
    port = server.port
    httpx.get(server.url + "/")
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_environ_carries_method_path_query_and_headers(echo_server: SimulatorServer) -> None:
    reply = httpx.get(
        echo_server.url + LISTS,
        params={"action": "list", "ids": "1,2"},
        headers={"X-Requested-With": "test"},
    ).json()
    assert reply["REQUEST_METHOD"] == "GET"
    assert reply["PATH_INFO"] == LISTS
    assert reply["QUERY_STRING"] == "action=list&ids=1%2C2"
    assert reply["SERVER_NAME"] == "127.0.0.1"
    assert reply["SERVER_PORT"] == str(echo_server.port)
    assert reply["wsgi.url_scheme"] == "http"
    assert reply["headers"]["HTTP_X_REQUESTED_WITH"] == "test"
    assert "HTTP_CONTENT_LENGTH" not in reply["headers"]


def test_post_form_body_reaches_wsgi_input_limited_to_content_length(
    echo_server: SimulatorServer,
) -> None:
    form = {"action": "create", "title": "cvesweep CVE-2021-44228 1", "cve_ids": "CVE-2021-44228"}
    reply = httpx.post(echo_server.url + "/form", data=form).json()
    assert reply["REQUEST_METHOD"] == "POST"
    assert reply["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert reply["body"] == "action=create&title=cvesweep+CVE-2021-44228+1&cve_ids=CVE-2021-44228"
    assert reply["CONTENT_LENGTH"] == str(len(reply["body"]))


def test_two_requests_share_one_keep_alive_connection(echo_server: SimulatorServer) -> None:
    with httpx.Client(base_url=echo_server.url) as client:
        first = client.get("/one")
        second = client.post("/two", content=b"body")
    assert first.headers["connection"] == "keep-alive"
    assert first.json()["REMOTE_PORT"] == second.json()["REMOTE_PORT"]
    assert second.json()["body"] == "body"


def test_a_body_the_app_did_not_read_does_not_break_the_next_request() -> None:
    def ignores_body(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with SimulatorServer(ignores_body) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/first", content=b"z" * 200_000).text == "/first"
        assert client.get("/second").text == "/second"


def test_body_without_content_length_is_streamed_chunked_and_close_is_called() -> None:
    body = Body(lazy_blocks(10 * len(BLOCK)))
    with SimulatorServer(streaming_app(body)) as server:
        reply = httpx.get(server.url + "/")
    assert reply.headers["transfer-encoding"] == "chunked"
    assert reply.content == BLOCK * 10
    assert body.closed.wait(WAIT)


def test_content_length_set_by_the_app_is_kept_instead_of_chunking() -> None:
    body = Body([b"hello"])
    with SimulatorServer(streaming_app(body, [("Content-Length", "5")])) as server:
        reply = httpx.get(server.url + "/")
    assert "transfer-encoding" not in reply.headers
    assert reply.headers["content-length"] == "5"
    assert reply.text == "hello"


def test_http_1_0_client_gets_the_body_delimited_by_close() -> None:
    body = Body([b"one", b"two"])
    with (
        SimulatorServer(streaming_app(body)) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw,
    ):
        raw.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        received = b"".join(iter(lambda: raw.recv(65536), b""))
    head, _, content = received.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower()
    assert content == b"onetwo"


def test_large_lazy_body_streams_with_flat_memory() -> None:
    total = 200 * 1024 * 1024
    body = Body(lazy_blocks(total))
    process = psutil.Process()
    with SimulatorServer(streaming_app(body)) as server, httpx.Client() as client:
        baseline = process.memory_info().rss
        peak, received = baseline, 0
        with client.stream("GET", server.url + "/big") as reply:
            for index, data in enumerate(reply.iter_raw()):
                received += len(data)
                if index % 64 == 0:
                    peak = max(peak, process.memory_info().rss)
    assert received == total
    assert peak - baseline < 40 * 1024 * 1024  # a buffered body would add 200 MB
    assert body.closed.wait(WAIT)


@pytest.mark.parametrize(
    ("blocks", "headers"),
    [
        pytest.param(3, [], id="chunked-mid-body"),
        pytest.param(3, [("Content-Length", str(100 * len(BLOCK)))], id="content-length-mid-body"),
        pytest.param(0, [], id="before-any-byte"),
    ],
)
def test_drop_connection_gives_the_client_an_incomplete_body_error(
    blocks: int, headers: list[tuple[str, str]]
) -> None:
    body = Body(blocks_then(blocks, DropConnection()))
    with SimulatorServer(streaming_app(body, headers)) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url + "/")
        assert body.closed.wait(WAIT)
        assert httpx.get(server.url + "/ok").text == "ok"  # the server lives on


def test_app_error_before_the_body_is_a_500() -> None:
    body = Body(blocks_then(0, RuntimeError("bug in the app")))
    with SimulatorServer(streaming_app(body)) as server:
        reply = httpx.get(server.url + "/")
    assert reply.status_code == 500
    assert body.closed.wait(WAIT)


def test_app_error_mid_body_is_an_incomplete_body_never_a_short_success() -> None:
    body = Body(blocks_then(2, RuntimeError("bug in the app")))
    with SimulatorServer(streaming_app(body)) as server, pytest.raises(httpx.RemoteProtocolError):
        httpx.get(server.url + "/")
    assert body.closed.wait(WAIT)


def test_client_disconnect_mid_body_calls_close_and_frees_the_thread() -> None:
    body = Body(iter(lambda: BLOCK, None))  # endless
    with SimulatorServer(streaming_app(body)) as server:
        with httpx.Client() as client, client.stream("GET", server.url + "/") as reply:
            assert next(reply.iter_raw())
        assert body.closed.wait(WAIT)
        assert wait_until(lambda: not handler_threads())
        assert httpx.get(server.url + "/ok").text == "ok"


def test_stop_ends_a_response_in_progress_and_calls_close() -> None:
    body = Body(iter(lambda: BLOCK, None))  # endless
    server = SimulatorServer(streaming_app(body)).start()
    with httpx.Client() as client, client.stream("GET", server.url + "/") as reply:
        chunks = reply.iter_raw()
        assert next(chunks)
        server.stop()
        assert body.closed.wait(WAIT)
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in chunks:
                pass


def test_authorization_header_is_never_logged(
    echo_server: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="cvesweep"):
        reply = httpx.get(echo_server.url + "/logged", auth=("simuser", "s3cret-pass"))
    assert reply.json()["headers"]["HTTP_AUTHORIZATION"].startswith("Basic ")
    assert "/logged" in caplog.text
    assert "s3cret-pass" not in caplog.text
    assert reply.json()["headers"]["HTTP_AUTHORIZATION"][6:] not in caplog.text


@pytest.fixture
def tls_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(echo_app, tls=True) as server:
        yield server


def test_tls_client_without_the_certificate_refuses_it(tls_server: SimulatorServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_server.url + "/", verify=True)
    unverified = httpx.get(tls_server.url + "/", verify=False)  # noqa: S501 - on purpose
    assert unverified.status_code == 200  # the refused handshake did not hurt the server


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_certificate_works_as_the_client_ca_bundle(
    tls_server: SimulatorServer, host: str
) -> None:
    assert tls_server.cert_path is not None
    verify = ssl.create_default_context(cafile=str(tls_server.cert_path))
    reply = httpx.get(f"https://{host}:{tls_server.port}/", verify=verify)
    assert tls_server.url.startswith("https://127.0.0.1:")
    assert reply.json()["wsgi.url_scheme"] == "https"


def test_tls_without_verification_succeeds(tls_server: SimulatorServer) -> None:
    reply = httpx.get(tls_server.url + "/", verify=False)  # noqa: S501 - the case under test
    assert reply.json()["wsgi.url_scheme"] == "https"


def test_tls_certificate_names_loopback_and_is_its_own_ca(tls_server: SimulatorServer) -> None:
    assert tls_server.cert_path is not None
    cert = x509.load_pem_x509_certificate(tls_server.cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key_files = [p for p in tls_server.cert_path.parent.iterdir() if p != tls_server.cert_path]
    assert [stat.S_IMODE(p.stat().st_mode) for p in key_files] == [0o600]


def test_tls_temporary_directory_is_removed_by_stop_and_a_given_one_kept(tmp_path: Path) -> None:
    with SimulatorServer(echo_app, tls=True) as server:
        temporary = server.cert_path
        assert temporary is not None and temporary.exists()
    with SimulatorServer(echo_app, tls=True, cert_dir=tmp_path) as server:
        kept = server.cert_path
    assert not temporary.exists()
    assert kept is not None and kept.parent == tmp_path and kept.exists()
