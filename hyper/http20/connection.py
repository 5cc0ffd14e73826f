"""The HTTP/2 client connection: many concurrent requests over one socket, from many threads.

:class:`HTTP20Connection` hands out a logical stream ID per request, queues
requests beyond the server's concurrency limit, and drives one
:class:`~hyper.http20._session.Session` per socket. There is no background
thread: whichever thread needs progress (a response head, body bytes, window
for an upload, a PING ACK) becomes the reader. It waits for the socket to be
readable *outside* the I/O lock, then, holding the lock, reads once,
dispatches every event to every stream, sends what the windows now allow,
flushes, and wakes the other waiters (one :class:`threading.Condition`,
``notify_all`` after each batch). Only one thread reads a socket at a time;
the others wait on the condition and take over when the reader leaves.
"""

from __future__ import annotations

import logging
import ssl
from types import TracebackType

from hyper.common import exceptions
from hyper.common.body import (
    BodyType,
    HeadersType,
    check_method,
    normalize_headers,
    prepare_body,
    request_target,
)
from hyper.common.bufsocket import BufferedSocket
from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE
from hyper.common.priority import PriorityType, with_priority
from hyper.common.timeout import TimeoutValue
from hyper.common.transport import Endpoint
from hyper.common.util import HTTPVersion, authority
from hyper.http20 import _upgrade
from hyper.http20._driver import Clock, Driver, fresh_error
from hyper.http20._headers import build_request_headers, build_trailers
from hyper.http20._push_api import PushMixin
from hyper.http20._putrequest import PutRequestMixin
from hyper.http20._session import Session
from hyper.http20._settings import BODY_CHUNK_SIZE, IDLE_CHECK_AFTER, READ_BUFFER_SIZE
from hyper.http20.response import HTTP20Response
from hyper.http20.stream import Stream
from hyper.http20.window import BaseFlowControlManager, FlowControlManager
from hyper.tls import H2_PROTOCOL, StrPath

__all__ = ["HTTP20Connection"]

log = logging.getLogger(__name__)

#: The length of a PING payload.
PING_DATA_SIZE = 8
#: The largest HTTP/2 error code (a 32-bit field).
MAX_ERROR_CODE = 2**32 - 1


