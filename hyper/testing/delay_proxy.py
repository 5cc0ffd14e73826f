"""A TCP proxy that adds a fixed delay (and optionally a bandwidth cap) to a connection.

Tests and benchmarks use it to give a loopback connection a real round-trip
time where the kernel's netem is unavailable. :class:`DelayProxy` listens on
127.0.0.1 (port 0), and for each accepted connection opens one to the target.
Each direction has a reader thread, which stamps every chunk it receives with
the time it is due, and a writer thread, which sends each chunk at that time.
Chunks are due ``delay`` seconds after they arrive (after they pass the
bandwidth cap, if one is set), so order is kept, the round trip gains
``2 * delay``, and the pipe stays full: throughput is bounded by what the
endpoints keep in flight, not by one chunk per delay. Each direction holds at
most ``buffer_limit`` bytes; past that the reader stops reading and TCP pushes
back. A half-close (EOF) is passed on, delayed like data. An error or reset
on either side ends the whole proxied connection (both peers see it closed).
Connection setup itself is not delayed. Failures inside the proxy's threads
are raised as :class:`DelayProxyError` when the proxy closes.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from hyper.common.exceptions import HyperError

__all__ = ["DEFAULT_BUFFER_LIMIT", "DEFAULT_DELAY", "DelayProxy", "DelayProxyError"]

log = logging.getLogger(__name__)

#: Default one-way delay in seconds (a 50 ms round trip).
DEFAULT_DELAY = 0.025
#: Default most bytes held per direction of one connection.
DEFAULT_BUFFER_LIMIT = 16 * 1024 * 1024
#: Largest chunk read from a socket at once.
CHUNK_SIZE = 64 * 1024
#: Seconds allowed to connect to the target.
CONNECT_TIMEOUT = 5.0
#: Seconds :meth:`DelayProxy.close` waits for the proxy's threads to end.
JOIN_TIMEOUT = 5.0
#: Longest single wait inside a proxy thread, so a missed wake-up costs at most this.
WAIT_SLICE = 0.25
#: Backlog of the listening socket.
LISTEN_BACKLOG = 64
#: SO_LINGER value that makes close() send RST instead of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


class DelayProxyError(HyperError):
    """A proxy thread failed unexpectedly, or did not stop in time."""


class _Mark(enum.Enum):
    """Non-data items in a direction's queue."""

    EOF = "eof"  # the sender half-closed: shut down writing on the other side
    RESET = "reset"  # the sender reset or failed: end the whole connection


class _Direction:
    """One direction of one connection: a queue of (due time, chunk) between two threads."""

    def __init__(self, link: _Link, src: socket.socket, dst: socket.socket, name: str) -> None:
        self.link = link
        self.src = src
        self.dst = dst
        self.name = name
        self._queue: deque[tuple[float, bytes | _Mark]] = deque()
        self._buffered = 0
        self._cond = threading.Condition()
        self._link_free = 0.0  # when the capped link finishes its last chunk (reader only)

    def wake(self) -> None:
        """Wake both threads so they notice that the connection is ending."""
        with self._cond:
            self._cond.notify_all()

    def _due(self, size: int) -> float:
        """Return when a chunk of ``size`` bytes arriving now may be sent on."""
        now = time.monotonic()
        bandwidth = self.link.proxy.bandwidth
        if bandwidth is None:
            return now + self.link.proxy.delay
        self._link_free = max(now, self._link_free) + size / bandwidth
        return self._link_free + self.link.proxy.delay

    def _put(self, item: bytes | _Mark) -> None:
        size = len(item) if isinstance(item, bytes) else 0
        limit = self.link.proxy.buffer_limit
        with self._cond:
            while self._buffered and self._buffered + size > limit and not self.link.ended:
                self._cond.wait(WAIT_SLICE)
            self._queue.append((self._due(size), item))
            self._buffered += size
            self._cond.notify_all()

    def read_loop(self) -> None:
        """Reader thread: receive chunks and queue them with their due time."""
        while not self.link.ended:
            try:
                data = self.src.recv(CHUNK_SIZE)
            except OSError as exc:
                if not self.link.ended:
                    log.debug("%s: receive failed: %r", self.name, exc)
                    self._put(_Mark.RESET)
                return
            self._put(data if data else _Mark.EOF)
            if not data:
                return

    def _next(self) -> bytes | _Mark | None:
        """Wait until the head of the queue is due and pop it (None when ending)."""
        with self._cond:
            while not self.link.ended:
                if not self._queue:
                    self._cond.wait(WAIT_SLICE)
                    continue
                due, item = self._queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(min(wait, WAIT_SLICE))
                    continue
                self._queue.popleft()
                self._buffered -= len(item) if isinstance(item, bytes) else 0
                self._cond.notify_all()
                return item
        return None

    def write_loop(self) -> None:
        """Writer thread: send each chunk when it is due; pass on EOF and resets."""
        while (item := self._next()) is not None:
            if item is _Mark.RESET:
                self.link.abort()
                return
            try:
                if item is _Mark.EOF:
                    self.dst.shutdown(socket.SHUT_WR)
                    return
                self.dst.sendall(item)
            except OSError as exc:
                log.debug("%s: send failed: %r", self.name, exc)
                self.link.abort()
                return


