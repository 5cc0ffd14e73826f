"""Tests of hyper.testing's in-process server, driven by reference clients.

hyper's own client is not used here: the server is proved with curl, nghttp
(where installed; in CI both are required) and with h2/h11 driven directly
over a socket by the small clients below, which also show how frame-level
assertions are written. Module-scoped servers serve the route matrix; tests
that change routes, hooks or settings start their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h11
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import ExtensionFrame, HeadersFrame, PingFrame

import hyper.testing._server as server_module
from hyper.testing import (
    ClientDisconnected,
    H2Handle,
    Request,
    Response,
    Server,
    payload,
    payload_chunks,
)

IN_CI = os.environ.get("CI") == "true"

#: Bound on every wait in these tests.
IO_TIMEOUT = 10.0


# --- reference tools -------------------------------------------------------


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is required in CI but is not installed")
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture(scope="session")
def curl_bin() -> str:
    path = _require("curl")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    if "HTTP2" not in version.stdout:
        if IN_CI:
            pytest.fail("curl lacks HTTP/2 support")
        pytest.skip("curl lacks HTTP/2 support")
    return path


@pytest.fixture(scope="session")
def nghttp_bin() -> str:
    return _require("nghttp")


@dataclasses.dataclass
class CurlResult:
    returncode: int
    stderr: str
    http_version: str
    status: int
    redirects: int
    headers: dict[str, str]
    trailers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _parse_header_dump(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Headers of the last response in a ``curl -D`` dump, and its trailers."""
    blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
    heads = [i for i, b in enumerate(blocks) if b.startswith("HTTP/")]
    if not heads:
        return {}, {}

    def fields(block: str) -> dict[str, str]:
        pairs = [line.split(":", 1) for line in block.split("\r\n") if ":" in line]
        return {k.strip().lower(): v.strip() for k, v in pairs}

    last = heads[-1]
    head = fields(blocks[last].split("\r\n", 1)[1] if "\r\n" in blocks[last] else "")
    trailers = fields("\r\n".join(blocks[last + 1 :]))
    return head, trailers


def run_curl(
    curl: str, server: Server, path: str, *, http2: bool, args: tuple[str, ...] = ()
) -> CurlResult:
    """Fetch *path* with curl, forcing HTTP/2 (ALPN or prior knowledge) or 1.1."""
    cmd = [curl, "-sS", "--max-time", str(IO_TIMEOUT), "-D", "%HEADERS%"]
    cmd += ["-w", "%{stderr}\n@@ %{http_version} %{response_code} %{num_redirects}"]
    if server.tls:
        cmd += ["--cacert", server.ca_path]
    if http2:
        cmd.append("--http2" if server.tls else "--http2-prior-knowledge")
    else:
        cmd.append("--http1.1")
    cmd += [*args, server.url + path]
    header_file = Path(server.ca_path).parent / f"headers-{threading.get_ident()}"
    cmd[cmd.index("%HEADERS%")] = str(header_file)
    done = subprocess.run(cmd, capture_output=True, timeout=IO_TIMEOUT + 5)
    stderr = done.stderr.decode(errors="replace")
    summary = stderr.rsplit("@@ ", 1)[-1].split()
    headers, trailers = _parse_header_dump(
        header_file.read_bytes().decode("latin-1") if header_file.exists() else ""
    )
    return CurlResult(
        returncode=done.returncode,
        stderr=stderr,
        http_version=summary[0] if summary else "",
        status=int(summary[1]) if len(summary) > 1 else 0,
        redirects=int(summary[2]) if len(summary) > 2 else 0,
        headers=headers,
        trailers=trailers,
        body=done.stdout,
    )


# --- direct protocol clients -------------------------------------------------


