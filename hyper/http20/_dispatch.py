"""Turning h2's events into stream and session state: one small handler per event type.

:func:`dispatch` looks each event's type up in a table; events hyper has no
use for (priority, ALTSVC, unknown frames, a SETTINGS ACK) are logged and
dropped. PING frames and SETTINGS are acknowledged by h2 itself; here we only
note that the server's SETTINGS arrived (its stream limit is then known) and
which PING ACKs came back: those of hyper's own PINGs give a round trip,
those of :meth:`~hyper.http20.connection.HTTP20Connection.ping` wake its
caller. Handlers never block and never touch the socket: the session flushes
whatever they queue once the whole batch is handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h2.errors
import h2.events
import h2.exceptions

from hyper.common import exceptions
from hyper.http20 import _push
from hyper.http20._fields import response_problem, trailers_problem

if TYPE_CHECKING:
    from hyper.http20._session import Session
    from hyper.http20.stream import Stream

__all__ = ["dispatch"]

log = logging.getLogger(__name__)


def dispatch(session: Session, events: list[h2.events.Event]) -> None:
    """Apply each event of a batch to the session and its streams."""
    if events:
        log.debug("socket %d: %d events", session.generation, len(events))
    for event in events:
        handler = _HANDLERS.get(type(event))
        if handler is None:
            log.debug("ignoring %r", event)
        else:
            handler(session, event)


def _on_response(session: Session, event: h2.events.ResponseReceived) -> None:
    stream = session.stream_for(event.stream_id or 0)
    if stream is None:
        return
    session.answers += 1
    fields = list(event.headers or ())
    if not _malformed(session, stream, "response", response_problem(fields)):
        stream.receive_head(fields)


def _on_informational(session: Session, event: h2.events.InformationalResponseReceived) -> None:
    stream = session.stream_for(event.stream_id or 0)
    if stream is not None:
        problem = response_problem(event.headers or ())
        if not _malformed(session, stream, "informational response", problem):
            log.debug("stream %d: skipping informational response", stream.logical_id)


def _on_trailers(session: Session, event: h2.events.TrailersReceived) -> None:
    stream = session.stream_for(event.stream_id or 0)
    if stream is not None:
        fields = list(event.headers or ())
        if not _malformed(session, stream, "trailers", trailers_problem(fields)):
            stream.trailers = fields


def _malformed(session: Session, stream: Stream, what: str, problem: str | None) -> bool:
    """Fail a stream whose field block broke RFC 9113 (a stream error of
    type PROTOCOL_ERROR, section 8.1.1); whether it did."""
    if problem is None:
        return False
    stream.error = exceptions.InvalidResponseError(
        f"malformed {what} on stream {stream.logical_id}: {problem}"
    )
    session.cancel(stream, h2.errors.ErrorCodes.PROTOCOL_ERROR)
    return True


def _on_data(session: Session, event: h2.events.DataReceived) -> None:
    session.on_data(event.stream_id or 0, event.data or b"", event.flow_controlled_length or 0)


def _on_stream_ended(session: Session, event: h2.events.StreamEnded) -> None:
    stream = session.stream_for(event.stream_id or 0)
    if stream is not None:
        stream.remote_ended = True
        session.retire(stream)


def _on_stream_reset(session: Session, event: h2.events.StreamReset) -> None:
    stream = session.stream_for(event.stream_id or 0)
    if stream is None:
        return
    code = event.error_code
    log.debug("stream %d reset by the server: %r", stream.logical_id, code)
    error = exceptions.StreamResetError(
        f"stream {stream.logical_id} was reset by the server ({code!r})",
        stream_id=stream.logical_id,
        error_code=code,
        remote=event.remote_reset,
    )
    if code == h2.errors.ErrorCodes.REFUSED_STREAM and stream.status is None:
        stream.local_closed = stream.remote_ended = True  # closed in h2: no RST_STREAM back
        session.not_processed(stream, error)  # RFC 9113 section 8.7: safe to send again
        return
    if not stream.remote_ended:
        stream.error = error
    stream.drop_body()  # the server wants no more of the request body
    stream.local_closed = True
    session.retire(stream)


def _on_settings(session: Session, event: h2.events.RemoteSettingsChanged) -> None:
    session.settings_received = True


def _on_ping_ack(session: Session, event: h2.events.PingAckReceived) -> None:
    data = event.ping_data or b""
    if session.rtt.acknowledged(data):
        return  # one of hyper's own: a round trip measured
    if data in session.awaited_pings:
        session.ping_acks.add(data)
    else:  # late (the caller gave up) or never sent: keep nothing a server controls
        log.debug("socket %d: ignoring unexpected PING ACK %r", session.generation, data)


def _on_push(session: Session, event: h2.events.PushedStreamReceived) -> None:
    _push.on_push_promise(session, event)


def _on_request(session: Session, event: h2.events.RequestReceived) -> None:
    # h2 takes HEADERS on an idle even-numbered stream for a request, even
    # on a client; a server may open streams only by PUSH_PROMISE (RFC 9113
    # section 5.1.1): a connection error (the session sends GOAWAY).
    raise exceptions.ProtocolError(
        f"the server sent HEADERS on stream {event.stream_id}, which it never promised"
    )


def _on_nothing(session: Session, event: h2.events.Event) -> None:
    """Events the session needs no action for (the pump runs after each batch)."""


_HANDLERS: dict[type[h2.events.Event], Callable[[Session, Any], None]] = {
    h2.events.ResponseReceived: _on_response,
    h2.events.RequestReceived: _on_request,
    h2.events.InformationalResponseReceived: _on_informational,
    h2.events.TrailersReceived: _on_trailers,
    h2.events.DataReceived: _on_data,
    h2.events.StreamEnded: _on_stream_ended,
    h2.events.StreamReset: _on_stream_reset,
    h2.events.RemoteSettingsChanged: _on_settings,
    h2.events.PingAckReceived: _on_ping_ack,
    h2.events.PushedStreamReceived: _on_push,
    h2.events.WindowUpdated: _on_nothing,
    h2.events.PingReceived: _on_nothing,
    h2.events.SettingsAcknowledged: _on_nothing,
}
