"""One HTTP/2 connection shared by many threads, under load and under failure.

Every body is checked byte for byte (against :func:`hyper.testing.payload`
or a SHA-256); every thread is joined with a bound, so a deadlock or a lost
wake-up fails the test instead of hanging it. ``HYPER_STRESS_ROUNDS=N``
repeats every test N times (``make stress``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2_helpers import IO_TIMEOUT, connect, run_threads, wait_until

from hyper.common import exceptions as exc
from hyper.http20.connection import HTTP20Connection
from hyper.testing import H2Handle, Request, Response, Server, payload

pytestmark = pytest.mark.usefixtures("stress_round")

#: Threads sharing the connection, and requests each makes, in the main load test.
THREADS = 16
REQUESTS = 100
#: Download sizes the load test cycles through (bytes).
SIZES = (0, 1, 100, 1000, 16_384, 16_385, 40_000, 65_536)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server(protocols=("h2",)) as srv:
        yield srv


def upload(conn: HTTP20Connection, body: Any, expected: bytes) -> None:
    """POST to ``/upload`` and check the server's length and hash of the body."""
    answer = json.loads(conn.get_response(conn.request("POST", "/upload", body=body)).read())
    assert (answer["length"], answer["sha256"]) == (
        len(expected),
        hashlib.sha256(expected).hexdigest(),
    )


# --- load --------------------------------------------------------------------------------


def test_16_threads_100_requests_each_on_one_connection() -> None:
    checked = [0] * THREADS
    # Cleartext: the test server's TLS would double its time; the other tests,
    # and the same load against nghttpd in test_release, run over TLS.
    with Server(tls=False, protocols=("h2",)) as server, connect(server) as conn:

        def work(index: int) -> None:
            for i in range(REQUESTS):
                size = SIZES[(i + index) % len(SIZES)]
                if i % 10 == 3:
                    body = payload(size + 1, index * 1000 + i)
                    upload(conn, body, body)
                else:
                    sid = conn.request("GET", f"/bytes/{size}?seed={index}")
                    response = conn.get_response(sid)
                    assert response.status == 200
                    assert response.read() == payload(size, index)
                checked[index] += 1

        run_threads(THREADS, work)
        assert checked == [REQUESTS] * THREADS
        assert conn._streams == {}
        assert conn._io.waiting == 0
        assert server.connection_count == 1
        assert len(server.requests) == THREADS * REQUESTS


def test_large_uploads_and_downloads_mixed_across_threads(server: Server) -> None:
    size = 1_500_000
    with connect(server) as conn:

        def work(index: int) -> None:
            for i in range(3):
                seed = index * 10 + i
                if (index + i) % 2:
                    response = conn.get_response(conn.request("GET", f"/bytes/{size}?seed={seed}"))
                    digest = hashlib.sha256()
                    for piece in response:  # streamed: window credit goes back as it is read
                        digest.update(piece)
                    assert digest.digest() == hashlib.sha256(payload(size, seed)).digest()
                elif i == 2:  # a generator: pulled lazily as the window allows
                    body = payload(size, seed)
                    upload(conn, (body[n : n + 65_536] for n in range(0, size, 65_536)), body)
                else:
                    body = payload(size, seed)
                    upload(conn, body, body)

        run_threads(8, work)
    assert server.connection_count == 1


