"""Tests of BufferedSocket over real sockets: socket pairs, loopback TCP, and a
TLS connection on a socket pair (certificates from ``trustme``). No mocks."""

from __future__ import annotations

import array
import builtins
import os
import random
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyper.common import bufsocket, exceptions
from hyper.common.bufsocket import DIRECT_READ_SIZE, MAX_WRITE_BUFFER, BufferedSocket

#: Upper bound on every blocking wait in this file, in seconds.
WAIT = 5.0
#: A short timeout for the tests that expect one to expire.
SHORT = 0.05


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected socket pair (ours, the peer), both with bounded timeouts."""
    ours, peer = socket.socketpair()
    ours.settimeout(WAIT)
    peer.settimeout(WAIT)
    with ours, peer:
        yield ours, peer


@pytest.fixture
def buffered(pair: tuple[socket.socket, socket.socket]) -> BufferedSocket:
    return BufferedSocket(pair[0])


@pytest.fixture
def peer(pair: tuple[socket.socket, socket.socket]) -> socket.socket:
    return pair[1]


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes from the plain socket ``sock``."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def small(pair: tuple[socket.socket, socket.socket], size: int) -> BufferedSocket:
    return BufferedSocket(pair[0], buffer_size=size)


class Writer(threading.Thread):
    """Sends chunks from a thread, then shuts down writing; re-raises on join."""

    def __init__(self, sock: socket.socket, chunks: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.sock, self.chunks = sock, chunks
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            for chunk in self.chunks:
                self.sock.sendall(chunk)
            self.sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:  # re-raised by finish()
            self.failure = exc

    def finish(self) -> None:
        self.join(WAIT)
        assert not self.is_alive(), "writer thread did not finish"
        if self.failure is not None:
            raise self.failure


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut ``data`` into chunks of the given sizes, cycling through them."""
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        chunks.append(data[pos : pos + size])
        pos, i = pos + size, i + 1
    return chunks


# --- construction ----------------------------------------------------------


