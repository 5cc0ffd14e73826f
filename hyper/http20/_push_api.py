"""``get_pushes()``: how the caller collects what the server pushed.

Promises are taken or refused as they arrive (:mod:`hyper.http20._push`);
the ones taken wait on their parent stream until :class:`PushMixin` hands
them out as :class:`~hyper.http20.response.HTTP20Push`, without blocking,
or, with ``capture_all=True``, waiting for more until the parent's response
ends. A parent whose response was read to its end is kept (in
``_push_parents``) only while pushes wait on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from hyper.common import exceptions
from hyper.common.timeout import Timeout
from hyper.http20._driver import Clock, Driver, fresh_error
from hyper.http20.response import HTTP20Push
from hyper.http20.stream import Stream

__all__ = ["PushMixin"]


class PushMixin:
    """``get_pushes()`` for :class:`~hyper.http20.connection.HTTP20Connection`,
    which provides the state declared here. Thread-safe as the connection is."""

    timeout: Timeout
    _io: Driver
    _streams: dict[int, Stream]
    _push_parents: dict[int, Stream]
    _last_request: int | None
    _next_id: int

    def get_pushes(
        self, stream_id: int | None = None, capture_all: bool = False
    ) -> Iterator[HTTP20Push]:
        """The pushes the server promised with a request's response.

        Each push is handed out once (calling again gives only the newer
        ones). Pushes wait, up to 16 per socket, until taken: read or
        :meth:`~hyper.http20.response.HTTP20Push.cancel` them, as each
        holds up to a stream window (4 MiB) of data.

        :param stream_id: the request's stream ID (what :meth:`request`
            returned); ``None``: the most recent request.
        :param capture_all: after the pushes promised so far, wait for more
            until the server ends the request's response (every wait
            bounded by the read timeout). Otherwise never blocks.
        :raises hyper.common.exceptions.LocalProtocolError: if no request
            has that ID (or none was sent yet).
        :raises hyper.common.exceptions.ReadTimeout: with ``capture_all``,
            if nothing arrived within the read timeout.
        """
        parent = self._push_parent(stream_id)
        while parent is not None:
            with self._io.lock:
                if not parent.pushes and capture_all and not _parent_done(parent):
                    self._io.wait(
                        parent.session,
                        lambda: bool(parent.pushes) or _parent_done(parent),
                        Clock(self.timeout.read, None),
                    )
                if not parent.pushes:
                    self._push_parents.pop(parent.logical_id, None)
                    return
                pushed = parent.pushes.popleft()
            yield HTTP20Push(self, pushed)  # type: ignore[arg-type]

    def _push_parent(self, stream_id: int | None) -> Stream | None:
        """The stream whose pushes are asked for; ``None`` for a request
        whose response and pushes are all done with."""
        with self._io.lock:
            wanted = self._last_request if stream_id is None else stream_id
            if wanted is None:
                raise exceptions.LocalProtocolError("no request was sent on this connection")
            parent = self._streams.get(wanted) or self._push_parents.get(wanted)
            if parent is None and not (wanted % 2 == 1 and 0 < wanted < self._next_id):
                raise exceptions.LocalProtocolError(f"no request has stream ID {wanted}")
            return parent

    def _push_response_head(self, pushed: Stream) -> None:
        """Wait for a pushed stream's response head (for HTTP20Push.get_response)."""
        with self._io.lock:
            if pushed.released:
                raise exceptions.LocalProtocolError("this push was cancelled")
            clock = Clock(self.timeout.read, pushed.deadline)
            self._io.wait(pushed.session, lambda: pushed.status is not None, clock, pushed)
            if pushed.status is None:
                pushed.session.pushed.discard(pushed)
                raise fresh_error(pushed.error or exceptions.ProtocolError("no pushed response"))


def _parent_done(parent: Stream) -> bool:
    """Whether no more promises can come on a stream (it ended or failed)."""
    return parent.remote_ended or parent.error is not None or parent.released