class _Link:
    """One proxied connection: two sockets, two directions, four threads."""

    def __init__(self, proxy: DelayProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.ended = False
        self._sockets = (client, server)
        self._lock = threading.Lock()
        self._running = 0
        name = f"delay-proxy:{proxy.port}#{proxy.accepted}"
        self._directions = (
            _Direction(self, client, server, f"{name} up"),
            _Direction(self, server, client, f"{name} down"),
        )
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the reader and writer thread of each direction."""
        for direction in self._directions:
            for role, loop in (("read", direction.read_loop), ("write", direction.write_loop)):
                thread = threading.Thread(
                    target=self._run, args=(loop,), name=f"{direction.name} {role}", daemon=True
                )
                self.threads.append(thread)
        self._running = len(self.threads)
        for thread in self.threads:
            thread.start()

    def _run(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Exception as exc:  # a bug in the proxy: keep it for close() to raise
            self.proxy._record_error(exc)
            self.abort()
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                for sock in self._sockets:
                    sock.close()
                self.proxy._forget(self)

    def abort(self) -> None:
        """End the connection now: wake every thread; the peers see it closed."""
        with self._lock:
            if self.ended:
                return
            self.ended = True
        for sock in self._sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed or never connected: nothing to wake
        for direction in self._directions:
            direction.wake()


def _check_target(target: object) -> tuple[str, int]:
    """Validate the ``target`` argument: a (host, port) pair."""
    if not (isinstance(target, tuple) and len(target) == 2):
        raise TypeError(f"target must be a (host, port) tuple, got {target!r}")
    host, port = target
    if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"target must be a (str, int) tuple, got {target!r}")
    if not 0 < port < 65536:
        raise ValueError(f"target port must be in 1..65535, got {port}")
    return host, port


def _check_number(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Validate a finite number argument: positive, or non-negative with ``allow_zero``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be finite and {'>=' if allow_zero else '>'} 0, got {value!r}"
        )
    return float(value)


class DelayProxy:
    """A delaying TCP proxy in front of ``target``, used as a context manager.

    Example::

        with DelayProxy(("127.0.0.1", server_port), delay=0.025) as proxy:
            conn = HTTPConnection(proxy.host, proxy.port)  # round trip now >= 50 ms

    Not meant to be shared: start and close it from one thread. Its own
    threads are daemons, so a hung proxy never blocks interpreter exit.

    :param target: the (host, port) every accepted connection is forwarded to.
    :param delay: one-way delay in seconds added to every chunk in both
        directions; the round trip grows by ``2 * delay``.
    :param bandwidth: cap in bytes per second for each direction of each
        connection, or ``None`` for no cap.
    :param buffer_limit: most bytes held per direction of a connection
        before the proxy stops reading (TCP back-pressure takes over).
    :raises TypeError: when an argument has the wrong type.
    :raises ValueError: when an argument is out of range.

    :ivar target: the validated ``target``; ``delay``, ``bandwidth`` and
        ``buffer_limit`` likewise (read them, do not change them).
    :ivar accepted: how many connections have been forwarded so far.
    """

    def __init__(
        self,
        target: tuple[str, int],
        delay: float = DEFAULT_DELAY,
        bandwidth: float | None = None,
        *,
        buffer_limit: int = DEFAULT_BUFFER_LIMIT,
    ) -> None:
        self.target = _check_target(target)
        self.delay = _check_number("delay", delay, allow_zero=True)
        self.bandwidth = None if bandwidth is None else _check_number("bandwidth", bandwidth)
        self.buffer_limit = int(_check_number("buffer_limit", buffer_limit))
        self.accepted = 0
        self._lock = threading.Lock()  # guards _links, _errors, accepted
        self._links: list[_Link] = []
        self._errors: list[Exception] = []
        self._listener: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._accept_thread: threading.Thread | None = None
        self._closing = False

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) clients connect to.

        :raises RuntimeError: before :meth:`start`.
        """
        if self._address is None:
            raise RuntimeError("the proxy is not started")
        return self._address

    @property
    def host(self) -> str:
        """The address the proxy listens on (``127.0.0.1``)."""
        return self.address[0]

    @property
    def port(self) -> int:
        """The port the proxy listens on (0 before :meth:`start`)."""
        return 0 if self._address is None else self._address[1]

    def __repr__(self) -> str:
        state = "closed" if self._closing else ("listening" if self._listener else "new")
        return (
            f"<DelayProxy {state} port={self.port} -> {self.target[0]}:{self.target[1]}"
            f" delay={self.delay} bandwidth={self.bandwidth} connections={len(self._links)}>"
        )

    def start(self) -> DelayProxy:
        """Listen on 127.0.0.1 (a free port) and start accepting connections.

        :returns: the proxy itself.
        :raises RuntimeError: when already started.
        """
        if self._listener is not None:
            raise RuntimeError("the proxy is already started")
        listener = socket.create_server(("127.0.0.1", 0), backlog=LISTEN_BACKLOG)
        listener.settimeout(WAIT_SLICE)
        self._listener = listener
        host, port = listener.getsockname()[:2]
        self._address = (str(host), int(port))
        self._accept_thread = threading.Thread(
            target=self._accept_loop,
            args=(listener,),
            name=f"delay-proxy:{self.port} accept",
            daemon=True,
        )
        self._accept_thread.start()
        log.debug("%r started", self)
        return self

    def __enter__(self) -> DelayProxy:
        """Start the proxy (see :meth:`start`)."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the proxy (see :meth:`close`), raising what its threads raised."""
        self.close()

    def _record_error(self, exc: Exception) -> None:
        """Keep an unexpected exception from a proxy thread, for :meth:`close` to raise."""
        log.error("delay proxy thread failed", exc_info=exc)
        with self._lock:
            self._errors.append(exc)

    def _forget(self, link: _Link) -> None:
        """Drop a finished connection from the list :meth:`close` aborts."""
        with self._lock:
            if link in self._links:
                self._links.remove(link)

    def close(self) -> None:
        """Stop accepting, end every connection and wait for the threads.

        Idempotent.

        :raises DelayProxyError: when a proxy thread failed, or did not end
            within ``JOIN_TIMEOUT`` seconds.
        """
        if self._closing or self._listener is None:
            self._closing = True
            return
        self._closing = True
        # Wakes accept() at once on Linux; elsewhere the accept timeout notices _closing.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with self._lock:
            links = list(self._links)
        for link in links:
            link.abort()
        self._join()
        self._listener.close()
        log.debug("%r closed", self)
        self._raise_errors()

    def _join(self) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT
        stuck = []
        if self._accept_thread is not None:
            # First, so no connection (and no thread) is added after the snapshot below.
            self._accept_thread.join(JOIN_TIMEOUT)
            if self._accept_thread.is_alive():
                stuck.append(self._accept_thread.name)
        with self._lock:
            threads = [thread for link in self._links for thread in link.threads]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        if stuck:
            self._record_error(
                DelayProxyError(f"threads did not stop within {JOIN_TIMEOUT} s: {stuck}")
            )

    def _raise_errors(self) -> None:
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise DelayProxyError(
                f"{len(errors)} proxy thread error(s); first: {errors[0]!r}"
            ) from errors[0]

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closing:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._closing:
                    self._record_error(exc)
                return
            try:
                self._open_link(client)
            except Exception as exc:
                client.close()
                self._record_error(exc)

    def _open_link(self, client: socket.socket) -> None:
        """Connect to the target for a new client and start its four threads."""
        client.settimeout(None)
        try:
            server = socket.create_connection(self.target, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            log.debug("delay proxy cannot reach %s: %r", self.target, exc)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            client.close()
            return
        server.settimeout(None)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.accepted += 1
            link = _Link(self, client, server)
            if self._closing:
                link.ended = True
            self._links.append(link)
        link.start()
