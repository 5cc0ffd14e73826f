"""The requests adapter's connection pool: one HTTP/2 connection per origin, or HTTP/1.1 ones.

An *origin* here is everything a connection is fixed to when it is made:
scheme, host, port, TLS settings, proxy and timeouts (a :class:`PoolKey`).
The first request to an origin finds out what the server speaks (the TLS
handshake's ALPN answer, or the answer to an h2c offer in cleartext);
requests for the same origin that arrive meanwhile wait for that answer
(at most :data:`PROBE_WAIT` seconds). Once an origin speaks HTTP/2, its one
connection is *shared*: every thread sends on it at once. HTTP/1.1
connections are *exclusive*: checked out to one request until its body has
been read or closed, then kept for reuse (up to ``per_origin`` idle ones).
The pool keeps at most ``maxsize`` origins, dropping the least recently used
idle ones, and closes connections unused for ``idle_timeout`` seconds; both
are checked whenever a connection is taken, without a background thread. An
origin dropped while requests still use it is closed when the last of them
is done. No network I/O happens under the pool's lock: connections are
closed after it is released.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import NamedTuple

from hyper.common import exceptions
from hyper.common.connection import HTTPConnection
from hyper.common.timeout import Timeout
from hyper.common.util import HTTPVersion

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_POOL_CONNECTIONS",
    "DEFAULT_POOL_MAXSIZE",
    "PROBE_WAIT",
    "ConnectionPool",
    "Lease",
    "PoolKey",
]

log = logging.getLogger(__name__)

#: How many origins a pool keeps connections for (requests' default pool count).
DEFAULT_POOL_CONNECTIONS = 10
#: How many idle HTTP/1.1 connections a pool keeps per origin (requests' default).
DEFAULT_POOL_MAXSIZE = 10
#: Seconds after which an unused connection is closed. Shorter than the idle
#: limits of common servers (nginx: 75 s for HTTP/1.1, 180 s for HTTP/2), so
#: the client usually closes first rather than meeting a closed socket.
DEFAULT_IDLE_TIMEOUT = 60.0
#: The longest a request waits for another request to learn what a new
#: origin speaks before it opens a connection of its own.
PROBE_WAIT = 5.0

#: A client certificate as the pool keys it: (cert file, key file, key password).
ClientCert = tuple[str, "str | None", "str | None"]


class PoolKey(NamedTuple):
    """What a connection is fixed to when it is made.

    :ivar scheme: ``"https"`` or ``"http"``.
    :ivar host: the host name or address (IPv6 without brackets).
    :ivar port: the port.
    :ivar verify: ``True``, ``False`` or a CA bundle path (``None`` for http).
    :ivar cert: the client certificate, or ``None``.
    :ivar proxy: the proxy URL, or ``None``.
    :ivar timeout: the connection's timeouts.
    """

    scheme: str
    host: str
    port: int
    verify: bool | str | None
    cert: ClientCert | None
    proxy: str | None
    timeout: Timeout

    @property
    def secure(self) -> bool:
        """Whether connections to this origin use TLS."""
        return self.scheme == "https"


class _Origin:
    """The connections of one :class:`PoolKey`. Guarded by the pool's lock."""

    __slots__ = (
        "exclusive",
        "idle",
        "key",
        "known",
        "last_used",
        "leases",
        "probing",
        "retired",
        "shared",
    )

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.shared: HTTPConnection | None = None  # the HTTP/2 connection, once known
        self.idle: list[tuple[HTTPConnection, float]] = []  # HTTP/1.1, with when freed
        self.leases = 0  # requests holding a connection of this origin
        self.exclusive = 0  # of them, those holding an exclusive connection
        self.probing = False  # a request is finding out the protocol
        self.known = False  # the server has answered what it speaks
        self.last_used = time.monotonic()
        self.retired = False  # dropped from the pool: close when unused

    def drain(self) -> list[HTTPConnection]:
        """Retire the origin; return what can be closed now."""
        self.retired = True
        doomed = [conn for conn, _ in self.idle]
        self.idle.clear()
        if self.shared is not None and self.leases == 0:
            doomed.append(self.shared)
            self.shared = None
        return doomed


