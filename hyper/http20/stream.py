"""The state of one HTTP/2 request and its response, between the wire and the caller.

A :class:`Stream` holds what is still to be sent (the request body, pulled
lazily from its source so a generator or a file is never read ahead by more
than one chunk) and what has been received (the response head, the body
pieces not yet read, the trailers, or the error that ended it). It does no
I/O and never calls h2: the connection's session moves bytes between the
socket, h2 and these fields, and the response reads from them. Every field
and method is used under the connection's I/O lock.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hyper.common.body import RequestBody
from hyper.common.timeout import Deadline
from hyper.http20._settings import BODY_CHUNK_SIZE
from hyper.http20.window import BaseFlowControlManager

if TYPE_CHECKING:
    from hyper.http20._session import Session

__all__ = ["Stream"]


class Stream:
    """One request/response exchange, from ``request()`` until it is forgotten.

    Internal to the connection; not thread-safe (used only under the
    connection's I/O lock).

    :param logical_id: the ID the caller holds; it never changes, even if the
        request moves to another socket.
    :param session: the socket generation it belongs to.
    :param deadline: the clock of the response (``total`` timeout).

    :ivar wire_id: the HTTP/2 stream ID on the socket, once HEADERS were sent.
    :ivar request_headers: the header block to send (``None`` while
        ``putheader`` may still add to it, and after it was sent).
    :ivar status: the response status, once its head arrived.
    :ivar headers: the response header fields (pseudo-headers removed).
    :ivar trailers: the trailing header fields, if any arrived.
    :ivar error: what ended the exchange abnormally, raised to the caller.
    :ivar window: the stream's window manager (from the moment it opened).
    :ivar replay: the request body to send again if the server refuses the
        request unprocessed, or ``None`` when it cannot be replayed.
    :ivar head: the header block as sent (for a re-send).
    :ivar refusals: how many times the request was refused unprocessed in a
        way that counts against :data:`~hyper.http20._settings.MAX_REFUSALS`.
    :ivar request_trailers: trailer fields to send after the body, if any.
    :ivar pushes: the server's pushes promised on this stream, not yet taken.
    """

    def __init__(self, logical_id: int, session: Session, deadline: Deadline) -> None:
        self.logical_id = logical_id
        self.session = session
        self.deadline = deadline
        self.wire_id: int | None = None
        self.request_headers: list[tuple[bytes, bytes]] | None = None
        self._source: Iterator[bytes] | None = None
        self._pending = memoryview(b"")
        self.finishing = False  # send END_STREAM once the body is exhausted
        self.local_closed = False  # END_STREAM (or RST_STREAM) sent
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._offset = 0  # bytes of _chunks[0] already read
        self.buffered = 0
        self._padding = 0  # flow-controlled bytes received but never readable
        self.remote_ended = False
        self.error: BaseException | None = None
        self.window: BaseFlowControlManager | None = None
        self.submitted = False  # the request head is complete and queued
        self.response_taken = False
        self.released = False  # the response was read to its end or closed
        self.replay: RequestBody | None = None
        self.head: list[tuple[bytes, bytes]] = []
        self.refusals = 0
        self.answers_at_send = 0  # the session's answer count when HEADERS went out
        self.request_trailers: list[tuple[bytes, bytes]] | None = None
        self.pushes: collections.deque[Stream] = collections.deque()
        self.promise: list[tuple[bytes, bytes]] | None = None  # a pushed stream's request
        self.parent_id: int | None = None  # a pushed stream's parent (logical ID)

    def __repr__(self) -> str:
        return (
            f"<Stream {self.logical_id} wire={self.wire_id} status={self.status} "
            f"buffered={self.buffered} ended={self.remote_ended} error={self.error!r}>"
        )

    # --- sending ---------------------------------------------------------

    def add_body(self, chunks: Iterator[bytes] | None, data: bytes, finishing: bool) -> None:
        """Queue more request body: ``chunks`` (pulled lazily), then ``data``.

        :param finishing: end the stream once everything queued is sent.
        """
        parts = [source for source in (self._source, chunks) if source is not None]
        if data:
            parts.append(iter((data,)))
        self._source = _chain(parts) if len(parts) > 1 else (parts[0] if parts else None)
        self.finishing = self.finishing or finishing

    @property
    def has_outgoing(self) -> bool:
        """Whether body bytes or the END_STREAM flag are still to be sent."""
        if self.local_closed or self.error is not None:
            return False
        return bool(self._pending) or self._source is not None or self.finishing

    def next_piece(self, limit: int) -> tuple[memoryview, bool]:
        """Take up to ``limit`` body bytes to send now.

        :returns: the bytes (possibly empty: nothing more is queued yet, or
            ``limit`` is 0), and whether they are the last of the body so
            END_STREAM may go with them.
        :raises Exception: whatever the body's source raises (a generator's
            error, a TypeError for a chunk that is not bytes).
        """
        self._refill()
        piece = self._pending[:limit]
        self._pending = self._pending[len(piece) :]
        if not self._pending:
            self._refill()  # one chunk ahead, to know whether this piece is the last
        last = self.finishing and not self._pending and self._source is None
        return piece, last

    def _refill(self) -> None:
        while not self._pending and self._source is not None:
            chunk = next(self._source, None)
            if chunk is None:
                self._source = None
            else:
                self._pending = memoryview(chunk).cast("B")

    def restart(self, session: Session) -> None:
        """Make the stream new again, to send its request once more on
        ``session`` (the server refused it unprocessed). Only for a stream
        with a :attr:`replay` body and no response yet."""
        if self.replay is None:
            raise RuntimeError(f"stream {self.logical_id} cannot be sent again")
        self.session = session
        self.wire_id = None
        if self.request_headers is None:  # it was taken to be sent
            self.request_headers = self.head
        self.local_closed = False
        self.window = None
        self.error = None
        self.remote_ended = False
        self.headers = []
        self.trailers = None
        self.discard()
        self._padding = 0
        self.drop_body()
        data = self.replay.data
        chunks = None if data is not None else self.replay.chunks(BODY_CHUNK_SIZE)
        self.add_body(chunks, data or b"", True)

    def drop_body(self) -> None:
        """Forget the rest of the request body (the stream was reset or failed)."""
        self._source = None
        self._pending = memoryview(b"")
        self.finishing = False

    # --- receiving -------------------------------------------------------

    def receive_head(self, fields: list[tuple[bytes, bytes]]) -> None:
        """Take a response head already checked by
        :func:`hyper.http20._fields.response_problem` (so ``:status`` is
        three digits): the status and the other fields."""
        for name, value in fields:
            if name == b":status":
                self.status = int(value)
            elif not name.startswith(b":"):
                self.headers.append((name, value))
        if self.window is not None:
            self.window.document_size = self._content_length()

    def _content_length(self) -> int | None:
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit():
                return int(value)
        return None

    def receive_data(self, data: bytes, flow_controlled_length: int) -> None:
        """Buffer a DATA frame's payload; its padding is credited on next read."""
        if data:
            self._chunks.append(data)
            self.buffered += len(data)
        self._padding += flow_controlled_length - len(data)

    def take(self, amt: int) -> tuple[bytes, int]:
        """Take up to ``amt`` buffered body bytes (across DATA frames).

        :returns: the bytes, and the flow-controlled length they free (the
            bytes plus any padding received since the last read).
        """
        parts: list[bytes] = []
        wanted = amt
        while wanted > 0 and self._chunks:
            chunk = self._chunks[0]
            if not self._offset and len(chunk) <= wanted:
                part = self._chunks.popleft()
            else:
                part = chunk[self._offset : self._offset + wanted]
                self._offset += len(part)
                if self._offset == len(chunk):
                    self._chunks.popleft()
                    self._offset = 0
            parts.append(part)
            wanted -= len(part)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.buffered -= len(data)
        freed, self._padding = len(data) + self._padding, 0
        return data, freed

    def discard(self) -> None:
        """Drop every buffered body byte (the response was closed unread)."""
        self._chunks.clear()
        self._offset = 0
        self.buffered = 0

    @property
    def body_done(self) -> bool:
        """Whether the whole response body has been received and read."""
        return self.remote_ended and not self._chunks

    @property
    def settled(self) -> bool:
        """Whether the exchange needs nothing more from the wire."""
        return self.error is not None or (self.remote_ended and not self.has_outgoing)


def _chain(parts: list[Iterator[bytes]]) -> Iterator[bytes]:
    for part in parts:
        yield from part
