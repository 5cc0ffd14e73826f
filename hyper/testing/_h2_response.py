"""Responses on HTTP/2 streams: the handler's side of the HTTP/2 connection.

:class:`H2Response` turns the generic :class:`Response` calls into HEADERS
and DATA on its stream, through the connection's flow-control-aware writer;
:meth:`H2Response.abort` resets the stream. Later work can add server push
here (``push(...)`` sending PUSH_PROMISE through the same handle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyper.testing._messages import INTERNAL_ERROR, HeaderInput, Request, Response, header_bytes

if TYPE_CHECKING:
    from hyper.testing._h2 import H2Handle

__all__ = ["H2Response"]


class H2Response(Response):
    """A response on an HTTP/2 stream; see :class:`Response`.

    :ivar stream_id: the stream it answers.
    """

    protocol = "h2"

    def __init__(self, request: Request, handle: H2Handle) -> None:
        super().__init__(request)
        self._handle = handle
        self.stream_id = request.stream_id or 0

    @property
    def h2(self) -> H2Handle:
        """The :class:`H2Handle` of this response's connection."""
        return self._handle

    def abort(self, error_code: int = INTERNAL_ERROR) -> None:
        """Reset the stream with *error_code* (default INTERNAL_ERROR)."""
        self._finished = True
        self._handle.reset_stream(self.stream_id, error_code)

    def _header_list(self, headers: HeaderInput) -> list[tuple[bytes, bytes]]:
        return header_bytes(headers, lower=True)

    def _emit_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        fields = [(b":status", str(status).encode()), *headers]
        self._handle._send_headers(self.stream_id, fields, end)

    def _emit_data(self, data: bytes, end: bool) -> None:
        self._handle._send_body(self.stream_id, data, end)

    def _emit_end(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        if trailers:
            self._handle._send_headers(self.stream_id, trailers, True)
        else:
            self._handle._send_body(self.stream_id, b"", True)

    def _emit_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        fields = [(b":status", str(status).encode()), *headers]
        self._handle._send_headers(self.stream_id, fields, False)
