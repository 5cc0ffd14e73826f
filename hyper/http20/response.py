"""HTTP/2 responses: the body of one stream, read from its connection's buffer.

The response head has already arrived when an :class:`HTTP20Response` is
made; its body is read through the connection, which waits for DATA frames
when the stream's buffer is empty and gives flow-control window back as the
body is consumed. Reading, decoding, trailers and iteration come from
:class:`hyper.common.response.BaseResponse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE
from hyper.common.headers import HTTPHeaderMap
from hyper.common.response import BaseResponse
from hyper.common.util import HTTPVersion

if TYPE_CHECKING:
    from hyper.http20.connection import HTTP20Connection
    from hyper.http20.stream import Stream

__all__ = ["HTTP20Push", "HTTP20Response"]


class HTTP20Response(BaseResponse):
    """A response received over HTTP/2; made by
    :meth:`HTTP20Connection.get_response() <hyper.http20.connection.HTTP20Connection.get_response>`.

    Read the body with :meth:`read`, :meth:`read_chunked`, :meth:`readinto`
    or by iterating. Closing a response before its body has been read to the
    end resets its stream (RST_STREAM CANCEL) and discards what was
    buffered; the connection and its other streams go on. One response may
    be read by one thread at a time; different responses of one connection
    may be read from different threads.

    :ivar status: the status code (``int``, from ``:status``).
    :ivar reason: always ``''`` (HTTP/2 has no reason phrase).
    :ivar headers: an :class:`~hyper.common.headers.HTTPHeaderMap` of the
        response headers, without pseudo-headers.
    :ivar version: :attr:`HTTPVersion.http20 <hyper.common.util.HTTPVersion.http20>`.
    :ivar stream_id: the stream ID :meth:`~HTTP20Connection.request` returned.
    """

    version = HTTPVersion.http20

    def __init__(
        self,
        connection: HTTP20Connection,
        stream: Stream,
        max_decoded_size: int = DEFAULT_MAX_DECODED_SIZE,
    ) -> None:
        super().__init__(
            stream.status or 0, "", HTTPHeaderMap._received(stream.headers), max_decoded_size
        )
        self._connection = connection
        self._stream = stream
        self.stream_id = stream.logical_id
        if stream.body_done and stream.buffered == 0 and stream.error is None:
            self._finished()  # nothing left to read: free the stream at once

    def __repr__(self) -> str:
        return f"<HTTP20Response {self.status} stream={self.stream_id}>"

    def _read_raw(self, amt: int) -> bytes:
        return self._connection._read_body(self._stream, amt)

    def _raw_ended(self) -> bool:
        return self._stream.body_done

    def _trailer_map(self) -> HTTPHeaderMap:
        return HTTPHeaderMap._received(self._stream.trailers or [])

    def _release(self, complete: bool) -> None:
        self._connection._release(self._stream, complete)


class HTTP20Push:
    """A response the server pushed: the request it promised to answer, and
    the way to its response. Made by :meth:`HTTP20Connection.get_pushes()
    <hyper.http20.connection.HTTP20Connection.get_pushes>`.

    hyper accepts only pushes for a GET or HEAD of the parent request's own
    scheme and authority (RFC 9113 section 8.4); like any cache, check that
    the pushed URL is one you would have requested before trusting it.

    :ivar scheme: the promised request's ``:scheme`` (bytes).
    :ivar method: its ``:method`` (``b"GET"`` or ``b"HEAD"``).
    :ivar authority: its ``:authority``.
    :ivar path: its ``:path``.
    :ivar request_headers: its other header fields, as an
        :class:`~hyper.common.headers.HTTPHeaderMap`.
    :ivar promised_stream_id: the stream (server-initiated, even) the
        response comes on.
    :ivar parent_stream_id: the stream ID of the request it was pushed with.
    """

    def __init__(self, connection: HTTP20Connection, stream: Stream) -> None:
        fields = stream.promise or []
        pseudo = {name: value for name, value in fields if name.startswith(b":")}
        self.scheme = pseudo.get(b":scheme", b"")
        self.method = pseudo.get(b":method", b"")
        self.authority = pseudo.get(b":authority", b"")
        self.path = pseudo.get(b":path", b"")
        self.request_headers = HTTPHeaderMap(
            [(name, value) for name, value in fields if not name.startswith(b":")]
        )
        self.promised_stream_id = stream.wire_id or 0
        self.parent_stream_id = stream.parent_id or 0
        self._connection = connection
        self._stream = stream

    def __repr__(self) -> str:
        return f"<HTTP20Push {self.method.decode()} {self.path.decode('latin-1')}>"

    def get_response(self) -> HTTP20Response:
        """Wait for the pushed response's head.

        :raises hyper.common.exceptions.LocalProtocolError: if the push was cancelled.
        :raises hyper.common.exceptions.StreamResetError: if the server reset it.
        :raises hyper.common.exceptions.ReadTimeout: if the head did not come in time.
        :raises hyper.common.exceptions.ConnectionError: if the connection failed.
        """
        self._connection._push_response_head(self._stream)
        return HTTP20Response(self._connection, self._stream, self._connection._max_decoded_size)

    def cancel(self) -> None:
        """Refuse the pushed response (RST_STREAM with CANCEL) and drop what
        arrived of it; nothing happens if it was already read to its end."""
        self._connection._release(self._stream, False)
