"""The requests adapter's pool and retries: limits, idle eviction, ``max_retries``, timeouts.

What the pool keeps is read from the servers' side (connections opened and
closed); what the retries do is read from how often a route was hit, or
how many TCP connections a listener accepted.
"""

from __future__ import annotations

import io
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from adapter_helpers import CLIENT_TIMEOUT, HitCounter, SessionFactory, adapter_of, make_session
from h2_helpers import run_threads, wait_until
from urllib3 import Timeout as Urllib3Timeout
from urllib3.util.retry import Retry

from hyper.common.timeout import Timeout
from hyper.common.util import HTTPVersion
from hyper.contrib import HTTP20Adapter
from hyper.contrib._pool import ConnectionPool, Lease, PoolKey
from hyper.testing import Server, payload

__all__ = ["make_session"]  # the fixture, imported for pytest

#: The idle timeout of the eviction test, and how long it then waits.
IDLE_TIMEOUT = 0.3
IDLE_WAIT = 0.6


# --- the pool ---------------------------------------------------------------------


def test_pool_keeps_at_most_pool_connections_origins(
    hyper_server_factory: Callable[..., Server], make_session: SessionFactory
) -> None:
    servers = [hyper_server_factory() for _ in range(3)]
    session = make_session(pool_connections=2)
    for server in servers:
        session.get(server.url + "/get", verify=server.ca_path).raise_for_status()
    first = servers[0]
    wait_until(lambda: first.connections[0].closed)  # the least recently used went
    assert not any(c.closed for s in servers[1:] for c in s.connections)
    assert len(adapter_of(session)._pool.keys) == 2
    session.get(first.url + "/get", verify=first.ca_path).raise_for_status()
    assert first.connection_count == 2


def test_idle_connections_are_closed_after_idle_timeout(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server, idle_timeout=IDLE_TIMEOUT)
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 1
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 1
    time.sleep(IDLE_WAIT)
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 2
    assert hyper_server.connections[0].closed


def test_pool_block_limits_http11_connections(
    hyper_server_http11: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server_http11, pool_maxsize=1, pool_block=True)
    url = hyper_server_http11.url + "/delay/0.05"
    run_threads(3, lambda _: session.get(url, timeout=CLIENT_TIMEOUT).raise_for_status())
    assert len(hyper_server_http11.requests) == 3
    assert hyper_server_http11.connection_count == 1


def test_pool_block_wait_is_bounded_by_the_connect_timeout(
    hyper_server_http11: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server_http11, pool_maxsize=1, pool_block=True)
    timeout = (0.2, CLIENT_TIMEOUT)  # connections of one timeout: one pool entry
    held = session.get(hyper_server_http11.url + "/bytes/100", stream=True, timeout=timeout)
    with pytest.raises(requests.exceptions.ConnectTimeout):
        session.get(hyper_server_http11.url + "/get", timeout=timeout)
    assert held.content == payload(100)  # read to its end: its connection is free
    assert session.get(hyper_server_http11.url + "/get", timeout=timeout).status_code == 200
    assert hyper_server_http11.connection_count == 1


