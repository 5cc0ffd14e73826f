"""Fuzz target: the HTTP/2 receive path, through the real client over a real socket.

Each example starts a :class:`~fuzz._wire.ScriptedServer` on 127.0.0.1
and points an :class:`~hyper.http20.connection.HTTP20Connection` (cleartext,
prior knowledge, short timeouts) at it. The server reads the client's
preface and writes a drawn script (:mod:`fuzz._h2strategies`): SETTINGS,
responses, random frames of every type, mutated or truncated frames, CONTINUATION
runs, padding, GOAWAY, RST_STREAM, PUSH_PROMISE, unknown types; then closes,
resets or holds the connection. A reconnecting client gets the next script
(or the last one again). The client makes one to three requests, one after
another or from threads, reads each response in a drawn style
(:mod:`fuzz._client`), maybe PINGs, and closes. Optionally it then makes one
more request on the same connection object against a well-behaved server,
which must succeed: a failure sticks to its socket, never to the object.

A finding is an exception other than :class:`~hyper.common.exceptions.HyperError`
from any client call, a broken reading contract, an error hyper logged (its
last-resort handler catches bugs in event processing), a thread still alive
after the example, or a hang past :data:`TIME_LIMIT`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
from hypothesis import strategies as st

from fuzz._client import ReadPlan, read_plan, read_response
from fuzz._engine import Hang, Target
from fuzz._h2script import Op, Pause, WaitRequests, render
from fuzz._h2strategies import script
from fuzz._util import Repeated
from fuzz._watchdog import stack_of
from fuzz._wire import (
    CLIENT_TIMEOUT,
    HOLD,
    IO_TIMEOUT,
    REUSE_TIMEOUT,
    ClientFrames,
    ScriptedServer,
    end_connection,
)
from hyper.common.exceptions import HyperError
from hyper.http20.connection import HTTP20Connection

__all__ = ["TARGET", "Example", "RequestPlan", "run_example"]

#: Seconds after which an example counts as a hang.
TIME_LIMIT = 20.0
#: How long a script waits for the client's requests, in seconds.
WAIT_REQUESTS = 0.5
#: The body the well-behaved server answers with.
HEALTHY_BODY = b"healthy\n"


@dataclass(frozen=True)
class RequestPlan:
    """One request: its method, body and how its response is read."""

    method: str
    body: bytes
    read: ReadPlan
    fetch: bool = True


@dataclass(frozen=True)
class Example:
    """Everything one example does, client side and server side."""

    requests: tuple[RequestPlan, ...]
    threads: bool
    enable_push: bool
    ping: bool
    reuse: bool
    scripts: tuple[tuple[Op, ...], ...]
    chunk: int | None
    ending: str


_request = st.builds(
    RequestPlan,
    st.sampled_from(("GET", "GET", "POST", "HEAD")),
    st.one_of(
        st.just(b""),
        st.binary(max_size=64),
        st.builds(Repeated, st.just(b"u"), st.integers(0, 200_000)),
    ),
    read_plan,
    st.integers(0, 9).map(bool),
)


_ENDINGS = ("close",) * 8 + ("reset", "hold")


@st.composite
def example(draw: st.DrawFn) -> Example:
    """Draw a client plan and the server scripts that answer it."""
    requests = tuple(draw(st.lists(_request, min_size=1, max_size=3)))
    scripts = draw(st.lists(script(len(requests)).map(tuple), min_size=1, max_size=2))
    return Example(
        requests=requests,
        threads=draw(st.integers(0, 4)) == 0,
        enable_push=draw(st.booleans()),
        ping=draw(st.integers(0, 5)) == 0,
        reuse=draw(st.integers(0, 2)) == 0,
        scripts=tuple(scripts),
        chunk=draw(st.one_of(st.none(), st.none(), st.sampled_from((1, 5, 64, 1000, 9000)))),
        ending=draw(st.sampled_from(_ENDINGS)),
    )


class _Server:
    """Serves scripted connections, then well-behaved ones from ``healthy_from`` on."""

    def __init__(self, ex: Example) -> None:
        self.example = ex
        #: Connections from this index on are served well (set by the client).
        self.healthy_from: int | None = None

    def serve(self, index: int, sock: socket.socket) -> None:
        if self.healthy_from is not None and index >= self.healthy_from:
            _serve_healthy(sock)
            return
        ex = self.example
        frames = ClientFrames(sock)
        chosen = ex.scripts[min(index, len(ex.scripts) - 1)]
        for piece in render(list(chosen), ex.chunk):
            if isinstance(piece, Pause):
                time.sleep(piece.seconds)
            elif isinstance(piece, WaitRequests):
                frames.wait_headers(piece.count, WAIT_REQUESTS)
            else:
                sock.sendall(piece)
        end_connection(sock, frames, ex.ending, HOLD)


def _serve_healthy(sock: socket.socket) -> None:
    """Answer every request with 200 and :data:`HEALTHY_BODY`, on h2's server side."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            return
        events = conn.receive_data(data)
        if any(isinstance(event, h2.events.ConnectionTerminated) for event in events):
            return  # the client is leaving (a connection from before the switch)
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = [(":status", "200"), ("content-length", str(len(HEALTHY_BODY)))]
                conn.send_headers(event.stream_id, headers)
                conn.send_data(event.stream_id, HEALTHY_BODY, end_stream=True)
        sock.sendall(conn.data_to_send())


