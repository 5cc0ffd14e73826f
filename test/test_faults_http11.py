"""The HTTP/1.1 fault suite: servers that close, truncate, lie or stall.

Each test stages one fault with the in-process server (raw bytes through
``Response.send_raw``, handlers that hang up or never read) and checks the
exact :class:`~hyper.common.exceptions.HyperError` class raised, that nothing
waits past the client's own timeout, and what happens to the connection
object: after a failure the next request goes on a fresh socket, while a
request already sent is never sent again behind the caller's back. Faults
covered in test_http11_connection.py stay there (a Content-Length body cut
short by a close, a chunk cut in its data, malformed chunking and heads, a
close before any answer on a fresh socket, an idle kept-alive socket closed
by the server, a slow body against ``total``).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from hyper.common import exceptions as exc
from hyper.common.timeout import Timeout, TimeoutValue
from hyper.http11.connection import HTTP11Connection
from hyper.testing import ClientDisconnected, Request, Response, Server

#: The client's timeout unless a test needs another: no fault may exceed it.
FAULT_TIMEOUT = 5.0
#: How long a stalling handler holds its connection at most.
STALL = 5.0

ServerFactory = Callable[..., Server]


@pytest.fixture(params=["cleartext", "tls"])
def server(request: pytest.FixtureRequest, hyper_server_factory: ServerFactory) -> Server:
    return hyper_server_factory(tls=request.param == "tls", protocols=("http/1.1",))


@pytest.fixture
def plain_server(hyper_server_factory: ServerFactory) -> Server:
    return hyper_server_factory(tls=False, protocols=("http/1.1",))


def connect(server: Server, timeout: TimeoutValue = FAULT_TIMEOUT) -> HTTP11Connection:
    context = server.ssl_context(("http/1.1",)) if server.tls else None
    return HTTP11Connection(server.host, server.port, ssl_context=context, timeout=timeout)


def echo(conn: HTTP11Connection) -> Any:
    conn.request("GET", "/get")
    return json.loads(conn.get_response().read())


def raw_route(server: Server, path: str, data: bytes) -> None:
    """``path`` answers with ``data`` verbatim, then the server closes."""

    def handler(request: Request, response: Response) -> None:
        response.send_raw(data)

    server.add_route(path, handler)


def raises_exactly(error: type[BaseException], call: Callable[[], object]) -> BaseException:
    """Call ``call``; it must raise ``error`` itself, not a subclass."""
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    return info.value


# --- the server closes --------------------------------------------------------------

HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Note: a head cut short\r\n\r\nhello"


@pytest.mark.parametrize(
    "cut",
    [
        HEAD.index(b"200"),  # in the status line
        HEAD.index(b"Length") + 2,  # in a header name
        HEAD.index(b"\r\n\r\n") + 2,  # before the blank line
    ],
    ids=["status line", "header", "blank line"],
)
def test_server_closing_mid_headers(server: Server, cut: int) -> None:
    raw_route(server, "/cut", HEAD[:cut])
    with connect(server) as conn:
        conn.request("GET", "/cut")
        raises_exactly(exc.ConnectionResetError, conn.get_response)
        assert echo(conn)["connection_id"] == 2  # a fresh socket


def test_server_closing_a_kept_alive_socket_on_the_next_request(server: Server) -> None:
    @server.route("/hangup")
    def hangup(request: Request, response: Response) -> None:
        response.abort()  # reads the request, closes without a word

    with connect(server) as conn:
        assert echo(conn)["connection_id"] == 1
        conn.request("GET", "/hangup")  # goes on the kept-alive socket
        raises_exactly(exc.ConnectionResetError, conn.get_response)
        # The request was sent, so it is not sent again: the caller decides.
        assert [r.path for r in server.requests] == ["/get", "/hangup"]
        assert echo(conn)["connection_id"] == 2


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "tail",
    [
        b"a\r\n0123456789\r\n1",  # in a chunk-size line
        b"a\r\n0123456789",  # between chunk data and its line end
        b"a\r\n0123456789\r\n",  # before the last chunk
        b"a\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n",  # in the trailers
    ],
    ids=["size line", "data line end", "last chunk", "trailers"],
)
def test_truncated_chunked_body(server: Server, tail: bytes) -> None:
    raw_route(server, "/chunks", CHUNKED + tail)
    with connect(server) as conn:
        conn.request("GET", "/chunks")
        response = conn.get_response()
        raises_exactly(exc.ConnectionResetError, response.read)
        assert echo(conn)["connection_id"] == 2


# --- Content-Length mismatches -----------------------------------------------------


def test_body_longer_than_content_length_is_not_read_as_the_next_response(
    plain_server: Server,
) -> None:
    release = threading.Event()

    @plain_server.route("/long")
    def long(request: Request, response: Response) -> None:
        response.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n")
        release.wait(STALL)  # the socket stays open, the junk unread

    with connect(plain_server) as conn:
        conn.request("GET", "/long")
        assert conn.get_response().read() == b"hello"
        try:
            assert echo(conn)["connection_id"] == 2  # the junk retired the socket
        finally:
            release.set()


def test_body_shorter_than_content_length_then_silence(plain_server: Server) -> None:
    release = threading.Event()

    @plain_server.route("/short")
    def short(request: Request, response: Response) -> None:
        response.send_raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        release.wait(STALL)  # never the other 90 bytes, never a close

    with connect(plain_server, timeout=0.3) as conn:
        conn.request("GET", "/short")
        response = conn.get_response()
        started = time.monotonic()
        try:
            raises_exactly(exc.ReadTimeout, response.read)
            assert time.monotonic() - started < 1.5
        finally:
            release.set()
        assert echo(conn)["connection_id"] == 2


# --- slow servers and timeouts ----------------------------------------------------


def test_slow_loris_head_against_total(plain_server: Server) -> None:
    @plain_server.route("/drip")
    def drip(request: Request, response: Response) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            try:
                response.send_raw(bytes([byte]))
            except ClientDisconnected:
                return
            if not request.server.sleep(0.05):  # a byte per 50 ms: each read is quick
                return

    with connect(plain_server, timeout=Timeout(read=1.0, total=0.5)) as conn:
        started = time.monotonic()
        conn.request("GET", "/drip")
        raises_exactly(exc.ReadTimeout, conn.get_response)
        assert time.monotonic() - started < 1.0


def test_server_that_never_reads_a_large_upload(plain_server: Server) -> None:
    @plain_server.route("/deaf")
    def deaf(request: Request, response: Response) -> None:
        request.server.sleep(STALL)  # never reads: the socket buffers fill up

    with connect(plain_server, timeout=0.5) as conn:
        started = time.monotonic()
        raises_exactly(
            exc.TimeoutError, lambda: conn.request("POST", "/deaf", body=bytes(64 << 20))
        )
        assert time.monotonic() - started < 2
        assert echo(conn)["connection_id"] == 2


def steady_reader(request: Request, response: Response) -> None:
    """Reads the upload at about 12 MB/s, never pausing long; answers its size."""
    size = 0
    while chunk := request.read(256 * 1024):
        size += len(chunk)
        request.server.sleep(0.02)
    response.send(str(size).encode())


UPLOAD = 24 << 20  # about two seconds at the steady reader's pace


def test_a_large_upload_to_a_steady_reader_outlasts_the_read_timeout(plain_server: Server) -> None:
    plain_server.add_route("/steady", steady_reader)
    with connect(plain_server, timeout=1.0) as conn:
        conn.request("POST", "/steady", body=bytes(UPLOAD))
        assert conn.get_response().read() == str(UPLOAD).encode()


def test_total_bounds_a_slow_upload(plain_server: Server) -> None:
    plain_server.add_route("/steady", steady_reader)
    with connect(plain_server, timeout=Timeout(read=5.0, total=0.5)) as conn:

        def exchange() -> None:
            conn.request("POST", "/steady", body=io.BytesIO(bytes(UPLOAD)))
            conn.get_response()

        started = time.monotonic()
        raises_exactly(exc.ReadTimeout, exchange)
        assert time.monotonic() - started < 1.0
