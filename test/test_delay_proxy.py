"""The delaying TCP proxy: delay, order, throughput, bandwidth cap, half-close, shutdown.

Each test puts a tiny threaded TCP server (echo, source or counting sink)
behind a :class:`DelayProxy` and talks to it through the proxy over plain
sockets with timeouts. Timing assertions give a lower bound (the delay must
be there) and only a generous upper bound, so a loaded machine does not fail
them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hyper.common.exceptions import HyperError
from hyper.testing import delay_proxy
from hyper.testing.delay_proxy import DelayProxy, DelayProxyError

#: Seconds any socket operation in these tests may block.
SOCKET_TIMEOUT = 10.0
#: Slack added to every upper bound on elapsed time.
SLACK = 1.0
#: Odd write sizes, so chunk boundaries never line up with the proxy's reads.
ODD_SIZES = (1, 7, 1000, 65537, 12345, 3, 131071, 4096)

Handler = Callable[[socket.socket], None]


@contextlib.contextmanager
def tcp_server(handler: Handler) -> Iterator[tuple[str, int]]:
    """Serve each connection with ``handler`` in a thread; re-raise its errors on exit."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(SOCKET_TIMEOUT)
            try:
                handler(conn)
            except BaseException as exc:
                errors.append(exc)

    def accept_loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn, _ = listener.accept()
                thread = threading.Thread(target=serve, args=(conn,), daemon=True)
                threads.append(thread)
                thread.start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        stop.set()
        acceptor.join(SOCKET_TIMEOUT)
        for thread in threads:
            thread.join(SOCKET_TIMEOUT)
        listener.close()
    assert not any(thread.is_alive() for thread in threads), "server thread hung"
    if errors:
        raise errors[0]


def echo(conn: socket.socket) -> None:
    """Send back everything received; half-close after the client does."""
    while data := conn.recv(65536):
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)


def tolerant_echo(conn: socket.socket) -> None:
    """Echo, treating the connection being cut (the proxy closing) as the end."""
    with contextlib.suppress(OSError):
        echo(conn)


