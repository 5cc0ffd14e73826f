"""HTTP20Connection and HTTP20Response against the in-process test server: the API.

Requests, responses, bodies in every form, headers as the server saw them,
the http.client-style calls, ALPN, proxies, and the bookkeeping that must
not grow on a long-lived connection. Faults, flow control and concurrency
have their own files.
"""

from __future__ import annotations

import hashlib
import io
import json
import ssl
from collections.abc import Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from h2_helpers import connect, wait_until

from hyper.common import exceptions as exc
from hyper.common.body import FILE_CHUNK_SIZE
from hyper.common.util import HTTPVersion
from hyper.http20._settings import MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE, STREAM_WINDOW_SIZE
from hyper.http20.connection import HTTP20Connection
from hyper.http20.response import HTTP20Response
from hyper.http20.window import FlowControlManager
from hyper.testing import H2Handle, Request, Response, Server, payload
from hyper.testing.connect_proxy import ConnectProxy

#: Bound on every wait of the client in these tests.


@pytest.fixture(scope="module", params=["tls", "h2c"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with Server(tls=request.param == "tls", protocols=("h2",)) as srv:
        yield srv


def get_json(conn: HTTP20Connection, url: str, method: str = "GET", **kwargs: Any) -> Any:
    sid = conn.request(method, url, **kwargs)
    response = conn.get_response(sid)
    assert response.status == 200, response.read()
    return json.loads(response.read())


def requests_to(server: Server, path: str) -> list[Request]:
    return [request for request in server.requests if request.path == path]


# --- construction ---------------------------------------------------------------


def test_defaults_and_secure_rules() -> None:
    conn = HTTP20Connection("example.com")
    assert (conn.host, conn.port, conn.secure) == ("example.com", 443, True)
    assert conn.version is HTTPVersion.http20
    assert conn.window_manager is FlowControlManager
    assert HTTP20Connection("example.com", 8080).secure is False
    assert HTTP20Connection("http://example.com").port == 80
    assert HTTP20Connection("example.com:8443", ssl_context=ssl.create_default_context()).secure
    assert "https://example.com" in repr(conn)
    assert "idle" in repr(conn)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"nonsense": 1}, TypeError),
        ({"window_manager": FlowControlManager(10)}, TypeError),
        ({"window_manager": dict}, TypeError),
        ({"ssl_context": "ctx"}, TypeError),
        ({"enable_push": "yes"}, TypeError),
        ({"port": 0}, ValueError),
        ({"timeout": -1}, ValueError),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        HTTP20Connection("example.com", **kwargs)


# --- requests and responses ---------------------------------------------------


def test_get_and_default_headers(server: Server) -> None:
    with connect(server) as conn:
        echo = get_json(conn, "/get?a=1")
        assert "open" in repr(conn)
    assert echo["http_version"] == "HTTP/2"
    assert echo["args"] == {"a": "1"}
    assert echo["headers"]["user-agent"].startswith("hyper/")
    assert "gzip" in echo["headers"]["accept-encoding"]
    request = requests_to(server, "/get")[-1]
    assert request.authority == f"127.0.0.1:{server.port}"  # a non-default port is kept
    assert request.scheme == ("https" if server.tls else "http")


def test_response_attributes(server: Server) -> None:
    with connect(server) as conn:
        sid = conn.request("GET", "/status/404")
        response = conn.get_response(sid)
        assert isinstance(response, HTTP20Response)
        assert (response.status, response.reason, response.stream_id) == (404, "", sid)
        assert response.version is HTTPVersion.http20
        assert not any(name.startswith(b":") for name, _ in response.headers.iter_raw())
        assert response.read() == b""
        assert "404" in repr(response)


def test_out_of_order_reads_and_oldest_first(server: Server) -> None:
    with connect(server) as conn:
        ids = [conn.request("GET", f"/bytes/{1000 + i}?seed={i}") for i in range(4)]
        assert ids == [1, 3, 5, 7]
        assert conn.get_response(ids[2]).read() == payload(1002, 2)
        assert conn.get_response().stream_id == ids[0]  # the oldest not yet fetched
        last = conn.get_response(ids[3])
        assert conn.get_response().stream_id == ids[1]
        assert last.read() == payload(1003, 3)
        with pytest.raises(exc.LocalProtocolError):
            conn.get_response()
        with pytest.raises(exc.LocalProtocolError):
            conn.get_response(ids[2])  # already fetched
        with pytest.raises(exc.LocalProtocolError):
            conn.get_response(99)
        assert conn.getresponse is not None


