"""HTTPConnection choosing its protocol: ALPN over TLS, h2c Upgrade in cleartext, forcing.

Against the in-process server, whose cleartext side takes h2c Upgrade
offers unless told not to (``h2c_upgrade=False``). Each test says which
protocol it expects on the wire and checks it from the server's side too:
the request's HTTP version, its stream, how many TCP connections it took.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
import trustme
from h2.settings import SettingCodes
from hyperframe.frame import SettingsFrame

from hyper import HTTP11Response, HTTP20Response
from hyper.common import exceptions as exc
from hyper.common.connection import HTTPConnection
from hyper.common.util import HTTPVersion
from hyper.http20._session import _local_settings
from hyper.http20._upgrade import is_h2c_switch, offer_headers, settings_header
from hyper.http20.window import FlowControlManager
from hyper.testing import Request, Response, Server

#: Bound on every wait of the client in these tests.
IO_TIMEOUT = 10.0

Factory = Callable[..., Server]


def connect(server: Server, **kwargs: Any) -> HTTPConnection:
    """An HTTPConnection to ``server``, trusting its CA, with bounded waits."""
    kwargs.setdefault("timeout", IO_TIMEOUT)
    if server.tls:
        kwargs.setdefault("ssl_context", server.ssl_context())
    return HTTPConnection(server.url, **kwargs)


def fetch(conn: HTTPConnection, path: str = "/get", **kwargs: Any) -> tuple[Any, Any]:
    """Request ``path``; return what ``request`` returned and the JSON body."""
    returned = conn.request(kwargs.pop("method", "GET"), path, **kwargs)
    response = conn.get_response(returned)
    assert response.status == 200
    return returned, json.loads(response.read())


# --- over TLS: ALPN ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocols", "version", "first_id"),
    [
        (("h2", "http/1.1"), HTTPVersion.http20, 1),
        (("h2",), HTTPVersion.http20, 1),
        (("http/1.1",), HTTPVersion.http11, None),
    ],
)
def test_alpn_decides(
    hyper_server_factory: Factory,
    protocols: tuple[str, ...],
    version: HTTPVersion,
    first_id: int | None,
) -> None:
    server = hyper_server_factory(protocols=protocols)
    with connect(server) as conn:
        assert conn.version is None
        assert "undecided" in repr(conn)
        returned, body = fetch(conn)
        assert (returned, conn.version) == (first_id, version)
        assert body["http_version"] == version.value
        fetch(conn)
    assert server.connection_count == 1  # one handshake, the socket handed over
    assert server.connections[0].alpn == protocols[0]


class _OneShotTLSServer:
    """Accepts one TLS connection (ALPN as given), answers one HTTP/1.1 request."""

    def __init__(self, ca: trustme.CA, alpn: list[str] | None) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        if alpn is not None:
            self.context.set_alpn_protocols(alpn)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(IO_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            sock, _ = self.listener.accept()
            with self.context.wrap_socket(sock, server_side=True) as tls_sock:
                tls_sock.settimeout(IO_TIMEOUT)
                data = b""
                while b"\r\n\r\n" not in data and (chunk := tls_sock.recv(4096)):
                    data += chunk
                tls_sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except OSError as error:  # a client that gave up is not a server failure
            self.errors.append(error)
        finally:
            self.listener.close()

    def join(self) -> None:
        self.thread.join(IO_TIMEOUT)


def test_no_alpn_answer_means_http11(hyper_ca: trustme.CA) -> None:
    server = _OneShotTLSServer(hyper_ca, None)
    context = ssl.create_default_context()
    hyper_ca.configure_trust(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with HTTPConnection("127.0.0.1", server.port, ssl_context=context, timeout=IO_TIMEOUT) as conn:
        conn.request("GET", "/")
        assert conn.get_response().read() == b"ok"
        assert conn.version is HTTPVersion.http11
    server.join()
    assert server.errors == []


def test_an_unknown_alpn_choice_is_refused(hyper_ca: trustme.CA) -> None:
    server = _OneShotTLSServer(hyper_ca, ["spdy/3"])
    context = ssl.create_default_context()
    hyper_ca.configure_trust(context)
    context.set_alpn_protocols(["h2", "http/1.1", "spdy/3"])
    conn = HTTPConnection("127.0.0.1", server.port, ssl_context=context, timeout=IO_TIMEOUT)
    with pytest.raises(exc.TLSError):
        conn.request("GET", "/")
    assert conn.version is None  # nothing settled: the next call tries again
    server.join()


def test_connect_settles_the_protocol_before_any_request(hyper_server: Server) -> None:
    with connect(hyper_server) as conn:
        conn.connect()
        assert conn.version is HTTPVersion.http20
        assert "HTTP/2" in repr(conn)
        conn.ping(b"12345678")
        assert fetch(conn)[0] == 1
    assert hyper_server.connection_count == 1


def test_http2_responses_by_stream_id(hyper_server: Server) -> None:
    with connect(hyper_server) as conn:
        first = conn.request("GET", "/get?n=1")
        second = conn.request("GET", "/get?n=2")
        assert isinstance(first, int)
        assert isinstance(second, int)
        late = conn.get_response(second)
        early = conn.get_response(first)
        assert isinstance(late, HTTP20Response)
        assert json.loads(late.read())["args"] == {"n": "2"}
        assert json.loads(early.read())["args"] == {"n": "1"}


def test_http11_takes_no_stream_id(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(protocols=("http/1.1",))
    with connect(server) as conn:
        assert conn.request("GET", "/get") is None
        with pytest.raises(ValueError):
            conn.get_response(1)
        response = conn.get_response(None)
        assert isinstance(response, HTTP11Response)
        assert response.status == 200
        response.read()
        with pytest.raises(exc.LocalProtocolError):
            conn.ping(b"12345678")
        with pytest.raises(exc.LocalProtocolError):
            conn.putrequest("GET", "/")


def test_negotiation_happens_once_across_threads(hyper_server: Server) -> None:
    conn = connect(hyper_server)
    statuses: list[int] = []

    def one() -> None:
        stream_id = conn.request("GET", "/get")
        statuses.append(conn.get_response(stream_id).status)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(IO_TIMEOUT)
    conn.close()
    assert statuses == [200] * 4
    assert hyper_server.connection_count == 1


def test_force_http11_over_tls_offers_only_http11(hyper_server: Server) -> None:
    with HTTPConnection(
        hyper_server.url, verify=hyper_server.ca_path, force_proto="http/1.1", timeout=IO_TIMEOUT
    ) as conn:
        assert conn.version is HTTPVersion.http11
        assert fetch(conn)[0] is None
    assert hyper_server.connections[0].alpn == "http/1.1"


def test_force_h2_ignores_alpn(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(protocols=("h2",))
    with HTTPConnection(
        server.url, verify=server.ca_path, force_proto="h2", timeout=IO_TIMEOUT
    ) as conn:
        assert conn.version is HTTPVersion.http20
        assert fetch(conn)[0] == 1


def test_http2_only_keywords_are_kept(hyper_server: Server) -> None:
    with connect(hyper_server, window_manager=FlowControlManager, enable_push=True) as conn:
        fetch(conn)
        assert (conn.window_manager, conn.enable_push) == (FlowControlManager, True)


def test_the_put_calls_on_http2(hyper_server: Server) -> None:
    with connect(hyper_server) as conn:
        stream_id = conn.putrequest("POST", "/post")
        conn.putheader("x-piece", "1", stream_id)
        conn.endheaders(b"ab", stream_id=stream_id)
        conn.send(b"cd", final=True, stream_id=stream_id)
        body = json.loads(conn.get_response(stream_id).read())
    assert base64.b64decode(body["body_base64"]) == b"abcd"
    assert body["headers"]["x-piece"] == "1"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"force_proto": "h3"}, ValueError),
        ({"force_proto": "h2c"}, ValueError),
        ({"window_manager": object}, TypeError),
        ({"enable_push": "yes"}, TypeError),
        ({"port": 0}, ValueError),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        HTTPConnection("localhost", **kwargs)


def test_defaults() -> None:
    conn = HTTPConnection("example.com")
    assert (conn.port, conn.secure, conn.version) == (80, False, HTTPVersion.http11)
    tls = HTTPConnection("https://example.com")
    assert (tls.port, tls.secure, tls.version) == (443, True, None)
    with pytest.raises(exc.LocalProtocolError):
        tls.get_response()


# --- in cleartext: the h2c Upgrade offer --------------------------------------------


def test_upgrade_switches_to_http2(hyper_server_h2c: Server) -> None:
    with connect(hyper_server_h2c) as conn:
        assert conn.version is HTTPVersion.http11
        assert conn.request("GET", "/get?first=1") is None
        response = conn.get_response()
        assert isinstance(response, HTTP20Response)
        assert conn.version is HTTPVersion.http20
        assert json.loads(response.read())["args"] == {"first": "1"}
        assert fetch(conn)[0] == 3
    first, second = hyper_server_h2c.requests
    assert (first.http_version, first.stream_id) == ("HTTP/2", 1)
    assert (second.http_version, second.stream_id) == ("HTTP/2", 3)
    assert hyper_server_h2c.connection_count == 1
    assert first.header("upgrade") is None  # hop-by-hop: not part of the HTTP/2 request


def test_the_offer_on_the_wire(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(tls=False, h2c_upgrade=False)
    with connect(server, enable_push=True) as conn:
        fetch(conn)
    (request,) = server.requests
    assert request.header("upgrade") == "h2c"
    tokens = {t.strip().lower() for t in (request.header("connection") or "").split(",")}
    assert tokens == {"upgrade", "http2-settings"}
    value = (request.header("http2-settings") or "").encode()
    assert b"=" not in value  # base64url without padding (RFC 7540 section 3.2.1)
    frame = SettingsFrame(0)
    frame.parse_body(memoryview(base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))))
    assert frame.settings[SettingCodes.ENABLE_PUSH] == 1
    assert dict(frame.settings) == dict(_local_settings(True).items())


def test_a_declined_offer_keeps_http11_and_is_not_repeated(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(tls=False, h2c_upgrade=False)
    with connect(server) as conn:
        assert fetch(conn)[1]["http_version"] == "HTTP/1.1"
        assert conn.version is HTTPVersion.http11
        assert fetch(conn)[0] is None
    first, second = server.requests
    assert first.header("upgrade") == "h2c"
    assert second.header("upgrade") is None
    assert server.connection_count == 1  # the socket was kept alive


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("POST", {"body": b"data"}),
        ("HEAD", {}),
        ("GET", {"headers": {"Connection": "keep-alive"}}),
        ("GET", {"headers": [("Upgrade", "websocket")]}),
    ],
)
def test_no_offer_on_some_requests(
    hyper_server_factory: Factory, method: str, kwargs: dict[str, Any]
) -> None:
    server = hyper_server_factory(tls=False)
    path = "/post" if method == "POST" else "/get"
    with connect(server) as conn:
        conn.request(method, path, **kwargs)
        conn.get_response().read()
        assert conn.version is HTTPVersion.http11
        returned, body = fetch(conn)  # the next request without a body does offer
        assert (returned, conn.version) == (None, HTTPVersion.http20)
    assert server.requests[0].header("http2-settings") is None
    assert body["stream_id"] == 1


def test_force_h2_in_cleartext_is_prior_knowledge(hyper_server_h2c: Server) -> None:
    with connect(hyper_server_h2c, force_proto="h2") as conn:
        assert conn.version is HTTPVersion.http20
        assert fetch(conn)[0] == 1
    (request,) = hyper_server_h2c.requests
    assert request.header("http2-settings") is None
    assert not hasattr(hyper_server_h2c.connections[0], "_settings_header")


def test_force_http11_in_cleartext_makes_no_offer(hyper_server_h2c: Server) -> None:
    with connect(hyper_server_h2c, force_proto="http/1.1") as conn:
        fetch(conn)
        assert conn.version is HTTPVersion.http11
    assert hyper_server_h2c.requests[0].header("upgrade") is None


def test_no_offer_through_a_cleartext_proxy(hyper_server_factory: Factory) -> None:
    proxy = hyper_server_factory(tls=False)  # the test server, seeing the proxy's side
    with HTTPConnection("example.test", proxy_host=proxy.authority, timeout=IO_TIMEOUT) as conn:
        conn.request("GET", "/get")
        conn.get_response().read()
    (request,) = proxy.requests
    assert request.target == "http://example.test/get"
    assert request.header("upgrade") is None


def _switch_in_one_write(request: Request, response: Response) -> None:
    """A server that sends 101 and the whole HTTP/2 answer in one write, then waits."""
    config = h2.config.H2Configuration(client_side=False, header_encoding=None)
    server_h2 = h2.connection.H2Connection(config=config)
    server_h2.initiate_upgrade_connection((request.header("http2-settings") or "").encode())
    server_h2.send_headers(1, [(b":status", b"200"), (b"content-length", b"5")])
    server_h2.send_data(1, b"hello", end_stream=True)
    head = b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: H2C\r\n\r\n"
    response.send_raw(head + server_h2.data_to_send())
    request.server.sleep(IO_TIMEOUT)  # read nothing more; ends when the server closes


def test_frames_right_behind_the_101_are_not_lost(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(tls=False, h2c_upgrade=False)
    server.add_route("/switch", _switch_in_one_write)
    started = time.monotonic()
    with connect(server, timeout=2.0) as conn:
        conn.request("GET", "/switch")
        response = conn.get_response()
        assert (response.status, response.read()) == (200, b"hello")
        assert conn.version is HTTPVersion.http20
    assert time.monotonic() - started < 1.5  # nothing more was awaited from the server


def test_an_http2_only_cleartext_server_fails_clearly(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(tls=False, protocols=("h2",), expect_errors=True)
    started = time.monotonic()
    with connect(server, timeout=2.0) as conn:
        conn.request("GET", "/get")
        with pytest.raises(exc.InvalidResponseError, match="force_proto='h2'"):
            conn.get_response()
    assert time.monotonic() - started < 1.5


def test_an_unanswered_offer_times_out_and_is_made_again(hyper_server_factory: Factory) -> None:
    server = hyper_server_factory(tls=False, h2c_upgrade=False)
    started = time.monotonic()
    with connect(server, timeout=0.3) as conn:
        conn.request("GET", "/delay/2")
        with pytest.raises(exc.ReadTimeout):
            conn.get_response()
        assert time.monotonic() - started < 1.5
        assert fetch(conn)[0] is None
    assert [request.header("upgrade") for request in server.requests] == ["h2c", "h2c"]


def test_a_slow_answer_after_the_switch_stays_on_http2(hyper_server_h2c: Server) -> None:
    with connect(hyper_server_h2c, timeout=0.3) as conn:
        conn.request("GET", "/delay/2")
        with pytest.raises(exc.ReadTimeout):
            conn.get_response()  # the 101 came at once; the response on stream 1 did not
        assert conn.version is HTTPVersion.http20
        assert fetch(conn)[0] == 3
    assert hyper_server_h2c.connection_count == 1


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (101, [(b"Upgrade", b"h2c"), (b"Connection", b"Upgrade")], True),
        (101, [(b"upgrade", b" H2C ")], True),
        (101, [(b"Upgrade", b"websocket")], False),
        (101, [(b"Upgrade", b"h2c, websocket")], False),
        (101, [], False),
        (200, [(b"Upgrade", b"h2c")], False),
    ],
)
def test_is_h2c_switch(status: int, headers: list[tuple[bytes, bytes]], expected: bool) -> None:
    assert is_h2c_switch(status, headers) is expected


def test_offer_headers_carry_the_session_settings() -> None:
    names = [name.lower() for name, _ in offer_headers(False)]
    assert names == [b"connection", b"upgrade", b"http2-settings"]
    value = settings_header(False)
    padded = value + b"=" * (-len(value) % 4)
    frame = SettingsFrame(0)
    frame.parse_body(memoryview(base64.urlsafe_b64decode(padded)))
    assert frame.settings[SettingCodes.ENABLE_PUSH] == 0
    assert (
        frame.settings[SettingCodes.INITIAL_WINDOW_SIZE]
        == (_local_settings(False)[SettingCodes.INITIAL_WINDOW_SIZE])
    )


# --- the test server's side, driven by hand --------------------------------------------


def test_test_server_upgrade_by_hand(hyper_server_h2c: Server) -> None:
    client = h2.connection.H2Connection(h2.config.H2Configuration(header_encoding=None))
    settings = client.initiate_upgrade_connection() or b""
    head = (
        b"GET /get?by=hand HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: " + settings + b"\r\n\r\n"
    )
    with socket.create_connection(hyper_server_h2c.address, timeout=IO_TIMEOUT) as sock:
        sock.sendall(head + client.data_to_send())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536) or pytest.fail("the server closed early")
        switch, _, frames = received.partition(b"\r\n\r\n")
        assert switch.startswith(b"HTTP/1.1 101 ")
        body, ended = b"", False
        while not ended:
            for event in client.receive_data(frames):
                if isinstance(event, h2.events.DataReceived):
                    body += event.data
                ended = ended or isinstance(event, h2.events.StreamEnded)
            frames = b"" if ended else sock.recv(65536) or pytest.fail("the server closed early")
    assert json.loads(body)["args"] == {"by": "hand"}
    assert hyper_server_h2c.requests[0].stream_id == 1