@dataclasses.dataclass
class StreamResult:
    """What an :class:`H2TestClient` saw on one stream."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = dataclasses.field(default_factory=list)
    informational: list[list[tuple[bytes, bytes]]] = dataclasses.field(default_factory=list)
    body: bytearray = dataclasses.field(default_factory=bytearray)
    data_frames: list[int] = dataclasses.field(default_factory=list)
    trailers: list[tuple[bytes, bytes]] = dataclasses.field(default_factory=list)
    ended: bool = False
    reset_code: int | None = None

    @property
    def done(self) -> bool:
        return self.ended or self.reset_code is not None

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def json(self) -> Any:
        return json.loads(bytes(self.body))


def _connect(server: Server, alpn: tuple[str, ...]) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=IO_TIMEOUT)
    if server.tls:
        return server.ssl_context(alpn).wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


class H2TestClient:
    """A minimal HTTP/2 client on h2, for frame-level assertions.

    Streams in :attr:`hold` get no stream-level WINDOW_UPDATE (the
    connection window is still replenished) until :meth:`release`.
    """

    def __init__(self, server: Server, *, settings: dict[int, int] | None = None) -> None:
        self.server = server
        self.sock = _connect(server, ("h2",))
        if server.tls:
            assert isinstance(self.sock, ssl.SSLSocket)
            assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.streams: dict[int, StreamResult] = {}
        self.events: list[h2.events.Event] = []
        self.hold: set[int] = set()
        self._held: dict[int, int] = {}
        self.closed = False
        self._flush()

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        keep_open: bool = False,
    ) -> int:
        """Open a stream; with *keep_open* and no *body*, leave it open to send on."""
        sid = self.conn.get_next_available_stream_id()
        fields = [
            (":method", method),
            (":scheme", "https" if self.server.tls else "http"),
            (":authority", self.server.authority),
            (":path", path),
            *headers,
        ]
        self.streams[sid] = StreamResult()
        self.conn.send_headers(sid, fields, end_stream=body is None and not keep_open)
        self._flush()
        if body is not None:
            self.send_body(sid, body)
        return sid

    def send_body(self, sid: int, data: bytes) -> None:
        """Send *data* and end the stream, never exceeding the server's windows."""
        view = memoryview(data)
        while view:
            self.wait(lambda: self.conn.local_flow_control_window(sid) > 0)
            size = min(
                self.conn.local_flow_control_window(sid),
                self.conn.max_outbound_frame_size,
                len(view),
            )
            self.conn.send_data(sid, view[:size].tobytes(), end_stream=size == len(view))
            view = view[size:]
            self._flush()
        if not data:
            self.conn.end_stream(sid)
            self._flush()

    def release(self, sid: int) -> None:
        self.hold.discard(sid)
        held = self._held.pop(sid, 0)
        if held:
            self.conn.increment_flow_control_window(held, stream_id=sid)
            self._flush()

    def response(self, sid: int, timeout: float = IO_TIMEOUT) -> StreamResult:
        self.wait(lambda: self.streams[sid].done, timeout)
        return self.streams[sid]

    def get(self, path: str) -> StreamResult:
        return self.response(self.request(path))

    def wait(self, predicate: Callable[[], bool], timeout: float = IO_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server did not answer in time")
            if self.closed:
                raise ConnectionError("the server closed the connection")
            self.pump(min(remaining, 0.05))  # predicates may watch the server too

    def pump(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            self.events.append(event)
            self._on_event(event)
        self._flush()

    def _on_event(self, event: h2.events.Event) -> None:
        stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if stream is None:
            return
        if isinstance(event, h2.events.ResponseReceived):
            stream.headers = list(event.headers)
            stream.status = int(dict(event.headers)[b":status"])
        elif isinstance(event, h2.events.InformationalResponseReceived):
            stream.informational.append(list(event.headers))
        elif isinstance(event, h2.events.DataReceived):
            stream.body += event.data
            stream.data_frames.append(len(event.data))
            self._ack(event.stream_id, event.flow_controlled_length)
        elif isinstance(event, h2.events.TrailersReceived):
            stream.trailers = list(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = True
        elif isinstance(event, h2.events.StreamReset):
            stream.reset_code = event.error_code

    def _ack(self, sid: int, size: int) -> None:
        if sid in self.hold:
            self._held[sid] = self._held.get(sid, 0) + size
            self.conn.increment_flow_control_window(size)
        else:
            self.conn.acknowledge_received_data(size, sid)

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)


@dataclasses.dataclass
class H11Result:
    response: h11.Response
    body: bytes
    data_events: int
    trailers: list[tuple[bytes, bytes]]

    def json(self) -> Any:
        return json.loads(self.body)


class H11TestClient:
    """A minimal HTTP/1.1 client on h11, keeping its connection alive."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sock = _connect(server, ("http/1.1",))
        self.conn = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        self.sock.close()

    def send(self, *events: h11.Event) -> None:
        for event in events:
            data = self.conn.send(event)
            if data:
                self.sock.sendall(data)

    def next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(self.sock.recv(65536))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> H11Result:
        fields = [("host", self.server.authority), *headers]
        if body:
            fields.append(("content-length", str(len(body))))
        self.send(h11.Request(method=method, target=path, headers=fields))
        if body:
            self.send(h11.Data(data=body))
        self.send(h11.EndOfMessage())
        return self.read_response()

    def read_response(self) -> H11Result:
        response = self.next_event()
        while isinstance(response, h11.InformationalResponse):
            response = self.next_event()
        assert isinstance(response, h11.Response), response
        body, count = bytearray(), 0
        while not isinstance(event := self.next_event(), h11.EndOfMessage):
            body += event.data
            count += 1
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return H11Result(response, bytes(body), count, list(event.headers))


def raw_exchange(server: Server, request: bytes) -> bytes:
    """Send *request* bytes and return everything the server sends until EOF."""
    with _connect(server, ("http/1.1",)) as sock:
        sock.sendall(request)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
        return bytes(received)


# --- servers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Server]:
    with Server() as server:
        yield server


@pytest.fixture(scope="module")
def clear_server() -> Iterator[Server]:
    with Server(tls=False) as server:
        yield server


TRANSPORTS = {
    "h2-tls": (True, True),
    "h2c": (False, True),
    "http1.1-tls": (True, False),
    "http1.1-clear": (False, False),
}


@pytest.fixture(params=list(TRANSPORTS))
def transport(
    request: pytest.FixtureRequest, tls_server: Server, clear_server: Server
) -> tuple[Server, bool]:
    """(server, http2) for each of the four transports."""
    tls, http2 = TRANSPORTS[request.param]
    return (tls_server if tls else clear_server), http2


# --- the demonstration --------------------------------------------------------


def test_harness_demo(tls_server: Server) -> None:
    """How the helpers read: one request each through the h2 and h11 clients."""
    h2_client = H2TestClient(tls_server)
    result = h2_client.get("/get?hello=world")
    h2_client.close()
    assert result.status == 200
    assert result.json()["args"] == {"hello": "world"}
    assert result.json()["protocol"] == "h2"

    h11_client = H11TestClient(tls_server)
    answer = h11_client.request("GET", "/get")
    h11_client.close()
    assert answer.response.status_code == 200
    assert answer.json()["http_version"] == "HTTP/1.1"


# --- the default routes, through curl on every transport --------------------


@dataclasses.dataclass
class RouteCase:
    path: str
    check: Callable[[CurlResult, bool], None]
    args: tuple[str, ...] = ()


def _check_get(r: CurlResult, http2: bool) -> None:
    body = r.json()
    assert r.status == 200
    assert body["method"] == "GET"
    assert body["path"] == "/get"
    assert body["args"] == {"x": ["1", "2"], "y": "3"}
    assert body["http_version"] == ("HTTP/2" if http2 else "HTTP/1.1")
    assert body["protocol"] == ("h2" if http2 else "http/1.1")
    assert body["headers"]["user-agent"].startswith("curl/")


def _check_post(r: CurlResult, http2: bool) -> None:
    body = r.json()
    assert (r.status, body["method"], body["data"]) == (200, "POST", "hello world")
    assert body["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()


def _check_anything(r: CurlResult, http2: bool) -> None:
    body = r.json()
    assert (body["method"], body["path"], body["body_length"]) == ("PUT", "/anything/x/y", 3)
    assert body["body_base64"] == "AP+A"  # b"\x00\xff\x80": not UTF-8
    assert body["data"] is None


def _check_bytes(r: CurlResult, http2: bool) -> None:
    assert r.status == 200
    assert r.headers["content-length"] == "100000"
    assert r.body == payload(100000, seed=7)


def _check_stream(r: CurlResult, http2: bool) -> None:
    lines = [json.loads(line) for line in r.body.splitlines()]
    assert [line["id"] for line in lines] == [0, 1, 2, 3, 4]


def _check_status(r: CurlResult, http2: bool) -> None:
    assert (r.status, r.body) == (418, b"")


def _check_redirect(r: CurlResult, http2: bool) -> None:
    assert (r.status, r.redirects, r.json()["path"]) == (200, 3, "/get")


def _check_coding(coding: str) -> Callable[[CurlResult, bool], None]:
    def check(r: CurlResult, http2: bool) -> None:
        assert r.headers["content-encoding"] == coding
        assert r.json()["method"] == "GET"  # curl decoded it

    return check


def _check_trailers(r: CurlResult, http2: bool) -> None:
    assert r.body == b"this body is followed by trailers\n"
    assert r.trailers["x-trailer"] == "end"
    assert r.trailers["x-body-sha256"] == hashlib.sha256(r.body).hexdigest()


def _check_delay(r: CurlResult, http2: bool) -> None:
    assert (r.status, r.json()["path"]) == (200, "/delay/0.2")


def _check_cookies(r: CurlResult, http2: bool) -> None:
    assert r.redirects == 1
    assert r.json() == {"cookies": {"a": "1", "b": "2"}}


def _check_upload(r: CurlResult, http2: bool) -> None:
    upload = payload(1_000_000, seed=1)
    assert r.json()["length"] == len(upload)
    assert r.json()["sha256"] == hashlib.sha256(upload).hexdigest()


def _check_status_only(status: int) -> Callable[[CurlResult, bool], None]:
    def check(r: CurlResult, http2: bool) -> None:
        assert r.status == status

    return check


def _check_head(r: CurlResult, http2: bool) -> None:
    # With --head curl prints the head on stdout: it must be all there is.
    head, _ = _parse_header_dump(r.body.decode("latin-1"))
    assert r.status == 200
    assert int(head["content-length"]) > 0
    assert r.body.endswith(b"\r\n\r\n")


ROUTES = {
    "get": RouteCase("/get?x=1&x=2&y=3", _check_get),
    "head": RouteCase("/get", _check_head, ("--head",)),
    "post": RouteCase("/post", _check_post, ("--data-binary", "hello world")),
    "anything": RouteCase("/anything/x/y", _check_anything, ("-X", "PUT", "--data-binary", "@BIN")),
    "bytes": RouteCase("/bytes/100000?seed=7", _check_bytes),
    "stream": RouteCase("/stream/5", _check_stream),
    "status": RouteCase("/status/418", _check_status),
    "redirect": RouteCase("/redirect/3", _check_redirect, ("-L",)),
    "gzip": RouteCase("/gzip", _check_coding("gzip"), ("--compressed",)),
    "deflate": RouteCase("/deflate", _check_coding("deflate"), ("--compressed",)),
    "brotli": RouteCase("/brotli", _check_coding("br"), ("--compressed",)),
    "zstd": RouteCase("/zstd", _check_coding("zstd"), ("--compressed",)),
    "trailers": RouteCase("/trailers", _check_trailers),
    "delay": RouteCase("/delay/0.2", _check_delay),
    "cookies": RouteCase("/cookies/set?a=1&b=2", _check_cookies, ("-L", "-b", "")),
    "upload": RouteCase("/upload", _check_upload, ("--data-binary", "@UPLOAD")),
    "discard": RouteCase("/post?discard=1", _check_upload, ("--data-binary", "@UPLOAD")),
    "not-found": RouteCase("/no/such/route", _check_status_only(404)),
    "wrong-method": RouteCase("/get", _check_status_only(405), ("-X", "DELETE")),
    "bad-parameter": RouteCase("/bytes/lots", _check_status_only(400)),
}


@pytest.mark.parametrize("case", list(ROUTES))
def test_default_route(
    case: str, transport: tuple[Server, bool], curl_bin: str, tmp_path: Path
) -> None:
    server, http2 = transport
    route = ROUTES[case]
    files = {"@BIN": b"\x00\xff\x80", "@UPLOAD": payload(1_000_000, seed=1)}
    args = list(route.args)
    for marker, content in files.items():
        if marker in args:
            path = tmp_path / marker[1:]
            path.write_bytes(content)
            args[args.index(marker)] = "@" + str(path)
    if http2 and not server.tls and "-L" in args:
        # curl 7.88 cannot reuse an h2c prior-knowledge connection (it fails
        # with "Error in the HTTP2 framing layer", against nghttpd too), so
        # check the first hop here; test_h2c_redirect_chain follows the rest.
        args.remove("-L")
        result = run_curl(curl_bin, server, route.path, http2=True, args=tuple(args))
        assert (result.status, result.redirects) == (302, 0), result.stderr
        assert result.headers["location"].startswith("/")
        return
    result = run_curl(curl_bin, server, route.path, http2=http2, args=tuple(args))
    assert result.returncode == 0, result.stderr
    assert result.http_version == ("2" if http2 else "1.1")
    route.check(result, http2)


def test_h2c_redirect_chain(clear_server: Server) -> None:
    client = H2TestClient(clear_server)
    path, hops = "/redirect/3", []
    while (result := client.get(path)).status == 302:
        location = result.header(b"location")
        assert location is not None
        path = location.decode()
        hops.append(path)
    assert hops == ["/redirect/2", "/redirect/1", "/get"]
    cookie_hop = client.get("/cookies/set?a=1&b=2")
    assert cookie_hop.header(b"location") == b"/cookies"
    assert [v for k, v in cookie_hop.headers if k == b"set-cookie"] == [
        b"a=1; Path=/",
        b"b=2; Path=/",
    ]
    sid = client.request("/cookies", headers=(("cookie", "a=1"), ("cookie", "b=2")))
    assert client.response(sid).json() == {"cookies": {"a": "1", "b": "2"}}
    client.close()


def test_delay_waits(clear_server: Server) -> None:
    client = H2TestClient(clear_server)
    started = time.monotonic()
    assert client.get("/delay/0.3").status == 200
    assert time.monotonic() - started >= 0.3
    client.close()


@pytest.mark.parametrize("http2", [True, False], ids=["h2", "http1.1"])
def test_stream_route_sends_separate_pieces(tls_server: Server, http2: bool) -> None:
    if http2:
        client = H2TestClient(tls_server)
        pieces = len([size for size in client.get("/stream/4").data_frames if size])
        client.close()
    else:
        h11_client = H11TestClient(tls_server)
        pieces = h11_client.request("GET", "/stream/4").data_events
        h11_client.close()
    assert pieces == 4


def test_payload_is_deterministic() -> None:
    assert payload(200_000, seed=3) == b"".join(payload_chunks(200_000, seed=3))
    assert payload(1000, seed=3) == payload(200_000, seed=3)[:1000]
    assert payload(1000, seed=3) != payload(1000, seed=4)
    assert payload(0) == b""
    with pytest.raises(ValueError):
        payload(-1)
    with pytest.raises(TypeError):
        payload(1.5)  # type: ignore[arg-type]


# --- protocol selection -------------------------------------------------------


@pytest.mark.parametrize(
    ("server_protocols", "client_offers", "expected"),
    [
        (("h2", "http/1.1"), ("h2", "http/1.1"), "h2"),
        (("h2", "http/1.1"), ("http/1.1",), "http/1.1"),
        (("http/1.1",), ("h2", "http/1.1"), "http/1.1"),
        (("h2",), ("h2", "http/1.1"), "h2"),
    ],
)
def test_alpn_picks_the_protocol(
    server_protocols: tuple[str, ...], client_offers: tuple[str, ...], expected: str
) -> None:
    with Server(protocols=server_protocols) as server:
        with _connect(server, client_offers) as sock:
            assert isinstance(sock, ssl.SSLSocket)
            assert sock.selected_alpn_protocol() == expected
        if expected == "h2":
            client = H2TestClient(server)
            assert client.get("/get").json()["protocol"] == "h2"
            client.close()
        else:
            h11_client = H11TestClient(server)
            assert h11_client.request("GET", "/get").json()["protocol"] == "http/1.1"
            h11_client.close()
    protocols = {c.protocol for c in server.connections}
    assert protocols == {expected}
    assert {c.alpn for c in server.connections} == {expected}


def test_cleartext_sniffs_the_preface() -> None:
    with Server(tls=False) as server:
        client = H2TestClient(server)
        assert client.get("/get").json()["protocol"] == "h2"
        client.close()
        h11_client = H11TestClient(server)
        assert h11_client.request("GET", "/get").json()["protocol"] == "http/1.1"
        h11_client.close()
    assert [(c.protocol, c.tls, c.alpn) for c in server.connections] == [
        ("h2", False, None),
        ("http/1.1", False, None),
    ]


def test_client_context_trusts_only_its_own_ca() -> None:
    with Server() as first, Server() as second:
        with _connect(second, ("h2",)) as sock:
            assert isinstance(sock, ssl.SSLSocket)
        ctx = first.ssl_context()
        raw = socket.create_connection(second.address, timeout=IO_TIMEOUT)
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        raw.close()
        deadline = time.monotonic() + IO_TIMEOUT
        while not second.handshake_failures and time.monotonic() < deadline:
            time.sleep(0.01)
        assert second.handshake_failures
    assert first.handshake_failures == []


# --- connection reuse and multiplexing ---------------------------------------


def test_http11_keep_alive_reuses_one_connection() -> None:
    with Server(tls=False) as server:
        client = H11TestClient(server)
        first = client.request("GET", "/get").json()
        second = client.request("POST", "/post", body=b"x").json()
        client.close()
    assert first["connection_id"] == second["connection_id"] == 1
    assert server.connection_count == 1
    assert [(r.method, r.path, r.protocol, r.connection.id) for r in server.requests] == [
        ("GET", "/get", "http/1.1", 1),
        ("POST", "/post", "http/1.1", 1),
    ]


def test_expect_100_continue_is_answered(clear_server: Server) -> None:
    client = H11TestClient(clear_server)
    fields = [("host", "x"), ("content-length", "5"), ("expect", "100-continue")]
    client.send(h11.Request(method="POST", target="/post", headers=fields))
    interim = client.next_event()
    assert isinstance(interim, h11.InformationalResponse)
    assert interim.status_code == 100
    client.send(h11.Data(data=b"hello"), h11.EndOfMessage())
    assert client.read_response().json()["data"] == "hello"
    client.close()


def test_slow_stream_does_not_stall_a_fast_one(tls_server: Server) -> None:
    client = H2TestClient(tls_server)
    started = time.monotonic()
    slow = client.request("/delay/2")
    fast = client.response(client.request("/get"))
    fast_elapsed = time.monotonic() - started
    assert fast.status == 200
    assert not client.streams[slow].done
    assert fast_elapsed < 1.5
    assert client.response(slow).status == 200
    assert time.monotonic() - started >= 2
    ids = {(r.connection.id, r.stream_id) for r in tls_server.requests if r.connection.id}
    assert (fast.json()["connection_id"], slow) in ids
    assert fast.json()["connection_id"] == client.streams[slow].json()["connection_id"]
    client.close()


def test_unread_stream_does_not_stall_others(tls_server: Server) -> None:
    client = H2TestClient(tls_server)
    size = 1_000_000
    big = client.request(f"/bytes/{size}?seed=2")
    client.hold.add(big)
    assert client.get("/get").status == 200
    assert client.get("/stream/2").status == 200
    assert not client.streams[big].done
    assert len(client.streams[big].body) <= 65535  # the stream window, not more
    client.release(big)
    assert bytes(client.response(big).body) == payload(size, seed=2)
    client.close()


# --- flow control and large bodies -------------------------------------------


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_large_body_with_tiny_client_window(
    tls_server: Server, clear_server: Server, tls: bool
) -> None:
    server = tls_server if tls else clear_server
    client = H2TestClient(server, settings={SettingCodes.INITIAL_WINDOW_SIZE: 4096})
    size = 2_000_000
    result = client.response(client.request(f"/bytes/{size}?seed=9"))
    client.close()
    assert hashlib.sha256(result.body).digest() == hashlib.sha256(payload(size, 9)).digest()
    assert max(result.data_frames) <= 4096


def test_large_body_over_http11(tls_server: Server) -> None:
    client = H11TestClient(tls_server)
    size = 8_000_000
    result = client.request("GET", f"/bytes/{size}?seed=4&chunked=1")
    client.close()
    assert result.response.status_code == 200
    assert (b"transfer-encoding", b"chunked") in list(result.response.headers)
    assert hashlib.sha256(result.body).digest() == hashlib.sha256(payload(size, 4)).digest()


@pytest.mark.parametrize("http2", [True, False], ids=["h2", "http1.1"])
def test_large_body_hash_with_curl(tls_server: Server, curl_bin: str, http2: bool) -> None:
    size = 16 * 1024 * 1024
    result = run_curl(curl_bin, tls_server, f"/bytes/{size}?seed=11", http2=http2)
    assert result.returncode == 0, result.stderr
    expected = hashlib.sha256()
    for chunk in payload_chunks(size, seed=11):
        expected.update(chunk)
    assert hashlib.sha256(result.body).hexdigest() == expected.hexdigest()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_nghttp_with_tiny_windows(
    tls_server: Server, clear_server: Server, nghttp_bin: str, tls: bool
) -> None:
    server = tls_server if tls else clear_server
    size = 1_000_000
    url = f"{server.url}/bytes/{size}?seed=5"
    done = subprocess.run(
        [nghttp_bin, "-w", "12", "-W", "14", url],
        capture_output=True,
        timeout=IO_TIMEOUT + 5,
    )
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(payload(size, 5)).digest()


def test_tiny_server_settings_seen_by_client() -> None:
    settings = {
        SettingCodes.INITIAL_WINDOW_SIZE: 1000,
        SettingCodes.MAX_CONCURRENT_STREAMS: 3,
        SettingCodes.MAX_FRAME_SIZE: 16384,
    }
    with Server(tls=False, h2_settings=settings) as server:
        client = H2TestClient(server)
        upload = payload(300_000, seed=8)
        sid = client.request("/upload", method="POST", body=upload)
        result = client.response(sid)
        remote = client.conn.remote_settings
        client.close()
    assert (remote.initial_window_size, remote.max_concurrent_streams) == (1000, 3)
    assert result.json()["sha256"] == hashlib.sha256(upload).hexdigest()
    updates = [e for e in client.events if isinstance(e, h2.events.WindowUpdated)]
    assert len(updates) > 100  # the upload crept through 1000-byte windows


def test_curl_upload_respects_tiny_server_window(curl_bin: str, tmp_path: Path) -> None:
    upload = tmp_path / "upload"
    upload.write_bytes(payload(200_000, seed=6))
    settings = {SettingCodes.INITIAL_WINDOW_SIZE: 512}
    with Server(h2_settings=settings) as server:
        result = run_curl(
            curl_bin, server, "/upload", http2=True, args=("--data-binary", f"@{upload}")
        )
    assert result.returncode == 0, result.stderr
    assert result.json()["sha256"] == hashlib.sha256(upload.read_bytes()).hexdigest()


def test_small_data_frames() -> None:
    with Server(tls=False, h2_data_frame_size=7) as server:
        client = H2TestClient(server)
        result = client.get("/bytes/100")
        client.close()
    assert bytes(result.body) == payload(100)
    assert [size for size in result.data_frames if size] == [7] * 14 + [2]


# --- staged faults --------------------------------------------------------------


def test_reset_stream_from_a_handler(curl_bin: str) -> None:
    with Server() as server:

        @server.route("/reset")
        def reset(request: Request, response: Response) -> None:
            response.abort(int(request.arg("code") or 0))

        client = H2TestClient(server)
        result = client.get(f"/reset?code={ErrorCodes.REFUSED_STREAM:d}")
        assert client.get("/get").status == 200  # the connection lives on
        client.close()
        # (curl retries REFUSED_STREAM by itself, so it gets another code.)
        by_curl = run_curl(
            curl_bin, server, f"/reset?code={ErrorCodes.INTERNAL_ERROR:d}", http2=True
        )
    assert result.reset_code == ErrorCodes.REFUSED_STREAM
    assert by_curl.returncode == 92, by_curl.stderr  # CURLE_HTTP2_STREAM
    assert "INTERNAL_ERROR" in by_curl.stderr


def test_event_hook_resets_and_suppresses() -> None:
    seen: list[type[h2.events.Event]] = []
    with Server(tls=False) as server:

        @server.on_h2_event
        def hook(handle: H2Handle, event: h2.events.Event) -> bool:
            seen.append(type(event))
            hooked = isinstance(event, h2.events.RequestReceived) and (
                dict(event.headers)[b":path"] == b"/hooked"
            )
            if hooked:
                handle.reset_stream(event.stream_id, ErrorCodes.ENHANCE_YOUR_CALM)
            return hooked

        client = H2TestClient(server)
        result = client.get("/hooked")
        assert client.get("/get").status == 200
        client.close()
    assert result.reset_code == ErrorCodes.ENHANCE_YOUR_CALM
    assert [r.path for r in server.requests] == ["/get"]
    assert h2.events.RemoteSettingsChanged in seen
    assert seen.count(h2.events.RequestReceived) == 2


def test_event_hook_can_withhold_window_updates() -> None:
    with Server(tls=False) as server:

        @server.on_h2_event
        def swallow(handle: H2Handle, event: h2.events.Event) -> bool:
            return isinstance(event, h2.events.DataReceived)

        client = H2TestClient(server)
        sid = client.request("/upload", method="POST", keep_open=True)
        for _ in range(4):  # 4 x 16383 bytes: most of the 65535-byte window
            client.conn.send_data(sid, b"x" * 16383)
        client.conn.send_data(sid, b"x" * 3)
        client._flush()
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # give the server time to (not) answer
            client.pump(0.1)
        assert client.conn.local_flow_control_window(sid) == 0
        assert not client.streams[sid].done
        client.conn.reset_stream(sid, ErrorCodes.CANCEL)
        client._flush()
        assert client.get("/get").status == 200
        client.close()
    assert server.errors == []


def _add_goaway_route(server: Server, *, before_body: bool) -> None:
    @server.route("/last")
    def last(request: Request, response: Response) -> None:
        if before_body:
            response.h2.goaway(request.stream_id, ErrorCodes.NO_ERROR, b"draining")
        response.send(b"finished")
        if not before_body:
            response.h2.goaway(request.stream_id, ErrorCodes.NO_ERROR, b"draining")


def test_goaway_reaches_the_h2_client() -> None:
    with Server() as server:
        # h2's client state machine accepts no frame after GOAWAY, so here it
        # follows the response; the curl and nghttp tests send it before.
        _add_goaway_route(server, before_body=False)
        client = H2TestClient(server)
        result = client.get("/last")
        client.wait(
            lambda: any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events)
        )
        client.close()
    goaway = next(e for e in client.events if isinstance(e, h2.events.ConnectionTerminated))
    assert (goaway.last_stream_id, goaway.additional_data) == (1, b"draining")
    assert goaway.error_code == ErrorCodes.NO_ERROR
    assert bytes(result.body) == b"finished"


def test_goaway_lets_the_in_flight_stream_finish(curl_bin: str) -> None:
    with Server() as server:
        _add_goaway_route(server, before_body=True)
        result = run_curl(curl_bin, server, "/get", http2=True, args=(server.url + "/last",))
    assert result.returncode == 0, result.stderr
    assert result.body.startswith(b"finished")
    assert json.loads(result.body[len(b"finished") :])["connection_id"] == 2  # a new one
    assert server.connection_count == 2


def test_goaway_seen_by_nghttp(nghttp_bin: str) -> None:
    with Server() as server:
        _add_goaway_route(server, before_body=True)
        done = subprocess.run(
            [nghttp_bin, "-v", server.url + "/last"], capture_output=True, timeout=IO_TIMEOUT
        )
    output = done.stdout.decode(errors="replace")
    assert done.returncode == 0, output
    assert "recv GOAWAY" in output
    assert "error_code=NO_ERROR(0x00), opaque_data(8)=[draining]" in output
    assert output.index("recv GOAWAY") < output.index("finished")


def test_goaway_on_connect_reaches_curl(curl_bin: str) -> None:
    with Server() as server:

        @server.on_h2_connect
        def refuse(handle: H2Handle) -> None:
            handle.goaway(0, ErrorCodes.ENHANCE_YOUR_CALM)
            handle.close()

        result = run_curl(curl_bin, server, "/get", http2=True)
    assert result.returncode != 0
    assert server.requests == []


def test_raw_frames_are_injected_in_order() -> None:
    with Server(tls=False) as server:

        @server.route("/raw-frames")
        def raw_frames(request: Request, response: Response) -> None:
            handle = response.h2
            handle.send_frame(PingFrame(0, opaque_data=b"12345678"))
            handle.send_frame(ExtensionFrame(0xFA, 0, flag_byte=0, body=b"ext"))
            block = handle.encode_headers([(":status", "103"), ("link", "</a.css>")])
            handle.send_frame(
                HeadersFrame(request.stream_id or 0, data=block, flags=["END_HEADERS"])
            )
            response.send(b"after", headers=[("x-after", "yes")])

        client = H2TestClient(server)
        result = client.get("/raw-frames")
        client.close()
    pings = [e for e in client.events if isinstance(e, h2.events.PingReceived)]
    unknown = [e for e in client.events if isinstance(e, h2.events.UnknownFrameReceived)]
    assert [p.ping_data for p in pings] == [b"12345678"]
    assert unknown[0].frame.type == 0xFA
    assert result.informational == [[(b":status", b"103"), (b"link", b"</a.css>")]]
    assert (bytes(result.body), result.header(b"x-after")) == (b"after", b"yes")


def test_informational_responses() -> None:
    with Server(tls=False) as server:

        @server.route("/hints")
        def hints(request: Request, response: Response) -> None:
            response.informational(103, [("link", "</a.css>")])
            response.send(b"final")

        client = H2TestClient(server)
        result = client.get("/hints")
        client.close()
        h11_client = H11TestClient(server)
        h11_client.send(h11.Request(method="GET", target="/hints", headers=[("host", "x")]))
        h11_client.send(h11.EndOfMessage())
        interim = h11_client.next_event()
        final = h11_client.read_response()
        h11_client.close()
    assert result.informational == [[(b":status", b"103"), (b"link", b"</a.css>")]]
    assert bytes(result.body) == b"final"
    assert (interim.status_code, list(interim.headers)) == (103, [(b"link", b"</a.css>")])
    assert final.body == b"final"


def test_request_trailers_reach_the_handler() -> None:
    with Server(tls=False) as server:

        @server.route("/echo-trailers")
        def echo_trailers(request: Request, response: Response) -> None:
            body = b"".join(request.iter_body())
            response.send_json({"body": body.decode(), "trailers": request.trailers})

        client = H2TestClient(server)
        sid = client.request("/echo-trailers", method="POST", keep_open=True)
        client.conn.send_data(sid, b"payload")
        client.conn.send_headers(sid, [("x-check", "42")], end_stream=True)
        client._flush()
        over_h2 = client.response(sid).json()
        client.close()
        h11_client = H11TestClient(server)
        fields = [("host", "x"), ("transfer-encoding", "chunked")]
        h11_client.send(h11.Request(method="POST", target="/echo-trailers", headers=fields))
        h11_client.send(h11.Data(data=b"payload"), h11.EndOfMessage(headers=[("x-check", "42")]))
        over_h11 = h11_client.read_response().json()
        h11_client.close()
    assert over_h2 == over_h11 == {"body": "payload", "trailers": [["x-check", "42"]]}


def test_malformed_http11_request_gets_400_and_is_recorded() -> None:
    server = Server(tls=False, protocols=("http/1.1",)).start()
    received = raw_exchange(server, b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
    with pytest.raises(h11.RemoteProtocolError):
        server.__exit__(None, None, None)
    assert received.startswith(b"HTTP/1.1 400 ")


def test_settings_can_change_mid_connection() -> None:
    with Server(tls=False) as server:

        @server.route("/resettle")
        def resettle(request: Request, response: Response) -> None:
            response.h2.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 5})
            response.send(b"done")

        client = H2TestClient(server)
        assert client.get("/resettle").body == b"done"
        client.wait(lambda: client.conn.remote_settings.max_concurrent_streams == 5)
        client.close()
    changes = [e for e in client.events if isinstance(e, h2.events.RemoteSettingsChanged)]
    assert len(changes) == 2  # the preface's SETTINGS, then the update


def test_bad_frame_breaks_the_client(nghttp_bin: str) -> None:
    with Server() as server:

        @server.route("/bad-frame")
        def bad_frame(request: Request, response: Response) -> None:
            response.start(200)
            # A DATA frame on stream 0: a connection error of type PROTOCOL_ERROR.
            response.send_raw(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
            response.finish()

        client = H2TestClient(server)
        sid = client.request("/bad-frame")
        with pytest.raises(h2.exceptions.ProtocolError):
            client.response(sid)
        client.close()
        done = subprocess.run(
            [nghttp_bin, "-v", server.url + "/bad-frame"], capture_output=True, timeout=IO_TIMEOUT
        )
    output = done.stdout.decode(errors="replace")
    assert "send GOAWAY" in output
    assert "error_code=PROTOCOL_ERROR(0x01)" in output


RAW_RESPONSES = {
    "bad-status-line": b"HTTP/1.1 2OO Okay\r\ncontent-length: 2\r\n\r\nok",
    "truncated-body": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "bad-chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "clear"])
@pytest.mark.parametrize("name", list(RAW_RESPONSES))
def test_raw_http11_response_is_byte_exact(tls: bool, name: str) -> None:
    with Server(tls=tls, protocols=("http/1.1",)) as server:

        @server.route("/raw")
        def raw(request: Request, response: Response) -> None:
            response.send_raw(RAW_RESPONSES[name])

        received = raw_exchange(server, b"GET /raw HTTP/1.1\r\nHost: x\r\n\r\n")
    assert received == RAW_RESPONSES[name]


def test_abort_truncates_an_http11_body(curl_bin: str) -> None:
    with Server(tls=False) as server:

        @server.route("/cut")
        def cut(request: Request, response: Response) -> None:
            response.start(200, [("content-length", "100")])
            response.write(b"0123456789")
            response.abort()

        received = raw_exchange(server, b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
        by_curl = run_curl(curl_bin, server, "/cut", http2=False)
    assert received.endswith(b"\r\n\r\n0123456789")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert by_curl.returncode == 18  # CURLE_PARTIAL_FILE
    assert by_curl.body == b"0123456789"


# --- errors and lifecycle -----------------------------------------------------


@pytest.mark.parametrize("http2", [True, False], ids=["h2", "http1.1"])
def test_handler_exception_is_raised_on_exit(curl_bin: str, http2: bool) -> None:
    server = Server().start()

    @server.route("/boom")
    def boom(request: Request, response: Response) -> None:
        _ = 1 // 0

    result = run_curl(curl_bin, server, "/boom", http2=http2)
    with pytest.raises(ZeroDivisionError):
        server.__exit__(None, None, None)
    assert result.status == 500
    assert len(server.errors) == 1


def test_handler_exception_after_head_resets_the_stream() -> None:
    with Server(tls=False, expect_errors=True) as server:

        @server.route("/half")
        def half(request: Request, response: Response) -> None:
            response.start(200)
            response.write(b"partial")
            raise KeyError("half-way")

        client = H2TestClient(server)
        result = client.get("/half")
        client.close()
    assert result.reset_code == ErrorCodes.INTERNAL_ERROR
    assert bytes(result.body) == b"partial"
    assert [type(e) for e in server.errors] == [KeyError]
    with pytest.raises(KeyError):
        server.check()


def test_client_going_away_is_not_an_error() -> None:
    with Server(tls=False) as server:
        client = H2TestClient(server)
        sid = client.request("/bytes/50000000")
        client.wait(lambda: len(client.streams[sid].body) > 0)
        client.conn.reset_stream(sid, ErrorCodes.CANCEL)
        client._flush()
        assert client.get("/get").status == 200
        other = client.request("/bytes/50000000")
        client.wait(lambda: len(client.streams[other].body) > 0)
        client.close()
        h11_client = H11TestClient(server)
        h11_client.send(
            h11.Request(method="GET", target="/bytes/50000000", headers=[("host", "x")])
        )
        h11_client.send(h11.EndOfMessage())
        h11_client.close()
    assert server.errors == []


def test_client_protocol_error_is_recorded() -> None:
    server = Server(tls=False).start()
    with socket.create_connection(server.address, timeout=IO_TIMEOUT) as sock:
        # The preface, then a DATA frame on stream 0: a connection error.
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        sock.sendall(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    with pytest.raises(h2.exceptions.ProtocolError):
        server.__exit__(None, None, None)
    assert b"\x07\x00\x00\x00\x00\x00" in received  # a GOAWAY frame came back


def test_shutdown_is_prompt_with_open_connections() -> None:
    before = set(threading.enumerate())
    server = Server().start()
    idle = socket.create_connection(server.address, timeout=IO_TIMEOUT)
    client = H2TestClient(server)
    client.request("/delay/10")
    h11_client = H11TestClient(server)
    h11_client.request("GET", "/get")
    started = time.monotonic()
    server.close()
    elapsed = time.monotonic() - started
    server.check()
    for sock in (idle, client.sock, h11_client.sock):
        sock.close()
    assert elapsed < 2.0
    leftovers = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("hyper-")]
    assert leftovers == []


def test_stuck_handler_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "SHUTDOWN_TIMEOUT", 0.3)
    release = threading.Event()
    server = Server(tls=False).start()

    @server.route("/stuck")
    def stuck(request: Request, response: Response) -> None:
        release.wait(IO_TIMEOUT)  # ignores the server's shutdown on purpose

    client = H2TestClient(server)
    client.request("/stuck")
    client.wait(lambda: bool(server.requests))
    server.close()
    release.set()
    client.close()
    with pytest.raises(RuntimeError, match="did not stop"):
        server.check()


def test_server_reports_its_addresses() -> None:
    server = Server(tls=False)
    assert "new" in repr(server)
    with server:
        assert server.address == ("127.0.0.1", server.port)
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert "running" in repr(server)
        assert "/get" in server.routes
        with pytest.raises(RuntimeError):
            server.start()
    assert "stopped" in repr(server)
    with Server() as tls:
        assert tls.url == f"https://127.0.0.1:{tls.port}"
        ca_file = Path(tls.ca_path)
        assert ca_file.read_bytes() == tls.ca.cert_pem.bytes()
    assert not ca_file.exists()
    with pytest.raises(RuntimeError):
        _ = tls.ca_path


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"protocols": "h2"}, TypeError),
        ({"protocols": ("spdy/3",)}, ValueError),
        ({"protocols": ()}, ValueError),
        ({"h2_settings": {SettingCodes.INITIAL_WINDOW_SIZE: 2**31}}, ValueError),
        ({"h2_settings": {SettingCodes.MAX_FRAME_SIZE: 100}}, ValueError),
        ({"h2_data_frame_size": 0}, ValueError),
        ({"io_timeout": 0}, ValueError),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Server(**kwargs)


def test_handler_misuse_is_reported() -> None:
    problems: list[type[Exception]] = []
    with Server(tls=False) as server:

        @server.route("/misuse")
        def misuse(request: Request, response: Response) -> None:
            for bad in (
                lambda: response.start(99),
                lambda: response.start("200"),  # type: ignore[arg-type]
                lambda: response.write("text"),  # type: ignore[arg-type]
                lambda: response.informational(200),
                lambda: response.send(b"", headers=[("x", 1)]),  # type: ignore[list-item]
            ):
                try:
                    bad()
                except (TypeError, ValueError) as exc:
                    problems.append(type(exc))
            response.send(b"ok")
            with pytest.raises(RuntimeError):
                response.write(b"late")

        client = H2TestClient(server)
        assert client.get("/misuse").body == b"ok"
        client.close()
        with pytest.raises(ValueError):
            server.add_route("no-slash", misuse)
        with pytest.raises(ValueError):
            server.route("")
    assert problems == [ValueError, TypeError, TypeError, ValueError, TypeError]


def test_h2_handle_only_on_http2() -> None:
    seen: list[str] = []
    with Server(tls=False) as server:

        @server.route("/which")
        def which(request: Request, response: Response) -> None:
            try:
                seen.append(repr(response.h2))
            except RuntimeError:
                seen.append("no h2")
            response.send(b"")

        client = H2TestClient(server)
        client.get("/which")
        client.close()
        h11_client = H11TestClient(server)
        h11_client.request("GET", "/which")
        h11_client.close()
    assert seen[0].startswith("<H2Handle id=1 h2")
    assert seen[1] == "no h2"


def test_request_body_streams_and_reports_disconnect() -> None:
    outcome: list[object] = []
    with Server(tls=False) as server:

        @server.route("/partial-read")
        def partial_read(request: Request, response: Response) -> None:
            first = request.read(3)
            try:
                request.read()
            except ClientDisconnected as exc:
                outcome.extend([first, exc])
                raise

        client = H2TestClient(server)
        sid = client.request("/partial-read", method="POST", keep_open=True)
        client.conn.send_data(sid, b"abcdef")
        client._flush()
        client.wait(lambda: bool(server.requests))
        time.sleep(0.1)
        client.conn.reset_stream(sid, ErrorCodes.CANCEL)
        client._flush()
        assert client.get("/get").status == 200
        client.close()
    assert outcome[0] == b"abc"
    assert isinstance(outcome[1], ClientDisconnected)


def test_missing_extra_names_the_install_command() -> None:
    repo_root = Path(server_module.__file__).resolve().parents[2]
    code = "import sys; sys.modules['trustme'] = None; import hyper.testing"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        timeout=30,
    )
    assert done.returncode == 1
    assert "ImportError: hyper.testing needs h11 and trustme: pip install hyper[testing]" in (
        done.stderr
    )


def test_plugin_is_never_auto_loaded() -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert not [p for p in plugins if p.value.startswith("hyper")]


def test_plugin_fixtures(tmp_path: Path) -> None:
    test_file = tmp_path / "test_uses_plugin.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import socket

            def test_fixtures(hyper_server, hyper_server_h2c, hyper_server_http11, hyper_ca):
                assert hyper_server.tls and hyper_server.ca is hyper_ca
                assert hyper_server.protocols == ("h2", "http/1.1")
                assert not hyper_server_h2c.tls
                assert hyper_server_http11.protocols == ("http/1.1",)

            def test_factory(hyper_server_factory):
                server = hyper_server_factory(tls=False, protocols=("http/1.1",))
                with socket.create_connection(server.address, timeout=5) as sock:
                    sock.sendall(b"GET /status/204 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                    assert sock.recv(100).startswith(b"HTTP/1.1 204")

            def test_teardown_raises(hyper_server_h2c):
                @hyper_server_h2c.route("/boom")
                def boom(request, response):
                    raise LookupError("from the handler")
                with socket.create_connection(hyper_server_h2c.address, timeout=5) as sock:
                    sock.sendall(b"GET /boom HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
                    assert sock.recv(100).startswith(b"HTTP/1.1 500")
            """
        )
    )
    repo_root = Path(server_module.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    done = subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "hyper.testing.plugin",
                "-p",
                "no:cacheprovider",
            ),
            *("-q", "-W", "error", "--rootdir", str(tmp_path), str(test_file)),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert "3 passed, 1 error" in done.stdout, done.stdout + done.stderr
    assert "LookupError: from the handler" in done.stdout