@pytest.mark.parametrize("size", [0, 1, 16384, 100_000, 1_000_000])
def test_downloads(server: Server, size: int) -> None:
    with connect(server) as conn:
        conn.request("GET", f"/bytes/{size}?seed=7")
        response = conn.get_response()
        assert response.headers[b"content-length"] == [str(size).encode()]
        assert response.read() == payload(size, 7)


def test_read_in_slices_readinto_and_iteration(server: Server) -> None:
    with connect(server) as conn:
        conn.request("GET", "/bytes/50000?seed=1")
        response = conn.get_response()
        first = response.read(100)
        buffer = bytearray(1000)
        count = response.readinto(buffer)
        rest = b"".join(response)
        assert first + bytes(buffer[:count]) + rest == payload(50000, 1)
        assert response.closed


def test_trailers(server: Server) -> None:
    with connect(server) as conn:
        conn.request("GET", "/trailers")
        response = conn.get_response()
        trailers = response.trailers  # reads the body first, keeping it
        body = response.read()
    assert body == b"this body is followed by trailers\n"
    assert trailers[b"x-trailer"] == [b"end"]
    assert trailers[b"x-body-sha256"] == [hashlib.sha256(body).hexdigest().encode()]


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/brotli"])
def test_content_decoding(server: Server, path: str) -> None:
    with connect(server) as conn:
        assert get_json(conn, path)["path"] == path


def test_informational_responses_are_skipped(server: Server) -> None:
    @server.route("/early")
    def early(request: Request, response: Response) -> None:
        response.informational(103, [("link", "</a.css>; rel=preload")])
        response.send(b"final")

    with connect(server) as conn:
        conn.request("GET", "/early")
        response = conn.get_response()
        assert (response.status, response.read()) == (200, b"final")


def test_head_request(server: Server) -> None:
    with connect(server) as conn:
        conn.request("HEAD", "/bytes/1000")
        response = conn.get_response()
        assert response.headers[b"content-length"] == [b"1000"]
        assert response.read() == b""


# --- request bodies -------------------------------------------------------------


