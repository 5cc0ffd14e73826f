"""A scripted raw TCP server on 127.0.0.1, one per fuzz example.

:class:`ScriptedServer` accepts connections on a thread and hands each to a
``serve(index, sock)`` callable on its own thread (``index`` counts
connections from 0, so a reconnecting client can get a different script).
The callables write whatever bytes the example dictates; nothing here
knows a protocol beyond :class:`ClientFrames`, which counts the client's
HTTP/2 frames so a script can wait for its requests. Every wait is bounded:
sockets time out after :data:`IO_TIMEOUT`, and :meth:`ScriptedServer.close`
joins every thread against one deadline. An exception in a server thread is
a bug of the harness, raised again by :meth:`ScriptedServer.close`.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType

from hyper.common.timeout import Timeout

__all__ = ["IO_TIMEOUT", "ClientFrames", "Drain", "ScriptedServer", "end_connection"]

#: Bound on each server socket operation, in seconds.
IO_TIMEOUT = 2.0
#: Bound on joining the server's threads at close, in seconds.
JOIN_TIMEOUT = 5.0
#: The client's timeouts in the wire targets: each wait on the scripted
#: server is short, so a script that goes quiet costs little.
CLIENT_TIMEOUT = Timeout(connect=2.0, read=0.1, total=1.0)
#: The timeouts of the final request to the well-behaved server: generous,
#: since a slow machine must not pass for a connection that cannot recover.
REUSE_TIMEOUT = Timeout(connect=5.0, read=5.0)
#: How long a "hold" ending keeps the connection open, in seconds.
HOLD = 1.0
#: The HTTP/2 client connection preface.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME_HEADER_SIZE = 9
_HEADERS_TYPE = 0x1
_HARMLESS = (OSError, TimeoutError)

Serve = Callable[[int, socket.socket], None]


class ScriptedServer:
    """Serves each accepted connection with ``serve``; a context manager."""

    def __init__(self, serve: Serve) -> None:
        self._serve = serve
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []
        self._spawn(self._accept_loop, "fuzz-accept")

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connections(self) -> int:
        """How many connections were accepted."""
        with self._lock:
            return len(self._sockets)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=self._guard(target), name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except _HARMLESS:
                pass  # the client went away or was slow: part of the game
            except BaseException as exc:
                with self._lock:
                    self.errors.append(exc)

        return run

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # close() shut the listener down
            if self._stop.is_set():
                sock.close()
                return
            sock.settimeout(IO_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                index = len(self._sockets)
                self._sockets.append(sock)
            self._spawn(functools.partial(self._serve_one, index, sock), f"fuzz-serve-{index}")

    def _serve_one(self, index: int, sock: socket.socket) -> None:
        with sock:
            self._serve(index, sock)

    def close(self) -> None:
        """Stop accepting, close every connection, join the threads (bounded).

        :raises RuntimeError: a server thread did not stop in time.
        :raises: the first exception a server thread raised.
        """
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + JOIN_TIMEOUT
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._listener.close()
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            raise RuntimeError(f"server threads did not stop: {stuck}")
        if self.errors:
            raise self.errors[0]


class ClientFrames:
    """Reads what the client sends and counts its HTTP/2 HEADERS frames."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._preface_seen = False
        self.headers = 0
        self.eof = False

    def wait_headers(self, count: int, seconds: float) -> None:
        """Read until ``count`` HEADERS frames came, EOF, or ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        while self.headers < count and not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.read_once(remaining)

    def read_once(self, seconds: float) -> None:
        """One read of at most ``seconds`` (the socket timeout is restored)."""
        self._sock.settimeout(seconds)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return
        finally:
            self._sock.settimeout(IO_TIMEOUT)
        if not data:
            self.eof = True
        self._buffer += data
        self._count()

    def _count(self) -> None:
        if not self._preface_seen:
            if len(self._buffer) < len(PREFACE):
                return
            self._buffer = self._buffer[len(PREFACE) :]
            self._preface_seen = True
        while len(self._buffer) >= _FRAME_HEADER_SIZE:
            length = int.from_bytes(self._buffer[:3], "big")
            end = _FRAME_HEADER_SIZE + length
            if len(self._buffer) < end:
                return
            self.headers += self._buffer[3] == _HEADERS_TYPE
            self._buffer = self._buffer[end:]

    def drain(self, seconds: float) -> None:
        """Read and drop until EOF or ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        while not self.eof and time.monotonic() < deadline:
            self.read_once(max(0.001, deadline - time.monotonic()))


class Drain:
    """Reads and drops what the client sends (for protocols other than HTTP/2)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def drain(self, seconds: float) -> None:
        """Read and drop until EOF or ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._sock.settimeout(remaining)
            try:
                if not self._sock.recv(65536):
                    return
            except TimeoutError:
                return


def end_connection(
    sock: socket.socket, frames: ClientFrames | Drain, how: str, hold: float
) -> None:
    """End a scripted connection.

    :param how: ``"close"`` (FIN after the script, then read until the client
        closes), ``"reset"`` (RST: close with zero linger) or ``"hold"`` (keep
        reading for ``hold`` seconds, then close).
    """
    if how == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return
    if how == "close":
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        frames.drain(IO_TIMEOUT)
        return
    frames.drain(hold)
