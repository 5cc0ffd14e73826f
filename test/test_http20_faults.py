"""HTTP/2 failures staged at frame level: resets, GOAWAY, lost connections,
protocol errors and timeouts. Each must fail exactly what it should, with a
typed error, in bounded time, and leave the connection object usable."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2_helpers import IO_TIMEOUT, connect, wait_until
from hyperframe.frame import HeadersFrame

from hyper.common import exceptions as exc
from hyper.common.timeout import Timeout
from hyper.http20.connection import HTTP20Connection
from hyper.testing import H2Handle, Request, Response, Server


def echo(conn: HTTP20Connection, url: str = "/get") -> Any:
    sid = conn.request("GET", url)
    return json.loads(conn.get_response(sid).read())


@pytest.fixture
def server() -> Any:
    with Server(tls=True, protocols=("h2",)) as srv:
        yield srv


# --- RST_STREAM -------------------------------------------------------------------


def test_reset_fails_only_its_stream_with_the_code(server: Server) -> None:
    @server.route("/calm")
    def calm(request: Request, response: Response) -> None:
        response.abort(ErrorCodes.ENHANCE_YOUR_CALM)

    with connect(server) as conn:
        ids = [conn.request("GET", "/calm" if i == 2 else f"/bytes/{i}") for i in range(5)]
        for i, sid in enumerate(ids):
            if i == 2:
                with pytest.raises(exc.StreamResetError) as info:
                    conn.get_response(sid)
                assert info.value.stream_id == sid
                assert info.value.error_code == ErrorCodes.ENHANCE_YOUR_CALM
                assert info.value.remote is True
            else:
                assert len(conn.get_response(sid).read()) == i
        assert server.connection_count == 1


def test_reset_in_the_middle_of_a_body(server: Server) -> None:
    @server.route("/half")
    def half(request: Request, response: Response) -> None:
        response.start(200, [("content-length", "100000")])
        response.write(b"x" * 1000)
        response.abort(ErrorCodes.INTERNAL_ERROR)

    with connect(server) as conn:
        conn.request("GET", "/half")
        response = conn.get_response()
        assert response.status == 200
        with pytest.raises(exc.StreamResetError) as info:
            response.read()
        assert info.value.error_code == ErrorCodes.INTERNAL_ERROR
        assert echo(conn)["connection_id"] == 1


def test_early_response_and_no_error_reset_stop_the_upload(server: Server) -> None:
    @server.route("/early")
    def early(request: Request, response: Response) -> None:
        response.send(b"no thanks", status=413)
        response.h2.reset_stream(request.stream_id or 0, ErrorCodes.NO_ERROR)

    with connect(server) as conn:
        conn.request("POST", "/early", body=b"x" * 5_000_000)
        response = conn.get_response()
        assert (response.status, response.read()) == (413, b"no thanks")
        assert echo(conn)["method"] == "GET"


# --- GOAWAY ---------------------------------------------------------------------


def test_goaway_finishes_lower_streams_and_sends_higher_ones_again(server: Server) -> None:
    release = threading.Event()

    @server.route("/hold")
    def hold(request: Request, response: Response) -> None:
        assert release.wait(IO_TIMEOUT)
        response.send(f"done {request.connection.id}/{request.stream_id}".encode())

    conn = connect(server)
    ids = [conn.request("GET", "/hold") for _ in range(4)]
    assert ids == [1, 3, 5, 7]
    wait_until(lambda: len(server.requests) == 4)
    server.connections[0].goaway(last_stream_id=3)
    release.set()
    # 1 and 3 finish on socket 1; 5 and 7 were not processed there, so they
    # went again on socket 2 (as its streams 1 and 3) behind the same IDs.
    bodies = [conn.get_response(sid).read() for sid in ids]
    assert bodies == [b"done 1/1", b"done 1/3", b"done 2/1", b"done 2/3"]
    assert len(server.requests) == 6  # 4 on socket 1 (2 of them never answered), 2 on socket 2
    sid = conn.request("GET", "/get")
    assert sid == 9  # logical IDs go on; on the wire this is stream 5 of socket 2
    body = json.loads(conn.get_response(sid).read())
    assert (body["connection_id"], body["stream_id"]) == (2, 5)
    assert server.connection_count == 2
    conn.close()


def test_goaway_with_an_error_then_close_fails_every_waiter(server: Server) -> None:
    @server.route("/never")
    def never(request: Request, response: Response) -> None:
        handle = response.h2
        handle.goaway(request.stream_id, ErrorCodes.ENHANCE_YOUR_CALM, b"bye")
        handle.close()

    with connect(server) as conn:
        sid = conn.request("GET", "/never")
        with pytest.raises(exc.ConnectionTerminatedError) as info:
            conn.get_response(sid)
        assert info.value.error_code == ErrorCodes.ENHANCE_YOUR_CALM
        assert info.value.last_stream_id == sid
        assert info.value.additional_data == b"bye"
        assert isinstance(info.value, ConnectionError)
        assert echo(conn)["connection_id"] == 2


def test_goaway_on_connect_refuses_the_first_request() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:

        @srv.on_h2_connect
        def refuse(handle: H2Handle) -> None:
            handle.goaway(0, ErrorCodes.REFUSED_STREAM)

        conn = connect(srv)
        # Depending on timing the GOAWAY is read by request() or get_response().
        with pytest.raises(exc.RequestNotProcessedError):
            echo(conn)
        conn.close()


# --- lost connections and protocol errors ------------------------------------------


def test_connection_lost_mid_body_fails_every_waiter(server: Server) -> None:
    @server.route("/cut")
    def cut(request: Request, response: Response) -> None:
        response.start(200, [("content-length", "1000000")])
        response.write(b"y" * 1000)
        response.connection.close()

    @server.route("/slow")
    def slow(request: Request, response: Response) -> None:
        request.server.sleep(IO_TIMEOUT)

    conn = connect(server)
    pending = conn.request("GET", "/slow")
    response = conn.get_response(conn.request("GET", "/cut"))
    started = time.monotonic()
    with pytest.raises(exc.ConnectionError) as info:
        response.read()
    assert isinstance(info.value, ConnectionError)  # the builtin, too
    with pytest.raises(exc.ConnectionError):
        conn.get_response(pending)
    assert time.monotonic() - started < IO_TIMEOUT / 2
    assert echo(conn)["connection_id"] == 2  # a fresh socket
    conn.close()


def test_server_closing_before_answering(server: Server) -> None:
    @server.route("/drop")
    def drop(request: Request, response: Response) -> None:
        response.connection.close()

    with connect(server) as conn:
        conn.request("GET", "/drop")
        with pytest.raises(exc.ConnectionResetError):
            conn.get_response()


def test_protocol_error_sends_goaway_and_sticks_to_the_socket(server: Server) -> None:
    server.expect_errors = True
    goaways: list[int] = []

    @server.on_h2_event
    def watch(handle: H2Handle, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ConnectionTerminated):
            goaways.append(int(event.error_code or 0))

    @server.route("/bad")
    def bad(request: Request, response: Response) -> None:
        # WINDOW_UPDATE with a zero increment on stream 0: a connection error.
        response.h2.send_raw(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")

    with connect(server) as conn:
        conn.request("GET", "/bad")
        with pytest.raises(exc.ProtocolError) as info:
            conn.get_response()
        assert isinstance(info.value.__cause__, h2.exceptions.ProtocolError)
        wait_until(lambda: bool(goaways))
        assert goaways == [ErrorCodes.PROTOCOL_ERROR]
        assert echo(conn)["connection_id"] == 2


def test_malformed_response_headers(server: Server) -> None:
    server.expect_errors = True

    @server.route("/upper")
    def upper(request: Request, response: Response) -> None:
        handle = response.h2
        block = handle.encode_headers([(":status", "200"), ("X-Upper", "no")])
        handle.send_frame(HeadersFrame(request.stream_id, block, flags=["END_HEADERS"]))

    with connect(server) as conn:
        conn.request("GET", "/upper")
        with pytest.raises(exc.ProtocolError):
            conn.get_response()


def test_oversized_response_header_block(server: Server) -> None:
    server.expect_errors = True

    @server.route("/huge")
    def huge(request: Request, response: Response) -> None:
        response.send(b"", headers=[("x-big", "v" * 70_000)])

    with connect(server) as conn:
        conn.request("GET", "/huge")
        with pytest.raises(exc.LineTooLongError):
            conn.get_response()


# --- timeouts ---------------------------------------------------------------------


def test_read_timeout_fails_the_call_not_the_connection() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:
        conn = connect(srv, timeout=0.3)
        slow = conn.request("GET", "/delay/1")
        started = time.monotonic()
        with pytest.raises(exc.ReadTimeout):
            conn.get_response(slow)
        assert 0.25 < time.monotonic() - started < 0.9
        assert isinstance(exc.ReadTimeout(""), TimeoutError)
        assert echo(conn)["connection_id"] == 1  # same socket, still fine
        conn.timeout = Timeout(read=IO_TIMEOUT)
        assert json.loads(conn.get_response(slow).read())["path"] == "/delay/1"
        assert srv.connection_count == 1
        conn.close()


def test_total_timeout_stops_a_slow_body() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:

        @srv.route("/drip")
        def drip(request: Request, response: Response) -> None:
            response.start(200)
            for _ in range(50):
                response.write(b".")
                if not request.server.sleep(0.05):
                    return

        with connect(srv, timeout=Timeout(read=1.0, total=0.5)) as conn:
            conn.request("GET", "/drip")
            response = conn.get_response()
            started = time.monotonic()
            with pytest.raises(exc.ReadTimeout):
                response.read()
            assert time.monotonic() - started < 1.0
            response.close()
            assert echo(conn)["method"] == "GET"