def _upload(conn: HTTP20Connection, body: Any, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = get_json(conn, "/upload", method="POST", body=body, **kwargs)
    return result


def _expect(data: bytes) -> dict[str, Any]:
    return {"method": "POST", "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_bytes_str_and_empty_bodies(server: Server) -> None:
    with connect(server) as conn:
        assert _upload(conn, b"abc") == _expect(b"abc")
        assert _upload(conn, "h\u00e9llo") == _expect("h\u00e9llo".encode())
        assert _upload(conn, None) == _expect(b"")
        sent = [r.header("content-length") for r in requests_to(server, "/upload")[-3:]]
    assert sent == ["3", "6", "0"]


def test_generator_body(server: Server) -> None:
    chunks = [payload(1000 + i, i) for i in range(50)]
    with connect(server) as conn:
        assert _upload(conn, (chunk for chunk in chunks)) == _expect(b"".join(chunks))
    assert requests_to(server, "/upload")[-1].header("content-length") is None


@pytest.mark.parametrize("chunk", [16384, FILE_CHUNK_SIZE])
def test_bodies_whose_length_is_a_multiple_of_the_chunk_size_end(
    server: Server, chunk: int
) -> None:
    # The old hyper never sent END_STREAM for these (issue #356) and hung.
    data = payload(3 * chunk, 5)
    with connect(server) as conn:
        assert _upload(conn, io.BytesIO(data)) == _expect(data)
        assert _upload(conn, iter([data[:chunk], data[chunk:]])) == _expect(data)


def test_file_body(server: Server, tmp_path: Any) -> None:
    data = payload(300_000, 3)
    path = tmp_path / "body.bin"
    path.write_bytes(data)
    with connect(server) as conn, path.open("rb") as file:
        assert _upload(conn, file) == _expect(data)
    assert requests_to(server, "/upload")[-1].header("content-length") == "300000"


def test_a_failing_body_source_fails_only_its_request(server: Server) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * 10
        raise OSError("disk on fire")

    with connect(server) as conn:
        with pytest.raises(OSError, match="disk on fire"):
            conn.request("POST", "/upload", body=broken())
        assert _upload(conn, b"fine") == _expect(b"fine")


# --- headers --------------------------------------------------------------------


def test_connection_specific_headers_are_stripped(server: Server) -> None:
    headers = {
        "Connection": "keep-alive, X-Hop",
        "KEEP-ALIVE": "timeout=5",
        "Proxy-Connection": "keep-alive",
        "Transfer-Encoding": "chunked",
        "Upgrade": "h2c",
        "X-Hop": "dropped too",
        "TE": "gzip",
        "X-Kept": "yes",
    }
    with connect(server) as conn:
        echo = get_json(conn, "/get", headers=headers)
        echo_te = get_json(conn, "/get", headers={"te": "trailers"})
    names = set(echo["headers"])
    assert "x-kept" in names
    assert not names & {"connection", "keep-alive", "proxy-connection", "transfer-encoding"}
    assert not names & {"upgrade", "x-hop", "te"}
    assert echo_te["headers"]["te"] == "trailers"


def test_host_header_and_pseudo_header_overrides(server: Server) -> None:
    with connect(server) as conn:
        get_json(conn, "/get", headers={"Host": "example.org"})
        get_json(conn, "/get", headers=[(":authority", "a.example"), ("host", "b.example")])
        get_json(conn, "/ignored", headers={":path": "/get?x=1"})
        with pytest.raises(exc.LocalProtocolError):
            conn.request("GET", "/get", headers={":bogus": "1"})
        with pytest.raises(exc.LocalProtocolError):
            conn.request("GET", "/get", headers={"x-bad": "a\r\nb"})
        with pytest.raises(exc.LocalProtocolError):
            conn.request("GET", "/a path")
        with pytest.raises(TypeError):
            conn.request("GET", "/get", body=42)  # type: ignore[arg-type]
    seen = [(r.authority, r.target) for r in requests_to(server, "/get")[-3:]]
    assert seen == [
        ("example.org", "/get"),
        ("a.example", "/get"),
        (f"127.0.0.1:{server.port}", "/get?x=1"),
    ]


def test_default_port_is_left_out_of_authority() -> None:
    block = HTTP20Connection("example.com")._pseudo(b"GET", b"/")
    assert block[b":authority"] == b"example.com"
    assert HTTP20Connection("http://[::1]")._pseudo(b"GET", b"/")[b":authority"] == b"[::1]"


# --- the http.client-style API ----------------------------------------------------


def test_putrequest_putheader_endheaders_send(server: Server) -> None:
    with connect(server) as conn:
        sid = conn.putrequest("POST", "/anything")
        conn.putheader("X-One", "1")
        conn.putheader("x-two", "2", stream_id=sid)
        conn.putheader("X-Two", "3", replace=True)
        conn.endheaders(b"abc")
        conn.send(b"def")
        conn.send(b"ghi", final=True)
        echo = json.loads(conn.get_response(sid).read())
        with pytest.raises(exc.LocalProtocolError):
            conn.send(b"more", stream_id=sid)
    assert echo["data"] == "abcdefghi"
    assert (echo["headers"]["x-one"], echo["headers"]["x-two"]) == ("1", "3")


def test_endheaders_final_and_misuse(server: Server) -> None:
    with connect(server) as conn:
        first = conn.putrequest("GET", "/get")
        conn.endheaders(final=True)
        with pytest.raises(exc.LocalProtocolError):
            conn.putheader("x-late", "1", stream_id=first)
        with pytest.raises(exc.LocalProtocolError):
            conn.endheaders(stream_id=first)
        with pytest.raises(exc.LocalProtocolError):
            conn.send(b"x", stream_id=12345)
        second = conn.putrequest("POST", "/upload")
        conn.endheaders(message_body=b"body", final=True, stream_id=second)
        assert json.loads(conn.get_response(second).read()) == _expect(b"body")
        assert json.loads(conn.get_response(first).read())["method"] == "GET"


# --- lifecycle, bookkeeping -------------------------------------------------------


def test_ping_and_close(server: Server) -> None:
    conn = connect(server)
    conn.ping(b"12345678")
    with pytest.raises(ValueError):
        conn.ping(b"short")
    before = server.connection_count
    with pytest.raises(ValueError):
        conn.close(error_code=-1)
    with pytest.raises(TypeError):
        conn.close(error_code="0")  # type: ignore[arg-type]
    conn.close()
    conn.close()  # idempotent
    assert "idle" in repr(conn)
    assert get_json(conn, "/get")["method"] == "GET"  # reconnects
    assert server.connection_count == before + 1
    conn.close()


def test_close_sends_goaway_with_the_code(server: Server) -> None:
    seen: list[tuple[int, int]] = []

    @server.on_h2_event
    def watch(handle: H2Handle, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ConnectionTerminated):
            seen.append((handle.id, int(event.error_code or 0)))

    conn = connect(server)
    connection_id = get_json(conn, "/get")["connection_id"]
    conn.close(error_code=0xB)
    wait_until(lambda: any(cid == connection_id for cid, _ in seen))
    assert (connection_id, 0xB) in seen


def test_streams_are_forgotten_after_1000_requests() -> None:
    with Server(tls=False, protocols=("h2",)) as server, connect(server) as conn:
        for i in range(1000):
            conn.request("GET", "/status/204" if i % 2 else "/bytes/10")
            conn.get_response().read()
        session = conn._io.session
        assert session is not None
        assert conn._streams == {}
        assert conn._building == {}
        assert session.streams == {}
        assert not session.queue
        assert len(session.h2.streams) <= 2
        assert server.connection_count == 1


def test_cancel_gives_up_a_timed_out_request() -> None:
    with Server(tls=False, protocols=("h2",)) as srv, connect(srv, timeout=0.2) as conn:
        sid = conn.request("GET", "/delay/1")
        with pytest.raises(exc.ReadTimeout):
            conn.get_response(sid)
        assert sid in conn._streams  # still pending: it may be asked for again
        conn.cancel(sid)
        assert srv.connections[0].wait_for_reset(sid, 5.0) == ErrorCodes.CANCEL
        assert sid not in conn._streams
        with pytest.raises(exc.LocalProtocolError):
            conn.get_response(sid)
        conn.cancel(sid)  # nothing pending: no-op
        with pytest.raises(TypeError):
            conn.cancel("1")  # type: ignore[arg-type]
        assert get_json(conn, "/get")["path"] == "/get"


def test_closing_an_unread_response_resets_its_stream(server: Server) -> None:
    resets: list[h2.events.StreamReset] = []

    @server.on_h2_event
    def watch(handle: H2Handle, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.StreamReset):
            resets.append(event)

    with connect(server) as conn:
        sid = conn.request("GET", "/bytes/10000000")
        response = conn.get_response(sid)
        assert len(response.read(10)) == 10
        response.close()
        assert get_json(conn, "/get")["method"] == "GET"
        conn.ping(b"syncsync")  # the server has seen the reset by now
        assert sid not in conn._streams
    assert [(e.stream_id, e.error_code) for e in resets] == [(sid, 0x8)]


# --- SETTINGS and server push -----------------------------------------------------


@pytest.mark.parametrize("enable_push", [False, True])
def test_settings_we_advertise(enable_push: bool) -> None:
    with Server(tls=False, protocols=("h2",)) as srv:
        seen: dict[int, int] = {}

        @srv.on_h2_event
        def watch(handle: H2Handle, event: h2.events.Event) -> None:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                seen.update({int(k): v.new_value for k, v in event.changed_settings.items()})

        with connect(srv, enable_push=enable_push) as conn:
            conn.ping(b"settings")
    assert seen[SettingCodes.ENABLE_PUSH] == int(enable_push)
    assert seen[SettingCodes.INITIAL_WINDOW_SIZE] == STREAM_WINDOW_SIZE
    assert seen[SettingCodes.MAX_FRAME_SIZE] == MAX_FRAME_SIZE
    assert seen[SettingCodes.MAX_HEADER_LIST_SIZE] == MAX_HEADER_LIST_SIZE


# --- TLS and proxies ------------------------------------------------------------


def test_alpn_must_select_h2() -> None:
    with Server(protocols=("http/1.1",)) as srv:
        conn = HTTP20Connection(srv.host, srv.port, ssl_context=srv.ssl_context())
        with pytest.raises(exc.TLSError, match=r"http/1\.1"):
            conn.request("GET", "/get")


def test_default_context_offers_h2_and_verifies() -> None:
    with Server(protocols=("h2",)) as srv:
        with HTTP20Connection(srv.host, srv.port, secure=True, verify=srv.ca_path) as conn:
            assert get_json(conn, "/get")["http_version"] == "HTTP/2"
            assert conn.ssl_context is not None
            assert conn.ssl_context.verify_mode == ssl.CERT_REQUIRED
        untrusted = HTTP20Connection(srv.host, srv.port, secure=True)
        with pytest.raises(exc.TLSError):
            untrusted.connect()


@pytest.mark.parametrize("tls", [True, False])
def test_through_a_connect_proxy(tls: bool) -> None:
    with Server(tls=tls, protocols=("h2",)) as srv, ConnectProxy() as proxy:
        kwargs: dict[str, Any] = {"ssl_context": srv.ssl_context(("h2",))} if tls else {}
        conn = HTTP20Connection(
            srv.host, srv.port, secure=tls, proxy_host=proxy.host, proxy_port=proxy.port, **kwargs
        )
        with conn:
            assert conn.proxy_host == proxy.host
            assert get_json(conn, "/get")["http_version"] == "HTTP/2"
            assert get_json(conn, "/get")["connection_id"] == 1
    assert [(r.method, r.target) for r in proxy.requests] == [("CONNECT", f"127.0.0.1:{srv.port}")]
