"""The HTTP/2 fault suite: one staged fault per test, frame by frame.

Each test makes the in-process server misbehave on one stream (the victim)
while another request on the same connection is in flight (held by the
server until the fault has been seen), then checks three things: the exact
:class:`~hyper.common.exceptions.HyperError` class raised; the reach of the
fault (a stream-level fault leaves the other stream and the socket alone; a
connection-level one fails every stream with the same error, and the next
request on the same :class:`HTTP20Connection` works on a fresh socket); and
that nothing waits past the client's own timeout. Faults already covered
elsewhere (RST_STREAM mid-body, graceful GOAWAY, a lost connection mid-body,
a zero WINDOW_UPDATE on stream 0, an oversized literal header, a slow body
against ``total``) stay in test_http20_faults.py; refused streams are in
test_http20_recovery.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from h2_helpers import connect, wait_until
from hyperframe.frame import SettingsFrame

from hyper.common import exceptions as exc
from hyper.common.timeout import Timeout
from hyper.http20._settings import MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE
from hyper.http20.connection import HTTP20Connection
from hyper.testing import ClientDisconnected, H2Handle, Request, Response, Server

#: The client's timeout in every test: no fault may make it wait longer.
FAULT_TIMEOUT = 5.0

# Frame types and flags (RFC 9113 section 6), for frames built by hand.
DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x5, 0x6, 0x7
WINDOW_UPDATE, CONTINUATION = 0x8, 0x9
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
#: Entries before the HPACK dynamic table (RFC 7541 appendix A).
HPACK_STATIC_ENTRIES = 61
#: HPACK for ``:status: 200`` (static entry 8, indexed).
STATUS_200 = b"\x88"


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"", length: int = -1) -> bytes:
    """One frame's bytes; ``length`` overrides the length field (to lie about it)."""
    size = len(payload) if length < 0 else length
    return size.to_bytes(3, "big") + bytes([kind, flags]) + stream_id.to_bytes(4, "big") + payload


def echo(conn: HTTP20Connection) -> Any:
    return json.loads(conn.get_response(conn.request("GET", "/get")).read())


class Held:
    """A ``/held`` route whose answer waits until :attr:`release` is set."""

    def __init__(self, server: Server) -> None:
        self.release = threading.Event()
        server.add_route("/held", self._handle)

    def _handle(self, request: Request, response: Response) -> None:
        if self.release.wait(FAULT_TIMEOUT):
            response.send(b"held")


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(tls=False, protocols=("h2",)) as srv:
        yield srv


@pytest.fixture
def held(server: Server) -> Iterator[Held]:
    held = Held(server)
    yield held
    held.release.set()  # before the server closes: no handler left waiting


def fault_route(server: Server, inject: Callable[[Response, int], None]) -> None:
    """``/fault``: calls ``inject(response, stream_id)``; a hang-up is expected."""

    def handler(request: Request, response: Response) -> None:
        with contextlib.suppress(ClientDisconnected):  # the client gave up: expected
            inject(response, request.stream_id or 0)

    server.add_route("/fault", handler)


def raises_exactly(error: type[BaseException], call: Callable[[], object]) -> BaseException:
    """Call ``call``; it must raise ``error`` itself, not a subclass."""
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    return info.value


def stream_fault(
    server: Server, held: Held, error: type[BaseException] | None
) -> BaseException | None:
    """Request ``/held`` then ``/fault``; ``/fault`` must raise ``error`` (or,
    with ``None``, answer normally), ``/held`` must then answer, on one socket."""
    with connect(server, timeout=FAULT_TIMEOUT) as conn:
        other = conn.request("GET", "/held")
        victim = conn.request("GET", "/fault")
        caught = None
        if error is None:
            assert conn.get_response(victim).read() == b"ok"
        else:
            caught = raises_exactly(error, lambda: conn.get_response(victim))
        held.release.set()
        assert conn.get_response(other).read() == b"held"
        assert echo(conn)["connection_id"] == 1  # the same socket
    return caught


