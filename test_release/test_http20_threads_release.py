"""One HTTP20Connection shared by many threads against nghttpd on 127.0.0.1.

Every body is compared by SHA-256 with the file served (the docroot records
each file's hash) or with what was uploaded (nghttpd echoes POST bodies back
with ``--echo-upload``). Every thread is joined with a bound, so a deadlock
fails instead of hanging. ``HYPER_STRESS_ROUNDS=N`` repeats each test N times.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hyper.common import exceptions as exc
from hyper.http20._settings import STREAM_WINDOW_SIZE
from hyper.http20.connection import HTTP20Connection
from hyper.testing import DelayProxy

from ._configs import Server
from ._content import Docroot

#: Each test runs this many times (an environment variable, for ``make stress``).
ROUNDS = int(os.environ.get("HYPER_STRESS_ROUNDS", "1"))
#: Seconds any one blocking call may take.
IO_TIMEOUT = 30.0
#: Bound on a whole multi-threaded test body.
JOIN_TIMEOUT = 60.0
THREADS = 16
REQUESTS = 100
#: Files fetched by the load test (names in the docroot; 1 MiB ``blob.bin``
#: only every 50th request, to keep the test short).
FILES = ("index.html", "style.css", "text.txt", "random-50000.bin")


@pytest.fixture(autouse=True, params=range(ROUNDS), ids=lambda n: f"round{n}")
def stress_round(request: pytest.FixtureRequest) -> int:
    """Repeat every test of this module ``HYPER_STRESS_ROUNDS`` times."""
    return int(request.param)


def _connect(server: Server, host: str | None = None, port: int | None = None) -> HTTP20Connection:
    assert server.tls_port is not None
    return HTTP20Connection(
        host or server.host,
        port or server.tls_port,
        secure=True,
        verify=str(server.ca_path),
        timeout=IO_TIMEOUT,
    )


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(index)`` on ``count`` threads; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not [thread.name for thread in threads if thread.is_alive()], "threads still waiting"
    if failures:
        raise failures[0]


def _sha256(pieces: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


def _get(conn: HTTP20Connection, path: str) -> str:
    response = conn.get_response(conn.request("GET", path, headers={"accept-encoding": "identity"}))
    assert response.status == 200
    return _sha256(iter(response))


def _echo(conn: HTTP20Connection, body: bytes) -> None:
    response = conn.get_response(conn.request("POST", "/echo", body=body))
    assert response.status == 200
    assert _sha256(iter(response)) == hashlib.sha256(body).hexdigest()


def test_16_threads_100_requests_each_against_nghttpd(
    nghttpd_server: Server, docroot: Docroot
) -> None:
    docroot.random_file(50_000)
    with _connect(nghttpd_server) as conn:

        def work(index: int) -> None:
            rng = random.Random(index)
            for i in range(REQUESTS):
                if i % 10 == 7:
                    _echo(conn, rng.randbytes(rng.randrange(1, 200_000)))
                else:
                    name = "blob.bin" if i % 50 == 3 else FILES[(index + i) % len(FILES)]
                    assert _get(conn, "/" + name) == docroot[name].sha256

        _run_threads(THREADS, work)
        assert conn._streams == {}
        assert "open" in repr(conn)
        assert conn._io.session is not None
        assert conn._io.session.generation == 1


def test_large_uploads_and_downloads_mixed_across_threads(
    nghttpd_server: Server, docroot: Docroot
) -> None:
    big = docroot.random_file(4 * 1024 * 1024)
    with _connect(nghttpd_server) as conn:

        def work(index: int) -> None:
            for i in range(3):
                if (index + i) % 2:
                    assert _get(conn, big.url_path) == big.sha256
                else:
                    _echo(conn, random.Random(index * 10 + i).randbytes(2 * 1024 * 1024))

        _run_threads(8, work)
        assert conn._io.session is not None
        assert conn._io.session.generation == 1


def test_a_thread_resetting_its_streams_does_not_disturb_the_others(
    nghttpd_server: Server, docroot: Docroot
) -> None:
    blob = docroot["blob.bin"]
    with _connect(nghttpd_server) as conn:

        def work(index: int) -> None:
            for _ in range(15):
                if index == 0:  # RST_STREAM(CANCEL) after the first bytes, every time
                    response = conn.get_response(conn.request("GET", blob.url_path))
                    assert len(response.read(10_000)) == 10_000
                    response.close()
                else:
                    assert _get(conn, blob.url_path) == blob.sha256

        _run_threads(8, work)
        assert conn._streams == {}
        assert conn._io.session is not None
        assert conn._io.session.generation == 1


def test_a_connection_killed_under_load_fails_every_thread(
    nghttpd_server: Server, docroot: Docroot
) -> None:
    # Twice a stream's window: an unread stream's window cannot grow, so no
    # thread can have its whole body before the kill.
    big = docroot.random_file(2 * STREAM_WINDOW_SIZE)
    errors: list[BaseException] = []
    reading = threading.Barrier(THREADS + 1, timeout=IO_TIMEOUT)
    assert nghttpd_server.tls_port is not None
    with DelayProxy((nghttpd_server.host, nghttpd_server.tls_port), delay=0.001) as link:
        conn = _connect(nghttpd_server, link.host, link.port)

        def work(index: int) -> None:
            response = conn.get_response(conn.request("GET", big.url_path))
            assert response.read(1000)
            reading.wait()
            try:  # what arrived before the kill is read first, then the error
                while response.read(65536):
                    pass
            except exc.ConnectionError as error:
                errors.append(error)

        runner = threading.Thread(target=_run_threads, args=(THREADS, work))
        runner.start()
        reading.wait()
        killed = time.monotonic()
        link.close()  # both TCP connections are reset
        runner.join(JOIN_TIMEOUT)
        assert not runner.is_alive()
        assert time.monotonic() - killed < 5.0
        assert len(errors) == THREADS
        conn.close()
