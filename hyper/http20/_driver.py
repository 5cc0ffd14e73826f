"""The I/O lock, the sockets of one HTTP/2 connection, and how threads wait on them.

There is no background thread. A thread that needs something from the
server (a response head, body bytes, window for an upload, a PING ACK)
calls :meth:`Driver.wait`. If no thread is reading that socket, it becomes
the reader: it marks the socket taken, waits for readability with the lock
*released*, takes the lock back, reads once, dispatches every event to
every stream, sends what the windows now allow, flushes, and wakes all
waiters (``notify_all`` on the one condition). Otherwise it sleeps on the
condition and checks again after each batch, taking over as the reader
when the current one leaves. A failure is stored on the session and its
streams before the waiters are woken, so nobody sleeps on a stream another
thread has completed or that can no longer complete.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable

from hyper.common import exceptions
from hyper.common.timeout import Deadline
from hyper.http20._session import Session
from hyper.http20.stream import Stream

__all__ = ["Clock", "Driver", "fresh_error"]

log = logging.getLogger(__name__)


class Clock:
    """How long one blocking call may still wait: ``read`` seconds from its
    start, capped by the response's ``total`` deadline.

    :param read: the read timeout, or ``None`` for none.
    :param deadline: the response's deadline, or ``None``.
    """

    __slots__ = ("_deadline", "_end", "_read")

    def __init__(self, read: float | None, deadline: Deadline | None) -> None:
        self._read = read
        self._end = None if read is None else time.monotonic() + read
        self._deadline = deadline

    def next_wait(self) -> float | None:
        """Seconds the next wait may take (``None``: no limit).

        :raises hyper.common.exceptions.ReadTimeout: if the time is up.
        """
        wait = self._deadline.next_wait() if self._deadline is not None else None
        if self._end is not None:
            left = self._end - time.monotonic()
            if left <= 0:
                raise exceptions.ReadTimeout(f"nothing arrived within {self._read} s")
            wait = left if wait is None else min(wait, left)
        return wait


def fresh_error(error: BaseException) -> BaseException:
    """A copy of a stored error, to raise: the same failure reaches many
    threads, and each raise would otherwise grow one shared traceback.
    The original cause is kept."""
    if not isinstance(error, exceptions.HyperError):
        return error
    clone = copy.copy(error)
    clone.__cause__ = error.__cause__
    clone.__traceback__ = None
    return clone


class Driver:
    """The sockets of one connection and the lock guarding them.

    Thread-safe. :attr:`lock` guards everything here, the sessions, their h2
    state machines and streams, and the owning connection's own tables.

    :param connect: opens a new started session for a socket generation.

    :ivar session: the session new requests go on, if any.
    :ivar sessions: every session still in use (the current one and those
        draining after a GOAWAY).
    """

    def __init__(self, connect: Callable[[int], Session]) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.session: Session | None = None
        self.sessions: list[Session] = []
        self._connect = connect
        self._generation = 0

    @property
    def state(self) -> str:
        """``idle`` (no socket), ``open`` or ``draining`` (GOAWAY received)."""
        session = self.session
        if session is not None and session.accepting:
            return "open"
        return "draining" if self.sessions else "idle"

    def current(self) -> Session:
        """The session for a new request, connecting if there is none that
        accepts requests. Call holding the lock.

        :raises hyper.common.exceptions.ConnectionError: if connecting fails.
        """
        if self.session is None or not self.session.accepting:
            self._generation += 1
            self.session = self._connect(self._generation)
            self.sessions.append(self.session)
        return self.session

    def progress_nowait(self, session: Session) -> None:
        """Read what has already arrived (if no thread is reading), send what
        can be sent, wake waiters. Never blocks on the server. Call holding the lock."""
        if not session.reader_active and session.error is None and session.sock.can_read:
            session.receive()
        session.pump()
        self.after_io()

    def wait(
        self,
        session: Session,
        ready: Callable[[], bool],
        clock: Clock,
        stream: Stream | None = None,
    ) -> None:
        """Make progress on ``session`` until ``ready()``, or the stream or
        session fails. Call holding the lock; it is released while waiting.

        :raises hyper.common.exceptions.ReadTimeout: if ``clock`` runs out.
        """
        while not ready():
            if session.error is not None or (stream is not None and stream.error is not None):
                return
            wait = clock.next_wait()
            if session.reader_active:
                self.cond.wait(wait)
            else:
                self._read_round(session, wait)

    def _read_round(self, session: Session, wait: float | None) -> None:
        """Be the reader of ``session`` for one batch."""
        session.reader_active = True
        try:
            if not session.sock.has_buffered_data:
                self.lock.release()
                try:
                    readable = session.sock.wait_readable(wait)
                finally:
                    self.lock.acquire()
                if not readable:
                    return
            if session.error is None:
                session.receive()
                session.pump()
        finally:
            session.reader_active = False
            self.after_io()

    def after_io(self) -> None:
        """Close sockets nobody needs any more and wake every waiter."""
        for session in list(self.sessions):
            if session.error is not None or (session.goaway is not None and session.idle):
                log.debug("socket %d retired: %r", session.generation, session.error or "GOAWAY")
                session.close_socket()
                self.sessions.remove(session)
                if session is self.session:
                    self.session = None
        self.cond.notify_all()

    def close(self, error_code: int) -> None:
        """Send GOAWAY on every socket, close them, fail what was pending.
        Call holding the lock."""
        for session in self.sessions:
            if session.error is None:
                session.h2.close_connection(error_code)
                session.flush_quietly()
            session.fail(exceptions.ConnectionError("the connection was closed"))
        self.after_io()
