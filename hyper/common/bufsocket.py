"""A buffered wrapper around one connected socket: the only code in hyper that
reads from or writes to a socket once the connection is set up.

Reads go with ``recv_into`` into one reusable buffer, so small reads cost no
system call and no allocation, and parsers can look at the buffered bytes in
place (:attr:`BufferedSocket.buffer`) before consuming them
(:meth:`BufferedSocket.advance_buffer`). Writes are queued with
:meth:`BufferedSocket.send` and leave in one ``sendall`` at
:meth:`BufferedSocket.flush`, so callers batch a whole round of frames or a
request head and body into a single system call. Every socket and TLS error is
translated here into hyper's exceptions, with the original as ``__cause__``.
The class makes no protocol decision: it moves bytes only.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import select
import socket
import ssl

from hyper.common import exceptions

__all__ = ["DEFAULT_BUFFER_SIZE", "MAX_LINE_LENGTH", "BufferedSocket"]

log = logging.getLogger(__name__)

#: Size in bytes of the read buffer when none is given.
DEFAULT_BUFFER_SIZE = 65536
#: Default longest line :meth:`BufferedSocket.readline` accepts, newline included.
MAX_LINE_LENGTH = 65536
#: Buffered bytes are moved to the front of the buffer before a read only when
#: less than ``1 / COMPACT_FRACTION`` of it is free at the end, so a move is rare
#: and each one frees at least three quarters of the buffer for reading.
COMPACT_FRACTION = 4
#: A :meth:`~BufferedSocket.recv` or :meth:`~BufferedSocket.readinto` of at least
#: this many bytes, with nothing buffered, reads straight into the caller's memory.
DIRECT_READ_SIZE = 16384
#: :meth:`BufferedSocket.fill` keeps reading what is already waiting only while
#: at least this much room is left (one TLS record's worth).
GREEDY_READ_ROOM = 16384
#: Largest single read :meth:`BufferedSocket.recv` allocates for, however large
#: the ``amt`` asked for (it returns at most what one system call gives anyway).
MAX_RECV_SIZE = 1024 * 1024
#: :meth:`BufferedSocket.flush` gathers the queued pieces into a write buffer
#: that the socket keeps and reuses, up to this size (larger flushes are
#: joined into a new object). Reuse matters: memory freshly allocated at the
#: size of a flush is mapped from the kernel each time, a page fault per
#: 4 KiB written (measured on HTTP/2 uploads: a fifth of their time).
MAX_WRITE_BUFFER = 2 * 1024 * 1024
#: Size of the block :func:`_settle_allocator` allocates and frees once.
ALLOCATOR_SETTLING_SIZE = 512 * 1024
_allocator_settled = False


def _settle_allocator() -> None:
    """Free one large block early, once per process, so glibc's malloc stops
    handing freed memory back to the kernel after every burst of I/O.

    glibc maps blocks of 128 KiB and more from the kernel, and returns
    memory at the top of its heap once 128 KiB are free there; the first
    time a mapped block is freed, it raises both thresholds to that block's
    size (and twice that). Until then a client that reads or sends a few
    hundred KiB per round gives its buffers back and maps them again at the
    next round: a page fault per 4 KiB moved. Whether that happened early
    depended on the sizes of the first frames a server sent, so a fresh
    process ran a download at 800 or at 1,800 MB/s (38,000 faults or 4,600).
    Freeing a 512 KiB block here (allocated zeroed, so its pages are never
    touched) settles the thresholds at once, as any program's first large
    free would; larger blocks freed later raise them further, as usual.
    (2 and 8 MiB measured no better.) Other allocators are unaffected.
    """
    global _allocator_settled
    if not _allocator_settled:
        _allocator_settled = True
        bytearray(ALLOCATOR_SETTLING_SIZE)


class BufferedSocket:
    """A connected socket with a read buffer and a coalescing write queue.

    It is not thread-safe: one owner (a connection, under its I/O lock) makes
    every call. Reads and writes block for at most the socket's timeout.

    A TLS peer that closes without ``close_notify`` (a "ragged" EOF) reads as a
    normal end of file: whether data was cut short is for the HTTP framing above
    to decide (a body shorter than its ``Content-Length``, an unfinished chunk or
    HTTP/2 stream).

    :param sock: a connected socket (a plain TCP socket or an :class:`ssl.SSLSocket`).
    :param buffer_size: size of the read buffer in bytes; it bounds how much
        :attr:`buffer` can hold and so how large a unit (a header block, a
        frame header) a parser can see at once.
    :raises TypeError: if ``sock`` is not a socket or ``buffer_size`` not an int.
    :raises ValueError: if ``buffer_size`` is not positive.
    """

    def __init__(self, sock: socket.socket, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        if not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a socket.socket, not {type(sock)!r}")
        if not isinstance(buffer_size, int) or isinstance(buffer_size, bool):
            raise TypeError(f"buffer_size must be an int, not {type(buffer_size)!r}")
        if buffer_size <= 0:
            raise ValueError(f"buffer_size must be positive, not {buffer_size}")
        _settle_allocator()
        #: The wrapped socket. Use it for inspection (peer certificate, ALPN), not I/O.
        self.sock = sock
        self._buf = bytearray(buffer_size)
        self._view = memoryview(self._buf)
        self._start = 0  # first unread byte
        self._end = 0  # one past the last unread byte
        self._outgoing: list[bytes | memoryview] = []
        self._write_buffer = bytearray()
        self._poller: select.poll | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self.sock.fileno()}"
        return (
            f"<BufferedSocket {state} buffered={self._end - self._start} "
            f"queued={sum(map(len, self._outgoing))}>"
        )

    # --- reading ---------------------------------------------------------

    @property
    def buffer(self) -> memoryview:
        """The buffered bytes not yet consumed, viewed in place.

        The view is only valid until the next read call (``fill``, ``recv``,
        ``readinto``, ``readline``): copy what must be kept.
        """
        return self._view[self._start : self._end]

    def advance_buffer(self, count: int) -> None:
        """Consume ``count`` bytes from the front of :attr:`buffer`.

        :raises ValueError: if ``count`` is negative or more than is buffered.
        """
        if not 0 <= count <= self._end - self._start:
            raise ValueError(f"count must be between 0 and {self._end - self._start}, not {count}")
        self._start += count
        if self._start == self._end:
            self._start = self._end = 0

    def fill(self) -> int:
        """Read from the socket into the buffer's free space.

        It blocks for at most one ``recv_into`` (and the socket's timeout),
        then takes whatever else is already waiting, without blocking, while
        room is left: a TLS socket hands over one record (16 KiB at most) per
        read, and batching them means one round of protocol processing per
        buffer rather than per record. The buffered bytes are first moved to
        the front of the buffer when little room is left behind them.

        :returns: the number of bytes read; 0 means the peer closed the connection.
        :raises BufferError: if the buffer is already full: the caller must
            consume (or give up on) what is buffered first. A parser that needs
            more than ``buffer_size`` bytes at once is over its size limit.
        :raises hyper.common.exceptions.ReadTimeout: if nothing arrived in time.
        :raises hyper.common.exceptions.ConnectionError: if the read failed
            (:class:`~hyper.common.exceptions.ConnectionResetError` when the
            peer reset the connection).
        """
        size = len(self._buf)
        if size - self._end < size // COMPACT_FRACTION:
            self._compact()
        if self._end == size:
            raise BufferError(f"read buffer full ({size} bytes): consume buffered data first")
        count = self._recv_into(self._view[self._end :])
        self._end += count
        if count:
            count += self._fill_ready()
        return count

    def _fill_ready(self) -> int:
        """Read, without blocking, what is already waiting, while room is left.

        It asks the kernel first (one ``poll``): after a short response
        usually nothing more waits, and finding that out by a non-blocking
        read cost two timeout switches and an exception.
        """
        if len(self._buf) - self._end < GREEDY_READ_ROOM or not self._readable_now():
            return 0
        total = 0
        timeout = self.sock.gettimeout()
        self.sock.settimeout(0.0)
        try:
            while len(self._buf) - self._end >= GREEDY_READ_ROOM:
                try:
                    count = self.sock.recv_into(self._view[self._end :])
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    break  # the next fill() reports the end
                except OSError as exc:
                    raise _translate(exc, "read") from exc
                if not count:
                    break
                self._end += count
                total += count
        finally:
            self.sock.settimeout(timeout)
        return total

    def _compact(self) -> None:
        """Move the unread bytes to the start of the buffer."""
        if self._start:
            unread = self._end - self._start
            self._view[:unread] = self._view[self._start : self._end]  # memmove-safe
            self._start, self._end = 0, unread

    def recv(self, amt: int) -> bytes:
        """Read up to ``amt`` bytes.

        Buffered bytes are returned first, without a system call; otherwise one
        read is made (straight into a new object when ``amt`` is large).

        :returns: between 1 and ``amt`` bytes, or ``b""`` at end of file (or
            when ``amt`` is 0).
        :raises ValueError: if ``amt`` is negative.
        :raises hyper.common.exceptions.ReadTimeout: if nothing arrived in time.
        :raises hyper.common.exceptions.ConnectionError: if the read failed.
        """
        if amt < 0:
            raise ValueError(f"amt must not be negative, not {amt}")
        if amt == 0:
            return b""
        if self._start == self._end:
            if amt >= DIRECT_READ_SIZE:
                return self._recv(min(amt, MAX_RECV_SIZE))
            if not self.fill():
                return b""
        return self._take(amt)

    def readinto(self, b: memoryview | bytearray) -> int:
        """Read up to ``len(b)`` bytes into ``b`` (any writable buffer).

        Buffered bytes are copied first; with nothing buffered and a large
        ``b``, the socket reads straight into it, with no copy.

        :returns: the number of bytes written into ``b``; 0 at end of file.
        :raises TypeError: if ``b`` is read-only.
        :raises hyper.common.exceptions.ReadTimeout: if nothing arrived in time.
        :raises hyper.common.exceptions.ConnectionError: if the read failed.
        """
        target = memoryview(b).cast("B")
        if target.readonly:
            raise TypeError("b must be a writable buffer")
        if not target:
            return 0
        if self._start == self._end:
            if len(target) >= DIRECT_READ_SIZE:
                return self._recv_into(target)
            if not self.fill():
                return 0
        count = min(len(target), self._end - self._start)
        target[:count] = self._view[self._start : self._start + count]
        self.advance_buffer(count)
        return count

    def readline(self, limit: int = MAX_LINE_LENGTH) -> bytes:
        """Read one line, up to and including its ``\\n``.

        A line longer than the buffer is gathered across several fills.

        :param limit: the longest line accepted, newline included.
        :returns: the line, or ``b""`` if the peer closed the connection
            cleanly with nothing buffered.
        :raises ValueError: if ``limit`` is not positive.
        :raises hyper.common.exceptions.LineTooLongError: if no newline came
            within ``limit`` bytes.
        :raises hyper.common.exceptions.ConnectionResetError: if the peer closed
            the connection in the middle of a line.
        :raises hyper.common.exceptions.ReadTimeout: if the line did not arrive in time.
        :raises hyper.common.exceptions.ConnectionError: if a read failed.
        """
        if limit <= 0:
            raise ValueError(f"limit must be positive, not {limit}")
        head = bytearray()  # the start of a line longer than the buffer
        scanned = self._start  # bytes before this index hold no newline
        while True:
            newline = self._buf.find(b"\n", scanned, self._end)
            if newline >= 0:
                return self._finish_line(head, newline + 1 - self._start, limit)
            if len(head) + self._end - self._start >= limit:
                raise exceptions.LineTooLongError(f"no end of line within {limit} bytes")
            if self._end - self._start == len(self._buf):
                head += self._view[self._start : self._end]
                self._start = self._end = 0
            scanned = self._end - self._start  # where the unscanned bytes will start
            if not self.fill():
                if head or self._start != self._end:
                    raise exceptions.ConnectionResetError(
                        "connection closed in the middle of a line"
                    )
                return b""
            scanned += self._start  # fill may have moved the unread bytes

    def _finish_line(self, head: bytearray, length: int, limit: int) -> bytes:
        """Consume a line whose last ``length`` bytes are buffered."""
        if len(head) + length > limit:
            raise exceptions.LineTooLongError(f"no end of line within {limit} bytes")
        if head:
            head += self._view[self._start : self._start + length]
            self.advance_buffer(length)
            return bytes(head)
        return self._take(length)

    def _take(self, amt: int) -> bytes:
        """Consume and return up to ``amt`` buffered bytes."""
        count = min(amt, self._end - self._start)
        data = bytes(self._view[self._start : self._start + count])
        self.advance_buffer(count)
        return data

    @property
    def has_buffered_data(self) -> bool:
        """Whether a read would return data at once, without a system call:
        bytes are buffered here, or decrypted bytes wait in the TLS object."""
        if self._start != self._end:
            return True
        return isinstance(self.sock, ssl.SSLSocket) and not self._closed and self.sock.pending() > 0

    @property
    def can_read(self) -> bool:
        """Whether a read would not block: :attr:`has_buffered_data`, or the
        socket is readable now (data or end of file waiting). It never blocks."""
        return self.wait_readable(0)

    def _readable_now(self) -> bool:
        """Whether a read would find data at once (TLS bytes already
        decrypted, or bytes in the kernel), without reading."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        if not hasattr(select, "poll"):  # pragma: no cover - Windows has no poll()
            return bool(select.select([self.sock], [], [], 0)[0])
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock.fileno(), select.POLLIN)
        return bool(self._poller.poll(0))

    def wait_readable(self, timeout: float | None) -> bool:
        """Wait until a read would not block, for at most ``timeout`` seconds.

        It only polls the socket: it reads nothing. ``None`` waits without limit.
        Over TLS, a readable socket may hold only TLS housekeeping (a TLS 1.3
        session ticket, say), so a read can still wait up to the socket's timeout.

        :returns: ``True`` if a read would not block, ``False`` on timeout or if
            the socket is closed.
        """
        if self.has_buffered_data:
            return True
        if self._closed:
            return False
        fd = self.sock.fileno()
        if fd < 0:
            return False
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(None if timeout is None else max(0, timeout) * 1000))
        readable, _, _ = select.select([fd], [], [], timeout)  # pragma: no cover  # no poll()
        return bool(readable)  # pragma: no cover

    def _recv_into(self, target: memoryview) -> int:
        """One ``recv_into`` into ``target``; 0 at end of file."""
        self._check_open()
        try:
            return self.sock.recv_into(target)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as exc:
            log.debug("TLS connection ended: %s", exc)
            return 0
        except OSError as exc:
            raise _translate(exc, "read") from exc

    def _recv(self, amt: int) -> bytes:
        """One ``recv`` of up to ``amt`` bytes into a new object; ``b""`` at end of file."""
        self._check_open()
        try:
            return self.sock.recv(amt)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as exc:
            log.debug("TLS connection ended: %s", exc)
            return b""
        except OSError as exc:
            raise _translate(exc, "read") from exc

    # --- writing ---------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` to be sent at the next :meth:`flush`; no system call.

        :raises TypeError: if ``data`` is not bytes-like.
        :raises hyper.common.exceptions.ConnectionError: if the socket is closed.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data)!r}")
        self._check_open()
        if data:
            # Copy mutable buffers now: the caller may reuse them before flush().
            # A flat view of immutable bytes cannot change: it is kept as it is.
            if isinstance(data, bytes) or (
                isinstance(data, memoryview)
                and isinstance(data.obj, bytes)
                and data.format == "B"
                and data.ndim == 1
            ):
                self._outgoing.append(data)
            else:
                self._outgoing.append(bytes(data))

    def flush(self) -> None:
        """Send everything queued with one ``sendall``; nothing if the queue is empty.

        :raises hyper.common.exceptions.TimeoutError: if the peer did not accept
            the data in time (part of it may have been sent: the connection is
            no longer usable).
        :raises hyper.common.exceptions.ConnectionError: if sending failed
            (:class:`~hyper.common.exceptions.ConnectionResetError` when the
            peer closed or reset the connection).
        """
        if not self._outgoing:
            return
        self._check_open()
        data = self._outgoing[0] if len(self._outgoing) == 1 else self._gather()
        self._outgoing.clear()
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _translate(exc, "write") from exc

    def _gather(self) -> bytes | memoryview:
        """The queued pieces as one buffer: a view of the reused write
        buffer, or new bytes past :data:`MAX_WRITE_BUFFER`."""
        total = sum(map(len, self._outgoing))
        if total > MAX_WRITE_BUFFER:
            return b"".join(self._outgoing)
        if len(self._write_buffer) < total:
            self._write_buffer = bytearray(
                min(max(total, 2 * len(self._write_buffer)), MAX_WRITE_BUFFER)
            )
        view = memoryview(self._write_buffer)
        pos = 0
        for piece in self._outgoing:
            view[pos : pos + len(piece)] = piece
            pos += len(piece)
        return view[:total]

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` behind anything already queued, then :meth:`flush`.

        :raises TypeError: if ``data`` is not bytes-like.
        :raises hyper.common.exceptions.TimeoutError: as for :meth:`flush`.
        :raises hyper.common.exceptions.ConnectionError: as for :meth:`flush`.
        """
        self.send(data)
        self.flush()

    # --- errors ----------------------------------------------------------

    def _check_open(self) -> None:
        """Refuse I/O on a closed socket with hyper's error, not EBADF."""
        if self._closed:
            raise exceptions.ConnectionError("the connection is closed")

    # --- lifecycle -------------------------------------------------------

    def settimeout(self, timeout: float | None) -> None:
        """Set the timeout of every later read and write (``None``: block forever).

        :raises ValueError: if ``timeout`` is negative.
        """
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must not be negative, not {timeout}")
        self.sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        """The socket's timeout in seconds, or ``None`` if it blocks forever."""
        return self.sock.gettimeout()

    def fileno(self) -> int:
        """The socket's file descriptor (-1 once closed)."""
        return self.sock.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def shutdown(self) -> None:
        """Shut both directions of the connection down, without closing it.

        A thread blocked reading or polling the socket (another thread, outside
        the owner's lock) wakes at once and sees end of file. Errors (the peer
        already gone) are ignored; :meth:`close` still has to be called.
        """
        if not self._closed:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the socket and drop buffered and queued data. Idempotent;
        unsent queued data is discarded, not flushed."""
        if self._closed:
            return
        self._closed = True
        self._start = self._end = 0
        self._outgoing.clear()
        try:
            self.sock.close()
        except OSError as exc:  # the socket is gone either way
            log.debug("error closing socket: %s", exc)


def _translate(exc: OSError, direction: str) -> exceptions.HyperError:
    """The hyper exception for a socket error met while reading or writing."""
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        if direction == "read":
            return exceptions.ReadTimeout("timed out waiting for data")
        return exceptions.TimeoutError("timed out sending data")
    if isinstance(exc, (builtins.ConnectionError, ssl.SSLZeroReturnError, ssl.SSLEOFError)):
        return exceptions.ConnectionResetError(
            f"connection closed by the peer ({direction}): {exc}"
        )
    # Any other OSError, including the other ssl.SSLError (a bad record, an alert).
    return exceptions.ConnectionError(f"socket {direction} failed: {exc}")
