"""Server push: which promises are taken, and how the caller collects them.

With ``enable_push=True`` a PUSH_PROMISE on one of our streams becomes a
pushed :class:`~hyper.http20.stream.Stream` (sending nothing, receiving a
response like any other) queued on its parent; :mod:`hyper.http20._push_api` gives the
connection ``get_pushes()``, which hands them out as
:class:`~hyper.http20.response.HTTP20Push`. A promise is refused with
RST_STREAM when nobody could collect it or it breaks RFC 9113 section 8.4:
its parent is gone (CANCEL), :data:`MAX_PUSHED_STREAMS` pushes are already
held (REFUSED_STREAM), or its request is malformed (section 8.3.1) or not a
safe, cacheable method (GET or HEAD) for the parent's own scheme and
authority (PROTOCOL_ERROR, the stream error the RFC asks for). A promise on a stream the server had
already ended is a connection error, which h2 raises. With push off we send
SETTINGS_ENABLE_PUSH=0, and h2 treats any PUSH_PROMISE as a connection error.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import h2.errors
import h2.events
import h2.exceptions

from hyper.http20._fields import request_problem
from hyper.http20._settings import MAX_PUSHED_STREAMS, STREAM_WINDOW_SIZE
from hyper.http20.stream import Stream

if TYPE_CHECKING:
    from hyper.http20._session import Session

__all__ = ["on_push_promise"]

log = logging.getLogger(__name__)

#: The methods a server may push (RFC 9110: safe and cacheable).
PUSHABLE_METHODS = frozenset({b"GET", b"HEAD"})


def on_push_promise(session: Session, event: h2.events.PushedStreamReceived) -> None:
    """Take a promised stream onto its parent's queue, or refuse it."""
    pushed_id = event.pushed_stream_id or 0
    fields = list(event.headers or ())
    parent = session.stream_for(event.parent_stream_id or 0)
    if parent is None or parent.released:
        _refuse(session, pushed_id, h2.errors.ErrorCodes.CANCEL, "its parent is gone")
    elif request_problem(fields) is not None or not _valid_promise(fields, parent.head):
        _refuse(session, pushed_id, h2.errors.ErrorCodes.PROTOCOL_ERROR, "an invalid promise")
    elif len(session.pushed) >= MAX_PUSHED_STREAMS:
        _refuse(session, pushed_id, h2.errors.ErrorCodes.REFUSED_STREAM, "too many pushes held")
    else:
        pushed = Stream(pushed_id, session, parent.deadline)
        pushed.wire_id = pushed_id
        pushed.local_closed = True  # a pushed stream carries nothing from us
        pushed.promise = fields
        pushed.parent_id = parent.logical_id
        pushed.window = session.new_window_manager(STREAM_WINDOW_SIZE)
        session.streams[pushed_id] = pushed
        session.pushed.add(pushed)
        parent.pushes.append(pushed)
        log.debug("stream %d: push promised as %d", parent.logical_id, pushed_id)


def _refuse(session: Session, pushed_id: int, code: int, why: str) -> None:
    log.debug("refusing pushed stream %d: %s", pushed_id, why)
    with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
        session.h2.reset_stream(pushed_id, code)


def _valid_promise(fields: list[tuple[bytes, bytes]], parent: list[tuple[bytes, bytes]]) -> bool:
    """Whether a promised request is one a client may accept (RFC 9113 section 8.4)."""
    promised = {name: value for name, value in fields if name.startswith(b":")}
    asked = {name: value for name, value in parent if name.startswith(b":")}
    return (
        promised.get(b":method") in PUSHABLE_METHODS
        and bool(promised.get(b":path"))
        and promised.get(b":scheme") == asked.get(b":scheme")
        and promised.get(b":authority", b"").lower() == asked.get(b":authority", b"").lower()
    )
