"""The HTTP/1.1 client connection: one socket, one request at a time.

It connects lazily (through :mod:`hyper.common.transport`), writes each
request head with its body, parses the response head with the pure parser
in :mod:`hyper.http11.parser`, and keeps the socket for the next request
once the previous response body has been read to its end. A socket the
server closed while idle is noticed before reuse and replaced.
"""

from __future__ import annotations

import logging
import socket
import ssl
from types import TracebackType

from hyper.common import exceptions
from hyper.common.body import (
    USER_AGENT,
    BodyType,
    HeadersType,
    RequestBody,
    check_method,
    content_length,
    normalize_headers,
    prepare_body,
    request_target,
)
from hyper.common.bufsocket import DEFAULT_BUFFER_SIZE, BufferedSocket
from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE, accept_encoding
from hyper.common.priority import PriorityType, with_priority
from hyper.common.timeout import Deadline, TimeoutValue
from hyper.common.transport import Endpoint
from hyper.common.util import HTTPVersion, authority
from hyper.http11.parser import (
    MAX_HEAD_SIZE,
    ResponseHead,
    body_framing,
    parse_response_head,
    wants_close,
)
from hyper.http11.response import HTTP11Response
from hyper.tls import HTTP11_PROTOCOL, StrPath

__all__ = ["HTTP11Connection"]

log = logging.getLogger(__name__)

#: Bodies up to this size leave in the same ``sendall`` as the request head.
SMALL_BODY_SIZE = 64 * 1024
#: A large body is sent in slices of this size, each bounded by the read timeout.
SEND_SLICE = 256 * 1024
# An HTTP/2 frame header, as far as telling an HTTP/2 server's answer apart.
_FRAME_HEADER_SIZE = 9
_SETTINGS_FRAME_TYPE = 4
_SETTING_SIZE = 6


