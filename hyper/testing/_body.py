"""Where a request body comes from, as the handler reads it.

HTTP/1.1 pulls the body from the socket on demand (see ``_h11``); HTTP/2
receives it on the connection thread, which feeds a :class:`BodyPipe` that
the handler thread drains. The pipe is the only object the two threads share
for a request, and it is guarded by its own condition. Every wait on it is
bounded by the server's I/O timeout.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Protocol

from hyper.testing._connection import ClientDisconnected

__all__ = ["BodyPipe", "BodySource"]


class BodySource(Protocol):
    """Where a request body comes from (private protocol)."""

    def next_chunk(self) -> bytes | None:
        """Return the next piece of the body, or ``None`` at its end."""

    def trailers(self) -> list[tuple[bytes, bytes]]:
        """Return the request trailers (valid once the body has ended)."""


class BodyPipe:
    """A request body fed by the connection thread and read by the handler.

    Data arriving after the reader has finished is dropped, so an unread
    upload does not pile up once its handler has returned.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._cond = threading.Condition()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._failed = False
        self._discarding = False
        self._trailers: list[tuple[bytes, bytes]] = []

    def feed(self, data: bytes) -> None:
        """Append *data* (connection thread)."""
        with self._cond:
            if not self._discarding:
                self._chunks.append(data)
                self._cond.notify_all()

    def end(self, trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        """Mark the end of the body (connection thread)."""
        with self._cond:
            self._ended = True
            self._trailers = trailers or self._trailers
            self._cond.notify_all()

    def fail(self) -> None:
        """The stream or connection went away: wake and fail the reader."""
        with self._cond:
            self._failed = True
            self._cond.notify_all()

    def discard(self) -> None:
        """The reader is done: drop what is buffered and whatever comes later."""
        with self._cond:
            self._discarding = True
            self._chunks.clear()

    def next_chunk(self) -> bytes | None:
        """Return the next chunk, or ``None`` at the end of the body.

        :raises ClientDisconnected: the stream was reset or the connection lost.
        :raises TimeoutError: nothing arrived within the server's I/O timeout.
        """
        deadline = time.monotonic() + self._timeout
        with self._cond:
            while not self._chunks:
                if self._ended:
                    return None
                if self._failed:
                    raise ClientDisconnected("request body lost: stream reset or connection closed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"request body: nothing arrived for {self._timeout} s")
                self._cond.wait(remaining)
            return self._chunks.popleft()

    def trailers(self) -> list[tuple[bytes, bytes]]:
        """Return the trailers received with the end of the body."""
        with self._cond:
            return list(self._trailers)