def connection_fault(server: Server, error: type[BaseException]) -> BaseException:
    """Request ``/held`` then ``/fault``; both must raise ``error``, and the next
    request must work on a fresh socket."""
    with connect(server, timeout=FAULT_TIMEOUT) as conn:
        other = conn.request("GET", "/held")
        victim = conn.request("GET", "/fault")
        caught = raises_exactly(error, lambda: conn.get_response(victim))
        raises_exactly(error, lambda: conn.get_response(other))
        assert echo(conn)["connection_id"] == 2
    return caught


# --- RST_STREAM: every error code, one stream ----------------------------------


CODES = [code for code in ErrorCodes if code != ErrorCodes.REFUSED_STREAM]


@pytest.mark.parametrize("code", [*CODES, 0xBAD], ids=[*(c.name for c in CODES), "unknown"])
def test_rst_stream_fails_only_its_stream_with_the_code(
    server: Server, held: Held, code: int
) -> None:
    fault_route(server, lambda response, sid: response.abort(code))
    error = stream_fault(server, held, exc.StreamResetError)
    assert isinstance(error, exc.StreamResetError)
    assert (error.stream_id, error.error_code, error.remote) == (3, code, True)


def test_rst_stream_refused_is_sent_again_transparently(server: Server, held: Held) -> None:
    attempts: list[int] = []

    def refuse_once(response: Response, sid: int) -> None:
        attempts.append(sid)
        if len(attempts) == 1:
            response.abort(ErrorCodes.REFUSED_STREAM)
        else:
            response.send(b"ok")

    fault_route(server, refuse_once)
    assert stream_fault(server, held, None) is None
    assert attempts == [3, 5]  # refused as stream 3, answered as stream 5


# --- stream-level frame faults ---------------------------------------------------


def test_overflowing_window_update_on_a_stream_resets_only_it(server: Server, held: Held) -> None:
    overflow = frame(WINDOW_UPDATE, 0, 3, (2**31 - 1).to_bytes(4, "big"))
    fault_route(server, lambda response, sid: response.h2.send_raw(overflow))
    error = stream_fault(server, held, exc.StreamResetError)
    assert isinstance(error, exc.StreamResetError)
    assert (error.error_code, error.remote) == (ErrorCodes.FLOW_CONTROL_ERROR, False)


def test_frames_on_a_stream_we_reset_are_ignored(server: Server) -> None:
    def late_frames(response: Response, sid: int) -> None:
        handle = response.h2
        block = handle.encode_headers([(":status", "200")])
        handle.send_raw(frame(HEADERS, END_HEADERS, 1, block) + frame(DATA, END_STREAM, 1, b"x"))
        response.send(b"ok")

    fault_route(server, late_frames)
    with connect(server, timeout=FAULT_TIMEOUT) as conn:
        first = conn.get_response(conn.request("GET", "/bytes/10000000"))
        first.read(10)
        first.close()  # RST_STREAM(CANCEL) on stream 1; the frames above follow it
        assert conn.get_response(conn.request("GET", "/fault")).read() == b"ok"
        assert echo(conn)["connection_id"] == 1


def test_unknown_frame_types_are_ignored(server: Server, held: Held) -> None:
    def extension(response: Response, sid: int) -> None:
        response.h2.send_raw(frame(0xFA, 0xFF, sid, b"from the future") + frame(0xFB, 0, 0))
        response.send(b"ok")

    fault_route(server, extension)
    assert stream_fault(server, held, None) is None


def test_a_server_that_never_reads_the_upload(server: Server, held: Held) -> None:
    @server.on_h2_event
    def swallow(handle: H2Handle, event: h2.events.Event) -> bool:
        # Never consumed, so never credited back: the client's window closes.
        return isinstance(event, h2.events.DataReceived) and event.stream_id == 3

    @server.route("/fault")
    def unanswered(request: Request, response: Response) -> None:
        held.release.wait(FAULT_TIMEOUT)  # reads nothing, answers once the test is done

    with connect(server, timeout=0.5) as conn:
        other = conn.request("GET", "/held")
        victim = conn.request("POST", "/fault", body=b"u" * 1_000_000)
        started = time.monotonic()
        raises_exactly(exc.ReadTimeout, lambda: conn.get_response(victim))
        assert time.monotonic() - started < 2
        held.release.set()
        assert conn.get_response(other).read() == b"held"
        assert echo(conn)["connection_id"] == 1


