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

__all__ = ["HTTP20Response"]


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
        super().__init__(stream.status or 0, "", HTTPHeaderMap(stream.headers), max_decoded_size)
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
        return HTTPHeaderMap(self._stream.trailers or [])

    def _release(self, complete: bool) -> None:
        self._connection._release(self._stream, complete)