class HTTP20Connection(PushMixin, PutRequestMixin, Endpoint):
    """A connection to one HTTP/2 server.

    :param host: ``'host'``, ``'host:port'``, ``'[v6addr]:port'`` or
        ``'https://host:port'`` (the scheme decides ``secure``).
    :param port: the port, if not in ``host``; default 443.
    :param secure: use TLS (ALPN must select ``h2``). By default: when the
        scheme is https, the port is 443, or an ``ssl_context`` is given.
        Cleartext connections use HTTP/2 with prior knowledge.
    :param window_manager: the :class:`~hyper.http20.window.BaseFlowControlManager`
        subclass (the class, not an instance) deciding receive windows:
        one instance for the connection and one per stream.
    :param enable_push: accept server push (SETTINGS_ENABLE_PUSH is sent
        as this); collect pushes with :meth:`get_pushes`.
    :param ssl_context: the :class:`ssl.SSLContext` to use; by default one from
        :func:`hyper.tls.init_context` offering only ``h2``, built at the
        first connection.
    :param verify: ``True``, ``False`` or a CA bundle path (when no
        ``ssl_context`` is given).
    :param proxy_host: an HTTP proxy (``'proxy:port'``, credentials allowed
        as ``'http://user:password@proxy:port'``); HTTP/2 always goes through
        a CONNECT tunnel, TLS or not.
    :param proxy_port: the proxy's port, if not in ``proxy_host``.
    :param proxy_headers: extra headers for the CONNECT request.
    :param force_proto: skip the ALPN check and speak HTTP/2 anyway (for
        servers that do not negotiate ALPN).
    :param timeout: a number (connect and read), a ``(connect, read)`` pair,
        or a :class:`~hyper.common.timeout.Timeout`. ``read`` bounds each
        blocking call (a response head, a body read, a window wait, a PING);
        ``total`` bounds each response from its request to its last byte.
    :param max_decoded_size: the cap on a whole-body ``read()`` of an encoded body.
    :param keepalive: send a PING on a socket silent for this many seconds,
        from a small daemon thread (started with the first socket, stopped
        by :meth:`close`), and fail the socket (every waiter gets a
        :class:`~hyper.common.exceptions.ConnectionError`; the next request
        reconnects) when such a PING goes unanswered for as long. ``None``
        (the default): no thread, no PING unless a request finds the
        connection idle (see :attr:`idle_check_after`).
    :raises TypeError: for unknown or mistyped arguments.
    :raises ValueError: for a bad host, port, timeout or keepalive.

    Flow control: one ``window_manager`` instance is made per socket, with
    the 16 MiB connection window we open at the start, and one per stream
    when its HEADERS are sent, with the 4 MiB stream window we advertise (its
    ``document_size`` is set from the response's ``content-length``). The
    connection's manager hears of every DATA frame as it arrives; a stream's
    manager hears of its data as the application reads it. Either way the
    size passed is the flow-controlled length (padding included). A positive
    increment returned becomes a WINDOW_UPDATE, sent with the next write (at
    once after a read by the application); a stream's is dropped once the
    server has ended that stream. ``blocked()`` is never called. Each
    manager's :attr:`~hyper.http20.window.BaseFlowControlManager.rtt` is the
    socket's round-trip estimate, measured with a PING sent with the
    connection preface (so with the first request, which opens the socket)
    and then at most once a second while DATA arrives.

    Liveness: before a request goes on a socket with no open stream, what
    has already arrived is read (a close or GOAWAY found there means a new
    socket), and if nothing has come from the server for
    :attr:`idle_check_after` seconds a PING confirms the socket first
    (waiting at most 2 s, or 4 round trips, within the read timeout); an
    unanswered socket is closed and the request goes on a new one.

    Thread-safe: any number of threads may send requests and read responses
    on one connection (one response is read by one thread at a time). One
    thread at a time reads the socket, for every stream; the others sleep
    until their own stream has what they wait for, and never on a stream
    another thread has completed. A failure of the socket wakes every
    waiting thread with its error; every wait is bounded by the read
    timeout. Usable as a context manager, which closes it.
    """

    version = HTTPVersion.http20
    #: Size of the read buffer of each socket.
    network_buffer_size = READ_BUFFER_SIZE
    #: Seconds without a byte from the server after which an idle socket is
    #: confirmed with a PING before it takes a request; ``None``: never.
    idle_check_after: float | None = IDLE_CHECK_AFTER

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
        keepalive: float | None = None,
    ) -> None:
        _check_arguments(ssl_context, window_manager, enable_push, force_proto)
        _check_keepalive(keepalive)
        self._init_endpoint(
            host,
            port,
            secure,
            ssl_context,
            verify,
            (proxy_host, proxy_port, proxy_headers),
            timeout,
            default_port=443,
        )
        self.force_proto = force_proto
        self.window_manager: type[BaseFlowControlManager] = window_manager or FlowControlManager
        self.enable_push = enable_push
        self._max_decoded_size = max_decoded_size
        # The driver's I/O lock guards every field below, the sockets and their streams.
        self._io = Driver(self._open_session, keepalive)
        self.keepalive = keepalive
        self._streams: dict[int, Stream] = {}  # logical ID -> stream, oldest first
        self._building: dict[int, tuple[dict[bytes, bytes], list[tuple[bytes, bytes]]]] = {}
        self._next_id = 1
        self._recent: Stream | None = None  # the stream put* calls default to
        self._last_request: int | None = None  # the stream get_pushes() defaults to
        self._push_parents: dict[int, Stream] = {}  # forgotten streams with pushes waiting

    def __repr__(self) -> str:
        state = self._io.state
        scheme = "https" if self.secure else "http"
        origin = authority(self.host, self.port, self.secure)
        return f"<HTTP20Connection {scheme}://{origin} h2 {state} streams={len(self._streams)}>"

    # --- connecting ------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (otherwise the first request does).

        :raises hyper.common.exceptions.ConnectionError: and its subclasses
            (:class:`~hyper.common.exceptions.TLSError` also when ALPN did
            not select ``h2``, :class:`~hyper.common.exceptions.ProxyError`,
            :class:`~hyper.common.exceptions.ConnectTimeout`).
        """
        with self._io.lock:
            self._io.current()

    def _open_session(self, generation: int) -> Session:
        sock, protocol = self._open_socket(
            (H2_PROTOCOL,), tunnel=True, force_proto=self.force_proto
        )
        if self.secure and protocol != H2_PROTOCOL and self.force_proto is None:
            sock.close()
            raise exceptions.TLSError(f"the server negotiated {protocol!r} by ALPN, not 'h2'")
        session = Session(
            BufferedSocket(sock, self.network_buffer_size),
            generation,
            enable_push=self.enable_push,
            window_manager=self.window_manager,
            write_timeout=self.timeout.read,
        )
        try:
            session.start()
        except exceptions.HyperError:
            session.close_socket()
            raise
        log.debug("socket %d to %s:%d ready", generation, self.host, self.port)
        return session

    def _adopt(self, sock: BufferedSocket, upgraded: bool = False) -> None:
        """Start on a socket already agreed on HTTP/2 (for
        :class:`~hyper.common.connection.HTTPConnection`); later sockets, after
        a GOAWAY or a failure, are opened as usual.

        :param sock: a fresh TLS socket whose ALPN chose ``h2``; or, with
            ``upgraded``, the socket on which the server answered an h2c
            Upgrade offer with 101 (bytes it sent after the 101 may wait in
            the buffer). The request already sent then becomes stream 1,
            half-closed, whose response ``get_response(1)`` returns.
        :raises RuntimeError: if this connection has been used already.
        :raises hyper.common.exceptions.ConnectionError: if sending the preface fails.
        """
        with self._io.lock:
            if self._io.sessions or self._next_id != 1:
                raise RuntimeError("only an unused HTTP20Connection can adopt a socket")
            session = Session(
                sock,
                1,
                enable_push=self.enable_push,
                window_manager=self.window_manager,
                write_timeout=self.timeout.read,
            )
            try:
                session.start(upgraded)
            except exceptions.HyperError:
                session.close_socket()
                raise
            if upgraded:  # registered before anything is read: its response may be buffered
                stream = Stream(self._next_id, session, self.timeout.deadline())
                self._next_id += 2
                self._streams[stream.logical_id] = stream
                _upgrade.adopt_stream(session, stream, self.window_manager)
            self._io.session = session
            self._io.sessions.append(session)

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
    ) -> int:
        """Send a request; fetch its response with :meth:`get_response`.

        Never waits for a free stream: beyond the server's concurrency limit,
        requests queue here and go out in order (the one wait: a request made
        on a new socket before the server's SETTINGS arrived waits for them,
        to learn that limit). ``body`` may be bytes, str
        (UTF-8), a file-like object or an iterable of bytes or str; it is
        sent as the server's flow-control windows allow, now and during
        later calls on this connection (keep a file open until the response
        has arrived). ``headers`` may override the pseudo-headers
        (``:authority``...); ``Host`` becomes ``:authority``; headers that
        only mean something in HTTP/1.1 (``Connection``, ``Keep-Alive``,
        ``Transfer-Encoding``...) are dropped.

        ``priority`` (a :class:`~hyper.common.priority.Priority` or an
        urgency 0-7) is sent as the RFC 9218 ``priority`` header, replacing
        one in ``headers``. ``trailers`` (same forms as ``headers``) are sent
        in a HEADERS frame after the body.

        If the server refuses the request unprocessed (RST_STREAM with
        REFUSED_STREAM, or a GOAWAY below its stream), it is sent again,
        on a new socket if need be, when its body can be replayed (bytes,
        str, a seekable file: read again from where it was at this call);
        the stream ID returned stays valid (up to five refusals of one
        request, counting only GOAWAYs that accepted none of this socket's
        requests).

        :returns: the stream ID to pass to :meth:`get_response`. It is never
            reused, and equals the HTTP/2 stream ID on the first socket.
        :raises TypeError: for arguments of the wrong type.
        :raises hyper.common.exceptions.LocalProtocolError: for a method, URL
            or header that cannot be sent; nothing is sent.
        :raises hyper.common.exceptions.ConnectionError: if connecting fails,
            or the connection fails while sending.
        """
        method_b = check_method(method)
        path = request_target(url)
        pairs = with_priority(normalize_headers(headers, allow_pseudo=True), priority)
        tail = build_trailers(normalize_headers(trailers)) if trailers is not None else None
        prepared = prepare_body(body)
        chunks = None if prepared.data is not None else prepared.chunks(BODY_CHUNK_SIZE)
        block = build_request_headers(self._pseudo(method_b, path), pairs, prepared.length)
        with self._io.lock:
            stream = self._new_stream()
            stream.request_headers = block
            stream.request_trailers = tail
            stream.replay = prepared if prepared.replayable else None
            stream.add_body(chunks, prepared.data or b"", finishing=True)
            self._submit(stream)
        return stream.logical_id

    def _pseudo(self, method: bytes, path: bytes) -> dict[bytes, bytes]:
        return {
            b":method": method,
            b":scheme": b"https" if self.secure else b"http",
            b":authority": authority(self.host, self.port, self.secure).encode(),
            b":path": path,
        }

    def _new_stream(self) -> Stream:
        session = self._io.fresh(self.idle_check_after, self.timeout.read)
        stream = Stream(self._next_id, session, self.timeout.deadline())
        self._next_id += 2
        self._streams[stream.logical_id] = stream
        return stream

    def _submit(self, stream: Stream) -> None:
        """Queue a stream whose headers are complete, and make progress now.

        :raises: the stream's error, if it failed already (nothing was sent).
        """
        if not stream.session.accepting:  # it failed since putrequest(): nothing was sent
            stream.session = self._io.current()
        session = stream.session
        stream.submitted = True
        self._last_request = stream.logical_id
        session.queue.append(stream)
        self._io.progress_nowait(session)
        if session.queue and not session.settings_received:
            self._await_settings(session)
        if stream.error is not None:
            self._forget(stream)
            raise fresh_error(stream.error)

    def _await_settings(self, session: Session) -> None:
        """Wait (once per socket, bounded by the read timeout) for the
        server's SETTINGS, so queued requests learn its stream limit."""
        try:
            clock = Clock(self.timeout.read, None)
            self._io.wait(session, lambda: session.settings_received, clock)
        except exceptions.ReadTimeout:
            log.debug("no SETTINGS from the server yet; requests stay queued")

    # --- receiving -------------------------------------------------------

    def get_response(self, stream_id: int | None = None) -> HTTP20Response:
        """Wait for the response head of a request.

        :param stream_id: what :meth:`request` returned; ``None`` means the
            oldest request whose response has not been fetched yet.
        :raises hyper.common.exceptions.LocalProtocolError: if no such
            request is waiting for its response.
        :raises hyper.common.exceptions.StreamResetError: if the server reset
            the stream (``error_code`` says why).
        :raises hyper.common.exceptions.RequestNotProcessedError: if the
            server refused the request unprocessed (GOAWAY): safe to retry.
        :raises hyper.common.exceptions.ReadTimeout: if the head did not
            arrive in time; the request stays pending.
        :raises hyper.common.exceptions.ConnectionError: if the connection
            failed (:class:`~hyper.common.exceptions.ConnectionTerminatedError`
            after a GOAWAY).
        :raises hyper.common.exceptions.ProtocolError: if the server broke
            the protocol.
        """
        with self._io.lock:
            stream = self._pick(stream_id)
            stream.response_taken = True  # claimed: no other thread picks it meanwhile
            clock = Clock(self.timeout.read, stream.deadline)
            try:
                self._io.wait(stream.session, lambda: stream.status is not None, clock, stream)
            except BaseException:  # a timeout: still pending, it may be asked for again
                stream.response_taken = False
                raise
            if stream.status is None:
                self._forget(stream)
                raise fresh_error(stream.error or exceptions.ProtocolError("no response"))
        return HTTP20Response(self, stream, self._max_decoded_size)

    #: The old hyper's name for :meth:`get_response`.
    getresponse = get_response

    def _pick(self, stream_id: int | None) -> Stream:
        if stream_id is None:
            for stream in self._streams.values():
                if stream.submitted and not stream.response_taken:
                    return stream
            raise exceptions.LocalProtocolError("no request is waiting for its response")
        found = self._streams.get(stream_id)
        if found is None or not found.submitted or found.response_taken:
            raise exceptions.LocalProtocolError(f"no response is pending on stream {stream_id}")
        return found

    def _read_body(self, stream: Stream, amt: int) -> bytes:
        """Up to ``amt`` body bytes of a stream (called by its response)."""
        with self._io.lock:
            if stream.released and not stream.buffered:
                return b""  # closed: the rest was discarded
            clock = Clock(self.timeout.read, stream.deadline)
            self._io.wait(
                stream.session, lambda: stream.buffered > 0 or stream.remote_ended, clock, stream
            )
            data, freed = stream.take(amt)
            if stream.session.consumed(stream, freed):
                self._io.after_io()  # what it sent may complete another thread's wait
            if not data and stream.error is not None and not stream.remote_ended:
                self._forget(stream)  # nothing more will come: the error is its end
                raise fresh_error(stream.error)
            return data

    def cancel(self, stream_id: int) -> None:
        """Give up on a request whose response you will not read: reset its
        stream (RST_STREAM with CANCEL) if it is still open, drop what arrived
        of its response, and forget it. Nothing happens for an ID with
        nothing pending (read to the end, failed or cancelled already).

        Use it after a :class:`~hyper.common.exceptions.ReadTimeout` you do
        not mean to wait out: a timed-out request otherwise keeps its stream,
        a slot of the server's concurrency limit and up to a stream window of
        buffered response, until the connection closes.

        :raises TypeError: if ``stream_id`` is not an int.
        """
        if isinstance(stream_id, bool) or not isinstance(stream_id, int):
            raise TypeError(f"stream_id must be an int, got {type(stream_id).__name__}")
        with self._io.lock:
            stream = self._streams.get(stream_id)
        if stream is not None:
            self._release(stream, False)

    def _release(self, stream: Stream, complete: bool) -> None:
        """A response is done with: reset its stream if unfinished, forget it."""
        with self._io.lock:
            stream.released = True
            session = stream.session
            if stream.wire_id in session.streams or stream in session.queue:
                session.cancel(stream)
                session.pump()
            stream.discard()
            session.pushed.discard(stream)
            self._forget(stream)
            self._io.after_io()

    def _forget(self, stream: Stream) -> None:
        if stream.pushes:  # kept for get_pushes() while pushes wait on it
            self._push_parents[stream.logical_id] = stream
        self._streams.pop(stream.logical_id, None)
        self._building.pop(stream.logical_id, None)
        if self._recent is stream:
            self._recent = None

    # --- PING and lifecycle ---------------------------------------------

    def ping(self, opaque_data: bytes) -> None:
        """Send a PING and wait for its ACK (bounded by the read timeout).

        :param opaque_data: exactly 8 bytes, echoed by the server.
        :raises ValueError: if ``opaque_data`` is not 8 bytes.
        :raises hyper.common.exceptions.ReadTimeout: if no ACK came in time.
        :raises hyper.common.exceptions.ConnectionError: if the connection fails.
        """
        if not isinstance(opaque_data, bytes) or len(opaque_data) != PING_DATA_SIZE:
            raise ValueError(f"opaque_data must be {PING_DATA_SIZE} bytes, got {opaque_data!r}")
        with self._io.lock:
            session = self._io.current()
            session.ping_acks.discard(opaque_data)
            session.awaited_pings.add(opaque_data)
            try:
                session.h2.ping(opaque_data)
                self._io.progress_nowait(session)
                clock = Clock(self.timeout.read, None)
                self._io.wait(session, lambda: opaque_data in session.ping_acks, clock)
                if opaque_data not in session.ping_acks:
                    raise fresh_error(session.error or exceptions.ConnectionError("no PING ACK"))
            finally:
                session.awaited_pings.discard(opaque_data)
                session.ping_acks.discard(opaque_data)

    def close(self, error_code: int | None = None) -> None:
        """Send GOAWAY and close every socket. Idempotent; the next request
        reconnects. Unfinished responses fail with a ConnectionError.

        :param error_code: the GOAWAY error code (default NO_ERROR).
        :raises TypeError: if ``error_code`` is not an int.
        :raises ValueError: if it is not a 32-bit unsigned value.
        """
        if error_code is not None:
            if isinstance(error_code, bool) or not isinstance(error_code, int):
                raise TypeError(f"error_code must be an int, got {type(error_code).__name__}")
            if not 0 <= error_code <= MAX_ERROR_CODE:
                raise ValueError(f"error_code must be 0-{MAX_ERROR_CODE}, got {error_code}")
        with self._io.lock:
            self._io.close(error_code or 0)
            self._streams.clear()
            self._building.clear()
            self._push_parents.clear()
            self._recent = None

    def __enter__(self) -> HTTP20Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_keepalive(keepalive: object) -> None:
    if keepalive is None:
        return
    if isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)):
        raise TypeError(f"keepalive must be a number of seconds, got {type(keepalive).__name__}")
    if not 0 < keepalive < float("inf"):
        raise ValueError(f"keepalive must be a positive number of seconds, got {keepalive}")


def _check_arguments(
    ssl_context: object, window_manager: object, enable_push: object, force_proto: object
) -> None:
    if window_manager is not None and not (
        isinstance(window_manager, type) and issubclass(window_manager, BaseFlowControlManager)
    ):
        raise TypeError("window_manager must be a BaseFlowControlManager subclass (the class)")
    if not isinstance(enable_push, bool):
        raise TypeError(f"enable_push must be a bool, got {type(enable_push).__name__}")
    if force_proto is not None and not isinstance(force_proto, str):
        raise TypeError(f"force_proto must be a str or None, got {type(force_proto).__name__}")