def _one(conn: HTTP20Connection, plan: RequestPlan, sid: int | None) -> None:
    """Fetch and read one response; HyperError is an allowed outcome."""
    try:
        if sid is None:
            sid = conn.request(plan.method, "/fuzz", body=bytes(plan.body) or None)
        if plan.fetch:
            read_response(conn.get_response(sid), plan.read)
    except HyperError:
        pass


def _sequential(conn: HTTP20Connection, ex: Example) -> None:
    sids: list[int | None] = []
    for plan in ex.requests:
        try:
            sids.append(conn.request(plan.method, "/fuzz", body=bytes(plan.body) or None))
        except HyperError:
            sids.append(-1)
    for plan, sid in zip(ex.requests, sids, strict=True):
        if sid != -1:
            _one(conn, plan, sid)


def _threaded(conn: HTTP20Connection, ex: Example) -> None:
    errors: list[BaseException] = []

    def work(plan: RequestPlan) -> None:
        try:
            _one(conn, plan, None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in ex.requests]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + TIME_LIMIT / 2
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [stack_of(t.ident or 0) for t in threads if t.is_alive()]
    if stuck:
        raise Hang("client threads still blocked:\n" + "\n".join(stuck))
    if errors:
        raise errors[0]


def _reuse(conn: HTTP20Connection) -> None:
    """After close(), one more request must work against a healthy server."""
    sid = conn.request("GET", "/healthy")
    response = conn.get_response(sid)
    body = response.read()
    assert (response.status, body) == (200, HEALTHY_BODY), (response.status, body[:100])


def _client(wire: ScriptedServer, ex: Example, server: _Server) -> None:
    conn = HTTP20Connection(
        "127.0.0.1", wire.port, secure=False, timeout=CLIENT_TIMEOUT, enable_push=ex.enable_push
    )
    try:
        (_threaded if ex.threads else _sequential)(conn, ex)
        if ex.ping:
            with contextlib.suppress(HyperError):
                conn.ping(b"fuzzping")
    finally:
        conn.close()
    if ex.reuse:
        server.healthy_from = wire.connections
        conn.timeout = REUSE_TIMEOUT
        try:
            _reuse(conn)
        finally:
            conn.close()


def run_example(ex: Example) -> None:
    """Run one example: the check of this target.

    :raises Hang: client threads were still blocked at the bound.
    :raises AssertionError: an invariant broke (see the module docstring).
    """
    before = set(threading.enumerate())
    server = _Server(ex)
    with ScriptedServer(server.serve) as wire:
        _client(wire, ex, server)
    _check_threads(before)


def _check_threads(before: set[threading.Thread]) -> None:
    deadline = time.monotonic() + 2.0
    for thread in set(threading.enumerate()) - before:
        if thread.name != "fuzz-watchdog":
            thread.join(max(0.0, deadline - time.monotonic()))
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    left = [t for t in left if t.name != "fuzz-watchdog"]
    if left:
        stacks = "\n".join(f"{t.name}:\n{stack_of(t.ident or 0)}" for t in left)
        raise AssertionError(f"threads left running after the example:\n{stacks}")


TARGET = Target("http20", example(), run_example, time_limit=TIME_LIMIT, batch_size=25)