def test_get_response_without_an_id_hands_each_response_to_one_thread(server: Server) -> None:
    count = 64
    with connect(server) as conn:
        expected = {conn.request("GET", f"/bytes/{100 + n}?seed={n}"): n for n in range(count)}
        seen: list[int] = []
        lock = threading.Lock()

        def work(index: int) -> None:
            for _ in range(count // 8):
                response = conn.get_response()
                n = expected[response.stream_id]
                assert response.read() == payload(100 + n, n)
                with lock:
                    seen.append(response.stream_id)

        run_threads(8, work)
        assert sorted(seen) == sorted(expected)
        with pytest.raises(exc.LocalProtocolError):
            conn.get_response()


def test_reading_passes_from_thread_to_thread(server: Server) -> None:
    """Each thread that finishes hands the socket to a waiting one: nobody
    sleeps on a stream another thread's read completed."""
    with connect(server) as conn:
        started = time.monotonic()

        def work(index: int) -> None:
            sid = conn.request("GET", f"/delay/{0.02 * (index % 8)}")
            assert json.loads(conn.get_response(sid).read())["path"].startswith("/delay/")

        run_threads(THREADS, work)
        assert time.monotonic() - started < IO_TIMEOUT / 2
        assert conn._io.waiting == 0


# --- failures ------------------------------------------------------------------------------


def test_a_reset_stream_fails_only_its_thread(server: Server) -> None:
    @server.route("/half")
    def half(request: Request, response: Response) -> None:
        response.start(200, [("content-length", "200000")])
        response.write(b"h" * 50_000)
        response.abort(ErrorCodes.INTERNAL_ERROR)

    resets = [0]
    with connect(server) as conn:

        def work(index: int) -> None:
            for i in range(20):
                if index == 0:  # the victim: every one of its streams is reset
                    response = conn.get_response(conn.request("GET", "/half"))
                    with pytest.raises(exc.StreamResetError) as info:
                        response.read()
                    assert info.value.error_code == ErrorCodes.INTERNAL_ERROR
                    resets[0] += 1
                elif index == 1:  # resets its own streams half-way (RST_STREAM CANCEL)
                    response = conn.get_response(conn.request("GET", f"/bytes/300000?seed={i}"))
                    assert response.read(1000) == payload(300_000, i)[:1000]
                    response.close()
                else:
                    sid = conn.request("GET", f"/bytes/{20_000 + i}?seed={index}")
                    assert conn.get_response(sid).read() == payload(20_000 + i, index)

        run_threads(8, work)
        assert resets == [20]
        assert conn._streams == {}
    assert server.connection_count == 1


@pytest.mark.parametrize("how", ["server closes", "client closes"])
def test_a_connection_killed_under_load_fails_every_thread(server: Server, how: str) -> None:
    @server.route("/drip")
    def drip(request: Request, response: Response) -> None:
        response.start(200)
        while not response.connection.closed:
            response.write(b"d" * 8192)
            if not request.server.sleep(0.005):
                return

    errors: list[BaseException] = []
    reading = threading.Barrier(THREADS + 1, timeout=IO_TIMEOUT)
    conn = connect(server)

    def work(index: int) -> None:
        response = conn.get_response(conn.request("GET", "/drip"))
        assert response.read(8192)
        reading.wait()
        try:
            while response.read(8192):
                pass
        except exc.ConnectionError as error:
            errors.append(error)

    runner = threading.Thread(target=run_threads, args=(THREADS, work, IO_TIMEOUT))
    runner.start()
    reading.wait()  # every thread is in the middle of its body
    killed = time.monotonic()
    if how == "server closes":
        server.connections[0].close()
    else:
        conn.close()
    runner.join(IO_TIMEOUT)
    assert not runner.is_alive()
    assert time.monotonic() - killed < 5.0
    assert len(errors) == THREADS
    assert conn._io.waiting == 0
    # The connection object is still usable: a fresh socket.
    answer = json.loads(conn.get_response(conn.request("GET", "/get")).read())
    assert answer["connection_id"] == 2
    conn.close()


def test_a_failure_wakes_threads_waiting_for_heads_and_for_window(server: Server) -> None:
    release = threading.Event()

    @server.route("/hold")
    def hold(request: Request, response: Response) -> None:
        release.wait(IO_TIMEOUT)

    @server.route("/stall")
    def stall(request: Request, response: Response) -> None:
        release.wait(IO_TIMEOUT)

    @server.on_h2_event
    def withhold_window(handle: H2Handle, event: h2.events.Event) -> bool:
        return isinstance(event, h2.events.DataReceived)  # uploads run out of window

    errors: list[BaseException] = []
    conn = connect(server)

    def work(index: int) -> None:
        try:
            if index % 2:
                conn.get_response(conn.request("GET", "/hold"))
            else:
                sid = conn.putrequest("POST", "/stall")
                conn.endheaders(stream_id=sid)  # threads share the connection: name the stream
                conn.send(b"u" * 200_000, stream_id=sid)  # waits for window
        except exc.ConnectionError as error:
            errors.append(error)

    runner = threading.Thread(target=run_threads, args=(8, work, IO_TIMEOUT))
    runner.start()
    wait_until(lambda: len(server.requests) == 8 and conn._io.waiting >= 7)
    server.connections[0].close()
    runner.join(IO_TIMEOUT)
    release.set()
    assert not runner.is_alive()
    assert len(errors) == 8
    conn.close()


def test_a_bug_while_dispatching_fails_the_socket_not_just_one_thread(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyper.http20 import _dispatch

    def broken(session: Any, event: h2.events.DataReceived) -> None:
        raise RuntimeError("a bug in an event handler")

    errors: list[BaseException] = []
    with connect(server) as conn:
        assert json.loads(conn.get_response(conn.request("GET", "/get")).read())
        monkeypatch.setitem(_dispatch._HANDLERS, h2.events.DataReceived, broken)

        def work(index: int) -> None:
            try:
                conn.get_response(conn.request("GET", f"/bytes/{1000 + index}")).read()
            # RequestNotProcessedError: still queued for a stream slot, never sent.
            except (exc.ConnectionError, exc.RequestNotProcessedError) as error:
                errors.append(error)

        run_threads(4, work, IO_TIMEOUT)
        assert len(errors) == 4
        for error in errors:
            causes = [error.__cause__, getattr(error.__cause__, "__cause__", None)]
            assert any(isinstance(cause, RuntimeError) for cause in causes)
        monkeypatch.undo()
        assert json.loads(conn.get_response(conn.request("GET", "/get")).read())["path"] == "/get"
