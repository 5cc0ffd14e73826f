"""Whether an HTTP/2 socket is still alive: a check before reusing an idle one,
and the optional keepalive timer.

Servers, proxies and NAT boxes drop idle connections, often without a word
(no GOAWAY, sometimes no FIN). A request sent onto such a socket is lost
with it, so before a new request goes on a socket with no stream open,
:func:`check_idle` reads whatever has already arrived (an end of file or a
GOAWAY is noticed at once, without waiting) and, if nothing has come from
the server for ``idle_after`` seconds, sends a PING and waits (bounded) for
its ACK. A socket that fails either check is closed and the request goes on
a new one: it was never sent, so nothing is lost or repeated.

With ``keepalive=`` a small daemon thread (:class:`Keepalive`) also keeps
an idle connection warm and finds a dead one while threads wait on it.
The thread never blocks on the server: each tick it takes the I/O lock,
reads what has already arrived (if no other thread is reading), fails a
socket whose keepalive PING went unanswered for a whole interval, and sends
a PING on a socket silent for an interval. It holds only a weak reference
to the connection, and stops with :meth:`~Keepalive.stop` (``close()``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

from hyper.common import exceptions
from hyper.http20._rtt import PingKind
from hyper.http20._settings import KEEPALIVE_CHECKS_PER_INTERVAL, PROBE_RTT_MULTIPLE, PROBE_TIMEOUT

if TYPE_CHECKING:
    from hyper.http20._driver import Clock, Driver
    from hyper.http20._session import Session

__all__ = ["Keepalive", "check_idle", "probe_timeout"]

log = logging.getLogger(__name__)


def probe_timeout(read_timeout: float | None, rtt: float | None) -> float:
    """How long a liveness PING may take: :data:`PROBE_TIMEOUT`, or
    :data:`PROBE_RTT_MULTIPLE` round trips on a slower link, never more than
    the read timeout."""
    bound = max(PROBE_TIMEOUT, PROBE_RTT_MULTIPLE * (rtt or 0.0))
    return bound if read_timeout is None else min(bound, read_timeout)


def check_idle(driver: Driver, session: Session, idle_after: float | None, clock: Clock) -> None:
    """Before a request on an idle ``session``: fail it if it is found dead.

    Call holding the lock. ``idle_after`` ``None`` skips the PING (only what
    has already arrived is read); ``clock`` bounds the wait for the ACK.
    """
    probing = driver.probing.get(session)
    if session.reader_active and probing is None:
        return  # another thread reads it now: it will see a close
    if not session.reader_active and session.sock.can_read:
        session.receive()  # an end of file or a GOAWAY, most likely
        session.pump()
        driver.after_io()
    if not session.accepting or idle_after is None:
        return
    if probing is None and session.rtt.now() - session.last_received < idle_after:
        return
    try:
        if probing is not None:  # another thread probes it: await its verdict
            driver.wait(session, lambda: session not in driver.probing, clock)
        else:
            _probe(driver, session, clock)
    except exceptions.ReadTimeout as exc:
        log.debug("socket %d: no PING ACK in time, reconnecting", session.generation)
        session.fail(exceptions.ConnectionError(f"an idle connection did not answer a PING: {exc}"))
        driver.after_io()


def _probe(driver: Driver, session: Session, clock: Clock) -> None:
    """Send a PING and wait for its ACK; the ReadTimeout of ``clock`` escapes."""
    payload = session.send_ping(PingKind.PROBE)
    driver.probing[session] = payload
    log.debug("socket %d idle: checking it with a PING", session.generation)
    try:
        driver.progress_nowait(session)
        driver.wait(session, lambda: not session.rtt.in_flight(payload), clock)
    finally:
        session.rtt.forget(payload)
        driver.probing.pop(session, None)
        driver.after_io()


class Keepalive:
    """The keepalive timer of one connection: a daemon thread started with
    its first socket, stopped by ``close()``.

    Every ``interval`` / :data:`KEEPALIVE_CHECKS_PER_INTERVAL` seconds, under
    the I/O lock, for each socket: read what has arrived (if no thread is
    reading it); fail the socket if a keepalive PING has gone unanswered for
    ``interval`` seconds (its waiters get a ConnectionError, the next request
    reconnects); else send a PING if nothing has arrived for ``interval``
    seconds. An idle connection so carries a PING every 1 to 1.5 intervals.

    :param driver: the connection's driver (held weakly).
    :param interval: seconds, positive.
    """

    def __init__(self, driver: Driver, interval: float) -> None:
        self.interval = interval
        self._driver = weakref.ref(driver)
        self._stop: threading.Event | None = None
        self._pings: dict[Session, bytes] = {}

    def ensure_running(self) -> None:
        """Start the thread unless it runs. Call holding the lock."""
        if self._stop is None:
            self._stop = threading.Event()
            thread = threading.Thread(
                target=_run, args=(self._driver, self._stop, self.interval), daemon=True
            )
            thread.name = "hyper-keepalive"
            thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it does at its next tick). Call holding the lock."""
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        self._pings.clear()

    def tick(self, driver: Driver) -> None:
        """One round over the sockets (see the class docs). Call holding the lock."""
        self._pings = {s: p for s, p in self._pings.items() if s in driver.sessions}
        for session in list(driver.sessions):
            if session.error is None and not session.reader_active and session.sock.can_read:
                session.receive()
            if session.error is None:
                self._check(session)
            session.pump()
        driver.after_io()

    def _check(self, session: Session) -> None:
        now = session.rtt.now()
        payload = self._pings.get(session)
        if payload is not None:
            sent = session.rtt.sent_at(payload)
            if sent is None:
                del self._pings[session]  # answered
            elif now - sent >= self.interval:
                session.rtt.forget(payload)
                error = f"no answer to a keepalive PING in {self.interval} s"
                session.fail(exceptions.ConnectionError(error))
                return
            else:
                return
        if now - session.last_received >= self.interval:
            self._pings[session] = session.send_ping(PingKind.KEEPALIVE)


def _run(driver_ref: weakref.ref[Driver], stop: threading.Event, interval: float) -> None:
    """The keepalive thread: tick until stopped or the connection is gone."""
    while not stop.wait(interval / KEEPALIVE_CHECKS_PER_INTERVAL):
        driver = driver_ref()
        if driver is None:
            return
        driver.keepalive_tick()
        del driver  # hold no reference while asleep
