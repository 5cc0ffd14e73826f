"""The HTTP/2 side of the test server, on h2's server-side state machine.

One connection thread reads the socket, feeds :class:`h2.connection.H2Connection`
and turns its events into per-stream state; every request gets its own
handler thread, which writes through :class:`H2Response` (the writing side,
flow-control waits included, lives in ``_h2_response``). Tests reach below
the state machine through :class:`H2Handle`: raw frames, resets, GOAWAY, raw
PUSH_PROMISE, and the record of the client's RST_STREAM frames.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.settings import SettingCodes
from hyperframe.frame import (
    ExtensionFrame,
    Frame,
    GoAwayFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
)

from hyper.testing._body import BodyPipe
from hyper.testing._connection import ClientDisconnected, ConnectionHandle
from hyper.testing._h2_push import ResetLog, check_stream_id
from hyper.testing._h2_response import H2Response
from hyper.testing._messages import HeaderInput, Request, header_bytes

if TYPE_CHECKING:
    import socket

    from hyper.testing._server import Server

__all__ = ["CANCEL", "H2Handle", "check_settings"]

log = logging.getLogger(__name__)

#: HTTP/2 CANCEL, the default code for :meth:`H2Handle.reset_stream`.
CANCEL = 0x8


def check_settings(values: Mapping[int, int]) -> dict[int, int]:
    """Validate SETTINGS *values* the server is to send; return them as a dict.

    :raises ValueError: a setting is unknown or a value out of range for it.
    """
    trial = h2.settings.Settings(client=False)
    try:
        for code, value in values.items():
            trial[SettingCodes(code)] = value
    except ValueError as exc:  # InvalidSettingsValueError is a ValueError too
        raise ValueError(f"h2_settings: {exc}") from exc
    return dict(values)


class H2Handle(ConnectionHandle):
    """An HTTP/2 connection of the test server, for hooks and fault staging.

    :ivar h2: the server's :class:`h2.connection.H2Connection`; touch it only
        while holding :attr:`lock`, and call :meth:`flush` afterwards.

    Raw writes (:meth:`send_raw`, :meth:`send_frame`) first flush what h2 has
    queued, so bytes keep their order. Thread-safe.
    """

    protocol = "h2"

    def __init__(self, server: Server, sock: socket.socket, conn_id: int, alpn: str | None) -> None:
        super().__init__(server, sock, conn_id, alpn)
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self._cond = threading.Condition(self.lock)
        self._pipes: dict[int, BodyPipe] = {}
        self._reset: set[int] = set()
        self._terminated = False
        self._reset_log = ResetLog()
        self._dispatch_table: dict[type[h2.events.Event], Callable[[Any], None]] = {
            h2.events.RequestReceived: self._on_request,
            h2.events.DataReceived: self._on_data,
            h2.events.TrailersReceived: self._on_trailers,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_stream_reset,
            h2.events.WindowUpdated: self._on_window_change,
            h2.events.RemoteSettingsChanged: self._on_window_change,
            h2.events.ConnectionTerminated: self._on_terminated,
        }

    # --- public staging API -------------------------------------------------

    def flush(self) -> None:
        """Write whatever h2 has queued.

        :raises ClientDisconnected: the connection is closed.
        """
        with self.lock:
            data = self.h2.data_to_send()
            if data:
                self._sendall(data)

    def send_raw(self, data: bytes) -> None:
        """Flush h2's queue, then write *data* verbatim (outside h2's state).

        :raises ClientDisconnected: the connection is closed.
        """
        with self.lock:
            self.flush()
            self._sendall(data)

    def send_frame(self, frame: Frame) -> None:
        """Serialise a :mod:`hyperframe` *frame* and write it raw.

        h2 does not see it, so this can stage anything: frames on closed or
        unknown streams, bad padding, oversized frames.

        :raises ClientDisconnected: the connection is closed.
        """
        if isinstance(frame, ExtensionFrame):
            # hyperframe sizes an extension frame from body_len, which only
            # parsing sets; a frame built by hand would go out with length 0.
            frame.body_len = len(frame.body)
        self.send_raw(frame.serialize())

    def encode_headers(self, headers: HeaderInput) -> bytes:
        """HPACK-encode *headers* with the connection's own encoder.

        Use it for a raw HEADERS frame: the client's decoder stays in step.
        """
        with self.lock:
            return self.h2.encoder.encode(header_bytes(headers, lower=False))

    def reset_stream(self, stream_id: int, error_code: int = CANCEL) -> None:
        """Send RST_STREAM; a raw frame if h2 thinks the stream is closed.

        The stream's handler then gets :class:`ClientDisconnected` on its next
        write.

        :raises ClientDisconnected: the connection is closed.
        """
        with self.lock:
            self._mark_reset(stream_id)
            try:
                self.h2.reset_stream(stream_id, error_code)
            except h2.exceptions.NoSuchStreamError:
                self.send_frame(RstStreamFrame(stream_id, error_code=error_code))
            else:
                self.flush()

    def goaway(
        self, last_stream_id: int | None = None, error_code: int = 0, debug_data: bytes = b""
    ) -> None:
        """Send a raw GOAWAY frame; h2 keeps running, so streams still finish.

        *last_stream_id* defaults to the highest stream the client opened.
        Close the connection afterwards with :meth:`close` where wanted.

        :raises ClientDisconnected: the connection is closed.
        """
        with self.lock:
            if last_stream_id is None:
                last_stream_id = self.h2.highest_inbound_stream_id
            frame = GoAwayFrame(
                last_stream_id=last_stream_id, error_code=error_code, additional_data=debug_data
            )
            self.send_frame(frame)

    def update_settings(self, settings: Mapping[int, int]) -> None:
        """Send a new SETTINGS frame mid-connection (through h2).

        :raises ClientDisconnected: the connection is closed.
        """
        with self.lock:
            self.h2.update_settings(dict(settings))
            self.flush()

    @property
    def client_push_enabled(self) -> bool:
        """Whether the client allows server push (its ``SETTINGS_ENABLE_PUSH``).

        ``True`` until a client SETTINGS frame says otherwise (the protocol's
        default); a handler runs after the client's first SETTINGS, which
        precedes its first request.
        """
        with self.lock:
            return bool(self.h2.remote_settings.enable_push)

    @property
    def resets(self) -> list[tuple[int, int]]:
        """The client's RST_STREAM frames so far, ``(stream_id, error_code)``, oldest first.

        Read off the wire, so resets of streams h2 had already closed (a push
        cancelled after it was sent whole) and resets an event hook took
        over are included. A snapshot: it does not change afterwards.
        """
        return self._reset_log.snapshot()

    def wait_for_reset(self, stream_id: int, timeout: float | None = None) -> int:
        """Wait for the client's RST_STREAM on *stream_id*; return its error code.

        Returns at once if one already arrived. *timeout* defaults to the
        server's I/O timeout.

        :raises TimeoutError: none arrived within *timeout*.
        :raises ClientDisconnected: the connection closed without one.
        """
        limit = self.server.io_timeout if timeout is None else timeout
        code = self._reset_log.wait(stream_id, limit)
        if code is None:
            raise ClientDisconnected(f"connection {self.id} closed before a reset of {stream_id}")
        return code

    def push_promise(
        self, parent_stream_id: int, headers: HeaderInput, *, promised_stream_id: int | None = None
    ) -> int:
        """Send a raw PUSH_PROMISE frame on *parent_stream_id*; return the promised id.

        h2 is bypassed, so this stages promises h2 refuses: on a closed, reset
        or unknown parent, to a client that disabled push, with any header
        block. *headers* go out as given (pseudo-headers included), HPACK-
        encoded by :meth:`encode_headers` into one frame with END_HEADERS.
        *promised_stream_id* defaults to the next even id, which h2 then
        counts as used. h2 does not track the promised stream: answer it, if
        at all, with raw frames (:meth:`send_frame`).

        :raises TypeError: a stream id is not an ``int``.
        :raises ValueError: a stream id is outside 0 to 2**31-1.
        :raises ClientDisconnected: the connection is closed.
        """
        check_stream_id(parent_stream_id, "parent_stream_id")
        with self.lock:
            if promised_stream_id is None:
                promised_stream_id = self.h2.get_next_available_stream_id()
            check_stream_id(promised_stream_id, "promised_stream_id")
            if promised_stream_id % 2 == 0:
                highest = max(self.h2.highest_outbound_stream_id or 0, promised_stream_id)
                self.h2.highest_outbound_stream_id = highest
            frame = PushPromiseFrame(
                parent_stream_id,
                promised_stream_id=promised_stream_id,
                data=self.encode_headers(headers),
                flags=["END_HEADERS"],
            )
            self.send_frame(frame)
        return promised_stream_id

    # --- the connection thread ---------------------------------------------

    def _run(self, initial: bytes) -> None:
        """Serve the connection until EOF, shutdown or a protocol error.

        :raises h2.exceptions.ProtocolError: the client broke the protocol
            (GOAWAY was sent first).
        """
        with self.lock:
            self._initiate()
            self.server._call_h2_connect_hooks(self)
            self.flush()
        data = initial or self._read(None)
        while data and not self.closed:
            with self.lock:
                self._receive(data)
            data = self._read(None)

    def _initiate(self) -> None:
        """Queue the server preface: one SETTINGS frame with the configured values.

        h2 would treat values given before the handshake as already in force;
        instead they are set as pending, applied when the client acknowledges
        them, as RFC 9113 says, and h2's own frame is replaced by one that
        carries them.
        """
        self._start_h2()
        wanted = self.server.h2_settings
        if not wanted:
            return
        self.h2.data_to_send()  # h2's SETTINGS frame, superseded below
        values = dict(self.h2.local_settings.items())
        for code, value in wanted.items():
            self.h2.local_settings[SettingCodes(code)] = value
            values[code] = value
        self._sendall(SettingsFrame(0, settings=values).serialize())

    def _start_h2(self) -> None:
        """Start h2's side of the connection (queue its SETTINGS frame)."""
        self.h2.initiate_connection()

    def _receive(self, data: bytes) -> None:
        self._reset_log.feed(data)
        if self._terminated:
            return  # after the client's GOAWAY, h2 rejects every frame: drain
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()  # the GOAWAY h2 queued
            raise
        for event in events:
            if not self.server._call_h2_event_hooks(self, event):
                handler = self._dispatch_table.get(type(event))
                if handler is not None:
                    handler(event)
        self.flush()

    def _on_closed(self) -> None:
        for pipe in self._pipes.values():
            pipe.fail()
        self._reset_log.close()
        self._cond.notify_all()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        pseudo = {k: v for k, v in event.headers if k.startswith(b":")}
        fields = [(k, v) for k, v in event.headers if not k.startswith(b":")]
        authority = pseudo.get(b":authority", dict(fields).get(b"host", b""))
        pipe = BodyPipe(self.server.io_timeout)
        self._pipes[event.stream_id] = pipe
        request = Request(
            server=self.server,
            connection=self,
            method=pseudo.get(b":method", b"").decode("latin-1"),
            target=pseudo.get(b":path", authority).decode("latin-1"),  # CONNECT has no path
            headers=fields,
            http_version="HTTP/2",
            authority=authority.decode("latin-1"),
            body=pipe,
            stream_id=event.stream_id,
        )
        response = H2Response(request, self)
        self.server._start_handler(request, response, self._stream_done)

    def _stream_done(self, request: Request) -> None:
        with self.lock:
            pipe = self._pipes.pop(request.stream_id or 0, None)
            if pipe is not None:
                pipe.discard()
            self._reset.discard(request.stream_id or 0)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        pipe = self._pipes.get(event.stream_id)
        if pipe is not None:
            pipe.feed(event.data)
        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        pipe = self._pipes.get(event.stream_id)
        if pipe is not None:
            pipe.end(list(event.headers))

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        pipe = self._pipes.get(event.stream_id)
        if pipe is not None:
            pipe.end()

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        self._mark_reset(event.stream_id)

    def _on_window_change(self, event: h2.events.Event) -> None:
        self._cond.notify_all()

    def _on_terminated(self, event: h2.events.ConnectionTerminated) -> None:
        log.debug("connection %d: client sent GOAWAY %s", self.id, event.error_code)
        self._terminated = True
        for pipe in self._pipes.values():
            pipe.fail()
        self._cond.notify_all()

    def _mark_reset(self, stream_id: int) -> None:
        self._reset.add(stream_id)
        pipe = self._pipes.get(stream_id)
        if pipe is not None:
            pipe.fail()
        self._cond.notify_all()