def test_slow_loris_response_head_against_total(server: Server) -> None:
    def drip(response: Response, sid: int) -> None:
        handle = response.h2
        raw = frame(
            HEADERS, END_HEADERS | END_STREAM, sid, handle.encode_headers([(":status", "200")])
        )
        for byte in raw:  # one byte per 50 ms: each read is quick, the whole is not
            handle.send_raw(bytes([byte]))
            if not response.request.server.sleep(0.05):
                return

    fault_route(server, drip)
    with connect(server, timeout=Timeout(read=1.0, total=0.4)) as conn:
        sid = conn.request("GET", "/fault")
        started = time.monotonic()
        raises_exactly(exc.ReadTimeout, lambda: conn.get_response(sid))
        assert time.monotonic() - started < 0.9


# --- connection-level frame faults ----------------------------------------------


def bad_padding(handle: H2Handle, sid: int) -> bytes:
    return frame(DATA, PADDED, sid, b"\x09" + b"short")  # 9 bytes of padding in 6


def headers_on_even_stream(handle: H2Handle, sid: int) -> bytes:
    return frame(HEADERS, END_HEADERS, 2, handle.encode_headers([(":status", "200")]))


def push_promise(handle: H2Handle, sid: int) -> bytes:
    fields = [(":method", "GET"), (":scheme", "http"), (":path", "/p"), (":authority", "x")]
    return frame(
        PUSH_PROMISE, END_HEADERS, sid, b"\x00\x00\x00\x02" + handle.encode_headers(fields)
    )


def setting(code: int, value: int) -> Callable[[H2Handle, int], bytes]:
    return lambda handle, sid: frame(
        SETTINGS, 0, 0, code.to_bytes(2, "big") + value.to_bytes(4, "big")
    )


