"""The I/O lock, the sockets of one HTTP/2 connection, and how threads wait on them.

There is no background thread (except the opt-in keepalive timer of
:mod:`hyper.http20._liveness`). A thread that needs something from the
server (a response head, body bytes, window for an upload, a PING ACK)
calls :meth:`Driver.wait`. If no thread is reading that socket, it becomes
the reader: it marks the socket taken, waits for readability with the lock
*released*, takes the lock back, reads once, dispatches every event to
every stream, sends what the windows now allow, flushes, and wakes the
waiters whose condition now holds. Otherwise it sleeps on its own
condition (bound to the one lock) until woken or its time is up.

The rules that keep this free of deadlocks and lost wake-ups:

* every change a waiter may be waiting for happens under the lock and is
  followed by :meth:`Driver.after_io`, which wakes each waiter whose
  condition holds (or whose socket or stream failed);
* a thread only sleeps while another thread is the reader of its socket;
  whenever a socket is left without a reader (a round ends, a waiter gives
  up) one of its remaining waiters is woken to take over;
* a failure is stored on the session and its streams before anyone is
  woken, so nobody sleeps on a stream another thread has completed or that
  can no longer complete; a failure also shuts the socket down, which ends
  the reader's poll at once.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable

from hyper.common import exceptions
from hyper.common.timeout import Deadline
from hyper.http20 import _liveness
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


class _Waiter:
    """A thread asleep in :meth:`Driver.wait`: its condition and what it waits for."""

    __slots__ = ("cond", "done", "session")

    def __init__(self, lock: threading.Lock, session: Session, done: Callable[[], bool]) -> None:
        self.cond = threading.Condition(lock)
        self.session = session
        self.done = done


class Driver:
    """The sockets of one connection and the lock guarding them.

    Thread-safe. :attr:`lock` guards everything here, the sessions, their h2
    state machines and streams, and the owning connection's own tables.

    :param connect: opens a new started session for a socket generation.
    :param keepalive: the keepalive interval in seconds, or ``None``.

    :ivar session: the session new requests go on, if any.
    :ivar sessions: every session still in use (the current one and those
        draining after a GOAWAY).
    """

    def __init__(self, connect: Callable[[int], Session], keepalive: float | None = None) -> None:
        self.lock = threading.Lock()
        self.session: Session | None = None
        self.sessions: list[Session] = []
        self.probing: dict[Session, bytes] = {}  # liveness PINGs in flight
        self._connect = connect
        self._generation = 0
        self._waiters: list[_Waiter] = []
        self._keepalive = None if keepalive is None else _liveness.Keepalive(self, keepalive)

    @property
    def state(self) -> str:
        """``idle`` (no socket), ``open`` or ``draining`` (GOAWAY received)."""
        session = self.session
        if session is not None and session.accepting:
            return "open"
        return "draining" if self.sessions else "idle"

    @property
    def waiting(self) -> int:
        """How many threads are asleep waiting for a socket."""
        return len(self._waiters)

    def current(self) -> Session:
        """The session for a new request, connecting if there is none that
        accepts requests. Call holding the lock.

        :raises hyper.common.exceptions.ConnectionError: if connecting fails.
        """
        if self.session is None or not self.session.accepting:
            self._generation += 1
            self.session = self._connect(self._generation)
            self.sessions.append(self.session)
        if self._keepalive is not None:
            self._keepalive.ensure_running()
        return self.session

    def fresh(self, idle_after: float | None, read_timeout: float | None) -> Session:
        """:meth:`current`, after making sure an idle socket is still alive
        (see :func:`hyper.http20._liveness.check_idle`). Call holding the lock.

        :param idle_after: seconds of silence after which a PING confirms
            the socket; ``None``: never.
        :param read_timeout: the connection's read timeout (bounds the PING).
        :raises hyper.common.exceptions.ConnectionError: if connecting fails.
        """
        session = self.session
        if session is not None and session.accepting and session.idle:
            bound = _liveness.probe_timeout(read_timeout, session.rtt.rtt)
            _liveness.check_idle(self, session, idle_after, Clock(bound, None))
        return self.current()

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

        target = session  # the stream's socket: it changes if the request is sent again

        def done() -> bool:
            if stream is not None and (stream.error is not None or stream.session is not target):
                return True
            # A socket retired after a GOAWAY can make no more progress.
            return target.error is not None or ready() or target.sock.closed

        try:
            while True:
                if stream is not None:
                    target = stream.session
                if done():
                    return
                wait = clock.next_wait()
                if target.reader_active:
                    self._sleep(target, done, wait)
                else:
                    self._read_round(target, wait)
        finally:
            self._hand_over(target)

    def _sleep(self, session: Session, done: Callable[[], bool], wait: float | None) -> None:
        """Sleep until woken (or ``wait`` seconds) while another thread reads."""
        waiter = _Waiter(self.lock, session, done)
        self._waiters.append(waiter)
        try:
            waiter.cond.wait(wait)
        finally:
            self._waiters.remove(waiter)

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
            # No new reader is woken here: this thread reads on, or hands
            # over as it leaves wait().
            self.after_io(hand_over=False)

    def after_io(self, hand_over: bool = True) -> None:
        """Close sockets nobody needs any more and wake the waiters whose
        condition now holds (and, with ``hand_over``, one waiter of each
        socket left without a reader, to read it). Requests the server
        refused unprocessed are sent again first."""
        # Each pass ends in errors or counts a refusal of every stream it
        # moves (a new socket that fails at once), so this loop is bounded.
        while any(session.unprocessed for session in self.sessions):
            for session in list(self.sessions):
                if session.unprocessed:
                    self._send_again(session)
        for session in list(self.sessions):
            if session.error is not None or (session.goaway is not None and session.idle):
                log.debug("socket %d retired: %r", session.generation, session.error or "GOAWAY")
                session.close_socket()
                self.sessions.remove(session)
                self.probing.pop(session, None)
                if session is self.session:
                    self.session = None
        handed: set[Session] = set()
        for waiter in self._waiters:
            if waiter.done():
                waiter.cond.notify()
            elif hand_over and not waiter.session.reader_active and waiter.session not in handed:
                handed.add(waiter.session)
                waiter.cond.notify()

    def _send_again(self, session: Session) -> None:
        """Move the streams ``session`` did not get processed to the current
        socket (a new one after a GOAWAY or failure), ahead of newer requests."""
        streams, session.unprocessed = session.unprocessed, []
        try:
            target = self.current()
        except exceptions.HyperError as exc:
            for stream in streams:
                stream.error = exc
            return
        for stream in reversed(streams):
            log.debug("stream %d sent again on socket %d", stream.logical_id, target.generation)
            stream.restart(target)
            target.queue.appendleft(stream)
        target.pump()

    def _hand_over(self, session: Session) -> None:
        """A thread leaves :meth:`wait`: if nobody reads ``session`` now,
        wake one of its waiters to take over."""
        if session.reader_active:
            return
        for waiter in self._waiters:
            if waiter.session is session:
                waiter.cond.notify()
                return

    def keepalive_tick(self) -> None:
        """One round of the keepalive timer (see :mod:`hyper.http20._liveness`)."""
        with self.lock:
            if self._keepalive is not None:
                self._keepalive.tick(self)

    def close(self, error_code: int) -> None:
        """Send GOAWAY on every socket, close them, fail what was pending,
        stop the keepalive timer. Call holding the lock."""
        if self._keepalive is not None:
            self._keepalive.stop()
        for session in self.sessions:
            if session.error is None:
                session.h2.close_connection(error_code)
                session.flush_quietly()
            session.fail(exceptions.ConnectionError("the connection was closed"))
            session.abandon_unprocessed()
        self.after_io()
