"""Server push in the in-process test server (hyper.testing), seen by a raw h2 client.

The client here is h2's client-side state machine over a plain socket, so the
assertions are about frames: where PUSH_PROMISE falls relative to the
parent's HEADERS and DATA, what the promised request and the pushed response
carry, what the server records of the client's RST_STREAM frames, and what
happens when the client has push disabled or the parent stream is closed.
"""

from __future__ import annotations

import collections
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import DataFrame, HeadersFrame, RstStreamFrame, SettingsFrame

from hyper.testing import (
    H2Handle,
    H2Response,
    PushRefused,
    Request,
    Response,
    Server,
    payload,
)
from hyper.testing._h2_push import CLIENT_PREFACE, ResetScanner

#: Bound on every wait in these tests.
IO_TIMEOUT = 10.0

Headers = list[tuple[bytes, bytes]]


class PushClient:
    """A minimal HTTP/2 client on h2 that records pushes and the order of frames.

    :ivar log: ``(kind, stream_id)`` per event, kind one of ``head``, ``data``
        (non-empty DATA), ``push`` (PUSH_PROMISE on that parent), ``end``.
    """

    def __init__(self, server: Server, *, enable_push: bool = True) -> None:
        self.server = server
        self.sock = socket.create_connection(server.address, timeout=IO_TIMEOUT)
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        values = {SettingCodes.ENABLE_PUSH: int(enable_push)}
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=values)
        self.conn.initiate_connection()
        self.log: list[tuple[str, int]] = []
        self.heads: dict[int, Headers] = {}
        self.promises: dict[int, tuple[int, Headers]] = {}
        self.bodies: collections.defaultdict[int, bytearray] = collections.defaultdict(bytearray)
        self.ended: set[int] = set()
        self.error: h2.exceptions.ProtocolError | None = None
        self.cancel_pushes = False
        self.closed = False
        self._flush()

    def close(self) -> None:
        self.sock.close()

    def request(self, path: str) -> int:
        sid = self.conn.get_next_available_stream_id()
        fields = [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", self.server.authority),
            (":path", path),
        ]
        self.conn.send_headers(sid, fields, end_stream=True)
        self._flush()
        return sid

    def get(self, path: str, pushes: int = 0) -> int:
        """Request *path*; wait for its end and for *pushes* promised streams to end."""
        sid = self.request(path)
        self.wait(lambda: sid in self.ended and self._pushes_done(sid, pushes))
        return sid

    def pushed_ids(self, parent: int) -> list[int]:
        return sorted(p for p, (par, _) in self.promises.items() if par == parent)

    def order(self, sid: int) -> list[str]:
        return [kind for kind, stream in self.log if stream == sid]

    def wait(self, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + IO_TIMEOUT
        while not predicate():
            if self.closed:
                raise ConnectionError("the connection is closed")
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not answer in time")
            self.pump(0.05)

    def pump(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.closed = True
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.error, self.closed = exc, True
            events = []
        for event in events:
            self._on_event(event)
        self._flush()

    def _pushes_done(self, parent: int, count: int) -> bool:
        ids = self.pushed_ids(parent)
        return len(ids) == count and all(p in self.ended for p in ids)

    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.PushedStreamReceived):
            pushed, parent = event.pushed_stream_id or 0, event.parent_stream_id or 0
            self.promises[pushed] = (parent, cast(Headers, event.headers))
            self.log.append(("push", parent))
            if self.cancel_pushes:
                self.conn.reset_stream(pushed, ErrorCodes.CANCEL)
        elif isinstance(event, h2.events.ResponseReceived):
            self.heads[event.stream_id] = list(event.headers)
            self.log.append(("head", event.stream_id))
        elif isinstance(event, h2.events.DataReceived):
            self.bodies[event.stream_id] += event.data
            if event.data:
                self.log.append(("data", event.stream_id))
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.ended.add(event.stream_id)
            self.log.append(("end", event.stream_id))

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)


@pytest.fixture
def server(hyper_server_h2c: Server) -> Server:
    return hyper_server_h2c


@pytest.fixture
def client(server: Server) -> Iterator[PushClient]:
    client = PushClient(server)
    yield client
    client.close()