#: (what the server sends, the error every stream gets, the GOAWAY code hyper sends).
CONNECTION_FAULTS: dict[str, tuple[Callable[[H2Handle, int], bytes], type[Exception], int]] = {
    "DATA on stream 0": (
        lambda handle, sid: frame(DATA, 0, 0, b"abc"),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "RST_STREAM on stream 0": (
        lambda handle, sid: frame(RST_STREAM, 0, 0, b"\x00\x00\x00\x02"),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "GOAWAY on a stream": (
        lambda handle, sid: frame(GOAWAY, 0, sid, bytes(8)),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "DATA on an idle stream": (
        lambda handle, sid: frame(DATA, 0, 101, b"abc"),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "HEADERS on an unpromised even stream": (
        headers_on_even_stream,
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "PUSH_PROMISE with push disabled": (push_promise, exc.ProtocolError, ErrorCodes.PROTOCOL_ERROR),
    "frame over MAX_FRAME_SIZE": (
        lambda handle, sid: frame(DATA, 0, sid, bytes(MAX_FRAME_SIZE + 1)),
        exc.ProtocolError,
        ErrorCodes.FRAME_SIZE_ERROR,
    ),
    "frame header over MAX_FRAME_SIZE, no payload": (  # refused without waiting for it
        lambda handle, sid: frame(DATA, 0, sid, length=MAX_FRAME_SIZE + 1),
        exc.ProtocolError,
        ErrorCodes.FRAME_SIZE_ERROR,
    ),
    "padding longer than the frame": (bad_padding, exc.ProtocolError, ErrorCodes.PROTOCOL_ERROR),
    "PING of 4 bytes": (
        lambda handle, sid: frame(PING, 0, 0, b"1234"),
        exc.ProtocolError,
        ErrorCodes.FRAME_SIZE_ERROR,
    ),
    "SETTINGS ACK with a payload": (  # h2's code; RFC 9113 asks for FRAME_SIZE_ERROR
        lambda handle, sid: frame(SETTINGS, ACK, 0, bytes(6)),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "SETTINGS_INITIAL_WINDOW_SIZE of 2**31": (
        setting(SettingCodes.INITIAL_WINDOW_SIZE, 2**31),
        exc.ProtocolError,
        ErrorCodes.FLOW_CONTROL_ERROR,
    ),
    "SETTINGS_MAX_FRAME_SIZE below 16384": (
        setting(SettingCodes.MAX_FRAME_SIZE, 16383),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "SETTINGS_ENABLE_PUSH from a server": (
        setting(SettingCodes.ENABLE_PUSH, 1),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "zero WINDOW_UPDATE on a stream": (
        lambda handle, sid: frame(WINDOW_UPDATE, 0, sid, bytes(4)),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "overflowing WINDOW_UPDATE on the connection": (
        lambda handle, sid: frame(WINDOW_UPDATE, 0, 0, (2**31 - 1).to_bytes(4, "big")),
        exc.ProtocolError,
        ErrorCodes.FLOW_CONTROL_ERROR,
    ),
    "HPACK index past the table": (  # h2's code; RFC 9113 asks for COMPRESSION_ERROR
        lambda handle, sid: frame(HEADERS, END_HEADERS, sid, STATUS_200 + b"\xff\x7f"),
        exc.HPACKDecodingError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "CONTINUATION without HEADERS": (
        lambda handle, sid: frame(CONTINUATION, END_HEADERS, sid, STATUS_200),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
    "DATA inside a header block": (
        lambda handle, sid: frame(HEADERS, 0, sid, STATUS_200) + frame(DATA, 0, sid, b"x"),
        exc.ProtocolError,
        ErrorCodes.PROTOCOL_ERROR,
    ),
}


#: Faults whose frame the client refuses before reading all of it.
UNREAD_PAYLOAD_FAULTS = frozenset({"frame over MAX_FRAME_SIZE"})


def record_goaways(server: Server) -> list[int]:
    """The error codes of the GOAWAY frames the server receives on its first
    connection, as they come."""
    codes: list[int] = []

    @server.on_h2_event
    def watch(handle: H2Handle, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ConnectionTerminated) and handle.id == 1:
            codes.append(int(event.error_code or 0))

    return codes


@pytest.mark.parametrize("name", list(CONNECTION_FAULTS))
def test_protocol_violation_fails_the_socket_not_the_connection(
    server: Server, held: Held, name: str
) -> None:
    build, error, goaway_code = CONNECTION_FAULTS[name]
    goaways = record_goaways(server)
    fault_route(server, lambda response, sid: response.h2.send_raw(build(response.h2, sid)))
    connection_fault(server, error)
    if name in UNREAD_PAYLOAD_FAULTS:
        # The client closes with the rest of the frame unread, so its kernel
        # resets the connection, and the server's may drop the GOAWAY that
        # came just before: it is sent, but its arrival cannot be required.
        wait_until(lambda: server.connections[0].closed, FAULT_TIMEOUT)
        assert goaways in ([], [goaway_code])
        return
    wait_until(lambda: bool(goaways), FAULT_TIMEOUT)
    assert goaways == [goaway_code]


def test_headers_on_a_stream_the_server_ended_is_a_connection_error(
    server: Server, held: Held
) -> None:
    def on_closed_stream(response: Response, sid: int) -> None:
        handle = response.h2
        handle.send_raw(frame(HEADERS, END_HEADERS, 1, handle.encode_headers([(":status", "200")])))

    fault_route(server, on_closed_stream)
    with connect(server, timeout=FAULT_TIMEOUT) as conn:
        assert echo(conn)["stream_id"] == 1  # stream 1 is now closed by END_STREAM
        other = conn.request("GET", "/held")
        victim = conn.request("GET", "/fault")
        raises_exactly(exc.ProtocolError, lambda: conn.get_response(victim))
        raises_exactly(exc.ProtocolError, lambda: conn.get_response(other))
        assert echo(conn)["connection_id"] == 2


def test_continuation_flood_is_refused(server: Server, held: Held) -> None:
    sent: list[int] = []

    def flood(response: Response, sid: int) -> None:
        handle = response.h2
        handle.send_raw(frame(HEADERS, 0, sid, STATUS_200))
        for count in range(1, 10_001):  # endless, as far as the client can tell
            handle.send_raw(frame(CONTINUATION, 0, sid, bytes(1024)))
            sent.append(count)

    fault_route(server, flood)
    connection_fault(server, exc.ProtocolError)
    assert len(sent) < 10_000  # the client hung up long before the end


def test_a_header_block_of_a_few_huge_continuation_frames_is_refused(
    server: Server, held: Held
) -> None:
    sent: list[int] = []

    def flood(response: Response, sid: int) -> None:
        handle = response.h2
        handle.send_raw(frame(HEADERS, 0, sid, STATUS_200))
        for count in range(1, 61):  # 60 MiB, which h2 alone would buffer
            handle.send_raw(frame(CONTINUATION, 0, sid, bytes(MAX_FRAME_SIZE)))
            sent.append(count)

    fault_route(server, flood)
    connection_fault(server, exc.ProtocolError)
    assert len(sent) < 60  # refused after the first frame or so, not at the end


def test_hpack_bomb_is_refused(server: Server, held: Held) -> None:
    big = "v" * 4000  # one dynamic-table entry of about 4 KiB

    @server.route("/prime")
    def prime(request: Request, response: Response) -> None:
        response.send(b"primed", headers=[("x-bomb", big)])

    def bomb(response: Response, sid: int) -> None:
        handle = response.h2
        with handle.lock:
            entries = list(handle.h2.encoder.header_table.dynamic_entries)
        index = HPACK_STATIC_ENTRIES + 1 + entries.index((b"x-bomb", big.encode()))
        # 200 one-byte references to it: 200 bytes that decode to 800 KB.
        block = STATUS_200 + bytes([0x80 | index]) * 200
        assert len(block) < 256 < MAX_HEADER_LIST_SIZE
        handle.send_raw(frame(HEADERS, END_HEADERS | END_STREAM, sid, block))

    fault_route(server, bomb)
    with connect(server, timeout=FAULT_TIMEOUT) as conn:
        assert conn.get_response(conn.request("GET", "/prime")).read() == b"primed"
        other = conn.request("GET", "/held")
        victim = conn.request("GET", "/fault")
        raises_exactly(exc.LineTooLongError, lambda: conn.get_response(victim))
        raises_exactly(exc.LineTooLongError, lambda: conn.get_response(other))
        assert echo(conn)["connection_id"] == 2


# --- the server goes away -----------------------------------------------------------


@pytest.mark.parametrize("where", ["in a header block", "inside a frame"])
def test_server_closing_mid_headers_fails_every_stream(
    server: Server, held: Held, where: str
) -> None:
    def cut(response: Response, sid: int) -> None:
        handle = response.h2
        block = handle.encode_headers([(":status", "200"), ("x-long", "z" * 100)])
        if where == "in a header block":
            handle.send_raw(frame(HEADERS, 0, sid, block))
        else:
            handle.send_raw(frame(HEADERS, END_HEADERS, sid, block)[:50])
        handle.close()

    fault_route(server, cut)
    connection_fault(server, exc.ConnectionResetError)


#: SO_LINGER on, zero seconds: ``close()`` resets the connection.
LINGER_RESET = struct.pack("ii", 1, 0)


@pytest.mark.parametrize("ending", ["close", "reset"])
def test_goaway_with_an_error_then_close_sends_only_the_unprocessed_again(
    server: Server, ending: str
) -> None:
    release = threading.Event()
    cancelled: set[int] = set()

    @server.route("/hold")
    def hold(request: Request, response: Response) -> None:
        if request.connection.id == 1:
            release.wait(FAULT_TIMEOUT)  # never answered: the socket dies first
            return
        response.send(f"{request.connection.id}/{request.stream_id}".encode())

    @server.on_h2_event
    def watch(handle: H2Handle, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.StreamReset) and handle.id == 1:
            cancelled.add(event.stream_id or 0)

    with connect(server, timeout=FAULT_TIMEOUT) as conn:
        ids = [conn.request("GET", "/hold") for _ in range(4)]
        wait_until(lambda: len(server.requests) == 4, FAULT_TIMEOUT)
        handle = server.connections[0]
        assert isinstance(handle, H2Handle)
        handle.goaway(3, ErrorCodes.INTERNAL_ERROR, b"going down")
        # Above last_stream_id: not processed, so sent again on a new socket.
        assert conn.get_response(ids[2]).read() == b"2/1"
        # The client cancelled 5 and 7 on the old socket when it read the
        # GOAWAY; closing once they arrived leaves nothing unread: a FIN.
        wait_until(lambda: cancelled == {5, 7}, FAULT_TIMEOUT)
        if ending == "reset":  # unless the server aborts: then the kernel sends RST
            # (the test server has no public way to abort a connection)
            handle._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        handle.close()
        release.set()
        for sid in ids[:2]:  # at or below last_stream_id: maybe processed, not re-sent
            error = raises_exactly(
                exc.ConnectionTerminatedError, functools.partial(conn.get_response, sid)
            )
            assert isinstance(error, exc.ConnectionTerminatedError)
            assert (error.error_code, error.last_stream_id) == (ErrorCodes.INTERNAL_ERROR, 3)
            assert error.additional_data == b"going down"
        assert conn.get_response(ids[3]).read() == b"2/3"


# --- floods -----------------------------------------------------------------------


def count_events(server: Server, kind: type[h2.events.Event]) -> list[int]:
    """A one-item list counting the ``kind`` events the server sees."""
    seen = [0]

    @server.on_h2_event
    def count(handle: H2Handle, event: h2.events.Event) -> None:
        if isinstance(event, kind):
            seen[0] += 1

    return seen


FLOOD = 5000


@pytest.mark.parametrize(
    ("flood", "ack", "expected"),
    [
        # The client also acknowledges the server's own first SETTINGS.
        (frame(SETTINGS, 0, 0), h2.events.SettingsAcknowledged, FLOOD + 1),
        (frame(PING, 0, 0, b"pingpong"), h2.events.PingAckReceived, FLOOD),
    ],
    ids=["SETTINGS", "PING"],
)
def test_flood_is_answered_and_streams_go_on(
    server: Server, held: Held, flood: bytes, ack: type[h2.events.Event], expected: int
) -> None:
    acks = count_events(server, ack)

    def send_flood(response: Response, sid: int) -> None:
        response.h2.send_raw(flood * FLOOD)
        response.send(b"ok")

    fault_route(server, send_flood)
    assert stream_fault(server, held, None) is None
    wait_until(lambda: acks[0] >= expected, FAULT_TIMEOUT)
    assert acks[0] == expected


class DeafServer:
    """A raw HTTP/2 server that floods PINGs and never reads a byte."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.settimeout(FAULT_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        with sock:
            sock.settimeout(FAULT_TIMEOUT)
            burst = frame(PING, 0, 0, b"floodfld") * 4096
            try:
                sock.sendall(SettingsFrame(0).serialize())
                while self.sent < 2000:  # about 140 MB of PINGs at most
                    sock.sendall(burst)
                    self.sent += 1
            except OSError:
                pass  # the client gave up: the point of the test

    def close(self) -> None:
        self.listener.close()
        self.thread.join(FAULT_TIMEOUT)


def test_ping_flood_from_a_server_that_never_reads_is_bounded_by_the_timeout() -> None:
    deaf = DeafServer()
    try:
        conn = HTTP20Connection("127.0.0.1", deaf.port, secure=False, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(exc.TimeoutError) as info:
            conn.get_response(conn.request("GET", "/"))
        # Whichever runs out first: the read clock while the flood is being
        # answered, or the write of the answers nobody reads.
        assert type(info.value) in (exc.ReadTimeout, exc.TimeoutError)
        assert time.monotonic() - started < 3
        conn.close()
    finally:
        deaf.close()
    assert not deaf.thread.is_alive()
    assert deaf.sent < 2000