def test_each_timeout_gets_its_own_connection(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    url = hyper_server.url + "/get"
    for timeout in (5.0, (5.0, 5.0), Urllib3Timeout(connect=5.0, read=5.0)):
        assert session.get(url, timeout=timeout).json()["connection_id"] == 1
    assert session.get(url, timeout=6.0).json()["connection_id"] == 2
    with pytest.raises(ValueError):
        session.get(url, timeout=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        session.get(url, timeout=-1)


def test_arguments_are_checked() -> None:
    for kwargs in ({"pool_connections": 0}, {"pool_maxsize": 0}, {"idle_timeout": 0}):
        with pytest.raises(ValueError):
            HTTP20Adapter(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        HTTP20Adapter(max_retries="3")  # type: ignore[arg-type]


def test_a_pickled_session_works(hyper_server: Server, make_session: SessionFactory) -> None:
    original = make_session(hyper_server, pool_maxsize=3, max_retries=2)
    session = pickle.loads(pickle.dumps(original))
    adapter = adapter_of(session)
    assert (adapter._pool.per_origin, adapter.max_retries.total) == (3, 2)
    try:
        assert session.get(hyper_server.url + "/get").status_code == 200
    finally:
        session.close()


# --- max_retries --------------------------------------------------------------------


def test_max_retries_follows_requests() -> None:
    default = HTTP20Adapter().max_retries
    assert (default.total, default.read) == (0, False)
    assert HTTP20Adapter(max_retries=3).max_retries.total == 3
    custom = Retry(connect=1)
    assert HTTP20Adapter(max_retries=custom).max_retries is custom


def test_by_default_nothing_is_retried(hyper_server: Server, make_session: SessionFactory) -> None:
    reset = HitCounter(hyper_server, "/flaky", failures=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session(hyper_server).get(hyper_server.url + "/flaky")
    assert reset.hits == 1


def _retry(**kwargs: object) -> Retry:
    return Retry(backoff_factor=0, **kwargs)  # type: ignore[arg-type]


def test_get_is_retried_after_a_reset_when_the_retry_allows(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    reset = HitCounter(hyper_server, "/flaky", failures=2)
    session = make_session(hyper_server, max_retries=_retry(total=2, read=2))
    assert session.get(hyper_server.url + "/flaky").json()["hits"] == 3
    assert reset.hits == 3


def test_post_is_not_sent_twice_unless_the_retry_says_so(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    reset = HitCounter(hyper_server, "/flaky", failures=1)
    session = make_session(hyper_server, max_retries=_retry(total=2, read=2))
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(hyper_server.url + "/flaky", data=b"once")
    assert reset.hits == 1
    every_method = make_session(hyper_server, max_retries=_retry(read=1, allowed_methods=None))
    assert every_method.post(hyper_server.url + "/flaky", data=b"twice").json()["length"] == 5


def test_bodies_are_rewound_and_iterators_never_resent(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    reset = HitCounter(hyper_server, "/flaky", failures=1)
    session = make_session(hyper_server, max_retries=_retry(read=1, allowed_methods=None))
    answer = session.put(hyper_server.url + "/flaky", data=io.BytesIO(b"0123456789")).json()
    assert (answer["hits"], answer["length"]) == (2, 10)
    reset = HitCounter(hyper_server, "/flaky", failures=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.put(hyper_server.url + "/flaky", data=iter([b"abc", b"def"]))
    assert reset.hits == 1


def test_error_statuses_are_retried_with_a_status_forcelist(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    busy = HitCounter(hyper_server, "/busy", failures=2, status=503)
    session = make_session(hyper_server, max_retries=_retry(total=3, status_forcelist=[503]))
    assert session.get(hyper_server.url + "/busy").json()["hits"] == 3
    HitCounter(hyper_server, "/busy", failures=9, status=503)
    with pytest.raises(requests.exceptions.RetryError):
        session.get(hyper_server.url + "/busy")
    lenient = _retry(total=1, status_forcelist=[503], raise_on_status=False)
    assert (
        make_session(hyper_server, max_retries=lenient).get(hyper_server.url + "/busy").status_code
        == 503
    )
    assert busy.hits == 3


@pytest.fixture
def hanging_up() -> Iterator[tuple[str, list[int]]]:
    """A TCP listener that closes every connection at once (TLS fails);
    yields its https URL and the list counting accepted connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/", accepted
    finally:
        stop.set()
        thread.join(CLIENT_TIMEOUT)
        listener.close()


def test_connect_failures_are_retried_connect_times(
    hanging_up: tuple[str, list[int]], make_session: SessionFactory
) -> None:
    url, accepted = hanging_up
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session().get(url, timeout=CLIENT_TIMEOUT)
    assert len(accepted) == 1
    with pytest.raises(requests.exceptions.ConnectionError):
        make_session(max_retries=_retry(connect=2)).post(url, data=b"x", timeout=CLIENT_TIMEOUT)
    wait_until(lambda: len(accepted) == 4)  # 1, then 1 + 2 retries


# --- the pool's own bookkeeping, with stand-in connections ------------------------------


class StandIn:
    """What the pool uses of a connection: its version, and close()."""

    def __init__(self) -> None:
        self.version: HTTPVersion | None = None
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _key(port: int = 443) -> PoolKey:
    return PoolKey("https", "example.test", port, True, None, None, Timeout())


def _pool(**kwargs: Any) -> tuple[ConnectionPool, list[StandIn]]:
    made: list[StandIn] = []

    def factory(_: PoolKey) -> Any:
        made.append(StandIn())
        return made[-1]

    return ConnectionPool(factory, **kwargs), made


def _acquire_later(pool: ConnectionPool, key: PoolKey) -> tuple[threading.Thread, list[Lease]]:
    got: list[Lease] = []
    thread = threading.Thread(target=lambda: got.append(pool.acquire(key)), daemon=True)
    thread.start()
    return thread, got


def test_requests_wait_for_the_first_to_learn_the_protocol() -> None:
    pool, made = _pool()
    first = pool.acquire(_key())
    thread, got = _acquire_later(pool, _key())
    time.sleep(0.1)
    assert not got  # waiting: the protocol is not known yet
    made[0].version = HTTPVersion.http20
    first.settle(final=True)
    thread.join(CLIENT_TIMEOUT)
    assert got[0].conn is first.conn
    assert got[0].shared
    assert first.shared
    assert len(made) == 1


def test_a_failed_first_request_lets_the_next_one_find_out() -> None:
    pool, made = _pool()
    first = pool.acquire(_key())
    thread, got = _acquire_later(pool, _key())
    time.sleep(0.1)
    first.release()  # failed before the server answered
    thread.join(CLIENT_TIMEOUT)
    assert got
    assert got[0].conn is made[0]  # the released one, reused: still unconnected
    assert not got[0].shared


def test_http11_connections_are_exclusive_and_kept_up_to_per_origin() -> None:
    pool, made = _pool(per_origin=1)
    first = pool.acquire(_key())
    made[0].version = HTTPVersion.http11
    first.settle(final=True)
    second = pool.acquire(_key())  # known HTTP/1.1, the first busy: a new one
    assert second.conn is not first.conn
    assert not second.shared
    first.release()
    second.release()
    assert [c.closed for c in made] == [False, True]  # one kept, one closed
    assert pool.acquire(_key()).conn is made[0]


def test_origins_in_use_are_not_evicted() -> None:
    pool, made = _pool(maxsize=1)
    busy = pool.acquire(_key(1))
    pool.acquire(_key(2)).release()
    assert not made[0].closed  # over the limit rather than close a busy one
    busy.release()
    pool.acquire(_key(3))
    assert made[0].closed
    assert made[1].closed
    assert pool.keys == [_key(3)]