def h2_handle(server: Server) -> H2Handle:
    handle = server.connections[-1]
    assert isinstance(handle, H2Handle)
    return handle


def promised_request(server: Server, path: bytes) -> dict[bytes, bytes]:
    authority = server.authority.encode()
    return {b":method": b"GET", b":scheme": b"http", b":authority": authority, b":path": path}


# --- the /push route ---------------------------------------------------------------

PARENT_ORDER = {
    "before": ["push", "push", "head", "data", "end"],
    "mid": ["head", "data", "push", "push", "data", "end"],
    "after": ["head", "data", "push", "push", "end"],
}


@pytest.mark.parametrize("when", sorted(PARENT_ORDER))
def test_push_route_places_promises(server: Server, client: PushClient, when: str) -> None:
    sid = client.get(f"/push?paths=/get,/bytes/100&when={when}", pushes=2)

    assert client.order(sid) == PARENT_ORDER[when]
    body = json.loads(bytes(client.bodies[sid]))
    assert body == {"paths": ["/get", "/bytes/100"], "pushed": True, "when": when}
    echo_id, bytes_id = client.pushed_ids(sid)
    assert echo_id % 2 == 0
    assert bytes_id == echo_id + 2
    assert dict(client.promises[echo_id][1]) == promised_request(server, b"/get")
    assert dict(client.promises[bytes_id][1]) == promised_request(server, b"/bytes/100")
    echo = json.loads(bytes(client.bodies[echo_id]))
    assert (echo["path"], echo["stream_id"], echo["method"]) == ("/get", echo_id, "GET")
    assert bytes(client.bodies[bytes_id]) == payload(100)
    assert dict(client.heads[bytes_id])[b"content-length"] == b"100"
    assert [r.path for r in server.requests] == ["/push"]  # promises are not requests


def test_push_route_does_not_push_to_a_client_without_push(server: Server) -> None:
    client = PushClient(server, enable_push=False)
    try:
        sid = client.get("/push?paths=/get&when=mid")
        assert json.loads(bytes(client.bodies[sid]))["pushed"] is False
        assert client.promises == {}
        assert h2_handle(server).client_push_enabled is False
    finally:
        client.close()


def test_push_route_over_http11_pushes_nothing(server: Server) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=IO_TIMEOUT)
    try:
        conn.request("GET", "/push?paths=/get")
        answer = conn.getresponse()
        assert (answer.status, json.loads(answer.read())["pushed"]) == (200, False)
    finally:
        conn.close()


@pytest.mark.parametrize(
    "query", ["", "?paths=", "?paths=get", "?paths=/a&when=later", "?paths=" + ",/a" * 17]
)
def test_push_route_rejects_bad_parameters(client: PushClient, query: str) -> None:
    sid = client.get(f"/push{query}")
    assert dict(client.heads[sid])[b":status"] == b"400"
    assert client.promises == {}


# --- H2Response.push from a handler -----------------------------------------------


def test_push_from_a_handler(server: Server, client: PushClient) -> None:
    seen: dict[str, Any] = {}

    @server.route("/page")
    def page(request: Request, response: Response) -> None:
        response.start(200, [("content-type", "text/plain")])
        response.write(b"first ")
        pushed = response.push(
            "/style.css?v=2",
            [("accept", "text/css"), ("X-Tag", b"one")],
            authority="cdn.example",
            scheme="https",
        )
        assert isinstance(pushed, H2Response)
        seen["request"] = pushed.request
        seen["ids"] = (pushed.stream_id, pushed.parent_stream_id)
        pushed.start(200, [("content-type", "text/css")])
        pushed.write(b"body { }")
        response.write(b"second")
        pushed.finish(trailers=[("x-done", "yes")])

    sid = client.get("/page", pushes=1)

    (pid,) = client.pushed_ids(sid)
    assert seen["ids"] == (pid, sid)
    assert client.promises[pid][1] == [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"cdn.example"),
        (b":path", b"/style.css?v=2"),
        (b"accept", b"text/css"),
        (b"x-tag", b"one"),
    ]
    pushed_request = seen["request"]
    assert (pushed_request.path, pushed_request.query) == ("/style.css", {"v": ["2"]})
    assert (pushed_request.scheme, pushed_request.authority) == ("https", "cdn.example")
    assert (pushed_request.header("x-tag"), pushed_request.stream_id) == ("one", pid)
    assert bytes(client.bodies[pid]) == b"body { }"
    assert bytes(client.bodies[sid]) == b"first second"
    assert client.order(sid) == ["head", "data", "push", "data", "end"]


