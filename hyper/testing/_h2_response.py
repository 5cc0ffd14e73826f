"""Responses on HTTP/2 streams: the handler's side of the HTTP/2 connection.

:class:`H2Response` turns the generic :class:`Response` calls into HEADERS
and DATA on its stream, and :meth:`H2Response.push` promises a push
(PUSH_PROMISE) and hands back the response of the promised stream. The
writers below run on handler threads: each takes the connection's lock for
one batch of frames and, when the flow-control window is spent, waits on the
connection's condition (bounded by the server's I/O timeout), which the
connection thread signals on WINDOW_UPDATE, SETTINGS, RST_STREAM or close.
So a slow or unread stream never stalls the others.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h2.exceptions

from hyper.testing._body import BodyPipe
from hyper.testing._connection import ClientDisconnected
from hyper.testing._h2_push import PushRefused, promise_headers
from hyper.testing._messages import INTERNAL_ERROR, HeaderInput, Request, Response, header_bytes

if TYPE_CHECKING:
    from hyper.testing._h2 import H2Handle

__all__ = ["H2Response"]

log = logging.getLogger(__name__)

#: Most DATA bytes written per lock hold, so streams interleave fairly.
WRITE_BATCH = 256 * 1024


class H2Response(Response):
    """A response on an HTTP/2 stream; see :class:`Response`.

    :ivar stream_id: the stream it answers (for a pushed response, the
        promised stream).
    :ivar parent_stream_id: for a pushed response, the stream whose
        PUSH_PROMISE announced it; ``None`` otherwise.
    """

    protocol = "h2"

    def __init__(
        self, request: Request, handle: H2Handle, *, parent_stream_id: int | None = None
    ) -> None:
        super().__init__(request)
        self._handle = handle
        self.stream_id = request.stream_id or 0
        self.parent_stream_id = parent_stream_id

    @property
    def h2(self) -> H2Handle:
        """The :class:`H2Handle` of this response's connection."""
        return self._handle

    def push(
        self,
        path: str,
        headers: HeaderInput = (),
        *,
        method: str = "GET",
        authority: str | None = None,
        scheme: str | None = None,
    ) -> H2Response:
        """Promise a pushed response: send PUSH_PROMISE on this response's stream.

        The promised request is *method* *path* with ``:authority`` and
        ``:scheme`` (by default this request's) and *headers*. Promise before
        this response's head, after it, or between body writes; not once it
        is finished (see :meth:`H2Handle.push_promise` for that).

        :returns: the response of the promised stream, written like any
            response from this thread or another; its :attr:`request` is the
            promised request. Finish it: the server does not. If the client
            refuses or cancels the push (RST_STREAM), its writes are dropped.
        :raises TypeError: an argument or header has the wrong type.
        :raises ValueError: an argument is empty, or *headers* holds a
            pseudo-header, ``host`` or a connection-specific field.
        :raises RuntimeError: this response is finished, or is itself pushed.
        :raises PushRefused: the client disabled push (``SETTINGS_ENABLE_PUSH
            = 0``) or allows no more streams; nothing was sent.
        :raises ClientDisconnected: this stream was reset or the connection
            closed.
        """
        if self.parent_stream_id is not None:
            raise RuntimeError("a pushed response cannot push in turn")
        if self._finished:
            raise RuntimeError("the response is finished: promise before it ends")
        scheme = self.request.scheme if scheme is None else scheme
        authority = self.request.authority if authority is None else authority
        block = promise_headers(path, headers, method=method, scheme=scheme, authority=authority)
        promised = _push(self._handle, self.stream_id, block)
        request = self._promised_request(promised, block)
        return H2Response(request, self._handle, parent_stream_id=self.stream_id)

    def _promised_request(self, stream_id: int, block: list[tuple[bytes, bytes]]) -> Request:
        """The :class:`Request` a pushed response answers: *block* on *stream_id*."""
        pseudo = {name.decode(): value.decode("latin-1") for name, value in block[:4]}
        body = BodyPipe(self.request.server.io_timeout)
        body.end()  # a promised request has no body
        request = Request(
            server=self.request.server,
            connection=self._handle,
            method=pseudo[":method"],
            target=pseudo[":path"],
            headers=block[4:],
            http_version="HTTP/2",
            authority=pseudo[":authority"],
            body=body,
            stream_id=stream_id,
        )
        request.scheme = pseudo[":scheme"]
        return request

    def abort(self, error_code: int = INTERNAL_ERROR) -> None:
        """Reset the stream with *error_code* (default INTERNAL_ERROR)."""
        self._finished = True
        self._handle.reset_stream(self.stream_id, error_code)

    def _header_list(self, headers: HeaderInput) -> list[tuple[bytes, bytes]]:
        return header_bytes(headers, lower=True)

    def _emit_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        fields = [(b":status", str(status).encode()), *headers]
        self._send(functools.partial(_send_headers, self._handle, self.stream_id, fields, end))

    def _emit_data(self, data: bytes, end: bool) -> None:
        self._send(functools.partial(_send_body, self._handle, self.stream_id, data, end))

    def _emit_end(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        if trailers:
            self._send(
                functools.partial(_send_headers, self._handle, self.stream_id, trailers, True)
            )
        else:
            self._emit_data(b"", True)

    def _emit_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        fields = [(b":status", str(status).encode()), *headers]
        self._send(functools.partial(_send_headers, self._handle, self.stream_id, fields, False))

    def _send(self, write: Callable[[], None]) -> None:
        """Run *write*; on a pushed stream the client reset, drop it quietly."""
        try:
            write()
        except ClientDisconnected:
            if self.parent_stream_id is None or not self._handle._reset_log.has(self.stream_id):
                raise
            log.debug("pushed stream %d was reset by the client: write dropped", self.stream_id)


# --- the writers, on the handler threads ---------------------------------------


def _check_stream(handle: H2Handle, stream_id: int) -> None:
    """Raise if the stream or the connection is gone (lock held)."""
    if handle.closed or handle._terminated:
        raise ClientDisconnected(f"connection {handle.id} is closed")
    if stream_id in handle._reset:
        raise ClientDisconnected(f"stream {stream_id} was reset")


def _push(handle: H2Handle, parent_stream_id: int, block: list[tuple[bytes, bytes]]) -> int:
    """Promise *block* on *parent_stream_id* through h2; return the promised id.

    :raises PushRefused: the client's settings (or h2) forbid the promise.
    :raises ClientDisconnected: the parent stream or the connection is gone.
    """
    with handle.lock:
        _check_stream(handle, parent_stream_id)
        if not handle.h2.remote_settings.enable_push:
            raise PushRefused("the client disabled server push (SETTINGS_ENABLE_PUSH = 0)")
        promised = handle.h2.get_next_available_stream_id()
        try:
            handle.h2.push_stream(parent_stream_id, promised, block)
        except h2.exceptions.StreamClosedError as exc:
            raise ClientDisconnected(f"stream {parent_stream_id} is closed") from exc
        except h2.exceptions.TooManyStreamsError as exc:
            raise PushRefused(f"the client's MAX_CONCURRENT_STREAMS is reached: {exc}") from exc
        except h2.exceptions.ProtocolError as exc:
            raise PushRefused(f"h2 refused a promise on stream {parent_stream_id}: {exc}") from exc
        handle.flush()
        return promised


def _send_headers(
    handle: H2Handle, stream_id: int, headers: list[tuple[bytes, bytes]], end: bool
) -> None:
    with handle.lock:
        _check_stream(handle, stream_id)
        _h2_call(stream_id, handle.h2.send_headers, stream_id, headers, end)
        handle.flush()


def _send_body(handle: H2Handle, stream_id: int, data: bytes, end: bool) -> None:
    view = memoryview(data)
    while True:
        with handle.lock:
            if not view:
                if end:
                    _check_stream(handle, stream_id)
                    _h2_call(stream_id, handle.h2.end_stream, stream_id)
                    handle.flush()
                return
            window = _wait_window(handle, stream_id)
            view = _send_batch(handle, stream_id, view, window, end)
            handle.flush()
            if not view:
                return


def _send_batch(
    handle: H2Handle, stream_id: int, view: memoryview, window: int, end: bool
) -> memoryview:
    limit = handle.h2.max_outbound_frame_size
    if handle.server.h2_data_frame_size is not None:
        limit = min(limit, handle.server.h2_data_frame_size)
    sent = 0
    while view and window > 0 and sent < WRITE_BATCH:
        size = min(window, limit, len(view))
        last = end and size == len(view)
        _h2_call(stream_id, handle.h2.send_data, stream_id, view[:size].tobytes(), last)
        view, window, sent = view[size:], window - size, sent + size
    return view


def _h2_call(stream_id: int, method: Callable[..., None], *args: Any) -> None:
    try:
        method(*args)
    except h2.exceptions.StreamClosedError as exc:
        raise ClientDisconnected(f"stream {stream_id} is closed") from exc


def _wait_window(handle: H2Handle, stream_id: int) -> int:
    """Wait (lock held, released while waiting) for send window; bounded."""
    timeout = handle.server.io_timeout
    deadline = time.monotonic() + timeout
    while True:
        _check_stream(handle, stream_id)
        try:
            window = handle.h2.local_flow_control_window(stream_id)
        except h2.exceptions.StreamClosedError as exc:
            raise ClientDisconnected(f"stream {stream_id} is closed") from exc
        if window > 0:
            return window
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"stream {stream_id}: no flow-control window for {timeout} s")
        handle._cond.wait(remaining)
