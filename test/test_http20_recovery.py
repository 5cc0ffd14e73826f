"""Transparent re-sending of requests a server refused unprocessed (RFC 9113 section 8.7).

A server that answers RST_STREAM(REFUSED_STREAM), or sends a GOAWAY whose
last stream ID is below a request's stream, promises it did not process that
request. hyper sends such requests again (on a new socket after a GOAWAY)
when their body can be replayed, behind the stream ID the caller holds. The
server here counts what its handler processed, so every test proves both
that each request was answered correctly and that none was processed twice.
"""

from __future__ import annotations

import collections
import hashlib
import io
import threading
from collections.abc import Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2_helpers import IO_TIMEOUT, connect, run_threads

from hyper.common import exceptions as exc
from hyper.http20._settings import MAX_REFUSALS
from hyper.http20.connection import HTTP20Connection
from hyper.testing import H2Handle, Request, Response, Server, payload

pytestmark = pytest.mark.usefixtures("stress_round")  # repeated by make stress

#: Requests per scenario.
REQUESTS = 40
#: Threads sharing the connection in the threaded scenarios.
THREADS = 10


class FaultyServer:
    """Hooks on a test server: GOAWAY(NO_ERROR) after every ``goaway_every``-th
    request of a connection (requests above its last stream are then ignored,
    as a real server would) and RST_STREAM(REFUSED_STREAM) for every
    ``refuse_every``-th request the server sees, but one request at most
    ``refuse_limit`` times (``None``: no limit); ``/work`` answers with the
    request's ID and a digest of its body, counting what it processed.

    The scenarios cap refusals per request below ``MAX_REFUSALS``: the
    every-third rule alone can, by the timing of the threads, refuse one
    request more often than hyper's bound allows, which the bound tests
    check on their own."""

    def __init__(
        self,
        server: Server,
        goaway_every: int = 0,
        refuse_every: int = 0,
        refuse_limit: int | None = None,
    ) -> None:
        self.server = server
        self.goaway_every = goaway_every
        self.refuse_every = refuse_every
        self.refuse_limit = refuse_limit
        self._refusals: collections.Counter[bytes] = collections.Counter()
        self.processed: collections.Counter[str] = collections.Counter()
        self.refused = 0
        self.goaways = 0
        self._lock = threading.Lock()
        self._seen = 0
        self._per_connection: collections.Counter[int] = collections.Counter()
        self._last: dict[int, int] = {}
        server.on_h2_event(self._hook)
        server.route("/work")(self._work)

    def _hook(self, handle: H2Handle, event: h2.events.Event) -> bool | None:
        if not isinstance(event, h2.events.RequestReceived):
            return None
        stream_id = event.stream_id or 0
        with self._lock:
            if handle.id in self._last and stream_id > self._last[handle.id]:
                return True  # above the GOAWAY's last stream: never processed
            self._seen += 1
            ident = dict(event.headers or ()).get(b"x-request-id", b"")
            if self._refuse(ident):
                self.refused += 1
                self._refusals[ident] += 1
                handle.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
                return True
            self._per_connection[handle.id] += 1
            if self.goaway_every and self._per_connection[handle.id] == self.goaway_every:
                self._last[handle.id] = stream_id
                self.goaways += 1
                handle.goaway(stream_id)
        return None

    def _refuse(self, ident: bytes) -> bool:
        if not self.refuse_every or self._seen % self.refuse_every:
            return False
        return self.refuse_limit is None or self._refusals[ident] < self.refuse_limit

    def _work(self, request: Request, response: Response) -> None:
        ident = request.header("x-request-id") or "?"
        body = request.body
        with self._lock:
            self.processed[ident] += 1
        response.send(f"{ident} {hashlib.sha256(body).hexdigest()}".encode())


def expected(ident: str, body: bytes) -> bytes:
    return f"{ident} {hashlib.sha256(body).hexdigest()}".encode()