def connect(proxy: DelayProxy) -> socket.socket:
    """Open a client connection through the proxy."""
    sock = socket.create_connection(proxy.address, timeout=SOCKET_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes or fail."""
    buffer = bytearray()
    while len(buffer) < size:
        data = sock.recv(size - len(buffer))
        assert data, f"EOF after {len(buffer)} of {size} bytes"
        buffer += data
    return bytes(buffer)


def recv_all(sock: socket.socket) -> bytes:
    """Read until EOF."""
    chunks = []
    while data := sock.recv(1 << 20):
        chunks.append(data)
    return b"".join(chunks)


def test_round_trip_takes_twice_the_delay() -> None:
    delay = 0.05
    with (
        tcp_server(echo) as target,
        DelayProxy(target, delay=delay) as proxy,
        connect(proxy) as sock,
    ):
        for round_number in range(4):
            message = f"ping {round_number}".encode()
            started = time.monotonic()
            sock.sendall(message)
            assert recv_exactly(sock, len(message)) == message
            elapsed = time.monotonic() - started
            assert 2 * delay <= elapsed < 2 * delay + SLACK
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b""  # the echo server has finished


def test_bytes_and_order_preserved_over_odd_chunks() -> None:
    payload = random.Random(7).randbytes(8 * 1024 * 1024)
    received: list[bytes] = []

    def read_back(sock: socket.socket) -> None:
        received.append(recv_all(sock))

    with (
        tcp_server(echo) as target,
        DelayProxy(target, delay=0.005) as proxy,
        connect(proxy) as sock,
    ):
        reader = threading.Thread(target=read_back, args=(sock,), daemon=True)
        reader.start()
        view = memoryview(payload)
        for size in itertools.cycle(ODD_SIZES):
            if not view:
                break
            sock.sendall(view[:size])
            view = view[size:]
        sock.shutdown(socket.SHUT_WR)
        reader.join(SOCKET_TIMEOUT)
        assert not reader.is_alive()
    assert len(received[0]) == len(payload)
    assert hashlib.sha256(received[0]).digest() == hashlib.sha256(payload).digest()


def test_bulk_throughput_is_not_one_chunk_per_delay() -> None:
    size = 64 * 1024 * 1024
    delay = 0.02
    block = bytes(1024 * 1024)
    one_chunk_per_delay = delay_proxy.CHUNK_SIZE / delay  # ~3.3 MB/s: what a naive proxy gets

    def source(conn: socket.socket) -> None:
        for _ in range(size // len(block)):
            conn.sendall(block)

    with (
        tcp_server(source) as target,
        DelayProxy(target, delay=delay) as proxy,
        connect(proxy) as sock,
    ):
        started = time.monotonic()
        total = 0
        while data := sock.recv(1 << 20):
            total += len(data)
        elapsed = time.monotonic() - started
    assert total == size
    assert elapsed >= delay
    rate = size / elapsed
    assert rate > 20_000_000, f"{rate / 1e6:.1f} MB/s"
    assert rate > 6 * one_chunk_per_delay


def test_bandwidth_cap_slows_transfer() -> None:
    size = 1_000_000
    bandwidth = 2_000_000.0

    def count(conn: socket.socket) -> None:
        total = len(recv_all(conn))
        conn.sendall(str(total).encode())

    with (
        tcp_server(count) as target,
        DelayProxy(target, delay=0.001, bandwidth=bandwidth) as proxy,
        connect(proxy) as sock,
    ):
        started = time.monotonic()
        sock.sendall(bytes(size))
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == str(size).encode()
        elapsed = time.monotonic() - started
    expected = size / bandwidth
    assert 0.9 * expected <= elapsed < expected + SLACK


def test_half_close_reaches_the_server_and_replies_still_flow() -> None:
    def count_then_reply(conn: socket.socket) -> None:
        total = len(recv_all(conn))  # returns only once the client's FIN arrived
        conn.sendall(f"got {total} bytes".encode())
        conn.shutdown(socket.SHUT_WR)

    with (
        tcp_server(count_then_reply) as target,
        DelayProxy(target, delay=0.01) as proxy,
        connect(proxy) as sock,
    ):
        sock.sendall(b"x" * 100_000)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b"got 100000 bytes"


def test_server_half_close_reaches_the_client() -> None:
    done = threading.Event()

    def greet_then_listen(conn: socket.socket) -> None:
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        assert recv_all(conn) == b"still sending"
        done.set()

    with (
        tcp_server(greet_then_listen) as target,
        DelayProxy(target, delay=0.01) as proxy,
        connect(proxy) as sock,
    ):
        assert recv_all(sock) == b"hello"
        sock.sendall(b"still sending")
        sock.shutdown(socket.SHUT_WR)
        assert done.wait(SOCKET_TIMEOUT)


def test_close_is_prompt_with_data_in_flight() -> None:
    with tcp_server(tolerant_echo) as target:
        proxy = DelayProxy(target, delay=5.0).start()
        sock = connect(proxy)
        with sock:
            sock.sendall(b"queued for five seconds")
            time.sleep(0.05)
            started = time.monotonic()
            proxy.close()
            assert time.monotonic() - started < SLACK
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(100) == b""
        proxy.close()  # idempotent


def test_unreachable_target_closes_the_client() -> None:
    spare = socket.create_server(("127.0.0.1", 0))
    target = spare.getsockname()[:2]
    spare.close()  # nothing listens there now
    with DelayProxy(target, delay=0.01) as proxy:
        # The reset may arrive before connect() returns, or on the first read.
        with contextlib.suppress(ConnectionResetError), connect(proxy) as sock:
            assert sock.recv(100) == b""
        assert proxy.accepted == 0


def test_thread_failure_is_raised_on_close(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_due(self: object, size: int) -> float:
        raise RuntimeError("bug in the proxy")

    monkeypatch.setattr(delay_proxy._Direction, "_due", broken_due)
    with tcp_server(tolerant_echo) as target:
        proxy = DelayProxy(target, delay=0.01).start()
        with connect(proxy) as sock:
            sock.sendall(b"trigger")
            with contextlib.suppress(ConnectionResetError):
                sock.recv(100)
        with pytest.raises(DelayProxyError) as info:
            proxy.close()
    assert isinstance(info.value, HyperError)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_address_and_repr() -> None:
    proxy = DelayProxy(("127.0.0.1", 9), delay=0.1)
    assert proxy.port == 0
    with pytest.raises(RuntimeError):
        _ = proxy.address
    with proxy:
        assert proxy.host == "127.0.0.1"
        assert proxy.address == (proxy.host, proxy.port)
        assert proxy.port > 0
        assert "listening" in repr(proxy)
        assert f"port={proxy.port}" in repr(proxy)
        with pytest.raises(RuntimeError):
            proxy.start()
    assert "closed" in repr(proxy)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"target": "127.0.0.1:80"}, TypeError),
        ({"target": ("127.0.0.1", "80")}, TypeError),
        ({"target": ("127.0.0.1", 0)}, ValueError),
        ({"target": ("127.0.0.1", 80), "delay": -0.1}, ValueError),
        ({"target": ("127.0.0.1", 80), "delay": float("inf")}, ValueError),
        ({"target": ("127.0.0.1", 80), "delay": "1"}, TypeError),
        ({"target": ("127.0.0.1", 80), "bandwidth": 0}, ValueError),
        ({"target": ("127.0.0.1", 80), "buffer_limit": 0}, ValueError),
        ({"target": ("127.0.0.1", 80), "buffer_limit": True}, TypeError),
    ],
)
def test_invalid_arguments_rejected(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        DelayProxy(**kwargs)  # type: ignore[arg-type]