class HTTP11Connection(Endpoint):
    """A connection to one HTTP/1.1 server.

    :param host: ``'host'``, ``'host:port'``, ``'[v6addr]:port'`` or
        ``'https://host:port'`` (the scheme decides ``secure``).
    :param port: the port, if not in ``host``; default 80 (443 with https).
    :param secure: use TLS. By default: when the scheme is https, the port
        is 443, or an ``ssl_context`` is given.
    :param ssl_context: the :class:`ssl.SSLContext` to use. By default one
        from :func:`hyper.tls.init_context` that offers only ``http/1.1``.
    :param verify: as in requests: ``True`` (verify against certifi),
        ``False`` (no verification) or a CA bundle path. Ignored when
        ``ssl_context`` is given.
    :param proxy_host: an HTTP proxy, ``'proxy:port'`` or
        ``'http://user:password@proxy:port'``. TLS requests go through a
        CONNECT tunnel; cleartext ones are sent to the proxy in absolute form.
    :param proxy_port: the proxy's port, if not in ``proxy_host`` (default 8080).
    :param proxy_headers: extra headers for the proxy.
    :param timeout: a number (connect and read), a ``(connect, read)``
        pair, or a :class:`~hyper.common.timeout.Timeout` (which can also
        bound a whole response with ``total``).
    :param max_decoded_size: the cap on a whole-body ``read()`` of an
        encoded body.
    :raises TypeError: for unknown or mistyped arguments.
    :raises ValueError: for a bad host, port or timeout.

    Not thread-safe: use one connection per thread (or a pool). Usable as
    a context manager, which closes it.
    """

    version = HTTPVersion.http11
    #: Size of the read buffer of each socket (raised to the largest
    #: response head, ``MAX_HEAD_SIZE`` + 1, if set lower: a head is parsed
    #: from the buffer).
    network_buffer_size = DEFAULT_BUFFER_SIZE

    def __init__(
        self,
        host: str,
        port: int | None = None,
        secure: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool | StrPath = True,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_headers: HeadersType = None,
        timeout: TimeoutValue = None,
        *,
        max_decoded_size: int = DEFAULT_MAX_DECODED_SIZE,
    ) -> None:
        self._init_endpoint(
            host,
            port,
            secure,
            ssl_context,
            verify,
            (proxy_host, proxy_port, proxy_headers),
            timeout,
            default_port=80,
        )
        self._max_decoded_size = max_decoded_size
        self._sock: BufferedSocket | None = None
        self._fresh = False  # the socket has not carried a request yet
        self._method: bytes | None = None  # request sent, response not yet fetched
        self._deadline: Deadline | None = None
        self._response: HTTP11Response | None = None  # its body still being read

    def __repr__(self) -> str:
        state = "idle" if self._sock is None else "busy" if self._response else "connected"
        scheme = "https" if self.secure else "http"
        origin = authority(self.host, self.port, self.secure)
        return f"<HTTP11Connection {scheme}://{origin} {state}>"

    # --- connecting ------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (otherwise the first request does).

        :raises hyper.common.exceptions.ConnectionError: and its subclasses
            (:class:`~hyper.common.exceptions.TLSError`,
            :class:`~hyper.common.exceptions.ProxyError`,
            :class:`~hyper.common.exceptions.ConnectTimeout`).
        """
        self._connect()

    def _connect(self) -> BufferedSocket:
        if self._sock is not None:
            return self._sock
        sock, _ = self._open_socket((HTTP11_PROTOCOL,), tunnel=False)
        self._sock = BufferedSocket(sock, self._buffer_size())
        self._fresh = True
        log.debug("connected to %s:%d (secure=%s)", self.host, self.port, self.secure)
        return self._sock

    def _adopt(self, sock: socket.socket) -> None:
        """Use a socket already connected (and TLS-wrapped) to this endpoint,
        for :class:`~hyper.common.connection.HTTPConnection`, whose handshake
        chose HTTP/1.1 by ALPN; later sockets are opened as usual."""
        self._drop_socket()
        self._sock = BufferedSocket(sock, self._buffer_size())
        self._fresh = True

    def _buffer_size(self) -> int:
        return max(self.network_buffer_size, MAX_HEAD_SIZE + 1)

    def _socket_for_request(self) -> BufferedSocket:
        """The socket the next request goes on: the kept-alive one if it is
        still good, else a new one."""
        if self._response is not None or self._method is not None:
            log.debug("abandoning an unfinished exchange: its socket is closed")
            self._drop_socket()
        sock = self._sock
        if sock is not None and not self._fresh and sock.can_read:
            # An idle kept-alive socket is readable only if the server closed
            # it (or sent junk): never send a request on it.
            log.debug("kept-alive socket was closed by the server; reconnecting")
            self._drop_socket()
        return self._connect()

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._response = None
        self._method = None

    # --- sending ---------------------------------------------------------

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        body: BodyType = None,
        headers: HeadersType = None,
        *,
        priority: PriorityType = None,
        trailers: HeadersType = None,
    ) -> None:
        """Send a request; fetch its response with :meth:`get_response`.

        ``body`` may be bytes, str (sent as UTF-8), a file-like object
        (streamed, with its size as ``Content-Length`` where it can be
        known) or an iterable of bytes (sent with chunked encoding). A
        ``Content-Length`` or ``Transfer-Encoding`` in ``headers`` is used
        as given. ``Host``, ``Accept-Encoding`` and ``User-Agent`` are added
        unless present. ``priority`` (a :class:`~hyper.common.priority.Priority`
        or an urgency 0-7) is sent as the RFC 9218 ``priority`` header;
        ``trailers`` (same forms as ``headers``) make the body go chunked,
        with the trailer fields after its last chunk (and their names in a
        ``Trailer`` header).

        :raises TypeError: for arguments of the wrong type.
        :raises hyper.common.exceptions.LocalProtocolError: for a method,
            URL or header that cannot be sent safely (CR, LF, NUL, spaces);
            nothing is sent.
        :raises hyper.common.exceptions.ConnectionError: if connecting or
            sending fails.
        """
        method_b = check_method(method)
        target = self._target(url)
        pairs = with_priority(normalize_headers(headers), priority)
        tail = normalize_headers(trailers)
        prepared = prepare_body(body)
        if tail:
            pairs = _announce_trailers(pairs, tail)
            prepared.length = None  # trailers travel only in chunked encoding
        head, chunked = self._head(method_b, target, pairs, prepared)
        sock = self._socket_for_request()
        self._fresh = False
        self._method = method_b
        self._deadline = self.timeout.deadline()
        try:
            self._send(sock, head, prepared, chunked, tail)
        except exceptions.HyperError:
            self._drop_socket()
            raise

    def _target(self, url: str | bytes) -> bytes:
        target = request_target(url)
        if self._proxy is not None and not self.secure and target.startswith(b"/"):
            origin = authority(self.host, self.port, self.secure).encode()
            target = b"http://" + origin + target
        return target

    def _head(
        self,
        method: bytes,
        target: bytes,
        pairs: list[tuple[bytes, bytes]],
        body: RequestBody,
    ) -> tuple[bytes, bool]:
        """The request head, and whether the body goes out chunked."""
        names = {name.lower() for name, _ in pairs}
        extra = []
        if b"host" not in names:
            extra.append((b"Host", authority(self.host, self.port, self.secure).encode()))
        if b"accept-encoding" not in names:
            extra.append((b"Accept-Encoding", accept_encoding()))
        if b"user-agent" not in names:
            extra.append((b"User-Agent", USER_AGENT))
        chunked = any(
            name.lower() == b"transfer-encoding" and b"chunked" in value.lower()
            for name, value in pairs
        )
        if not chunked and b"content-length" not in names:
            if body.length is None:
                extra.append((b"Transfer-Encoding", b"chunked"))
                chunked = True
            elif (length := content_length(method, body.length)) is not None:
                extra.append((b"Content-Length", length))
        if self._proxy is not None and not self.secure:
            extra.extend(self._proxy.headers)
        lines = [b"%s %s HTTP/1.1" % (method, target)]
        lines.extend(b"%s: %s" % pair for pair in extra + pairs)
        return b"\r\n".join(lines) + b"\r\n\r\n", chunked

    def _send(
        self,
        sock: BufferedSocket,
        head: bytes,
        body: RequestBody,
        chunked: bool,
        trailers: list[tuple[bytes, bytes]],
    ) -> None:
        data = body.data
        if data is not None and not chunked:
            if len(data) <= SMALL_BODY_SIZE:
                sock.send(head + data)
                self._flush(sock)
            else:
                sock.send(head)
                self._write(sock, data)
            return
        sock.send(head)
        for chunk in body.chunks():
            if chunked:
                sock.send(b"%x\r\n" % len(chunk))
            self._write(sock, chunk)
            if chunked:
                sock.send(b"\r\n")
            self._flush(sock)  # each chunk leaves as it comes: a body source is never buffered
        if chunked:
            sock.send(b"0\r\n" + b"".join(b"%s: %s\r\n" % pair for pair in trailers) + b"\r\n")
        self._flush(sock)

    def _write(self, sock: BufferedSocket, data: bytes) -> None:
        """Send what is queued and then ``data``, in slices of at most
        :data:`SEND_SLICE` bytes: the read timeout bounds each wait for the
        server to take a slice, not the whole upload, and ``total`` is
        checked between slices. A small ``data`` is only queued (the
        caller flushes it)."""
        if len(data) <= SMALL_BODY_SIZE:
            sock.send(data)
            return
        view = memoryview(data)
        for start in range(0, len(view), SEND_SLICE):
            sock.send(view[start : start + SEND_SLICE])
            self._flush(sock)

    def _flush(self, sock: BufferedSocket) -> None:
        """Flush the socket's queue, within the read timeout and what is
        left of ``total``.

        :raises hyper.common.exceptions.ReadTimeout: if ``total`` ran out.
        """
        deadline = self._deadline
        wait = deadline.next_wait() if deadline is not None else self.timeout.read
        sock.settimeout(wait)
        try:
            sock.flush()
        except exceptions.TimeoutError as exc:
            if deadline is not None and deadline.total_bounded and wait != self.timeout.read:
                raise exceptions.ReadTimeout(
                    "the request took longer than the total timeout"
                ) from exc
            raise

    # --- receiving -------------------------------------------------------

    def get_response(self) -> HTTP11Response:
        """Read the response to the request just sent (its head; the body is
        read from the response).

        Informational (1xx) responses other than 101 are skipped.

        :raises ValueError: if no request is waiting for its response.
        :raises hyper.common.exceptions.InvalidResponseError: for a
            malformed response head or framing.
        :raises hyper.common.exceptions.ConnectionResetError: if the
            server closed the connection before answering.
        :raises hyper.common.exceptions.ReadTimeout: if the server did not
            answer in time.
        """
        return self._response_for(self._next_head())

    #: The old hyper's name for :meth:`get_response`.
    getresponse = get_response

    def _next_head(self) -> ResponseHead:
        """Read the head answering the request just sent; drop the socket if that fails."""
        sock = self._sock
        if self._method is None or sock is None:
            raise exceptions.LocalProtocolError("no request is waiting for a response")
        try:
            return self._read_head(sock, self._deadline)
        except exceptions.HyperError as exc:
            http2 = isinstance(exc, exceptions.InvalidResponseError) and _starts_like_http2(
                sock.buffer
            )
            self._drop_socket()
            if http2:
                raise exceptions.InvalidResponseError(
                    "the server answered with HTTP/2 frames: it speaks only HTTP/2 here "
                    "(use HTTP20Connection, or force_proto='h2')"
                ) from exc
            raise

    def _response_for(self, head: ResponseHead) -> HTTP11Response:
        """The response object for a head just read by :meth:`_next_head`."""
        sock, method, deadline = self._sock, self._method, self._deadline
        if sock is None or method is None:
            raise exceptions.LocalProtocolError("no request is waiting for a response")
        try:
            framing, length = body_framing(head, method)
        except exceptions.HyperError:
            self._drop_socket()
            raise
        self._method = None
        keep_alive = not wants_close(head) and head.status != 101
        response = HTTP11Response(
            head, framing, length, sock, self, deadline, keep_alive, self._max_decoded_size
        )
        if not response.closed:
            self._response = response
        return response

    def _take_socket(self) -> BufferedSocket:
        """Give up the socket of an exchange the server answered with 101
        (for :class:`~hyper.common.connection.HTTPConnection`'s switch to
        HTTP/2): bytes after the 101 head stay in its buffer, and this
        connection forgets it (the next request opens a new one).

        :raises hyper.common.exceptions.LocalProtocolError: if there is no socket.
        """
        sock = self._sock
        if sock is None:
            raise exceptions.LocalProtocolError("no socket to hand over")
        self._sock = None
        self._method = None
        self._response = None
        return sock

    def _read_head(self, sock: BufferedSocket, deadline: Deadline | None) -> ResponseHead:
        while True:
            parsed = parse_response_head(sock.buffer)
            if parsed is None:
                if deadline is not None and deadline.total_bounded:
                    sock.settimeout(deadline.next_wait())
                if not sock.fill():
                    raise exceptions.ConnectionResetError(
                        "the server closed the connection without sending a response"
                    )
                continue
            head, used = parsed
            sock.advance_buffer(used)
            if 100 <= head.status < 200 and head.status != 101:
                log.debug("skipping informational response %d", head.status)
                continue
            return head

    def _response_done(self, response: HTTP11Response, reusable: bool) -> None:
        """Called by a response when its body is finished or it is closed."""
        if response is not self._response and self._response is not None:
            return
        self._response = None
        if not reusable:
            self._drop_socket()
        elif self._sock is not None:
            self._sock.settimeout(self.timeout.read)

    # --- lifecycle -------------------------------------------------------

    def close(self) -> None:
        """Close the socket. Idempotent; the next request reconnects."""
        self._drop_socket()

    def __enter__(self) -> HTTP11Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _starts_like_http2(data: memoryview) -> bool:
    """Whether ``data`` starts like an HTTP/2 server's first frame: a
    SETTINGS frame header (type 4, a length made of 6-byte settings) on
    stream 0, which is how an HTTP/2-only server answers an HTTP/1.1 request."""
    head = bytes(data[:_FRAME_HEADER_SIZE])
    if len(head) < _FRAME_HEADER_SIZE:
        return False
    length = int.from_bytes(head[:3], "big")
    stream = int.from_bytes(head[5:], "big") & 0x7FFFFFFF
    return head[3] == _SETTINGS_FRAME_TYPE and length % _SETTING_SIZE == 0 and stream == 0


def _announce_trailers(
    pairs: list[tuple[bytes, bytes]], trailers: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The request headers for a body followed by ``trailers``: chunked
    (so no ``Content-Length``), with a ``Trailer`` header naming them.

    :raises hyper.common.exceptions.LocalProtocolError: if the caller set
        ``Content-Length`` or a ``Transfer-Encoding`` other than chunked.
    """
    for name, value in pairs:
        lower = name.lower()
        if lower == b"content-length" or (
            lower == b"transfer-encoding" and value.lower() != b"chunked"
        ):
            raise exceptions.LocalProtocolError(
                "trailers need a chunked body: drop the Content-Length/Transfer-Encoding header"
            )
    names = b", ".join(dict.fromkeys(name.lower() for name, _ in trailers))
    return [*pairs, (b"Trailer", names)]