def body_for(index: int) -> tuple[Any, bytes]:
    """A request body of some replayable kind and the bytes it stands for."""
    data = payload(index * 997 % 70_000)
    kind = index % 4
    if kind == 0:
        return None, b""
    if kind == 1:
        return data, data
    if kind == 2:
        text = data.decode("latin-1")
        return text, text.encode("utf-8")  # str goes as UTF-8
    stream = io.BytesIO(b"skip" + data)
    stream.seek(4)  # a file is sent again from where it was at request()
    return stream, data


def send(conn: HTTP20Connection, index: int) -> tuple[int, bytes]:
    body, data = body_for(index)
    ident = f"r{index}"
    method = "GET" if body is None else "POST"
    sid = conn.request(method, "/work", body=body, headers={"x-request-id": ident})
    return sid, expected(ident, data)


def check(faults: FaultyServer) -> None:
    assert sorted(faults.processed) == sorted(f"r{i}" for i in range(REQUESTS))
    twice = [ident for ident, count in faults.processed.items() if count != 1]
    assert not twice, f"processed more than once: {twice}"


SCENARIOS = {
    "goaway": {"goaway_every": 5},
    "refused": {"refuse_every": 3, "refuse_limit": 2},
    "both": {"goaway_every": 5, "refuse_every": 3, "refuse_limit": 2},
}


@pytest.fixture(params=sorted(SCENARIOS))
def faults(request: pytest.FixtureRequest) -> Iterator[FaultyServer]:
    with Server(tls=True, protocols=("h2",)) as srv:
        yield FaultyServer(srv, **SCENARIOS[request.param])


def assert_faults_happened(faults: FaultyServer) -> None:
    if faults.goaway_every:
        assert faults.goaways >= 2
        assert faults.server.connection_count >= 3
    if faults.refuse_every:
        assert faults.refused >= REQUESTS // faults.refuse_every


def test_sequential_requests_all_answered_once(faults: FaultyServer) -> None:
    with connect(faults.server) as conn:
        for index in range(REQUESTS):
            sid, want = send(conn, index)
            assert conn.get_response(sid).read() == want
    check(faults)
    assert_faults_happened(faults)


def test_ten_threads_all_answered_once(faults: FaultyServer) -> None:
    with connect(faults.server) as conn:

        def work(thread: int) -> None:
            for index in range(thread, REQUESTS, THREADS):
                sid, want = send(conn, index)
                assert conn.get_response(sid).read() == want

        run_threads(THREADS, work, 4 * IO_TIMEOUT)
    check(faults)
    assert_faults_happened(faults)


def test_one_thread_multiplexed_all_answered_once(faults: FaultyServer) -> None:
    with connect(faults.server) as conn:
        sent = [send(conn, index) for index in range(REQUESTS)]
        for sid, want in reversed(sent):  # read in another order than sent
            assert conn.get_response(sid).read() == want
        assert [sid for sid, _ in sent] == list(range(1, 2 * REQUESTS, 2))
    check(faults)
    if faults.refuse_every:
        assert faults.refused >= REQUESTS // faults.refuse_every


# --- what cannot or must not be sent again ------------------------------------------


def generator_body() -> Iterator[bytes]:
    yield b"once "
    yield b"only"


def test_a_refused_generator_body_raises_request_not_processed() -> None:
    with Server(tls=True, protocols=("h2",)) as srv:
        faults = FaultyServer(srv, refuse_every=1)
        with connect(srv) as conn:
            sid = conn.request("POST", "/work", body=generator_body())
            with pytest.raises(exc.RequestNotProcessedError) as info:
                conn.get_response(sid)
            cause = info.value.__cause__
            assert isinstance(cause, exc.StreamResetError)
            assert cause.error_code == ErrorCodes.REFUSED_STREAM
        assert faults.refused == 1  # never sent a second time
        assert not faults.processed


