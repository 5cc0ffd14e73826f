"""HTTP/2 concurrency: the local queue behind MAX_CONCURRENT_STREAMS, and one
connection shared by many threads (one reader at a time, the others woken)."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest
from h2.settings import SettingCodes
from h2_helpers import IO_TIMEOUT, connect, wait_until

from hyper.common import exceptions as exc
from hyper.testing import Request, Response, Server, payload


class Gauge:
    """Counts handlers running at once (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.now -= 1


def test_200_requests_before_any_read_with_a_limit_of_10() -> None:
    settings = {SettingCodes.MAX_CONCURRENT_STREAMS: 10}
    with Server(protocols=("h2",), h2_settings=settings) as srv:
        gauge = Gauge()

        @srv.route("/work")
        def work(request: Request, response: Response) -> None:
            with gauge:
                digest = hashlib.sha256(request.body).hexdigest()
                request.server.sleep(0.002)
                response.send(json.dumps({"sha256": digest, "length": len(request.body)}).encode())

        with connect(srv) as conn:
            bodies = [payload(100_000 if i % 3 == 0 else i, i) for i in range(200)]
            started = time.monotonic()
            ids = [conn.request("POST", "/work", body=body) for body in bodies]
            assert time.monotonic() - started < IO_TIMEOUT / 2  # request() never waited for a slot
            assert len(set(ids)) == 200
            for sid, body in reversed(list(zip(ids, bodies, strict=True))):
                answer = json.loads(conn.get_response(sid).read())
                assert answer == {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}
            assert conn._streams == {}
    assert 2 <= gauge.peak <= 10
    assert srv.connection_count == 1


def test_requests_queue_without_blocking_and_a_higher_limit_opens_them() -> None:
    release = threading.Event()
    with Server(
        tls=False, protocols=("h2",), h2_settings={SettingCodes.MAX_CONCURRENT_STREAMS: 1}
    ) as srv:

        @srv.route("/hold")
        def hold(request: Request, response: Response) -> None:
            assert release.wait(IO_TIMEOUT)
            response.send(b"held")

        with connect(srv) as conn:
            conn.ping(b"settings")  # the limit of 1 is known
            started = time.monotonic()
            held = conn.request("GET", "/hold")
            queued = [conn.request("GET", f"/bytes/{i}") for i in range(1, 4)]
            assert time.monotonic() - started < 1.0
            wait_until(lambda: len(srv.requests) == 1)
            assert len(conn._io.session.queue) == 3  # type: ignore[union-attr]
            srv.connections[0].update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: 10})
            # Waiting on a queued stream reads the new SETTINGS, which open it.
            assert conn.get_response(queued[1]).read() == payload(2)
            assert not release.is_set()
            release.set()
            assert conn.get_response(held).read() == b"held"
            assert [conn.get_response(q).read() for q in (queued[0], queued[2])] == [
                payload(1),
                payload(3),
            ]


def test_threads_share_one_connection() -> None:
    with Server(protocols=("h2",)) as srv, connect(srv) as conn:
        failures: list[BaseException] = []

        def worker(seed: int) -> None:
            try:
                for i in range(20):
                    if i % 2:
                        sid = conn.request("GET", f"/bytes/{30_000 + i}?seed={seed}")
                        assert conn.get_response(sid).read() == payload(30_000 + i, seed)
                    else:
                        body = payload(70_000, seed + i)
                        sid = conn.request("POST", "/upload", body=body)
                        answer = json.loads(conn.get_response(sid).read())
                        assert answer["sha256"] == hashlib.sha256(body).hexdigest()
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(IO_TIMEOUT * 2)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        assert srv.connection_count == 1
        assert conn._streams == {}


def test_a_waiter_is_served_by_another_threads_reads() -> None:
    with Server(tls=False, protocols=("h2",)) as srv, connect(srv) as conn:
        slow = conn.request("GET", "/delay/0.5")
        reader = threading.Thread(target=lambda: conn.get_response(slow).read())
        reader.start()
        wait_until(lambda: conn._io.session is not None and conn._io.session.reader_active)
        started = time.monotonic()
        fast = conn.request("GET", "/get")
        assert json.loads(conn.get_response(fast).read())["path"] == "/get"
        assert time.monotonic() - started < 0.4  # not held up by the slow reader
        reader.join(IO_TIMEOUT)
        assert not reader.is_alive()


def test_closing_from_another_thread_wakes_every_waiter() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:
        conn = connect(srv)
        ids = [conn.request("GET", "/delay/5") for _ in range(3)]
        errors: list[BaseException] = []

        def wait(sid: int) -> None:
            try:
                conn.get_response(sid)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=wait, args=(sid,)) for sid in ids]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(srv.requests) == 3)
        time.sleep(0.05)  # let them all block
        started = time.monotonic()
        conn.close()
        for thread in threads:
            thread.join(IO_TIMEOUT)
        assert time.monotonic() - started < 2.0
        assert len(errors) == 3
        assert all(isinstance(error, exc.ConnectionError) for error in errors)


@pytest.mark.parametrize("tls", [True, False])
def test_many_threads_read_their_own_large_bodies(tls: bool) -> None:
    with Server(tls=tls, protocols=("h2",)) as srv, connect(srv) as conn:
        results: dict[int, bool] = {}

        def fetch(seed: int) -> None:
            sid = conn.request("GET", f"/bytes/{1_000_000}?seed={seed}")
            results[seed] = conn.get_response(sid).read() == payload(1_000_000, seed)

        threads = [threading.Thread(target=fetch, args=(seed,)) for seed in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(IO_TIMEOUT)
        assert results == dict.fromkeys(range(6), True)
