"""The HTTP/1.1 side of the test server, on h11's server-side state machine.

One thread per connection reads the socket, feeds :class:`h11.Connection`
and runs each request's handler itself (HTTP/1.1 answers one request at a
time). The request body is pulled from the socket as the handler reads it;
whatever the handler leaves unread is drained (up to a bound) so the
connection can be kept alive. A handler that wrote raw bytes with
:meth:`Response.send_raw` has left h11's framing behind, so its connection is
closed when it returns. On a cleartext server with ``h2c_upgrade`` on, a
request without a body that offers ``Upgrade: h2c`` is answered 101 and the
socket goes on as HTTP/2 (see ``_h2c``), serving that request as stream 1.
"""

from __future__ import annotations

import http
import logging
from typing import TYPE_CHECKING

import h11

from hyper.testing._connection import ClientDisconnected, ConnectionHandle
from hyper.testing._h2c import H2cHandle, h2c_settings
from hyper.testing._messages import INTERNAL_ERROR, Request, Response

if TYPE_CHECKING:
    import socket

    from hyper.testing._server import Server

__all__ = ["H11Handle", "H11Response"]

log = logging.getLogger(__name__)

#: Largest request head accepted (h11 answers 431 above it).
MAX_REQUEST_HEAD = 64 * 1024

#: Most unread request-body bytes drained to keep a connection alive.
MAX_DRAIN_BYTES = 8 * 1024 * 1024


class H11Handle(ConnectionHandle):
    """An HTTP/1.1 connection of the test server. Thread-safe."""

    protocol = "http/1.1"

    def __init__(self, server: Server, sock: socket.socket, conn_id: int, alpn: str | None) -> None:
        super().__init__(server, sock, conn_id, alpn)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        self._raw_used = False
        self._eof = False

    def send_raw(self, data: bytes) -> None:
        """Write *data* verbatim; the connection closes after this request.

        :raises ClientDisconnected: the connection is closed.
        """
        self._raw_used = True
        super().send_raw(data)

    def _run(self, initial: bytes) -> None:
        """Serve requests until the client or the server closes.

        :raises h11.RemoteProtocolError: the client sent malformed HTTP/1.1
            (a 4xx was sent first).
        """
        if initial:
            self.h11.receive_data(initial)
        while not self.closed:
            event = self._next_event(None)
            if not isinstance(event, h11.Request):
                return
            settings = self._h2c_offer(event)
            if settings is not None:
                self._switch_to_h2(event, settings)
                return
            self._serve(event)
            if not self._next_cycle():
                return

    def _h2c_offer(self, event: h11.Request) -> bytes | None:
        """The client's ``HTTP2-Settings`` if this request's h2c offer is taken."""
        if self.tls or not self.server.h2c_upgrade:
            return None
        return h2c_settings(list(event.headers.raw_items()))

    def _switch_to_h2(self, event: h11.Request, settings: bytes) -> None:
        """Answer 101 and serve the rest of the connection as HTTP/2."""
        end = self._next_event(self.server.io_timeout)
        if not isinstance(end, h11.EndOfMessage):
            raise ClientDisconnected(f"connection {self.id}: no end of the upgraded request")
        switch = [(b"connection", b"Upgrade"), (b"upgrade", b"h2c")]
        self._send_event(h11.InformationalResponse(status_code=101, headers=switch))
        log.debug("connection %d: switched to HTTP/2 by Upgrade", self.id)
        handle = H2cHandle(
            self.server,
            self._sock,
            self.id,
            settings,
            event.method,
            event.target,
            list(event.headers.raw_items()),
        )
        self.server._add_connection(handle)
        try:
            handle._run(bytes(self.h11.trailing_data[0]))
        finally:
            handle.close()

    def _serve(self, event: h11.Request) -> None:
        headers = list(event.headers.raw_items())
        request = Request(
            server=self.server,
            connection=self,
            method=event.method.decode("latin-1"),
            target=event.target.decode("latin-1"),
            headers=headers,
            http_version="HTTP/" + event.http_version.decode("latin-1"),
            authority=next((v for k, v in event.headers if k == b"host"), b"").decode("latin-1"),
            body=_H11Body(self),
        )
        self.server._run_handler(request, H11Response(request, self))

    def _next_event(self, timeout: float | None) -> object:
        """Return h11's next event, reading as needed (bounded by *timeout*).

        :raises ClientDisconnected: the client closed in the middle of a message.
        :raises TimeoutError: the client stalled for *timeout* seconds.
        """
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof:
                    raise ClientDisconnected(f"connection {self.id}: client hung up") from exc
                self._reject(exc)
                raise
            if event is not h11.NEED_DATA:
                return event
            data = self._read(timeout)
            self._eof = not data
            self.h11.receive_data(data)

    def _reject(self, exc: h11.RemoteProtocolError) -> None:
        """Answer a malformed request with its 4xx, where h11 still allows it."""
        try:
            self._send_event(
                h11.Response(status_code=exc.error_status_hint, headers=[(b"connection", b"close")])
            )
            self._send_event(h11.EndOfMessage())
        except (h11.LocalProtocolError, ClientDisconnected):
            log.debug("connection %d: could not send %d", self.id, exc.error_status_hint)

    def _next_cycle(self) -> bool:
        """Get ready for the next request; ``False`` when the connection must close."""
        if self._raw_used or self.closed:
            return False
        drained = 0
        while self.h11.their_state is h11.SEND_BODY and drained <= MAX_DRAIN_BYTES:
            event = self._next_event(self.server.io_timeout)
            if isinstance(event, h11.Data):
                drained += len(event.data)
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def _send_event(self, event: h11.Event) -> None:
        with self.lock:
            data = self.h11.send(event)
            if data:
                self._sendall(data)


