"""The request and response objects that route handlers receive.

A handler is a plain function ``handler(request, response) -> None``. The
:class:`Request` carries the parsed head and a body that is read on demand
(so a handler can consume a large upload without keeping it). The
:class:`Response` is written step by step (:meth:`~Response.start`,
:meth:`~Response.write`, :meth:`~Response.finish`) or in one call
(:meth:`~Response.send`, :meth:`~Response.send_json`); the protocol modules
subclass it to put the bytes on the wire. Both objects belong to the one
thread running the handler.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from hyper.testing._body import BodySource
from hyper.testing._connection import ConnectionHandle

if TYPE_CHECKING:
    from hyper.testing._h2 import H2Handle
    from hyper.testing._h2_response import H2Response
    from hyper.testing._server import Server

__all__ = ["HeaderInput", "Request", "Response"]

#: Headers as handlers give them: (name, value) pairs of ``str`` or ``bytes``.
HeaderInput = Iterable[tuple["str | bytes", "str | bytes"]]

#: HTTP/2 INTERNAL_ERROR, the default code for :meth:`Response.abort`.
INTERNAL_ERROR = 0x2

#: Statuses whose responses never carry a body.
_NO_BODY_STATUSES = frozenset({204, 304})


def _text(value: bytes) -> str:
    return value.decode("latin-1")


class Request:
    """One request as a handler sees it. Not shared between threads.

    :ivar method: the method, e.g. ``"GET"``.
    :ivar target: the request target as sent: path plus query string.
    :ivar path: the path without the query string.
    :ivar query: the query string parsed into ``{name: [values]}``.
    :ivar subpath: what a ``/prefix/*`` route matched in place of ``*``
        (``""`` for an exact route).
    :ivar raw_headers: the header fields as received, ``bytes`` pairs, without
        HTTP/2 pseudo-headers.
    :ivar headers: the same fields as ``str`` pairs (names lower-cased,
        values decoded as Latin-1).
    :ivar protocol: ``"h2"`` or ``"http/1.1"``.
    :ivar http_version: ``"HTTP/2"``, ``"HTTP/1.1"`` or ``"HTTP/1.0"``.
    :ivar connection: the :class:`ConnectionHandle` it arrived on.
    :ivar stream_id: the HTTP/2 stream id, or ``None`` on HTTP/1.1.
    :ivar scheme: ``"https"`` or ``"http"``.
    :ivar authority: the ``:authority`` pseudo-header or ``Host`` header.
    :ivar server: the :class:`Server` that received it.
    """

    def __init__(
        self,
        *,
        server: Server,
        connection: ConnectionHandle,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        http_version: str,
        authority: str,
        body: BodySource,
        stream_id: int | None = None,
    ) -> None:
        self.server = server
        self.connection = connection
        self.method = method
        self.target = target
        self.path, _, query_string = target.partition("?")
        self.query = urllib.parse.parse_qs(query_string, keep_blank_values=True)
        self.subpath = ""
        self.raw_headers = headers
        self.headers = [(_text(k).lower(), _text(v)) for k, v in headers]
        self.protocol = connection.protocol
        self.http_version = http_version
        self.stream_id = stream_id
        self.scheme = "https" if connection.tls else "http"
        self.authority = authority
        self._body = body
        self._pending = b""
        self._body_done = False
        self._cached_body: bytes | None = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} {self.protocol} conn={self.connection.id}>"

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return header *name* (any case), repeated fields joined, or *default*.

        Repeated fields are joined with ``", "``, except ``cookie`` (``"; "``).
        """
        wanted = name.lower()
        values = [v for k, v in self.headers if k == wanted]
        if not values:
            return default
        return ("; " if wanted == "cookie" else ", ").join(values)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """Return the first query-string value for *name*, or *default*."""
        values = self.query.get(name)
        return values[0] if values else default

    def read(self, amt: int = -1) -> bytes:
        """Read up to *amt* bytes of body (all of it if *amt* is negative).

        Returns ``b""`` at the end of the body.

        :raises ClientDisconnected: the client reset the stream or hung up.
        :raises TimeoutError: the client stalled for the server's I/O timeout.
        """
        if amt < 0:
            return b"".join([self._pending, *self._chunks()])
        while len(self._pending) < amt and not self._body_done:
            chunk = self._next()
            if chunk is None:
                break
            self._pending += chunk
        data, self._pending = self._pending[:amt], self._pending[amt:]
        return data

    def iter_body(self) -> Iterator[bytes]:
        """Yield the body piece by piece as it arrives, without keeping it.

        :raises ClientDisconnected: the client reset the stream or hung up.
        :raises TimeoutError: the client stalled for the server's I/O timeout.
        """
        if self._pending:
            yield self._pending
            self._pending = b""
        yield from self._chunks()

    @property
    def body(self) -> bytes:
        """The whole body, read on first use and kept.

        :raises ClientDisconnected: the client reset the stream or hung up.
        :raises TimeoutError: the client stalled for the server's I/O timeout.
        """
        if self._cached_body is None:
            self._cached_body = self.read()
        return self._cached_body

    @property
    def trailers(self) -> list[tuple[str, str]]:
        """The request trailers; empty until the body has been read to its end."""
        return [(_text(k).lower(), _text(v)) for k, v in self._body.trailers()]

    def _next(self) -> bytes | None:
        if self._body_done:
            return None
        chunk = self._body.next_chunk()
        if chunk is None:
            self._body_done = True
        return chunk

    def _chunks(self) -> Iterator[bytes]:
        while (chunk := self._next()) is not None:
            yield chunk


def header_bytes(headers: HeaderInput, *, lower: bool) -> list[tuple[bytes, bytes]]:
    """Turn handler-supplied headers into ``bytes`` pairs (Latin-1 for ``str``).

    :raises TypeError: a name or value is neither ``str`` nor ``bytes``.
    """
    result = []
    for name, value in headers:
        bname, bvalue = _to_bytes(name, "header name"), _to_bytes(value, "header value")
        result.append((bname.lower() if lower else bname, bvalue))
    return result


def _to_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1")
    raise TypeError(f"headers: {what} must be str or bytes, not {type(value).__name__}")


class Response:
    """The response a handler writes. Not shared between threads.

    The head goes out with :meth:`start` (or with the first :meth:`write`, as
    200), body pieces with :meth:`write` (each one a separate HTTP/1.1 chunk or
    HTTP/2 DATA write), and :meth:`finish` ends it, optionally with trailers.
    A handler that returns early is finished for it. A HEAD response drops
    body writes.

    :ivar request: the :class:`Request` being answered.
    :ivar connection: the :class:`ConnectionHandle` it goes out on.
    :ivar status: the status sent, or ``None`` before :meth:`start`.
    """

    protocol = "http/1.1"

    def __init__(self, request: Request) -> None:
        self.request = request
        self.connection = request.connection
        self.status: int | None = None
        self._head_only = request.method == "HEAD"
        self._finished = False

    @property
    def started(self) -> bool:
        """Whether the head has been sent."""
        return self.status is not None

    @property
    def finished(self) -> bool:
        """Whether the response has been ended."""
        return self._finished

    @property
    def h2(self) -> H2Handle:
        """The HTTP/2 connection, for frame-level staging.

        :raises RuntimeError: this response is not on HTTP/2.
        """
        raise RuntimeError("this response is not on an HTTP/2 connection")

    def start(self, status: int = 200, headers: HeaderInput = (), *, end: bool = False) -> None:
        """Send the head: *status* and *headers*; *end* also ends the response.

        :raises TypeError: *status* is not an ``int``, or a header is not
            ``str``/``bytes``.
        :raises ValueError: *status* is outside 200-999.
        :raises RuntimeError: the head was already sent.
        """
        if not isinstance(status, int):
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if not 200 <= status <= 999:
            raise ValueError(f"status must be 200-999 (use informational() for 1xx), not {status}")
        if self.started:
            raise RuntimeError("the response head was already sent")
        fields = self._header_list(headers)
        self.status = status
        self._finished = end
        self._emit_head(status, fields, end)

    def write(self, data: bytes) -> None:
        """Send *data* as the next piece of the body (starting a 200 if needed).

        :raises TypeError: *data* is not bytes-like.
        :raises RuntimeError: the response is already finished.
        :raises ClientDisconnected: the client reset the stream or hung up.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        if self._finished:
            raise RuntimeError("the response is already finished")
        if not self.started:
            self.start()
        if data and not self._head_only:
            self._emit_data(bytes(data), end=False)

    def finish(self, trailers: HeaderInput | None = None) -> None:
        """End the response, sending *trailers* after the body if given.

        Idempotent once finished.

        :raises ClientDisconnected: the client reset the stream or hung up.
        """
        if self._finished:
            return
        if not self.started:
            self.start(end=trailers is None)
            if trailers is None:
                return
        self._finished = True
        self._emit_end(self._header_list(trailers) if trailers and not self._head_only else None)

    def send(
        self,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: HeaderInput = (),
        content_type: str | None = None,
    ) -> None:
        """Send a complete response with ``content-length``.

        :raises TypeError: *body* is not bytes.
        :raises ClientDisconnected: the client reset the stream or hung up.
        """
        if not isinstance(body, bytes):
            raise TypeError(f"body must be bytes, not {type(body).__name__}")
        fields: list[tuple[str | bytes, str | bytes]] = list(headers)
        if content_type is not None:
            fields.append(("content-type", content_type))
        if status not in _NO_BODY_STATUSES:
            fields.append(("content-length", str(len(body))))
        if not body or self._head_only or status in _NO_BODY_STATUSES:
            self.start(status, fields, end=True)
            return
        self.start(status, fields)
        self._finished = True
        self._emit_data(body, end=True)

    def send_json(self, obj: Any, *, status: int = 200, headers: HeaderInput = ()) -> None:
        """Send *obj* as a JSON body (``application/json``).

        :raises TypeError: *obj* is not JSON-serialisable.
        :raises ClientDisconnected: the client reset the stream or hung up.
        """
        body = json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n"
        self.send(body, status=status, headers=headers, content_type="application/json")

    def informational(self, status: int, headers: HeaderInput = ()) -> None:
        """Send a 1xx informational response (e.g. 103) before the real head.

        :raises ValueError: *status* is not 100 or 102-199.
        :raises RuntimeError: the final head was already sent.
        """
        if not isinstance(status, int) or not 100 <= status <= 199 or status == 101:
            raise ValueError(f"status must be 100 or 102-199, not {status!r}")
        if self.started:
            raise RuntimeError("the response head was already sent")
        self._emit_informational(status, self._header_list(headers))

    def push(
        self,
        path: str,
        headers: HeaderInput = (),
        *,
        method: str = "GET",
        authority: str | None = None,
        scheme: str | None = None,
    ) -> H2Response:
        """Promise a server push; HTTP/2 only, see :meth:`H2Response.push`.

        :raises RuntimeError: this response is not on HTTP/2.
        """
        raise RuntimeError("server push needs an HTTP/2 connection")

    def abort(self, error_code: int = INTERNAL_ERROR) -> None:
        """Break the response off: RST_STREAM on HTTP/2, close on HTTP/1.1.

        *error_code* is the RST_STREAM code (ignored on HTTP/1.1).
        """
        raise NotImplementedError

    def send_raw(self, data: bytes) -> None:
        """Write *data* to the socket verbatim, outside the protocol state.

        On HTTP/1.1 the connection is closed once the handler returns (its
        framing is then unknown); use this for malformed status lines,
        truncated bodies or broken chunking. On HTTP/2 it writes between
        frames; see :meth:`H2Handle.send_frame`.

        :raises ClientDisconnected: the connection is closed.
        """
        self.connection.send_raw(data)

    # --- the protocol modules implement these -----------------------------

    def _header_list(self, headers: HeaderInput) -> list[tuple[bytes, bytes]]:
        return header_bytes(headers, lower=False)

    def _emit_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        raise NotImplementedError

    def _emit_data(self, data: bytes, end: bool) -> None:
        raise NotImplementedError

    def _emit_end(self, trailers: list[tuple[bytes, bytes]] | None) -> None:
        raise NotImplementedError

    def _emit_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        raise NotImplementedError

    def _fail(self) -> None:
        """The handler raised: answer 500 if nothing was sent, else abort."""
        if not self.started:
            self.send(b"handler failed\n", status=500, content_type="text/plain")
        elif not self._finished:
            self.abort()
