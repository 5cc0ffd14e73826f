"""HTTP/2 PINGs hyper sends for itself: the round-trip estimate, the check of an
idle connection before reuse, and the opt-in keepalive.

A server that stops answering is staged with an event hook that drops the
PING ACKs h2 queued; every wait is bounded by a short read timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import h2.events
import pytest
from h2_helpers import IO_TIMEOUT, connect, wait_until
from hyperframe.frame import GoAwayFrame

from hyper.common import exceptions as exc
from hyper.http20._rtt import PING_PREFIX, PingKind
from hyper.http20._settings import STREAM_WINDOW_SIZE
from hyper.http20.connection import HTTP20Connection
from hyper.http20.window import FlowControlManager
from hyper.testing import DelayProxy, H2Handle, Request, Response, Server, payload_chunks

MIB = 1024 * 1024
#: How long a test lets a connection sit idle (longer than the idle checks it sets).
IDLE = 0.25


def echo(conn: HTTP20Connection, url: str = "/get") -> Any:
    return json.loads(conn.get_response(conn.request("GET", url)).read())


class Pings:
    """Records the PINGs a server receives; can drop its ACKs (a server gone silent)."""

    def __init__(self, server: Server) -> None:
        self.received: list[tuple[int, bytes]] = []  # (connection id, payload)
        self.silent = False
        self._lock = threading.Lock()
        server.on_h2_event(self.hook)

    def hook(self, handle: H2Handle, event: h2.events.Event) -> bool:
        if isinstance(event, h2.events.PingReceived):
            with self._lock:
                self.received.append((handle.id, event.ping_data or b""))
            if self.silent:
                handle.h2.clear_outbound_data_buffer()  # the ACK h2 queued
        return False

    def kinds(self, connection_id: int = 1) -> list[bytes]:
        with self._lock:
            return [data[2:3] for cid, data in self.received if cid == connection_id]


@pytest.fixture(params=[True, False], ids=["tls", "h2c"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with Server(tls=request.param, protocols=("h2",)) as srv:
        yield srv


# --- reuse after the server closed the connection ------------------------------------------


@pytest.mark.parametrize("goodbye", [True, False], ids=["goaway", "no-goaway"])
def test_reuse_after_the_server_closed_an_idle_connection(server: Server, goodbye: bool) -> None:
    with connect(server) as conn:
        assert echo(conn)["connection_id"] == 1
        handle = server.connections[0]
        if goodbye:
            handle.send_frame(GoAwayFrame(0, last_stream_id=1, error_code=0))
        handle.close()
        session = conn._io.session
        assert session is not None
        wait_until(lambda: session.sock.can_read)  # the close has reached us
        # The request is not lost with the dead socket: it goes on a new one.
        assert echo(conn)["connection_id"] == 2
        assert server.connection_count == 2
        assert len(server.requests) == 2


def test_a_request_started_before_the_close_moves_to_the_new_socket(server: Server) -> None:
    with connect(server) as conn:
        assert echo(conn)["connection_id"] == 1
        sid = conn.putrequest("GET", "/get")
        server.connections[0].close()
        session = conn._io.session
        assert session is not None
        wait_until(lambda: session.sock.can_read)
        assert echo(conn)["connection_id"] == 2  # notices the close
        conn.endheaders(stream_id=sid)  # nothing of it was sent yet: it goes on socket 2
        assert json.loads(conn.get_response(sid).read())["connection_id"] == 2


def test_an_idle_connection_is_confirmed_with_a_ping(server: Server) -> None:
    pings = Pings(server)
    with connect(server) as conn:
        conn.idle_check_after = 0.1
        echo(conn)
        assert pings.kinds() == [PingKind.RTT]  # sent with the preface
        assert echo(conn)["connection_id"] == 1  # busy: no check
        time.sleep(IDLE)
        assert echo(conn)["connection_id"] == 1  # idle: checked, alive
        assert pings.kinds() == [PingKind.RTT, PingKind.PROBE]
        assert all(data.startswith(PING_PREFIX) for _, data in pings.received)
    assert server.connection_count == 1


def test_a_silent_idle_connection_is_replaced_before_the_request(server: Server) -> None:
    pings = Pings(server)
    with connect(server, timeout=0.5) as conn:
        conn.idle_check_after = 0.1
        echo(conn)
        pings.silent = True
        time.sleep(IDLE)
        started = time.monotonic()
        assert echo(conn)["connection_id"] == 2  # the request went on a new socket
        assert 0.4 < time.monotonic() - started < 2.0  # the PING waited its 0.5 s
        assert pings.kinds(1)[-1] == PingKind.PROBE
        assert len(server.requests) == 2


def test_threads_arriving_during_a_check_await_its_verdict(server: Server) -> None:
    pings = Pings(server)
    with connect(server, timeout=0.5) as conn:
        conn.idle_check_after = 0.1
        echo(conn)
        pings.silent = True
        time.sleep(IDLE)
        ids: list[int] = []
        threads = [
            threading.Thread(target=lambda: ids.append(echo(conn)["connection_id"]))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(IO_TIMEOUT)
        assert ids == [2, 2, 2, 2]  # none was lost on the silent socket
        assert pings.kinds(1).count(PingKind.PROBE) == 1


def test_no_ping_when_the_check_is_off(server: Server) -> None:
    pings = Pings(server)
    with connect(server) as conn:
        conn.idle_check_after = None
        echo(conn)
        time.sleep(0.05)
        echo(conn)
        assert pings.kinds() == [PingKind.RTT]


def test_the_users_ping_is_answered_among_hyper_own(server: Server) -> None:
    pings = Pings(server)
    with connect(server) as conn:
        conn.ping(b"12345678")  # also opens the socket: an RTT PING goes first
        conn.ping(b"abcdefgh")
        assert [data for _, data in pings.received][1:] == [b"12345678", b"abcdefgh"]
        assert conn._io.session is not None
        assert conn._io.session.ping_acks == set()  # nothing kept


# --- keepalive ----------------------------------------------------------------------------------


def keepalive_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hyper-keepalive" and t.is_alive()]


def test_keepalive_pings_an_idle_connection(server: Server) -> None:
    pings = Pings(server)
    with connect(server, keepalive=0.1) as conn:
        echo(conn)
        wait_until(lambda: pings.kinds().count(PingKind.KEEPALIVE) >= 3, timeout=3.0)
        assert echo(conn)["connection_id"] == 1
        assert keepalive_threads()
    wait_until(lambda: not keepalive_threads(), timeout=2.0)  # close() stopped it


def test_keepalive_fails_a_waiter_on_a_dead_connection(server: Server) -> None:
    @server.route("/forever")
    def forever(request: Request, response: Response) -> None:
        request.server.sleep(IO_TIMEOUT)

    pings = Pings(server)
    with connect(server, keepalive=0.2) as conn:
        echo(conn)
        sid = conn.request("GET", "/forever")
        pings.silent = True
        started = time.monotonic()
        with pytest.raises(exc.ConnectionError, match="keepalive"):
            conn.get_response(sid)  # the read timeout is 10 s
        assert time.monotonic() - started < 2.0
        assert echo(conn)["connection_id"] == 2


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1", TypeError),
        (True, TypeError),
        (0, ValueError),
        (-1.0, ValueError),
        (float("inf"), ValueError),
        (float("nan"), ValueError),
    ],
)
def test_keepalive_must_be_positive_seconds(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        HTTP20Connection("example.com", keepalive=value)  # type: ignore[arg-type]


# --- the round-trip estimate and adaptive windows, end to end --------------------------------


def download(conn: HTTP20Connection, size: int) -> FlowControlManager:
    response = conn.get_response(conn.request("GET", f"/bytes/{size}"))
    stream = response._stream
    got = b"".join(response)
    assert got == b"".join(payload_chunks(size))
    assert isinstance(stream.window, FlowControlManager)
    return stream.window


def test_windows_grow_over_a_slow_link_only() -> None:
    size = STREAM_WINDOW_SIZE + 8 * MIB
    # A 200 ms round trip: growth needs a third of the 32 MiB window per round
    # trip, which the in-process server and proxy reach even on a busy machine.
    with Server(protocols=("h2",)) as srv, DelayProxy(srv.address, delay=0.1) as slow:
        kwargs = {"ssl_context": srv.ssl_context(("h2",)), "timeout": IO_TIMEOUT}
        with HTTP20Connection(slow.host, slow.port, **kwargs) as far:
            window = download(far, size)
            assert window.rtt is not None
            assert 0.19 < window.rtt < 1.0
            assert window.target_window_size > STREAM_WINDOW_SIZE
            assert window.target_window_size <= size  # no larger than the body
        with connect(srv) as near:
            window = download(near, size)
            assert window.rtt is not None
            assert window.rtt < 0.02
            assert window.target_window_size == STREAM_WINDOW_SIZE
