"""One socket generation of an HTTP/2 connection: a socket, its h2 state machine, its streams.

A :class:`Session` moves bytes between its :class:`BufferedSocket` and h2,
turns h2's events into stream state (through :mod:`hyper.http20._dispatch`),
opens queued streams as the server's concurrency limit allows, and sends
request bodies as far as the flow-control windows allow. A failure (the
socket breaking, a protocol error, a GOAWAY) is stored here and given to
every stream of this socket; the connection then starts a new session for
the next request. It makes no decision about waiting or threads: the
connection calls it under its I/O lock.
"""

from __future__ import annotations

import collections
import contextlib
import logging

import h2.config
import h2.connection
import h2.errors
import h2.exceptions
import h2.settings
import hpack
from h2.settings import SettingCodes
from hyperframe.frame import GoAwayFrame

from hyper.common import exceptions
from hyper.common.bufsocket import BufferedSocket
from hyper.http20 import _dispatch
from hyper.http20._framebuf import install_frame_buffer
from hyper.http20._frames import GoAwaySplitter
from hyper.http20._outbound import H2Connection
from hyper.http20._rtt import PingKind, RttEstimator
from hyper.http20._settings import (
    CONNECTION_WINDOW_SIZE,
    FLUSH_SIZE,
    GOODBYE_TIMEOUT,
    LOCKED_READ_TIMEOUT,
    MAX_FRAME_SIZE,
    MAX_HEADER_LIST_SIZE,
    MAX_REFUSALS,
    PRE_SETTINGS_STREAM_LIMIT,
    SEND_QUANTUM,
    STREAM_WINDOW_SIZE,
)
from hyper.http20.stream import Stream
from hyper.http20.window import BaseFlowControlManager

__all__ = ["Session", "translate_h2_error"]

log = logging.getLogger(__name__)

#: The code of RST_STREAM when we give up on a stream.
CANCEL = h2.errors.ErrorCodes.CANCEL
_STREAM_GONE = (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError)


def translate_h2_error(exc: h2.exceptions.H2Error) -> exceptions.HyperError:
    """The hyper exception for an error h2 raised on data from the server."""
    error: exceptions.HyperError
    if isinstance(exc, h2.exceptions.DenialOfServiceError):
        error = exceptions.LineTooLongError(f"the server's header block is too large: {exc}")
    elif isinstance(exc.__cause__, hpack.HPACKError):
        error = exceptions.HPACKDecodingError(f"cannot decode a header block: {exc}")
    else:
        error = exceptions.ProtocolError(f"HTTP/2 protocol error: {exc}")
    error.__cause__ = exc
    return error


def _local_settings(enable_push: bool) -> h2.settings.Settings:
    return h2.settings.Settings(
        client=True,
        initial_values={
            SettingCodes.ENABLE_PUSH: int(enable_push),
            SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW_SIZE,
            SettingCodes.MAX_FRAME_SIZE: MAX_FRAME_SIZE,
            SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
            SettingCodes.MAX_CONCURRENT_STREAMS: 100,
        },
    )


def _whole(piece: memoryview) -> bytes | memoryview:
    """The ``bytes`` a view covers entirely, else the view: h2 copies a view
    into new bytes, so a whole chunk of the body (the usual case) goes by
    reference to the socket, uncopied."""
    whole = piece.obj
    if type(whole) is bytes and piece.nbytes == len(whole):
        return whole
    return piece