class Lease:
    """One request's hold on a pooled connection, from taking it to its body's end.

    Made by :meth:`ConnectionPool.acquire`; :meth:`release` gives it back
    (idempotent). Used by one thread at a time.

    :ivar conn: the connection to send the request on.
    :ivar shared: whether other requests use the connection at the same time.
    """

    __slots__ = ("_done", "_origin", "_pool", "_probe", "conn", "shared")

    def __init__(
        self,
        pool: ConnectionPool,
        origin: _Origin,
        conn: HTTPConnection,
        shared: bool,
        probe: bool = False,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self.conn = conn
        self.shared = shared
        self._probe = probe
        self._done = False

    def settle(self, final: bool) -> None:
        """Tell the pool what the connection turned out to speak.

        An HTTP/2 connection becomes the origin's shared one (if it has
        none yet), and requests waiting for it go ahead at once.

        :param final: the answer is complete (after the TLS handshake, or
            after the response head in cleartext).
        """
        if self._probe or not self.shared:
            self._pool._settle(self, final)

    def release(self, reusable: bool = True) -> None:
        """Give the connection back (once its response is read or closed).

        :param reusable: ``False`` closes an exclusive connection instead of
            keeping it, for one left in an unknown state.
        """
        if not self._done:
            self._done = True
            self._pool._release(self, reusable)


class ConnectionPool:
    """Connections by :class:`PoolKey`, shared where they speak HTTP/2.

    Thread-safe: one lock (with its condition) guards every table here.

    :param factory: makes a new, unconnected connection for a key.
    :param maxsize: the most origins kept.
    :param per_origin: the most idle HTTP/1.1 connections kept per origin;
        with ``block``, also the most in use at once.
    :param block: wait for a free HTTP/1.1 connection rather than open one
        beyond ``per_origin``.
    :param idle_timeout: seconds after which an unused connection is
        closed; ``None``: never.
    :raises ValueError: for a size below 1 or a non-positive timeout.
    """

    def __init__(
        self,
        factory: Callable[[PoolKey], HTTPConnection],
        *,
        maxsize: int = DEFAULT_POOL_CONNECTIONS,
        per_origin: int = DEFAULT_POOL_MAXSIZE,
        block: bool = False,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        for name, size in (("pool_connections", maxsize), ("pool_maxsize", per_origin)):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"{name} must be an int of at least 1, got {size!r}")
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError(f"idle_timeout must be positive or None, got {idle_timeout!r}")
        self._factory = factory
        self.maxsize = maxsize
        self.per_origin = per_origin
        self.block = block
        self.idle_timeout = idle_timeout
        self._cond = threading.Condition()  # guards _origins and every _Origin
        self._origins: OrderedDict[PoolKey, _Origin] = OrderedDict()

    def __repr__(self) -> str:
        with self._cond:
            count, shared = (
                len(self._origins),
                sum(o.shared is not None for o in self._origins.values()),
            )
        return f"<ConnectionPool origins={count} http2={shared}>"

    # --- what tests may look at -------------------------------------------

    @property
    def keys(self) -> list[PoolKey]:
        """The origins kept, least recently used first."""
        with self._cond:
            return list(self._origins)

    # --- taking and giving back -----------------------------------------

    def acquire(self, key: PoolKey, wait: float | None = None) -> Lease:
        """Take a connection for one request to ``key``.

        :param wait: with ``block``, how long to wait for a free HTTP/1.1
            connection (``None``: no limit).
        :raises hyper.common.exceptions.ConnectTimeout: if none became free in time.
        :raises: whatever the factory raises.
        """
        doomed: list[HTTPConnection] = []
        try:
            with self._cond:
                doomed += self._sweep(time.monotonic())
                return self._checkout(key, wait, doomed)
        finally:
            _close_all(doomed)

    def _checkout(self, key: PoolKey, wait: float | None, doomed: list[HTTPConnection]) -> Lease:
        start = time.monotonic()
        while True:
            origin = self._origin(key, doomed)
            lease = self._take(origin, probe_over=time.monotonic() - start >= PROBE_WAIT)
            if lease is not None:
                return lease
            waited = time.monotonic() - start
            limits = [PROBE_WAIT - waited] if origin.probing else []
            if wait is not None:
                if waited >= wait:
                    raise exceptions.ConnectTimeout(
                        f"no connection to {key.host}:{key.port} became free within {wait} s "
                        f"(pool_block is on and {self.per_origin} are in use)"
                    )
                limits.append(wait - waited)
            self._cond.wait(max(0.0, min(limits)) if limits else None)

    def _take(self, origin: _Origin, probe_over: bool) -> Lease | None:
        """A lease on a connection of ``origin`` if one can be had now."""
        if origin.shared is not None:
            return self._lease(origin, origin.shared, shared=True)
        if origin.idle:
            conn, _ = origin.idle.pop()  # the most recently used: the likeliest alive
            return self._lease(origin, conn, shared=False)
        if self.block and origin.exclusive >= self.per_origin:
            return None
        if not origin.known and not origin.probing:
            conn = self._factory(origin.key)  # before any state changes: it may raise
            origin.probing = True
            return self._lease(origin, conn, shared=False, probe=True)
        if origin.known or probe_over:
            return self._lease(origin, self._factory(origin.key), shared=False)
        return None

    def _lease(
        self, origin: _Origin, conn: HTTPConnection, shared: bool, probe: bool = False
    ) -> Lease:
        origin.leases += 1
        origin.exclusive += not shared
        origin.last_used = time.monotonic()
        self._origins.move_to_end(origin.key)
        return Lease(self, origin, conn, shared, probe)

    def _origin(self, key: PoolKey, doomed: list[HTTPConnection]) -> _Origin:
        """The origin for ``key``, made (evicting the oldest idle ones) if needed."""
        origin = self._origins.get(key)
        if origin is not None:
            return origin
        for old_key, old in list(self._origins.items()):
            if len(self._origins) < self.maxsize:
                break
            if old.leases == 0:
                log.debug("pool full: dropping %s:%d", old_key.host, old_key.port)
                doomed += old.drain()
                del self._origins[old_key]
        origin = self._origins[key] = _Origin(key)
        return origin

    def _sweep(self, now: float) -> list[HTTPConnection]:
        """Retire what has been idle too long; return the connections to close."""
        limit = self.idle_timeout
        if limit is None:
            return []
        doomed = []
        for key, origin in list(self._origins.items()):
            if origin.leases == 0 and now - origin.last_used > limit:
                log.debug("closing idle connections to %s:%d", key.host, key.port)
                doomed += origin.drain()
                del self._origins[key]
                continue
            fresh = [(conn, since) for conn, since in origin.idle if now - since <= limit]
            doomed += [conn for conn, since in origin.idle if now - since > limit]
            origin.idle = fresh
        return doomed

    def _settle(self, lease: Lease, final: bool) -> None:
        doomed: list[HTTPConnection] = []
        with self._cond:
            origin = lease._origin
            if final and lease._probe:
                lease._probe = False
                origin.probing = False
            version = lease.conn.version
            sharable = origin.shared is None and not origin.retired and not lease.shared
            if version is HTTPVersion.http20 and sharable:
                log.debug("%s:%d speaks HTTP/2: one shared connection", *origin.key[1:3])
                origin.shared = lease.conn
                lease.shared = True
                origin.exclusive -= 1
                doomed, origin.idle = [conn for conn, _ in origin.idle], []
            if final and version is not None:
                origin.known = True
            self._cond.notify_all()
        _close_all(doomed)

    def _release(self, lease: Lease, reusable: bool) -> None:
        doomed = []
        with self._cond:
            origin = lease._origin
            origin.leases -= 1
            origin.last_used = time.monotonic()
            if lease._probe:  # it failed before finding out: let another request try
                origin.probing = False
            if not lease.shared:
                origin.exclusive -= 1
                keep = (
                    reusable
                    and not origin.retired
                    and lease.conn.version is not HTTPVersion.http20  # a second HTTP/2 one
                    and len(origin.idle) < self.per_origin
                )
                if keep:
                    origin.idle.append((lease.conn, origin.last_used))
                else:
                    doomed.append(lease.conn)
            elif origin.retired and origin.leases == 0 and origin.shared is not None:
                doomed.append(origin.shared)
                origin.shared = None
            self._cond.notify_all()
        _close_all(doomed)

    def close(self) -> None:
        """Close every connection not in use now, and the rest when their
        requests are done. The pool stays usable: later requests connect anew."""
        doomed = []
        with self._cond:
            for origin in self._origins.values():
                doomed += origin.drain()
            self._origins.clear()
            self._cond.notify_all()
        _close_all(doomed)


def _close_all(conns: Iterable[HTTPConnection]) -> None:
    """Close connections, ignoring errors (they are being thrown away)."""
    for conn in conns:
        with contextlib.suppress(exceptions.HyperError, OSError):
            conn.close()