def test_constructor_checks_arguments(pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(TypeError, match="sock"):
        BufferedSocket("not a socket")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="buffer_size"):
        BufferedSocket(pair[0], buffer_size=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buffer_size"):
        BufferedSocket(pair[0], buffer_size=0)


def test_exposes_socket_and_timeout(
    buffered: BufferedSocket, pair: tuple[socket.socket, ...]
) -> None:
    assert buffered.sock is pair[0]
    assert buffered.fileno() == pair[0].fileno()
    buffered.settimeout(1.5)
    assert buffered.gettimeout() == 1.5 == pair[0].gettimeout()
    buffered.settimeout(None)
    assert buffered.gettimeout() is None
    with pytest.raises(ValueError, match="timeout"):
        buffered.settimeout(-1)
    assert "buffered=0" in repr(buffered)


# --- fill, buffer, advance_buffer -----------------------------------------


def test_fill_and_advance(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"hello world")
    assert buffered.fill() == 11
    assert bytes(buffered.buffer) == b"hello world"
    buffered.advance_buffer(6)
    assert bytes(buffered.buffer) == b"world"
    with pytest.raises(ValueError, match="count"):
        buffered.advance_buffer(6)
    with pytest.raises(ValueError, match="count"):
        buffered.advance_buffer(-1)
    buffered.advance_buffer(5)
    assert len(buffered.buffer) == 0


def test_fill_returns_zero_at_eof(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"last")
    peer.shutdown(socket.SHUT_WR)
    assert buffered.fill() == 4
    assert buffered.fill() == 0
    assert bytes(buffered.buffer) == b"last"


def test_fill_on_full_buffer_is_buffer_error(
    pair: tuple[socket.socket, socket.socket], peer: socket.socket
) -> None:
    buffered = small(pair, 16)
    peer.sendall(b"x" * 20)
    while len(buffered.buffer) < 16:
        assert buffered.fill() > 0
    with pytest.raises(BufferError):
        buffered.fill()
    buffered.advance_buffer(16)
    assert buffered.fill() == 4  # room again


def test_fill_compacts_only_when_little_room_is_left(
    pair: tuple[socket.socket, socket.socket], peer: socket.socket
) -> None:
    buffered = small(pair, 16)
    peer.sendall(b"abcdefghijkl")  # 12 bytes: 4 left free, a quarter: no move yet
    while len(buffered.buffer) < 12:
        buffered.fill()
    buffered.advance_buffer(10)
    peer.sendall(b"mnopqrstu")
    assert buffered.fill() == 4  # read into the tail without moving "kl"
    assert bytes(buffered.buffer) == b"klmnop"
    assert buffered.fill() == 5  # tail full: "klmnop" moved to the front first
    assert bytes(buffered.buffer) == b"klmnopqrstu"


# --- recv and readinto -----------------------------------------------------


def test_recv_prefers_buffered_bytes(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"abcdef")
    assert buffered.recv(2) == b"ab"  # one fill, then from the buffer
    assert buffered.recv(100_000) == b"cdef"  # large amt still served from the buffer
    assert buffered.recv(0) == b""
    with pytest.raises(ValueError, match="amt"):
        buffered.recv(-1)


def test_recv_large_reads_directly(buffered: BufferedSocket, peer: socket.socket) -> None:
    payload = random.randbytes(DIRECT_READ_SIZE)
    peer.sendall(payload)
    received = b""
    while len(received) < len(payload):
        received += buffered.recv(DIRECT_READ_SIZE * 4)
        assert len(buffered.buffer) == 0  # nothing went through the buffer
    assert received == payload


def test_recv_returns_empty_at_eof(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.shutdown(socket.SHUT_WR)
    assert buffered.recv(10) == b""
    assert buffered.recv(DIRECT_READ_SIZE) == b""


def test_readinto_drains_buffer_then_reads(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"0123456789")
    target = bytearray(4)
    assert buffered.readinto(target) == 4
    assert target == b"0123"
    big = bytearray(DIRECT_READ_SIZE)
    assert buffered.readinto(big) == 6  # buffered bytes first, no more
    assert big[:6] == b"456789"
    peer.sendall(b"direct")
    assert buffered.readinto(memoryview(big)[2:]) == 6  # straight into the caller's memory
    assert big[:8] == b"45direct"
    assert buffered.readinto(bytearray()) == 0
    peer.shutdown(socket.SHUT_WR)
    assert buffered.readinto(target) == 0


def test_readinto_rejects_read_only_buffer(buffered: BufferedSocket) -> None:
    with pytest.raises(TypeError):
        buffered.readinto(memoryview(b"read only"))


# --- readline --------------------------------------------------------------


def test_readline_splits_lines(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"first\r\nsecond\nthi")
    assert buffered.readline() == b"first\r\n"
    assert buffered.readline() == b"second\n"
    peer.sendall(b"rd\n")
    assert buffered.readline() == b"third\n"


def test_readline_clean_eof_is_empty(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"only\n")
    peer.shutdown(socket.SHUT_WR)
    assert buffered.readline() == b"only\n"
    assert buffered.readline() == b""


def test_readline_eof_mid_line_is_reset(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"HTTP/1.1 200")
    peer.shutdown(socket.SHUT_WR)
    with pytest.raises(exceptions.ConnectionResetError):
        buffered.readline()


@pytest.mark.parametrize("buffer_size", [8, 1024])
def test_readline_limit_counts_the_newline(
    buffer_size: int, pair: tuple[socket.socket, socket.socket], peer: socket.socket
) -> None:
    buffered = small(pair, buffer_size)
    peer.sendall(b"x" * 19 + b"\n" + b"y" * 20 + b"\n")
    assert buffered.readline(limit=20) == b"x" * 19 + b"\n"
    with pytest.raises(exceptions.LineTooLongError):
        buffered.readline(limit=20)


def test_readline_without_newline_stops_at_limit(
    buffered: BufferedSocket, peer: socket.socket
) -> None:
    peer.sendall(b"z" * 100)  # the peer keeps the connection open: no waiting for more
    with pytest.raises(exceptions.LineTooLongError):
        buffered.readline(limit=50)
    with pytest.raises(ValueError, match="limit"):
        buffered.readline(limit=0)


def test_readline_longer_than_buffer(
    pair: tuple[socket.socket, socket.socket], peer: socket.socket
) -> None:
    buffered = small(pair, 8)
    line = b"a long line that does not fit in eight bytes\n"
    writer = Writer(peer, split(line + b"next\n", [3, 7, 1]))
    writer.start()
    assert buffered.readline() == line
    assert buffered.readline() == b"next\n"
    assert buffered.readline() == b""
    writer.finish()


# --- integrity under many small reads --------------------------------------


def read_all(buffered: BufferedSocket, ops: list[tuple[str, int]]) -> bytes:
    """Read to EOF, cycling through ``ops`` (kind, size)."""
    out, i = bytearray(), 0
    while True:
        kind, size = ops[i % len(ops)]
        i += 1
        if kind == "recv":
            data = buffered.recv(size)
        elif kind == "readinto":
            target = bytearray(size)
            data = bytes(target[: buffered.readinto(target)])
        elif kind == "readline":
            data = buffered.readline(limit=1 << 30)
        else:  # "peek": the parser style, in place
            if not buffered.buffer and not buffered.fill():
                data = b""
            else:
                data = bytes(buffered.buffer[:size])
                buffered.advance_buffer(len(data))
        if not data:
            return bytes(out)
        out += data


def test_one_mebibyte_in_odd_chunks(pair: tuple[socket.socket, socket.socket]) -> None:
    payload = random.Random(7).randbytes(1024 * 1024)
    writer = Writer(pair[1], split(payload, [1, 7, 4093, 333, 65537, 13]))
    writer.start()
    ops = [("recv", 5), ("peek", 3), ("readinto", 1000), ("recv", 70000), ("peek", 9999)]
    assert read_all(small(pair, 4096), ops) == payload
    writer.finish()


OPS = st.lists(
    st.tuples(st.sampled_from(["recv", "readinto", "peek", "readline"]), st.integers(1, 40000)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    # readline() at EOF mid-line raises, so the payload ends with a newline.
    payload=st.binary(min_size=1, max_size=3000).map(lambda b: b * 20 + b"\n"),
    chunk_sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
    buffer_size=st.integers(1, 9000),
    ops=OPS,
)
def test_data_integrity(
    payload: bytes, chunk_sizes: list[int], buffer_size: int, ops: list[tuple[str, int]]
) -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        ours.settimeout(WAIT)
        writer = Writer(peer, split(payload, chunk_sizes))
        writer.start()
        assert read_all(BufferedSocket(ours, buffer_size), ops) == payload
        writer.finish()


# --- writes ----------------------------------------------------------------


class CountingSocket(socket.socket):
    """A real socket that counts its sendall calls."""

    sendall_calls = 0

    def sendall(self, data: object, flags: int = 0) -> None:  # type: ignore[override]
        self.sendall_calls += 1
        super().sendall(data, flags)  # type: ignore[arg-type]


def test_send_queues_and_flush_sends_once(pair: tuple[socket.socket, socket.socket]) -> None:
    ours = CountingSocket(fileno=pair[0].detach())
    with ours:
        buffered, peer = BufferedSocket(ours), pair[1]
        scratch = bytearray(b"bc")
        buffered.send(b"a")
        buffered.send(scratch)
        buffered.send(memoryview(b"de"))
        buffered.send(b"")
        scratch[:] = b"XX"  # the queued copy is not affected
        assert ours.sendall_calls == 0
        assert not select.select([peer], [], [], 0)[0]
        buffered.flush()
        buffered.flush()  # nothing queued: no call
        assert ours.sendall_calls == 1
        buffered.sendall(b"f")
        assert ours.sendall_calls == 2
        assert peer.recv(100) == b"abcdef"


def test_flushes_gather_into_one_reused_write_buffer(
    buffered: BufferedSocket, peer: socket.socket
) -> None:
    words = array.array("H", [0x4142, 0x4344])  # a view whose items are not bytes
    first = [b"head", memoryview(b"-body-")[1:5], memoryview(words)]
    for piece in first:
        buffered.send(piece)
    buffered.flush()
    assert recv_exactly(peer, 12) == b"headbody" + words.tobytes()
    reused = buffered._write_buffer
    assert len(reused) >= 12
    for piece in (b"x" * 3, b"y" * 5):
        buffered.send(piece)
    buffered.flush()
    assert buffered._write_buffer is reused  # no new allocation for a smaller flush
    assert recv_exactly(peer, 8) == b"xxxyyyyy"


def test_a_flush_past_the_write_buffer_limit_is_sent_whole(
    buffered: BufferedSocket, peer: socket.socket
) -> None:
    big = bytes(range(256)) * (MAX_WRITE_BUFFER // 256)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(recv_exactly(peer, len(big) + 2)))
    reader.start()
    buffered.send(b"<")
    buffered.send(big)
    buffered.send(b">")
    buffered.flush()
    reader.join(WAIT)
    assert received == [b"<" + big + b">"]
    assert len(buffered._write_buffer) <= MAX_WRITE_BUFFER


def test_send_rejects_text(buffered: BufferedSocket) -> None:
    with pytest.raises(TypeError, match="data"):
        buffered.send("text")  # type: ignore[arg-type]


def test_write_timeout(buffered: BufferedSocket) -> None:
    buffered.settimeout(SHORT)
    with pytest.raises(exceptions.TimeoutError) as info:
        buffered.sendall(b"x" * (64 * 1024 * 1024))  # the peer never reads
    assert not isinstance(info.value, exceptions.ReadTimeout)
    assert isinstance(info.value.__cause__, builtins.TimeoutError)


def test_write_to_closed_peer_is_reset(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.close()
    with pytest.raises(exceptions.ConnectionResetError) as info:
        buffered.sendall(b"anyone there?")
    assert isinstance(info.value.__cause__, BrokenPipeError)


# --- readiness -------------------------------------------------------------


def test_can_read(pair: tuple[socket.socket, socket.socket], peer: socket.socket) -> None:
    buffered = small(pair, 4)
    assert not buffered.can_read
    assert not buffered.has_buffered_data
    assert not buffered.wait_readable(SHORT)
    peer.sendall(b"ab")
    assert buffered.wait_readable(WAIT)
    assert buffered.can_read
    assert not buffered.has_buffered_data  # only the kernel has it
    buffered.fill()
    buffered.advance_buffer(1)
    assert not select.select([pair[0]], [], [], 0)[0]  # the socket is drained...
    assert buffered.can_read  # ...but a byte is buffered
    assert buffered.has_buffered_data
    buffered.advance_buffer(1)
    assert not buffered.can_read
    peer.shutdown(socket.SHUT_WR)
    assert buffered.can_read  # EOF is readable: a read would not block


def test_can_read_false_when_socket_closed_underneath(
    buffered: BufferedSocket, pair: tuple[socket.socket, socket.socket]
) -> None:
    pair[1].sendall(b"data")
    pair[0].close()
    assert not buffered.can_read


# --- read errors -----------------------------------------------------------


def test_read_timeout(buffered: BufferedSocket) -> None:
    buffered.settimeout(SHORT)
    reads = (buffered.fill, lambda: buffered.recv(1), lambda: buffered.recv(DIRECT_READ_SIZE))
    for read in (*reads, buffered.readline):
        with pytest.raises(exceptions.ReadTimeout) as info:
            read()
        assert isinstance(info.value.__cause__, builtins.TimeoutError)


def test_read_after_peer_reset() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        server, _ = listener.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()  # abortive close: RST
        buffered = BufferedSocket(client)
        with pytest.raises(exceptions.ConnectionResetError) as info:
            buffered.fill()
        buffered.close()
    assert isinstance(info.value, builtins.ConnectionError)
    assert isinstance(info.value.__cause__, builtins.ConnectionResetError)


# --- closing ---------------------------------------------------------------


def test_close_is_idempotent(buffered: BufferedSocket, peer: socket.socket) -> None:
    peer.sendall(b"unread")
    buffered.fill()
    buffered.send(b"unsent")
    buffered.close()
    buffered.close()
    assert buffered.closed
    assert buffered.fileno() == -1
    assert not buffered.can_read
    assert len(buffered.buffer) == 0
    assert "closed" in repr(buffered)
    buffered.flush()  # the queue was dropped: nothing to send
    assert peer.recv(10) == b""  # the peer sees EOF, not "unsent"
    for call in (buffered.fill, lambda: buffered.recv(1), lambda: buffered.send(b"x")):
        with pytest.raises(exceptions.ConnectionError):
            call()


def test_close_survives_descriptor_closed_underneath() -> None:
    ours, peer = socket.socketpair()
    with peer:
        buffered = BufferedSocket(ours)
        os.close(ours.fileno())  # someone else closed the descriptor
        buffered.close()  # EBADF is swallowed: the socket is gone either way
        assert buffered.closed
        assert ours.fileno() == -1


# --- TLS -------------------------------------------------------------------


@pytest.fixture
def tls_pair() -> Iterator[tuple[ssl.SSLSocket, ssl.SSLSocket]]:
    """A TLS connection over a socket pair: (client, server)."""
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_ctx)
    a, b = socket.socketpair()
    a.settimeout(WAIT)
    b.settimeout(WAIT)
    server_side: list[ssl.SSLSocket] = []
    thread = threading.Thread(
        target=lambda: server_side.append(server_ctx.wrap_socket(b, server_side=True)),
        daemon=True,
    )
    thread.start()
    # suppress_ragged_eofs=False: BufferedSocket itself must treat an EOF
    # without close_notify as end of file.
    client = client_ctx.wrap_socket(a, server_hostname="localhost", suppress_ragged_eofs=False)
    thread.join(WAIT)
    assert server_side, "server handshake failed"
    with client, server_side[0]:
        yield client, server_side[0]


def test_can_read_sees_tls_pending(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    client, server = tls_pair
    server.sendall(b"r" * 1000)  # one TLS record
    buffered = BufferedSocket(client, buffer_size=16)
    assert buffered.fill() == 16  # the rest stays decrypted inside the SSL object
    buffered.advance_buffer(16)
    assert client.pending() > 0
    assert not select.select([client.fileno()], [], [], 0)[0]  # nothing left on the wire
    assert buffered.has_buffered_data
    assert buffered.can_read
    rest = b""
    while len(rest) < 984:
        rest += buffered.recv(2000)  # each one a fill from the SSL object
    assert rest == b"r" * 984
    assert not buffered.can_read


def test_tls_close_notify_is_eof(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    client, server = tls_pair
    failures: list[BaseException] = []

    def close_politely() -> None:
        try:
            server.sendall(b"bye\n")
            server.unwrap()  # sends close_notify, then waits for the client's
        except BaseException as exc:  # re-raised below
            failures.append(exc)

    thread = threading.Thread(target=close_politely, daemon=True)
    thread.start()
    buffered = BufferedSocket(client)
    assert buffered.readline() == b"bye\n"
    assert buffered.readline() == b""
    assert buffered.fill() == 0
    client.unwrap()  # answer close_notify so the server's unwrap() returns
    thread.join(WAIT)
    assert not thread.is_alive()
    assert not failures, failures


def test_tls_ragged_eof_is_eof(tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket]) -> None:
    client, server = tls_pair
    server.sendall(b"partial")
    socket.socket(fileno=server.detach()).close()  # close TCP without close_notify
    buffered = BufferedSocket(client)
    assert buffered.recv(100) == b"partial"
    assert buffered.recv(100) == b""
    assert buffered.recv(DIRECT_READ_SIZE) == b""  # the direct path too


def test_fill_takes_every_waiting_tls_record_at_once(
    tls_pair: tuple[ssl.SSLSocket, ssl.SSLSocket],
) -> None:
    client, server = tls_pair
    data = bytes(range(256)) * 256  # 64 KiB: at least four TLS records
    server.sendall(data)
    deadline = time.monotonic() + WAIT
    while len(select.select([client.fileno()], [], [], 0)[0]) == 0:  # wait for the bytes
        assert time.monotonic() < deadline
    time.sleep(0.05)  # let every record reach the socket
    buffered = BufferedSocket(client, buffer_size=128 * 1024)
    first = buffered.fill()
    assert first > 16384  # more than one record in one call
    assert client.gettimeout() == WAIT  # the timeout is restored after the extra reads
    while len(buffered.buffer) < len(data):
        assert buffered.fill()
    assert bytes(buffered.buffer) == data


def test_fill_does_not_block_for_more_than_is_waiting(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    peer.sendall(b"abc")
    buffered = BufferedSocket(ours)
    started = time.monotonic()
    assert buffered.fill() == 3
    assert time.monotonic() - started < WAIT / 2


def test_shutdown_wakes_a_blocked_reader(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, _peer = pair
    buffered = BufferedSocket(ours)
    results: list[int] = []
    reader = threading.Thread(target=lambda: results.append(buffered.fill()), daemon=True)
    reader.start()
    time.sleep(0.05)  # the reader is blocked in recv_into
    buffered.shutdown()
    reader.join(WAIT)
    assert not reader.is_alive()
    assert results == [0]  # end of file, not a timeout
    buffered.close()
    buffered.shutdown()  # harmless once closed


def test_the_allocator_is_settled_once_per_process(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []

    class Recording(bytearray):
        def __init__(self, *args: object) -> None:
            made.append(args[0] if args and isinstance(args[0], int) else -1)
            super().__init__(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(bufsocket, "_allocator_settled", False)
    monkeypatch.setattr(bufsocket, "bytearray", Recording, raising=False)
    BufferedSocket(pair[0])
    BufferedSocket(pair[0])
    assert made.count(bufsocket.ALLOCATOR_SETTLING_SIZE) == 1
