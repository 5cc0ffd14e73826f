"""HTTP/1.1 responses: body framing over the connection's buffered socket.

The head has already been parsed by :mod:`hyper.http11.parser`; this
module reads the body as the framing says (``Content-Length``, chunked, or
until the server closes), with zero-copy ``readinto`` where it can, and
tells the connection when the socket is free again. Reading and decoding
are shared with HTTP/2 in :class:`hyper.common.response.BaseResponse`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hyper.common import exceptions
from hyper.common.bufsocket import BufferedSocket
from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE
from hyper.common.headers import HTTPHeaderMap
from hyper.common.response import BaseResponse
from hyper.common.timeout import Deadline
from hyper.common.util import HTTPVersion
from hyper.http11.parser import (
    MAX_CHUNK_SIZE_LINE,
    MAX_HEAD_SIZE,
    Framing,
    ResponseHead,
    parse_chunk_size,
    parse_header_lines,
)

if TYPE_CHECKING:
    from hyper.http11.connection import HTTP11Connection

__all__ = ["HTTP11Response"]

log = logging.getLogger(__name__)


class HTTP11Response(BaseResponse):
    """A response received over HTTP/1.1; made by
    :meth:`HTTP11Connection.get_response() <hyper.http11.connection.HTTP11Connection.get_response>`.

    Read the body with :meth:`read`, :meth:`read_chunked`, :meth:`readinto`
    or by iterating; the connection is reused for the next request once the
    body has been read to its end. Not thread-safe.

    :ivar status: the status code (``int``).
    :ivar reason: the reason phrase (``str``).
    :ivar headers: an :class:`~hyper.common.headers.HTTPHeaderMap`.
    :ivar version: :attr:`HTTPVersion.http11 <hyper.common.util.HTTPVersion.http11>`.
    """

    version = HTTPVersion.http11

    def __init__(
        self,
        head: ResponseHead,
        framing: Framing,
        length: int | None,
        sock: BufferedSocket,
        connection: HTTP11Connection | None = None,
        deadline: Deadline | None = None,
        keep_alive: bool = True,
        max_decoded_size: int = DEFAULT_MAX_DECODED_SIZE,
    ) -> None:
        reason = head.reason.decode("latin-1")
        super().__init__(
            head.status, reason, HTTPHeaderMap._received(head.headers), max_decoded_size
        )
        self._sock = sock
        self._connection = connection
        self._deadline = deadline
        self._framing = framing
        self._keep_alive = keep_alive and framing is not Framing.CLOSE
        self._remaining = length or 0  # LENGTH: bytes left; CHUNKED: left in this chunk
        self._body_done = False
        self._trailers = HTTPHeaderMap()
        if framing is Framing.NONE or (framing is Framing.LENGTH and not length):
            self._end_body()
            self._finished()

    def __repr__(self) -> str:
        return f"<HTTP11Response [{self.status}] {self._framing.value}>"

    def fileno(self) -> int:
        """The file descriptor of the connection's socket."""
        return self._sock.fileno()

    # --- hooks -----------------------------------------------------------

    def _raw_ended(self) -> bool:
        return self._body_done

    def _trailer_map(self) -> HTTPHeaderMap:
        return self._trailers

    def _release(self, complete: bool) -> None:
        self._hand_back(reusable=False)  # a no-op if the body already ended

    def _hand_back(self, reusable: bool) -> None:
        """Give the socket back to the connection (once): reusable only when
        the whole body was received and the server allows keep-alive."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection._response_done(self, reusable and self._keep_alive)

    def _end_body(self) -> None:
        """The raw body is complete: the socket is free even if decoded
        output is still waiting to be read."""
        self._body_done = True
        self._hand_back(reusable=True)

    def _check_readable(self) -> None:
        if self._sock.closed:
            raise exceptions.ConnectionError(
                "the connection of this response was closed before its body was read"
            )
        if self._deadline is not None and self._deadline.total_bounded:
            self._sock.settimeout(self._deadline.next_wait())

    def _read_raw(self, amt: int) -> bytes:
        if self._body_done:
            return b""
        self._check_readable()
        if self._framing is Framing.CHUNKED:
            return self._read_chunk(amt)
        if self._framing is Framing.LENGTH:
            amt = min(amt, self._remaining)
        data = self._sock.recv(amt)
        self._account(len(data))
        return data

    def _readinto_raw(self, buffer: memoryview) -> int:
        if self._body_done:
            return 0
        if self._framing is Framing.CHUNKED:
            return super()._readinto_raw(buffer)
        self._check_readable()
        if self._framing is Framing.LENGTH:
            buffer = buffer[: self._remaining]
        count = self._sock.readinto(buffer)
        self._account(count)
        return count

    def _read_raw_all(self) -> bytes:
        if self._framing is not Framing.LENGTH or self._body_done:
            return super()._read_raw_all()
        body = bytearray(self._remaining)
        view = memoryview(body)
        filled = 0
        while filled < len(body):
            filled += self._readinto_raw(view[filled:])
        return bytes(body)

    def _account(self, count: int) -> None:
        """Book ``count`` body bytes just read (0 means the server closed)."""
        if self._framing is Framing.CLOSE:
            if not count:
                self._end_body()
            return
        if not count:
            raise exceptions.ConnectionResetError(
                f"the server closed the connection with {self._remaining} body bytes missing"
            )
        self._remaining -= count
        if not self._remaining and self._framing is Framing.LENGTH:
            self._end_body()

    # --- chunked ---------------------------------------------------------

    def _read_chunk(self, amt: int) -> bytes:
        if not self._remaining:
            self._remaining = self._next_chunk_size()
            if not self._remaining:
                self._read_trailers()
                return b""
        data = self._sock.recv(min(amt, self._remaining))
        self._account(len(data))
        if not self._remaining:
            self._expect_line_end()
        return data

    def _line(self, limit: int) -> bytes:
        line = self._sock.readline(limit)
        if not line:
            raise exceptions.ConnectionResetError("the server closed the connection mid-body")
        return line

    def _next_chunk_size(self) -> int:
        try:
            line = self._line(MAX_CHUNK_SIZE_LINE)
        except exceptions.LineTooLongError as exc:
            raise exceptions.ChunkedDecodeError("chunk size line too long") from exc
        return parse_chunk_size(line.rstrip(b"\r\n"))

    def _expect_line_end(self) -> None:
        try:
            line = self._line(2)
        except exceptions.LineTooLongError:
            line = b""
        if line not in (b"\r\n", b"\n"):
            raise exceptions.ChunkedDecodeError("chunk data not followed by a line end")

    def _read_trailers(self) -> None:
        lines = []
        size = 0
        while (line := self._line(MAX_HEAD_SIZE).rstrip(b"\r\n")) != b"":
            size += len(line)
            if size > MAX_HEAD_SIZE:
                raise exceptions.LineTooLongError("trailers larger than the head size limit")
            lines.append(line)
        if lines:
            self._trailers = HTTPHeaderMap._received(parse_header_lines(lines))
        self._end_body()