def test_a_generator_body_above_goaway_raises_request_not_processed() -> None:
    release = threading.Event()
    with Server(tls=True, protocols=("h2",)) as srv:

        @srv.route("/hold")
        def hold(request: Request, response: Response) -> None:
            assert release.wait(IO_TIMEOUT)
            response.send(b"held")

        with connect(srv) as conn:
            first = conn.request("GET", "/hold")
            second = conn.request("POST", "/hold", body=generator_body())
            srv.connections[0].goaway(last_stream_id=first)
            release.set()
            assert conn.get_response(first).read() == b"held"
            with pytest.raises(exc.RequestNotProcessedError) as info:
                conn.get_response(second)
            assert isinstance(info.value.__cause__, exc.ConnectionTerminatedError)
            assert info.value.__cause__.last_stream_id == first


def test_a_body_streamed_with_send_is_not_sent_again() -> None:
    with Server(tls=True, protocols=("h2",)) as srv:
        faults = FaultyServer(srv, refuse_every=1)
        with connect(srv) as conn:
            sid = conn.putrequest("POST", "/work")
            conn.endheaders()
            try:  # the refusal may be read by send() or by get_response()
                conn.send(b"streamed", final=True)
            except exc.RequestNotProcessedError:
                pass
            else:
                with pytest.raises(exc.RequestNotProcessedError):
                    conn.get_response(sid)
        assert faults.refused == 1


def test_refusals_are_bounded() -> None:
    with Server(tls=True, protocols=("h2",)) as srv:
        faults = FaultyServer(srv, refuse_every=1)
        with connect(srv) as conn:
            sid = conn.request("GET", "/work")
            with pytest.raises(exc.RequestNotProcessedError, match="refused too often"):
                conn.get_response(sid)
        assert faults.refused == MAX_REFUSALS + 1


def test_a_server_that_accepts_nothing_is_not_retried_forever() -> None:
    with Server(tls=True, protocols=("h2",)) as srv:

        @srv.on_h2_connect
        def refuse(handle: H2Handle) -> None:
            handle.goaway(0)

        with connect(srv) as conn:
            with pytest.raises(exc.RequestNotProcessedError) as info:
                conn.get_response(conn.request("GET", "/get"))
            assert isinstance(info.value.__cause__, exc.ConnectionTerminatedError)
        assert srv.connection_count == MAX_REFUSALS + 1


def test_refused_mid_upload_sends_the_whole_body_again() -> None:
    data = payload(3_000_000)
    with Server(tls=True, protocols=("h2",)) as srv:
        faults = FaultyServer(srv)
        refused: list[int] = []

        @srv.on_h2_event
        def refuse_first_data(handle: H2Handle, event: h2.events.Event) -> bool | None:
            if isinstance(event, h2.events.DataReceived) and not refused:
                refused.append(event.stream_id or 0)
                handle.reset_stream(event.stream_id or 0, ErrorCodes.REFUSED_STREAM)
                return True
            return None

        with connect(srv) as conn:
            sid = conn.request("PUT", "/work", body=data, headers={"x-request-id": "big"})
            assert conn.get_response(sid).read() == expected("big", data)
        assert refused
        assert faults.processed == {"big": 1}


def test_close_fails_requests_waiting_to_be_sent_again() -> None:
    with Server(tls=True, protocols=("h2",)) as srv:
        FaultyServer(srv, refuse_every=1)
        conn = connect(srv)
        sid = conn.request("GET", "/work")
        conn.close()
        with pytest.raises(exc.LocalProtocolError):
            conn.get_response(sid)  # close() forgot it: nothing is left pending


def test_a_goaway_below_a_stream_already_answering_lets_it_finish() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:

        @srv.route("/slow")
        def slow(request: Request, response: Response) -> None:
            response.start(200, [("content-length", "10")])
            response.write(b"01234")
            srv.sleep(0.2)
            response.h2.goaway(last_stream_id=1)  # below this stream (3): a server's mistake
            srv.sleep(0.2)
            response.write(b"56789")
            response.finish()

        with connect(srv) as conn:
            conn.get_response(conn.request("GET", "/get")).read()
            response = conn.get_response(conn.request("GET", "/slow"))
            assert response.status == 200
            assert response.read() == b"0123456789"
            assert conn.get_response(conn.request("GET", "/get")).status == 200
        assert srv.connection_count == 2