def _reason(status: int) -> bytes:
    """The standard reason phrase for *status*, or ``b""``."""
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _H11Body:
    """A request body pulled from the connection as the handler reads."""

    def __init__(self, handle: H11Handle) -> None:
        self._handle = handle
        self._done = False
        self._trailers: list[tuple[bytes, bytes]] = []

    def next_chunk(self) -> bytes | None:
        if self._done:
            return None
        conn = self._handle.h11
        if conn.they_are_waiting_for_100_continue:
            self._handle._send_event(h11.InformationalResponse(status_code=100, headers=[]))
        event = self._handle._next_event(self._handle.server.io_timeout)
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            self._done = True
            self._trailers = list(event.headers.raw_items())
            return None
        raise ClientDisconnected("the client closed before the request body ended")

    def trailers(self) -> list[tuple[bytes, bytes]]:
        return list(self._trailers)


class H11Response(Response):
    """A response on an HTTP/1.1 connection; see :class:`Response`.

    Without ``content-length`` it is sent chunked (HTTP/1.1 clients) or
    delimited by closing the connection (HTTP/1.0 clients).
    """

    protocol = "http/1.1"

    def __init__(self, request: Request, handle: H11Handle) -> None:
        super().__init__(request)
        self._handle = handle

    def abort(self, error_code: int = INTERNAL_ERROR) -> None:
        """Close the connection at once, leaving the body truncated."""
        self._finished = True
        self._handle.close()

    def send_raw(self, data: bytes) -> None:
        """Write *data* verbatim; h11 is bypassed and the connection closes after.

        :raises ClientDisconnected: the connection is closed.
        """
        self._finished = True
        self._handle.send_raw(data)

    def _emit_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        event = h11.Response(status_code=status, headers=headers, reason=_reason(status))
        self._handle._send_event(event)
        if end:
            self._handle._send_event(h11.EndOfMessage())

    def _emit_data(self, data: bytes, end: bool) -> None:
        self._handle._send_event(h11.Data(data=data))
        if end:
            self._handle._send_event(h11.EndOfMessage())

    def _emit_end(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        self._handle._send_event(h11.EndOfMessage(headers=trailers or []))

    def _emit_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self._handle._send_event(h11.InformationalResponse(status_code=status, headers=headers))