class Session:
    """The socket, h2 state and streams of one connection attempt.

    Not thread-safe: the owning connection calls it under its I/O lock.

    :param sock: the connected socket (HTTP/2 already agreed).
    :param generation: the connection's count of sockets, from 1.
    :param enable_push: the SETTINGS_ENABLE_PUSH value to send.
    :param window_manager: the window manager class.
    :param write_timeout: the socket timeout for writes.

    :ivar streams: the streams whose HEADERS went out, by wire ID, until
        nothing more happens on the wire for them.
    :ivar queue: streams waiting for a concurrency slot, oldest first.
    :ivar window: the connection-level window manager.
    :ivar error: the failure that ended this socket, once there is one.
    :ivar goaway: the server's GOAWAY, as an exception, once received.
    :ivar reader_active: a thread is reading this socket (or waiting to).
    :ivar unprocessed: streams the server refused unprocessed (REFUSED_STREAM,
        above GOAWAY's last stream, or queued when the socket ended) that are
        to be sent again; the driver moves them on after each batch.
    """

    def __init__(
        self,
        sock: BufferedSocket,
        generation: int,
        *,
        enable_push: bool,
        window_manager: type[BaseFlowControlManager],
        write_timeout: float | None,
    ) -> None:
        self.sock = sock
        self.generation = generation
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            # hyper checks received field blocks itself (hyper.http20._fields):
            # a malformed response is then a stream error, as RFC 9113 asks,
            # and the check costs a tenth of h2's.
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
            # hyper checks request headers itself before anything is sent
            # (hyper.common.body, hyper.http20._headers), more strictly than
            # h2 does; h2's second pass cost 8% of a small request.
            validate_outbound_headers=False,
            # ... and normalises them (lower case, no connection-specific
            # fields, secrets never indexed: hyper.http20._headers).
            normalize_outbound_headers=False,
        )
        self.h2 = H2Connection(config=config)
        install_frame_buffer(self.h2)
        self.h2.local_settings = _local_settings(enable_push)
        self.h2.max_inbound_frame_size = MAX_FRAME_SIZE
        self.h2.decoder.max_header_list_size = MAX_HEADER_LIST_SIZE
        self._manager_class = window_manager
        #: The PINGs in flight and the round trips they measured.
        self.rtt = RttEstimator()
        #: When bytes last arrived (on the clock of :attr:`rtt`).
        self.last_received = self.rtt.now()
        self.window = window_manager(CONNECTION_WINDOW_SIZE)
        self.window._attach(self.rtt, connection_level=True)
        self.streams: dict[int, Stream] = {}
        self.queue: collections.deque[Stream] = collections.deque()
        self._senders: dict[Stream, None] = {}  # an ordered set
        self.error: exceptions.HyperError | None = None
        self.goaway: exceptions.ConnectionTerminatedError | None = None
        self.unprocessed: list[Stream] = []
        #: Response heads received on this socket: the server's progress.
        self.answers = 0
        #: Pushed streams accepted and not yet read to the end or cancelled.
        self.pushed: set[Stream] = set()
        self.settings_received = False
        self.reader_active = False
        self.ping_acks: set[bytes] = set()  # ACKs of the user's PINGs...
        self.awaited_pings: set[bytes] = set()  # ... of which these are awaited
        self._splitter = GoAwaySplitter(MAX_FRAME_SIZE)
        self._write_timeout = write_timeout
        self._unflushed = 0

    def __repr__(self) -> str:
        state = "failed" if self.error else "draining" if self.goaway else "open"
        return f"<Session {self.generation} {state} streams={len(self.streams)}>"

    def start(self, upgraded: bool = False) -> None:
        """Send the preface, our SETTINGS, the connection window increment and
        a PING to measure the round trip.

        :param upgraded: the server has just switched this socket from
            HTTP/1.1 (h2c Upgrade): stream 1 is the upgraded request, already
            sent and half-closed (local) in h2.
        :raises hyper.common.exceptions.ConnectionError: if sending fails.
        """
        if upgraded:
            self.h2.initiate_upgrade_connection()
        else:
            self.h2.initiate_connection()
        self.open_window(CONNECTION_WINDOW_SIZE - self.h2.inbound_flow_control_window, None)
        # Measure the round trip now: the server answers it before it reads
        # any request, so the ACK waits behind no response.
        self.rtt_ping()
        self.flush()

    @property
    def accepting(self) -> bool:
        """Whether new requests may go on this socket."""
        return self.error is None and self.goaway is None

    @property
    def idle(self) -> bool:
        """Whether no stream of this socket needs the wire any more."""
        return not self.streams and not self.queue

    # --- sending ---------------------------------------------------------

    def flush(self) -> None:
        """Send whatever h2 has queued, in one write.

        :raises hyper.common.exceptions.ConnectionError: if the write fails.
        :raises hyper.common.exceptions.TimeoutError: if it times out.
        """
        parts = self.h2.take_parts()
        self._unflushed = 0
        if parts:
            self.sock.settimeout(self._write_timeout)
            for part in parts:
                self.sock.send(part)
            self.sock.flush()

    def flush_quietly(self) -> None:
        """Send what h2 queued (a GOAWAY) if it goes within
        :data:`GOODBYE_TIMEOUT`; a failure is only logged: the socket is
        about to be closed anyway."""
        saved = self._write_timeout
        self._write_timeout = GOODBYE_TIMEOUT if saved is None else min(saved, GOODBYE_TIMEOUT)
        try:
            self.flush()
        except exceptions.HyperError as exc:
            log.debug("socket %d: goodbye not sent: %r", self.generation, exc)
        finally:
            self._write_timeout = saved

    def pump(self) -> None:
        """Open queued streams while slots are free, send the request bodies
        the windows allow (in turns), and flush. A failure is stored, not raised."""
        if self.error is not None:
            return
        try:
            self._open_queued()
            self._send_bodies()
            self.flush()
        except exceptions.HyperError as exc:
            self.fail(exc)
        except h2.exceptions.H2Error as exc:  # h2 refused what we sent: a bug, not the peer's
            self.fail(translate_h2_error(exc))

    def _open_queued(self) -> None:
        if not self.queue:
            return
        limit = self.h2.remote_settings.max_concurrent_streams
        if not self.settings_received:
            limit = min(limit, PRE_SETTINGS_STREAM_LIMIT)
        # Every stream h2 counts as open is still in self.streams (hyper lets
        # a stream go only once h2 has closed it), so room by hyper's count
        # is room by h2's, which h2 finds by walking all its streams.
        free = limit - len(self.streams)
        if free <= 0:
            free = limit - self.h2.open_outbound_streams
        while free > 0 and self.queue and self.accepting:
            stream = self.queue.popleft()
            if stream.error is None and self._send_headers(stream):
                free -= 1

    def _send_headers(self, stream: Stream) -> bool:
        """Send a stream's HEADERS; whether it opened."""
        headers, stream.request_headers = stream.request_headers or [], None
        stream.head = headers  # kept to send the request again if it is refused
        try:
            _, end = stream.next_piece(0)  # pulls the first chunk: is the body empty?
        except Exception as exc:
            stream.error = exc
            return False
        try:
            wire = self.h2.get_next_available_stream_id()
            self.rtt_ping()  # if due: refresh a stale estimate ahead of the request
            self.h2.send_headers(wire, headers, end_stream=end and not stream.request_trailers)
            if end and stream.request_trailers:
                self.h2.send_headers(wire, stream.request_trailers, end_stream=True)
        except h2.exceptions.NoAvailableStreamIDError:
            # Like a GOAWAY from ourselves: this socket takes no new streams.
            self.goaway = exceptions.ConnectionTerminatedError("stream IDs exhausted")
            self.not_processed(stream, self.goaway, counted=False)
            while self.queue:
                self.not_processed(self.queue.popleft(), self.goaway, counted=False)
            return False
        except h2.exceptions.ProtocolError as exc:
            # h2 may have changed its HPACK table before refusing: not safe to go on.
            stream.error = exceptions.LocalProtocolError(f"h2 refused the request headers: {exc}")
            raise exceptions.ProtocolError("header block refused mid-encoding") from exc
        stream.wire_id = wire
        stream.answers_at_send = self.answers
        stream.local_closed = end
        stream.window = self.new_window_manager(STREAM_WINDOW_SIZE)
        self.streams[wire] = stream
        if not end:
            self._senders[stream] = None
        log.debug("stream %d opened as %d on socket %d", stream.logical_id, wire, self.generation)
        return True

    def new_window_manager(self, size: int) -> BaseFlowControlManager:
        """A stream's window manager, with this socket's round-trip estimate."""
        manager = self._manager_class(size)
        manager._attach(self.rtt, connection_level=False)
        return manager

    def add_sender(self, stream: Stream) -> None:
        """Mark a stream whose body grew (``send()``) as having data to send."""
        if stream.wire_id is not None and stream.wire_id in self.streams:
            self._senders[stream] = None

    def _send_bodies(self) -> None:
        progress = True
        while progress and self._senders:
            progress = False
            for stream in list(self._senders):
                progress = self._send_some(stream) or progress
            if self._unflushed >= FLUSH_SIZE:
                self.flush()

    def _send_some(self, stream: Stream) -> bool:
        """Send up to :data:`SEND_QUANTUM` of one stream's body; whether any went."""
        quota, sent = SEND_QUANTUM, False
        wire = stream.wire_id or 0
        while quota > 0:
            if not stream.has_outgoing:
                self._senders.pop(stream, None)
                return sent
            try:
                window = self.h2.local_flow_control_window(wire)
            except _STREAM_GONE:
                stream.drop_body()
                continue
            try:
                piece, last = stream.next_piece(min(window, self.h2.max_outbound_frame_size, quota))
            except Exception as exc:
                self._body_failed(stream, exc)
                return True
            if not piece and not last:
                return sent
            try:
                trailers = stream.request_trailers if last else None
                self.h2.send_data(wire, _whole(piece), end_stream=last and not trailers)
                if trailers:
                    self.h2.send_headers(wire, trailers, end_stream=True)
            except _STREAM_GONE:
                stream.drop_body()
                continue
            quota -= len(piece)
            self._unflushed += len(piece)
            sent = True
            if last:
                stream.local_closed = True
                self.retire(stream)
        return sent

    def _body_failed(self, stream: Stream, exc: Exception) -> None:
        """The request body's source raised: give up on this stream only."""
        log.debug("stream %d: request body failed: %r", stream.logical_id, exc)
        stream.error = exc
        self.cancel(stream)

    # --- receiving -------------------------------------------------------

    def receive(self) -> None:
        """Read once from the socket and process what came. A failure is stored."""
        try:
            self.sock.settimeout(LOCKED_READ_TIMEOUT)
            # Bytes may wait in the buffer already: those a server sent right
            # after its 101 answer to an h2c Upgrade offer.
            count = len(self.sock.buffer) or self.sock.fill()
        except exceptions.ReadTimeout:
            return  # readable, but no whole TLS record yet: wait again
        except exceptions.HyperError as exc:
            # After a GOAWAY, the server's goodbye explains the end best.
            self.fail(self.goaway or exc)
            return
        self.last_received = self.rtt.now()
        if not count:
            self.fail(
                self.goaway or exceptions.ConnectionResetError("the server closed the connection")
            )
            return
        try:
            view = self.sock.buffer
            self.sock.advance_buffer(len(view))  # the view stays valid until the next read
            pieces = self._splitter.split(view)
            for piece in pieces:
                if isinstance(piece, GoAwayFrame):
                    self.on_goaway(piece)
                else:
                    _dispatch.dispatch(self, self.h2.receive_data(piece))
        except h2.exceptions.H2Error as exc:
            self.fail(translate_h2_error(exc))
        except exceptions.ProtocolError as exc:
            code = h2.errors.ErrorCodes.PROTOCOL_ERROR
            if self._splitter.oversized:
                code = h2.errors.ErrorCodes.FRAME_SIZE_ERROR
            self.h2.close_connection(code)
            self.fail(exc)
        except Exception as exc:  # a bug: end this socket, so no waiter is left behind
            self._internal_error(exc)
        else:
            self._count_unseen_data()
            if self.streams:
                self.rtt_ping()  # while data flows, refresh the round-trip estimate

    def _internal_error(self, exc: Exception) -> None:
        log.exception("socket %d: failed to process what the server sent", self.generation)
        error = exceptions.ConnectionError(f"internal error processing frames: {exc!r}")
        error.__cause__ = exc
        self.fail(error)

    def _count_unseen_data(self) -> None:
        """Tell the connection's manager of DATA that h2 took without an event.

        DATA still in flight for a stream we reset uses up connection window,
        but h2 handles it internally (crediting it back only late, or never).
        The difference between the window the manager believes in and h2's
        real one is that data: reporting it keeps the connection from
        running out of window after many cancelled downloads.
        """
        unseen = self.window.window_size - self.h2.inbound_flow_control_window
        if unseen > 0:
            self.open_window(self.window._handle_frame(unseen), None)

    def stream_for(self, wire_id: int) -> Stream | None:
        """The live stream with this wire ID, if we still care about it."""
        stream = self.streams.get(wire_id)
        return None if stream is None or stream.error is not None else stream

    def on_data(self, wire_id: int, data: bytes, flow_controlled_length: int) -> None:
        """Credit the connection window for a DATA frame, then buffer it."""
        self.open_window(self.window._handle_frame(flow_controlled_length), None)
        stream = self.stream_for(wire_id)
        if stream is not None and not stream.released:
            stream.receive_data(data, flow_controlled_length)

    def send_ping(self, kind: bytes) -> bytes:
        """Queue one of hyper's own PINGs (see :mod:`hyper.http20._rtt`); its payload."""
        payload = self.rtt.new_ping(kind)
        self.h2.ping(payload)
        return payload

    def rtt_ping(self) -> None:
        """Queue a round-trip PING if one is due (none in flight, none for a while)."""
        if self.error is None and self.rtt.rtt_ping_due():
            self.send_ping(PingKind.RTT)

    def open_window(self, increment: int, wire_id: int | None) -> None:
        """Queue a WINDOW_UPDATE a window manager asked for (if any)."""
        if increment <= 0 or self.error is not None:
            return
        try:
            self.h2.increment_flow_control_window(increment, wire_id)
        except (ValueError, *_STREAM_GONE, h2.exceptions.FlowControlError) as exc:
            log.debug("window increment %d on %s not sent: %s", increment, wire_id, exc)

    def consumed(self, stream: Stream, freed: int) -> bool:
        """The application read ``freed`` flow-controlled bytes of a stream.

        The stream's manager decides whether to send a WINDOW_UPDATE; if so
        it is sent now, since the server may be waiting for it.

        :returns: whether anything was sent (the wire moved on).
        """
        if stream.window is None or freed <= 0:
            return False
        if stream.window._rtt_source is None:  # made elsewhere (the h2c upgrade)
            stream.window._attach(self.rtt, connection_level=False)
        increment = stream.window._handle_frame(freed)
        if increment > 0 and not stream.remote_ended and stream.wire_id in self.streams:
            self.open_window(increment, stream.wire_id)
            self.pump()
            return True
        return False

    def on_goaway(self, frame: GoAwayFrame) -> None:
        """The server will take no new streams: fail those above its last one."""
        code = _error_code(frame.error_code)
        last = frame.last_stream_id
        self.goaway = exceptions.ConnectionTerminatedError(
            f"the server sent GOAWAY ({code!r}, last stream {last})",
            error_code=code,
            last_stream_id=last,
            additional_data=frame.additional_data or None,
        )
        log.debug("socket %d: GOAWAY %r, last stream %d", self.generation, code, last)
        # A GOAWAY that accepts none of our streams (every socket's first is
        # stream 1) counts against their re-sends: a server that refuses
        # everything must not loop us forever.
        counted = last == 0
        for wire_id, stream in list(self.streams.items()):
            # A stream whose response has begun was processed, whatever the
            # GOAWAY says: it is left to finish.
            if wire_id > last and not stream.promise and stream.status is None:
                self.not_processed(stream, self.goaway, counted=counted)
        while self.queue:
            self.not_processed(self.queue.popleft(), self.goaway, counted=counted)

    def not_processed(
        self, stream: Stream, cause: exceptions.HyperError, *, counted: bool = True
    ) -> None:
        """The server did not process a stream's request: stop it here and
        queue it in :attr:`unprocessed` to be sent again, or, if its body
        cannot be replayed or it was refused too often, fail it with
        :class:`~hyper.common.exceptions.RequestNotProcessedError`.

        :param counted: the refusal counts against :data:`MAX_REFUSALS`
            (for a stream that went out on this socket, only if the server
            answered nothing since: one making progress is not looping us).
        """
        self.cancel(stream)
        if stream.wire_id is not None and stream.answers_at_send != self.answers:
            counted = False
        stream.refusals += counted
        if stream.replay is not None and stream.status is None and stream.refusals <= MAX_REFUSALS:
            log.debug("stream %d not processed (%s): to be sent again", stream.logical_id, cause)
            stream.error = None
            self.unprocessed.append(stream)
            return
        reason = "its body cannot be sent again" if stream.replay is None else "refused too often"
        error = exceptions.RequestNotProcessedError(
            f"request {stream.logical_id} was not processed by the server ({reason}): {cause}"
        )
        error.__cause__ = cause
        stream.error = error

    def abandon_unprocessed(self) -> None:
        """Fail the streams waiting to be sent again (the connection is closing)."""
        for stream in self.unprocessed:
            error = exceptions.RequestNotProcessedError(
                f"request {stream.logical_id} was not processed: the connection was closed"
            )
            stream.error = error
        self.unprocessed.clear()

    # --- ending streams and the socket -----------------------------------

    def retire(self, stream: Stream) -> None:
        """Forget a stream's wire state once nothing more can happen on it."""
        if stream.wire_id is not None and stream.settled and stream.local_closed:
            self.streams.pop(stream.wire_id, None)
            self._senders.pop(stream, None)

    def cancel(self, stream: Stream, code: int = CANCEL) -> None:
        """Stop a stream: drop its body and buffer, RST_STREAM (with ``code``) if open."""
        stream.drop_body()
        stream.discard()
        with contextlib.suppress(ValueError):
            self.queue.remove(stream)
        wire = stream.wire_id
        if wire is not None and self.streams.pop(wire, None) is not None:
            self._senders.pop(stream, None)
            if not (stream.local_closed and stream.remote_ended) and self.error is None:
                with contextlib.suppress(*_STREAM_GONE):
                    self.h2.reset_stream(wire, code)
        stream.local_closed = True

    def fail(self, exc: exceptions.HyperError) -> None:
        """Store the failure of this socket, give it to its streams, close it."""
        if self.error is not None:
            return
        self.error = exc
        log.debug("socket %d failed: %r", self.generation, exc)
        for stream in list(self.streams.values()):
            if stream.error is None and not stream.remote_ended:
                stream.error = exc
            stream.drop_body()
        while self.queue:
            self.not_processed(self.queue.popleft(), exc)
        self.streams.clear()
        self._senders.clear()
        if isinstance(exc, exceptions.ProtocolError):
            self.flush_quietly()  # the GOAWAY h2 queued
        self.close_socket()

    def close_socket(self) -> None:
        """Shut the socket down (waking a thread polling it) and close it."""
        self.sock.shutdown()
        self.sock.close()


def _error_code(code: int) -> int:
    try:
        return h2.errors.ErrorCodes(code)
    except ValueError:
        return code
