"""HTTP11Connection and HTTP11Response against the in-process test server."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hyper.common import exceptions as exc
from hyper.common.timeout import Timeout
from hyper.http11.connection import HTTP11Connection
from hyper.http11.response import HTTP11Response
from hyper.testing import ClientDisconnected, Request, Response, Server, payload
from hyper.testing.connect_proxy import ConnectProxy


@pytest.fixture(scope="module", params=["cleartext", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    tls = request.param == "tls"
    with Server(tls=tls, protocols=("http/1.1",)) as srv:
        yield srv


def connect(server: Server, **kwargs: Any) -> HTTP11Connection:
    if server.tls:
        kwargs.setdefault("ssl_context", server.ssl_context(("http/1.1",)))
    return HTTP11Connection(server.host, server.port, **kwargs)


def get(conn: HTTP11Connection, url: str, **kwargs: Any) -> HTTP11Response:
    conn.request(kwargs.pop("method", "GET"), url, **kwargs)
    return conn.get_response()


def get_json(conn: HTTP11Connection, url: str, **kwargs: Any) -> Any:
    response = get(conn, url, **kwargs)
    assert response.status == 200
    return json.loads(response.read())


# --- basics -------------------------------------------------------------------


def test_get_echo_and_default_headers(server: Server) -> None:
    with connect(server) as conn:
        echo = get_json(conn, "/get?a=1")
    assert echo["method"] == "GET"
    assert echo["args"] == {"a": "1"}
    assert echo["headers"]["host"] == f"127.0.0.1:{server.port}"
    assert echo["headers"]["user-agent"].startswith("hyper/")
    assert "gzip" in echo["headers"]["accept-encoding"]
    assert echo["http_version"] == "HTTP/1.1"


def test_response_attributes(server: Server) -> None:
    with connect(server) as conn:
        response = get(conn, "/status/404")
        assert (response.status, response.reason) == (404, "Not Found")
        assert response.version.value == "HTTP/1.1"
        assert response.read() == b""
        assert isinstance(response.headers["content-length"], list)


def test_keep_alive_reuses_one_socket_for_100_requests(server: Server) -> None:
    before = server.connection_count
    with connect(server) as conn:
        ids = {get_json(conn, "/get")["connection_id"] for _ in range(100)}
    assert len(ids) == 1
    assert server.connection_count == before + 1


def test_connection_close_is_honoured(server: Server) -> None:
    @server.route("/close")
    def close(request: Request, response: Response) -> None:
        response.send(b"bye", headers=[("connection", "close")])

    with connect(server) as conn:
        first = get(conn, "/close")
        assert first.read() == b"bye"
        second = get_json(conn, "/get")
        third = get_json(conn, "/get")
    assert second["connection_id"] == third["connection_id"]
    assert first.status == 200


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 1_000_003])
def test_content_length_bodies(server: Server, size: int) -> None:
    with connect(server) as conn:
        assert get(conn, f"/bytes/{size}?seed=3").read() == payload(size, 3)


def test_chunked_body_in_pieces_and_trailers(server: Server) -> None:
    with connect(server) as conn:
        response = get(conn, "/bytes/300000?chunked=1&seed=1")
        assert response.headers["transfer-encoding"] == [b"chunked"]
        pieces = list(response.read_chunked())
        assert b"".join(pieces) == payload(300000, 1)
        trailers = get(conn, "/trailers")
        body = trailers.read()
        assert body
        assert len(trailers.trailers) > 0


def test_trailers_before_the_body_keep_the_body(server: Server) -> None:
    with connect(server) as conn:
        response = get(conn, "/trailers")
        trailers = response.trailers
        assert len(trailers) > 0
        assert response.read()  # the body read ahead is still returned


def test_read_in_slices_readinto_and_iteration(server: Server) -> None:
    expected = payload(100_000, 9)
    with connect(server) as conn:
        response = get(conn, "/bytes/100000?seed=9")
        assert response.read(10) == expected[:10]
        buffer = bytearray(50)
        assert response.readinto(buffer) == 50
        assert bytes(buffer) == expected[10:60]
        assert b"".join(response) == expected[60:]
        assert response.read() == b""
        assert response.closed


def test_stream_route_lines(server: Server) -> None:
    with connect(server) as conn:
        lines = get(conn, "/stream/5").read().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/brotli", "/zstd"])
def test_content_decoding(server: Server, path: str) -> None:
    with connect(server) as conn:
        response = get(conn, path)
        assert response.headers["content-encoding"]
        assert json.loads(response.read())["path"] == path
        raw = get(conn, path)
        assert raw.read(decode_content=False)[:1] != b"{"


def test_decode_content_cannot_change_mid_body(server: Server) -> None:
    with connect(server) as conn:
        response = get(conn, "/gzip")
        response.read(1)
        with pytest.raises(ValueError):
            response.read(1, decode_content=False)


def test_head_and_no_body_statuses(server: Server) -> None:
    with connect(server) as conn:
        head = get(conn, "/bytes/1000", method="HEAD")
        assert head.headers["content-length"] == [b"1000"]
        assert head.read() == b""
        assert get(conn, "/status/204").read() == b""
        assert get(conn, "/status/304").read() == b""
        assert get_json(conn, "/get")["method"] == "GET"  # the socket is still in step


def test_informational_responses_are_skipped(server: Server) -> None:
    @server.route("/continue")
    def cont(request: Request, response: Response) -> None:
        response.informational(100)
        response.informational(103, [("link", "</a.css>")])
        response.send(b"final")

    with connect(server) as conn:
        response = get(conn, "/continue", method="POST", body=b"x")
        assert (response.status, response.read()) == (200, b"final")


# --- request bodies -------------------------------------------------------------


def test_bytes_and_str_bodies(server: Server) -> None:
    with connect(server) as conn:
        echo = get_json(conn, "/post", method="POST", body=b"raw")
        assert (echo["data"], echo["headers"]["content-length"]) == ("raw", "3")
        echo = get_json(conn, "/post", method="POST", body="é")
        assert echo["data"] == "é"
        empty = get_json(conn, "/post", method="POST")
        assert empty["headers"]["content-length"] == "0"
        assert "content-length" not in get_json(conn, "/get")["headers"]


def test_file_body_streams_with_its_size(server: Server, tmp_path: Any) -> None:
    data = payload(3_000_000, 5)
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    with connect(server) as conn, path.open("rb") as file:
        result = get_json(conn, "/upload", method="PUT", body=file)
    assert result == {
        "method": "PUT",
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_bytesio_and_generator_bodies(server: Server) -> None:
    with connect(server) as conn:
        echo = get_json(conn, "/post", method="POST", body=io.BytesIO(b"abc"))
        assert (echo["data"], echo["headers"]["content-length"]) == ("abc", "3")

        def parts() -> Iterator[bytes]:
            yield b"one,"
            yield b""
            yield b"two"

        echo = get_json(conn, "/post", method="POST", body=parts())
        assert echo["data"] == "one,two"
        assert echo["headers"]["transfer-encoding"] == "chunked"


def test_caller_content_length_wins(server: Server) -> None:
    with connect(server) as conn:
        echo = get_json(
            conn, "/post", method="POST", body=iter([b"ab", b"c"]), headers={"Content-Length": "3"}
        )
    assert echo["data"] == "abc"
    assert "transfer-encoding" not in echo["headers"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Bad": "a\r\nInjected: 1"},
        {"X-Bad": "a\nb"},
        {"X-Bad": "a\x00b"},
        {"Bad Name": "x"},
        {"Bad\r\nName": "x"},
    ],
)
def test_header_injection_is_refused_before_sending(server: Server, headers: dict) -> None:
    before = len(server.requests)
    with connect(server) as conn:
        with pytest.raises(exc.LocalProtocolError):
            conn.request("GET", "/get", headers=headers)
        with pytest.raises(ValueError):  # LocalProtocolError is a ValueError
            conn.request("GET", "/get\r\nX: 1")
        assert get_json(conn, "/get")["method"] == "GET"
    assert len(server.requests) == before + 1


def test_misuse_raises_type_and_value_errors(server: Server) -> None:
    with pytest.raises(TypeError):
        HTTP11Connection("localhost", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        HTTP11Connection("localhost:99999")
    conn = connect(server)
    with pytest.raises(ValueError):
        conn.get_response()
    with pytest.raises(TypeError):
        conn.request("POST", "/post", body=42)  # type: ignore[arg-type]


# --- faults ---------------------------------------------------------------------


def raw_route(server: Server, path: str, data: bytes) -> None:
    def handler(request: Request, response: Response) -> None:
        response.send_raw(data)

    server.add_route(path, handler)


def test_truncated_content_length_body(server: Server) -> None:
    raw_route(server, "/short", b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
    with connect(server) as conn:
        response = get(conn, "/short")
        with pytest.raises(exc.ConnectionResetError):
            response.read()
        assert get_json(conn, "/get")["method"] == "GET"  # a fresh socket


def test_truncated_chunked_body(server: Server) -> None:
    raw_route(
        server, "/shortchunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01"
    )
    with connect(server) as conn, pytest.raises(exc.ConnectionResetError):
        get(conn, "/shortchunk").read()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", exc.ChunkedDecodeError),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            exc.ChunkedDecodeError,
        ),
    ],
)
def test_bad_chunking(server: Server, data: bytes, error: type) -> None:
    raw_route(server, "/badchunk", data)
    with connect(server) as conn, pytest.raises(error):
        get(conn, "/badchunk").read()


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
    ],
)
def test_malformed_responses(server: Server, data: bytes) -> None:
    raw_route(server, "/malformed", data)
    with connect(server) as conn:
        with pytest.raises(exc.InvalidResponseError):
            get(conn, "/malformed")
        assert get_json(conn, "/get")["method"] == "GET"


def test_close_delimited_body(server: Server) -> None:
    raw_route(server, "/eof", b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
    with connect(server) as conn:
        response = get(conn, "/eof")
        assert response.read() == b"until the end"
        assert get_json(conn, "/get")["method"] == "GET"


def test_server_closes_before_answering(server: Server) -> None:
    @server.route("/hangup")
    def hangup(request: Request, response: Response) -> None:
        response.abort()

    with connect(server) as conn:
        with pytest.raises(exc.ConnectionResetError):
            get(conn, "/hangup")
        assert get_json(conn, "/get")["method"] == "GET"


def test_reading_a_response_after_its_socket_was_dropped(server: Server) -> None:
    with connect(server) as conn:
        response = get(conn, "/bytes/500000")
        response.read(10)
        get(conn, "/get").read()  # abandons the unread body
        with pytest.raises(exc.ConnectionError):
            response.read()


def test_closing_an_unread_response_frees_the_connection(server: Server) -> None:
    with connect(server) as conn:
        with get(conn, "/bytes/500000") as response:
            response.read(10)
        assert response.closed
        assert get_json(conn, "/get")["method"] == "GET"


def test_idle_socket_closed_by_server_is_replaced(server: Server) -> None:
    @server.route("/then-close")
    def then_close(request: Request, response: Response) -> None:
        response.send(b"ok")
        threading.Timer(0.05, request.connection.close).start()

    with connect(server) as conn:
        first = get(conn, "/then-close")
        assert first.read() == b"ok"
        time.sleep(0.3)
        assert get_json(conn, "/get")["method"] == "GET"


# --- timeouts -------------------------------------------------------------------


def test_read_timeout(server: Server) -> None:
    with connect(server, timeout=0.3) as conn:
        started = time.monotonic()
        with pytest.raises(exc.ReadTimeout):
            get(conn, "/delay/3")
        assert time.monotonic() - started < 2
        assert get_json(conn, "/get")["method"] == "GET"


def test_total_timeout_stops_a_slow_loris(server: Server) -> None:
    @server.route("/drip")
    def drip(request: Request, response: Response) -> None:
        response.start(200, [("content-length", "1000")])
        for _ in range(40):  # 2 s of dripping: far past the client's total
            if not request.server.sleep(0.05):
                break
            try:
                response.write(b"x")
            except ClientDisconnected:
                break
        response.abort()

    with connect(server, timeout=Timeout(read=1, total=0.5)) as conn:
        started = time.monotonic()
        with pytest.raises(exc.ReadTimeout):
            get(conn, "/drip").read()
        assert time.monotonic() - started < 1.5


def test_connect_timeout_during_tls_handshake() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        conn = HTTP11Connection("127.0.0.1", listener.getsockname()[1], secure=True, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(exc.ConnectTimeout):
            conn.connect()
        assert time.monotonic() - started < 2
    finally:
        listener.close()


def test_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(exc.ConnectionError):
        HTTP11Connection("127.0.0.1", port).connect()


# --- TLS ------------------------------------------------------------------------


def test_tls_verification_is_on_by_default() -> None:
    with Server(tls=True, protocols=("http/1.1",)) as srv:
        with pytest.raises(exc.TLSError) as info:
            HTTP11Connection("127.0.0.1", srv.port, secure=True).connect()
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        with HTTP11Connection("127.0.0.1", srv.port, secure=True, verify=srv.ca_path) as ok:
            assert get_json(ok, "/get")["method"] == "GET"
        with HTTP11Connection("127.0.0.1", srv.port, secure=True, verify=False) as unverified:
            assert get_json(unverified, "/get")["method"] == "GET"


def test_https_scheme_in_host() -> None:
    with (
        Server(tls=True, protocols=("http/1.1",)) as srv,
        HTTP11Connection(f"https://127.0.0.1:{srv.port}", verify=srv.ca_path) as conn,
    ):
        assert conn.secure
        assert get_json(conn, "/get")["headers"]["host"] == f"127.0.0.1:{srv.port}"


# --- proxies --------------------------------------------------------------------


def test_https_through_a_connect_tunnel() -> None:
    with Server(tls=True, protocols=("http/1.1",)) as srv, ConnectProxy() as proxy:
        conn = HTTP11Connection(
            "127.0.0.1",
            srv.port,
            secure=True,
            verify=srv.ca_path,
            proxy_host=proxy.host,
            proxy_port=proxy.port,
        )
        with conn:
            for _ in range(3):
                assert get_json(conn, "/get")["method"] == "GET"
    assert [r.method for r in proxy.requests] == ["CONNECT"]
    assert proxy.requests[0].target == f"127.0.0.1:{srv.port}"


def test_plain_http_through_a_proxy_uses_absolute_form() -> None:
    with (
        Server(tls=False, protocols=("http/1.1",)) as srv,
        ConnectProxy(auth=("u", "p:w")) as proxy,
    ):
        conn = HTTP11Connection(
            "127.0.0.1", srv.port, proxy_host=f"http://u:p%3Aw@127.0.0.1:{proxy.port}"
        )
        with conn:
            echo = get_json(conn, "/get")
    assert proxy.requests[0].target == f"http://127.0.0.1:{srv.port}/get"
    assert "proxy-authorization" in proxy.requests[0].headers
    assert echo["path"] == "/get"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [({"auth": ("user", "secret")}, 407), ({"refuse_status": 403}, 403)],
)
def test_proxy_refusals(kwargs: dict, status: int) -> None:
    with Server(tls=True, protocols=("http/1.1",)) as srv, ConnectProxy(**kwargs) as proxy:
        conn = HTTP11Connection(
            "127.0.0.1",
            srv.port,
            secure=True,
            verify=srv.ca_path,
            proxy_host=f"127.0.0.1:{proxy.port}",
        )
        with pytest.raises(exc.ProxyError) as info:
            conn.connect()
    assert info.value.status == status


def test_proxy_credentials_and_headers() -> None:
    with (
        Server(tls=True, protocols=("http/1.1",)) as srv,
        ConnectProxy(auth=("user", "secret")) as proxy,
    ):
        conn = HTTP11Connection(
            "127.0.0.1",
            srv.port,
            secure=True,
            verify=srv.ca_path,
            proxy_host=f"http://user:secret@127.0.0.1:{proxy.port}",
            proxy_headers={"X-Proxy-Note": "1"},
        )
        with conn:
            assert get_json(conn, "/get")["method"] == "GET"
    assert proxy.requests[0].headers["x-proxy-note"] == "1"


def test_gzip_body_decoded_by_hand_matches(server: Server) -> None:
    with connect(server) as conn:
        raw = get(conn, "/gzip").read(decode_content=False)
        decoded = get(conn, "/gzip").read()
    assert gzip.decompress(raw) == decoded


def test_a_small_network_buffer_still_holds_a_large_head(server: Server) -> None:
    @server.route("/big-head")
    def big_head(request: Request, response: Response) -> None:
        response.send(b"ok", headers=[("x-filler", "f" * 3000)])

    with connect(server) as conn:
        conn.network_buffer_size = 1024  # smaller than the head
        response = get(conn, "/big-head")
        assert response.headers["x-filler"] == [b"f" * 3000]
        assert response.read() == b"ok"


def test_a_generator_body_leaves_chunk_by_chunk(server: Server) -> None:
    seen: list[bytes] = []
    first_arrived = threading.Event()

    @server.route("/watch-body")
    def watch(request: Request, response: Response) -> None:
        for piece in request.iter_body():
            seen.append(piece)
            first_arrived.set()
        response.send(b"%d" % len(b"".join(seen)))

    def body() -> Iterator[bytes]:
        yield b"first"
        # The next chunk is made only once the server has the first one.
        assert first_arrived.wait(10)
        yield b"second"

    with connect(server) as conn:
        conn.request("POST", "/watch-body", body=body())
        assert conn.get_response().read() == b"11"
