"""The connection that chooses its protocol: HTTP/2 where the server speaks it, else HTTP/1.1.

:class:`HTTPConnection` settles the protocol once, in one explicit step, and
hands every call to an :class:`~hyper.http11.connection.HTTP11Connection` or
an :class:`~hyper.http20.connection.HTTP20Connection` built around the very
socket that settled it (never a second handshake). Over TLS, ALPN decides
(``h2`` or ``http/1.1``; no answer means HTTP/1.1). In cleartext it speaks
HTTP/1.1 and offers ``Upgrade: h2c`` on requests without a body until a
server has answered an offer: ``101`` switches the socket to HTTP/2 (the
response arrives on stream 1), anything else keeps HTTP/1.1.
``force_proto`` skips the choice. Public methods are delegated explicitly
(no ``__getattr__``); those only HTTP/2 has raise
:class:`~hyper.common.exceptions.LocalProtocolError` on HTTP/1.1.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterator
from types import TracebackType

from hyper.common import exceptions
from hyper.common.body import BodyType, HeadersType, check_method, normalize_headers
from hyper.common.bufsocket import BufferedSocket
from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE
from hyper.common.priority import PriorityType
from hyper.common.timeout import TimeoutValue
from hyper.common.transport import Endpoint
from hyper.common.util import HTTPVersion, authority
from hyper.http11.connection import HTTP11Connection
from hyper.http11.response import HTTP11Response
from hyper.http20._settings import READ_BUFFER_SIZE
from hyper.http20._upgrade import (
    OFFER_HEADER_NAMES,
    UPGRADED_STREAM_ID,
    is_h2c_switch,
    offer_allowed,
    offer_headers,
)
from hyper.http20.connection import HTTP20Connection
from hyper.http20.response import HTTP20Push, HTTP20Response
from hyper.http20.window import BaseFlowControlManager
from hyper.tls import DEFAULT_ALPN_PROTOCOLS, H2_PROTOCOL, HTTP11_PROTOCOL, StrPath

__all__ = ["FORCE_PROTOCOLS", "HTTPConnection"]

log = logging.getLogger(__name__)

#: The values ``force_proto`` accepts (besides ``None``: negotiate).
FORCE_PROTOCOLS = (H2_PROTOCOL, HTTP11_PROTOCOL)

#: What a response from :meth:`HTTPConnection.get_response` is.
Response = HTTP11Response | HTTP20Response


class HTTPConnection(Endpoint):
    """A connection that speaks HTTP/2 where the server does, and HTTP/1.1 otherwise.

    :param host: ``'host'``, ``'host:port'``, ``'[v6addr]:port'`` or
        ``'https://host:port'`` (the scheme decides ``secure``).
    :param port: the port, if not in ``host``; default 80 (443 with https).
    :param secure: use TLS. By default: when the scheme is https, the port
        is 443, or an ``ssl_context`` is given.
    :param window_manager: for HTTP/2, the
        :class:`~hyper.http20.window.BaseFlowControlManager` subclass.
    :param enable_push: for HTTP/2, the SETTINGS_ENABLE_PUSH value sent.
    :param ssl_context: the :class:`ssl.SSLContext` to use; it should offer
        ``h2`` and ``http/1.1`` by ALPN. By default one from
        :func:`hyper.tls.init_context` that does, built at the first handshake.
    :param verify: ``True``, ``False`` or a CA bundle path (when no
        ``ssl_context`` is given).
    :param proxy_host: an HTTP proxy (``'proxy:port'``, credentials allowed
        as ``'http://user:password@proxy:port'``). No h2c offer goes through
        a cleartext proxy: the proxy, not the server, would answer it.
    :param proxy_port: the proxy's port, if not in ``proxy_host``.
    :param proxy_headers: extra headers for the proxy.
    :param force_proto: ``None`` (negotiate), ``'h2'`` (HTTP/2 without
        asking: prior knowledge in cleartext, ALPN ignored over TLS) or
        ``'http/1.1'`` (HTTP/1.1, no offer of anything else).
    :param timeout: a number (connect and read), a ``(connect, read)``
        pair, or a :class:`~hyper.common.timeout.Timeout`.
    :param max_decoded_size: the cap on a whole-body ``read()`` of an encoded body.
    :raises TypeError: for unknown or mistyped arguments.
    :raises ValueError: for a bad host, port, timeout or ``force_proto``.

    The protocol is settled by the TLS handshake (at :meth:`connect` or the
    first request) or, in cleartext, by the answer to the first request; a
    server that speaks only HTTP/2 in cleartext (without Upgrade) makes that
    answer fail with :class:`~hyper.common.exceptions.InvalidResponseError`:
    use ``force_proto='h2'`` there. Thread-safe once it speaks HTTP/2 (as
    :class:`~hyper.http20.connection.HTTP20Connection`); on HTTP/1.1 use one
    connection per thread. Usable as a context manager, which closes it.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        secure: bool | None = None,
        window_manager: type[BaseFlowControlManager] | None = None,
        enable_push: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        verify: bool | StrPath = True,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_headers: HeadersType = None,
        force_proto: str | None = None,
        timeout: TimeoutValue = None,
        *,
        max_decoded_size: int = DEFAULT_MAX_DECODED_SIZE,
    ) -> None:
        if force_proto is not None and force_proto not in FORCE_PROTOCOLS:
            raise ValueError(f"force_proto must be None, 'h2' or 'http/1.1', got {force_proto!r}")
        proxy = (proxy_host, proxy_port, proxy_headers)
        self._init_endpoint(
            host, port, secure, ssl_context, verify, proxy, timeout, default_port=80
        )
        self.force_proto = force_proto
        self.window_manager = window_manager
        self.enable_push = enable_push
        self._given_context = ssl_context
        self._proxy_args = proxy
        self._max_decoded_size = max_decoded_size
        # Built now (no I/O) so its arguments are checked now; used if HTTP/2 is chosen.
        self._h2 = self._http20(window_manager, ssl_context)
        self._choice_lock = threading.Lock()  # guards _conn until the protocol is settled
        self._conn: HTTP11Connection | HTTP20Connection | None = None
        # In cleartext without a proxy, offer h2c until a server answers an offer.
        self._may_upgrade = not self.secure and force_proto is None and self._proxy is None
        self._offer_out = False  # the request just sent carries an offer
        if force_proto == H2_PROTOCOL:
            self._conn = self._h2
        elif force_proto == HTTP11_PROTOCOL or not self.secure:
            self._conn = self._http11(ssl_context)

    def __repr__(self) -> str:
        scheme = "https" if self.secure else "http"
        origin = authority(self.host, self.port, self.secure)
        version = self.version
        return f"<HTTPConnection {scheme}://{origin} {version.value if version else 'undecided'}>"

    @property
    def version(self) -> HTTPVersion | None:
        """The protocol spoken: ``None`` before a TLS connection has been
        made (ALPN decides), else :class:`~hyper.common.util.HTTPVersion`.
        A cleartext connection says ``http11`` until a server accepts its
        h2c offer, then ``http20``."""
        conn = self._conn
        return None if conn is None else conn.version

    # --- choosing the protocol -------------------------------------------

    def _http20(
        self,
        window_manager: type[BaseFlowControlManager] | None,
        ssl_context: ssl.SSLContext | None,
    ) -> HTTP20Connection:
        return HTTP20Connection(
            self.host,
            self.port,
            self.secure,
            window_manager,
            self.enable_push,
            ssl_context,
            self._verify,
            *self._proxy_args,
            force_proto=self.force_proto,
            timeout=self.timeout,
            max_decoded_size=self._max_decoded_size,
        )

    def _http11(self, ssl_context: ssl.SSLContext | None) -> HTTP11Connection:
        conn = HTTP11Connection(
            self.host,
            self.port,
            self.secure,
            ssl_context,
            self._verify,
            *self._proxy_args,
            timeout=self.timeout,
            max_decoded_size=self._max_decoded_size,
        )
        if self._may_upgrade:
            # The socket may become an HTTP/2 one: give it HTTP/2's buffer size.
            conn.network_buffer_size = READ_BUFFER_SIZE
        return conn

    def _connection(self) -> HTTP11Connection | HTTP20Connection:
        """The connection for the chosen protocol, choosing it first if needed."""
        with self._choice_lock:
            if self._conn is None:
                self._conn = self._negotiate()
            return self._conn

    def _negotiate(self) -> HTTP11Connection | HTTP20Connection:
        """Connect with TLS offering ``h2`` and ``http/1.1`` by ALPN, and
        build the connection for the server's choice around that socket.

        :raises hyper.common.exceptions.TLSError: if the server chose a
            protocol hyper does not speak.
        """
        sock, protocol = self._open_socket(DEFAULT_ALPN_PROTOCOLS, tunnel=True)
        log.debug("%s:%d chose %r by ALPN", self.host, self.port, protocol)
        try:
            if protocol == H2_PROTOCOL:
                # Later sockets of the HTTP/2 connection use the same context.
                self._h2.ssl_context = self.ssl_context
                self._h2._adopt(BufferedSocket(sock, self._h2.network_buffer_size))
                return self._h2
            if protocol in (None, HTTP11_PROTOCOL):
                # Later sockets use the caller's context, or one offering only http/1.1.
                conn = self._http11(self._given_context)
                conn._adopt(sock)
                return conn
            raise exceptions.TLSError(f"the server chose {protocol!r} by ALPN, not h2 or http/1.1")
        except BaseException:
            sock.close()
            raise

    def _offer(self, method: str | bytes, body: BodyType, headers: HeadersType) -> HeadersType:
        """The request's headers, with an h2c Upgrade offer added when one may go."""
        if not self._may_upgrade or not offer_allowed(check_method(method), body):
            return headers
        pairs = normalize_headers(headers)
        if any(name.lower() in OFFER_HEADER_NAMES for name, _ in pairs):
            return pairs
        self._offer_out = True
        return [*pairs, *offer_headers(self.enable_push)]

    def _answer_to_offer(self, conn: HTTP11Connection) -> Response:
        """Read the answer to an h2c offer: on ``101`` switch to HTTP/2 and
        return stream 1's response, else return the HTTP/1.1 response."""
        self._offer_out = False
        head = conn._next_head()
        self._may_upgrade = False  # answered: this server's choice is known
        if not is_h2c_switch(head.status, head.headers):
            log.debug("h2c offer declined (status %d): staying on HTTP/1.1", head.status)
            return conn._response_for(head)
        log.debug("h2c offer accepted: switching to HTTP/2")
        self._h2._adopt(conn._take_socket(), upgraded=True)
        self._conn = self._h2
        return self._h2.get_response(UPGRADED_STREAM_ID)

    def _http2(self, what: str) -> HTTP20Connection:
        conn = self._connection()
        if not isinstance(conn, HTTP20Connection):
            raise exceptions.LocalProtocolError(
                f"{what}() needs HTTP/2, but this connection speaks HTTP/1.1"
            )
        return conn

    # --- the connection API ----------------------------------------------

    def connect(self) -> None:
        """Connect now (otherwise the first request does). Over TLS this
        settles the protocol; in cleartext the first request still carries
        the h2c offer.

        :raises hyper.common.exceptions.ConnectionError: and its subclasses
            (:class:`~hyper.common.exceptions.TLSError`,
            :class:`~hyper.common.exceptions.ProxyError`,
            :class:`~hyper.common.exceptions.ConnectTimeout`).
        """
        self._connection().connect()

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        body: BodyType = None,
        headers: HeadersType = None,
        *,
        priority: PriorityType = None,
        trailers: HeadersType = None,
    ) -> int | None:
        """Send a request; fetch its response with :meth:`get_response`.

        Arguments as for :meth:`HTTP20Connection.request()
        <hyper.http20.connection.HTTP20Connection.request>` and
        :meth:`HTTP11Connection.request()
        <hyper.http11.connection.HTTP11Connection.request>`.

        :returns: the stream ID over HTTP/2; ``None`` over HTTP/1.1
            (including a request that carries an h2c offer).
        :raises TypeError: for arguments of the wrong type.
        :raises hyper.common.exceptions.LocalProtocolError: for a request
            that cannot be sent; nothing is sent.
        :raises hyper.common.exceptions.ConnectionError: if connecting or
            sending fails.
        """
        conn = self._connection()
        if isinstance(conn, HTTP20Connection):
            return conn.request(method, url, body, headers, priority=priority, trailers=trailers)
        self._offer_out = False
        if trailers is None:  # trailers make a body: no h2c offer then
            headers = self._offer(method, body, headers)
        try:
            conn.request(method, url, body, headers, priority=priority, trailers=trailers)
        except BaseException:
            self._offer_out = False
            raise
        return None

    def get_response(self, stream_id: int | None = None) -> Response:
        """Wait for the response to a request.

        :param stream_id: over HTTP/2, what :meth:`request` returned
            (``None``: the oldest response not yet fetched); over HTTP/1.1
            it must be ``None``.
        :returns: an :class:`~hyper.http20.response.HTTP20Response` or an
            :class:`~hyper.http11.response.HTTP11Response` (both have
            ``status``, ``headers``, ``read()``... and ``version``).
        :raises ValueError: for a ``stream_id`` on an HTTP/1.1 connection.
        :raises hyper.common.exceptions.LocalProtocolError: if no request
            is waiting for its response.
        :raises hyper.common.exceptions.InvalidResponseError: for a
            malformed response (also a cleartext server that answers an
            HTTP/1.1 request with HTTP/2 frames: it needs ``force_proto='h2'``).
        :raises hyper.common.exceptions.ReadTimeout: if it did not come in time.
        :raises hyper.common.exceptions.ConnectionError: if the connection failed.
        """
        conn = self._conn
        if conn is None:
            raise exceptions.LocalProtocolError("no request is waiting for a response")
        if isinstance(conn, HTTP20Connection):
            return conn.get_response(stream_id)
        if stream_id is not None:
            raise ValueError(
                f"stream_id={stream_id!r}, but this connection speaks HTTP/1.1, which has "
                "no streams: pass None"
            )
        if self._offer_out:
            return self._answer_to_offer(conn)
        return conn.get_response()

    #: The old hyper's name for :meth:`get_response`.
    getresponse = get_response

    def ping(self, opaque_data: bytes) -> None:
        """Send an HTTP/2 PING and wait for its ACK.

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1.
        :raises: as :meth:`HTTP20Connection.ping()
            <hyper.http20.connection.HTTP20Connection.ping>`.
        """
        self._http2("ping").ping(opaque_data)

    def cancel(self, stream_id: int) -> None:
        """Give up on an HTTP/2 request; as :meth:`HTTP20Connection.cancel()
        <hyper.http20.connection.HTTP20Connection.cancel>`.

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1
            (close the connection there instead).
        """
        self._http2("cancel").cancel(stream_id)

    def get_pushes(
        self, stream_id: int | None = None, capture_all: bool = False
    ) -> Iterator[HTTP20Push]:
        """The pushes the server promised with a request (HTTP/2 with
        ``enable_push=True``); as :meth:`HTTP20Connection.get_pushes()
        <hyper.http20.connection.HTTP20Connection.get_pushes>`.

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1.
        """
        return self._http2("get_pushes").get_pushes(stream_id, capture_all)

    def putrequest(
        self,
        method: str | bytes,
        selector: str | bytes,
        *,
        skip_host: bool = False,
        skip_accept_encoding: bool = False,
    ) -> int:
        """Start an HTTP/2 request piece by piece (see :meth:`HTTP20Connection.putrequest()
        <hyper.http20.connection.HTTP20Connection.putrequest>`).

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1.
        """
        conn = self._http2("putrequest")
        return conn.putrequest(
            method, selector, skip_host=skip_host, skip_accept_encoding=skip_accept_encoding
        )

    def putheader(
        self,
        header: str | bytes,
        argument: str | bytes,
        stream_id: int | None = None,
        replace: bool = False,
    ) -> None:
        """Add a header to a request started with :meth:`putrequest`.

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1.
        """
        self._http2("putheader").putheader(header, argument, stream_id, replace)

    def endheaders(
        self, message_body: BodyType = None, final: bool = False, stream_id: int | None = None
    ) -> None:
        """Send the head of a request started with :meth:`putrequest`.

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1.
        """
        self._http2("endheaders").endheaders(message_body, final, stream_id)

    def send(
        self,
        data: bytes | bytearray | memoryview,
        final: bool = False,
        stream_id: int | None = None,
    ) -> None:
        """Send more body of a request started with :meth:`putrequest`.

        :raises hyper.common.exceptions.LocalProtocolError: on HTTP/1.1.
        """
        self._http2("send").send(data, final, stream_id)

    def close(self) -> None:
        """Close the connection. Idempotent; the next request reconnects,
        with the protocol already chosen."""
        self._offer_out = False
        conn = self._conn
        if conn is not None:
            conn.close()

    def __enter__(self) -> HTTPConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