def test_push_misuse_is_reported_to_the_handler(server: Server, client: PushClient) -> None:
    raised: list[str] = []

    def expect(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:  # checked below: pytest.raises cannot run in a handler
            raised.append(type(exc).__name__)
        else:
            raised.append("nothing")

    @server.route("/misuse")
    def misuse(request: Request, response: Response) -> None:
        expect(lambda: response.push(""))
        expect(lambda: response.push(cast(Any, b"/bytes")))
        expect(lambda: response.push("/a", [(":path", "/b")]))
        expect(lambda: response.push("/a", [("connection", "close")]))
        expect(lambda: response.push("/a", [("host", "elsewhere")]))
        pushed = response.push("/ok")
        expect(lambda: pushed.push("/nested"))
        pushed.send(b"ok")
        response.send(b"done")
        expect(lambda: response.push("/late"))
        finished.set()

    finished = threading.Event()
    sid = client.get("/misuse", pushes=1)
    assert finished.wait(IO_TIMEOUT)

    values, types, states = ["ValueError"] * 3, ["ValueError", "TypeError"], ["RuntimeError"] * 2
    assert raised == types + values + states
    (pid,) = client.pushed_ids(sid)
    assert (bytes(client.bodies[pid]), bytes(client.bodies[sid])) == (b"ok", b"done")


def test_push_refused_when_the_client_disabled_push(server: Server) -> None:
    refused: list[PushRefused] = []

    @server.route("/try")
    def attempt(request: Request, response: Response) -> None:
        try:
            response.push("/get")
        except PushRefused as exc:
            refused.append(exc)
        response.send(b"unpushed")

    client = PushClient(server, enable_push=False)
    try:
        sid = client.get("/try")
        assert bytes(client.bodies[sid]) == b"unpushed"
    finally:
        client.close()
    assert len(refused) == 1
    assert "ENABLE_PUSH" in str(refused[0])


def test_client_push_setting_is_visible(server: Server, client: PushClient) -> None:
    client.get("/get")
    assert h2_handle(server).client_push_enabled is True


# --- resets of promised streams ------------------------------------------------------


def test_cancelled_push_is_recorded_and_its_writes_dropped(
    server: Server, client: PushClient
) -> None:
    outcome: dict[str, Any] = {}

    @server.route("/cancel")
    def cancel(request: Request, response: Response) -> None:
        pushed = response.push("/unwanted")
        pushed.start(200)
        outcome["code"] = response.h2.wait_for_reset(pushed.stream_id, timeout=IO_TIMEOUT)
        pushed.write(b"dropped quietly")
        pushed.finish()
        outcome["stream"] = pushed.stream_id
        response.send(b"parent done")

    client.cancel_pushes = True
    sid = client.request("/cancel")
    client.wait(lambda: sid in client.ended)

    (pid,) = client.pushed_ids(sid)
    assert outcome == {"code": ErrorCodes.CANCEL, "stream": pid}
    resets = h2_handle(server).resets
    assert resets[0] == (pid, ErrorCodes.CANCEL)
    # h2 answers frames that were already in flight with RST_STREAM(STREAM_CLOSED).
    assert {code for _, code in resets[1:]} <= {ErrorCodes.STREAM_CLOSED}
    assert {stream for stream, _ in resets} == {pid}
    assert bytes(client.bodies[sid]) == b"parent done"
    assert server.errors == []


def test_reset_of_a_finished_push_is_still_recorded(server: Server, client: PushClient) -> None:
    sid = client.get("/push?paths=/bytes/10", pushes=1)
    (pid,) = client.pushed_ids(sid)
    # h2 has forgotten the stream by now; the frame is still on the wire.
    client.sock.sendall(RstStreamFrame(pid, error_code=ErrorCodes.REFUSED_STREAM).serialize())
    handle = h2_handle(server)
    assert handle.wait_for_reset(pid, timeout=IO_TIMEOUT) == ErrorCodes.REFUSED_STREAM
    assert handle.resets == [(pid, ErrorCodes.REFUSED_STREAM)]
    with pytest.raises(TimeoutError):
        handle.wait_for_reset(sid, timeout=0.05)


# --- raw PUSH_PROMISE -------------------------------------------------------------


def test_raw_promise_on_a_closed_parent(server: Server, client: PushClient) -> None:
    promised: list[int] = []

    @server.route("/closed")
    def closed(request: Request, response: Response) -> None:
        response.send(b"finished")
        block = [(":method", "GET"), (":scheme", "http"), (":authority", request.authority)]
        promised.append(response.h2.push_promise(request.stream_id or 0, [*block, (":path", "/")]))
        finished.set()

    finished = threading.Event()
    client.request("/closed")
    client.wait(lambda: client.closed)
    assert finished.wait(IO_TIMEOUT)

    assert promised == [2]
    assert isinstance(client.error, h2.exceptions.ProtocolError)  # pushed on a closed stream


def test_raw_promise_keeps_stream_ids_in_step(server: Server, client: PushClient) -> None:
    ids: list[int] = []

    @server.route("/mixed")
    def mixed(request: Request, response: Response) -> None:
        handle = response.h2
        raw_id = handle.push_promise(request.stream_id or 0, promised_fields(request, "/raw"))
        pushed = response.push("/cooked")
        ids.extend([raw_id, pushed.stream_id])
        block = handle.encode_headers([(":status", "200")])
        handle.send_frame(HeadersFrame(raw_id, data=block, flags=["END_HEADERS"]))
        handle.send_frame(DataFrame(raw_id, data=b"raw", flags=["END_STREAM"]))
        pushed.send(b"cooked")
        response.send(b"parent")

    sid = client.get("/mixed", pushes=2)

    assert ids == client.pushed_ids(sid) == [2, 4]
    assert dict(client.promises[2][1])[b":path"] == b"/raw"
    assert (bytes(client.bodies[2]), bytes(client.bodies[4])) == (b"raw", b"cooked")
    assert bytes(client.bodies[sid]) == b"parent"


def promised_fields(request: Request, path: str) -> list[tuple[str, str]]:
    return [
        (":method", "GET"),
        (":scheme", request.scheme),
        (":authority", request.authority),
        (":path", path),
    ]


def test_raw_promise_checks_stream_ids(server: Server, client: PushClient) -> None:
    client.get("/get")
    handle = h2_handle(server)
    with pytest.raises(ValueError):
        handle.push_promise(-1, [])
    with pytest.raises(ValueError):
        handle.push_promise(1, [], promised_stream_id=2**31)
    with pytest.raises(TypeError):
        handle.push_promise(cast(Any, "1"), [])


# --- the RST_STREAM scanner, pure ---------------------------------------------------


def _wire() -> bytes:
    frames = [
        SettingsFrame(0, settings={SettingCodes.ENABLE_PUSH: 1}),
        RstStreamFrame(2, error_code=ErrorCodes.CANCEL),
        DataFrame(1, data=bytes(range(256)) * 3),
        RstStreamFrame(4, error_code=ErrorCodes.REFUSED_STREAM),
    ]
    malformed = b"\x00\x00\x08\x03\x00\x00\x00\x00\x06" + bytes(8)  # RST_STREAM of 8 bytes
    tail = RstStreamFrame(1, error_code=ErrorCodes.NO_ERROR).serialize()
    return CLIENT_PREFACE + b"".join(f.serialize() for f in frames) + malformed + tail


EXPECTED_RESETS = [(2, ErrorCodes.CANCEL), (4, ErrorCodes.REFUSED_STREAM), (1, 0)]


@pytest.mark.parametrize("piece", [1, 5, 9, 13, 4096])
def test_reset_scanner_finds_resets_across_pieces(piece: int) -> None:
    scanner, wire, found = ResetScanner(), _wire(), []
    for start in range(0, len(wire), piece):
        found += scanner.feed(wire[start : start + piece])
    assert found == EXPECTED_RESETS
