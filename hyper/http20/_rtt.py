"""Round-trip time of one HTTP/2 socket, measured with our own PING frames.

A server must answer a PING with a PING ACK carrying the same 8 bytes "with
higher priority than any other frame" (RFC 9113, section 6.7), so the time
from sending a PING to reading its ACK is one round trip through the network
and both TCP stacks. :class:`RttEstimator` hands out payloads for the PINGs the
session sends for itself (one with the first request of a socket, then at
most one per :data:`RTT_REFRESH_INTERVAL` while DATA arrives, plus the
liveness and keepalive PINGs), recognises their ACKs, and keeps the recent
round trips. The estimate it gives the window managers is the *smallest* of
the last :data:`RTT_SAMPLES` round trips: an ACK sent while the server has
megabytes queued for us waits behind them, and a window sized from that
inflated figure would queue still more (bufferbloat), while the smallest
sample is the path's own delay. Pure bookkeeping: the session sends the
frames and passes the times in.
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "RTT_REFRESH_INTERVAL",
    "RTT_SAMPLES",
    "PingKind",
    "RttEstimator",
    "RttSource",
]

#: How many recent round trips the estimate is the minimum of. With one PING
#: per :data:`RTT_REFRESH_INTERVAL` while data flows, the estimate follows a
#: changed path within about this many seconds of transfer.
RTT_SAMPLES = 8

#: Least time between two round-trip PINGs while DATA arrives, in seconds. A
#: PING and its ACK are 17 bytes each way, so one a second costs nothing, yet
#: the estimate is refreshed often enough for a path that changes.
RTT_REFRESH_INTERVAL = 1.0

#: The first bytes of the payloads of the PINGs hyper sends for itself, so
#: their ACKs are told apart from those of :meth:`HTTP20Connection.ping`.
PING_PREFIX = b"hy"


class PingKind:
    """Why the session sent one of its own PINGs (the third payload byte)."""

    RTT = b"r"
    PROBE = b"p"
    KEEPALIVE = b"k"


class RttSource(Protocol):
    """What a window manager reads: the estimate and the clock it was measured with."""

    @property
    def rtt(self) -> float | None:
        """The round-trip estimate in seconds, or ``None`` before the first."""

    def now(self) -> float:
        """The current time, in seconds, on the clock the round trips use."""


class RttEstimator:
    """The PINGs of one socket in flight and the round trips they measured.

    Not thread-safe: used under the connection's I/O lock.

    :param clock: the time source (seconds, monotonic); tests pass their own.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counter = itertools.count(1)
        self._in_flight: dict[bytes, float] = {}  # payload -> time sent
        self._samples: collections.deque[float] = collections.deque(maxlen=RTT_SAMPLES)
        self._rtt_ping: bytes | None = None
        self._last_rtt_ping = float("-inf")
        #: The smallest of the recent round trips, in seconds, or ``None``
        #: (kept up to date here: window managers read it for every frame).
        self.rtt: float | None = None

    def __repr__(self) -> str:
        return f"<RttEstimator rtt={self.rtt} in_flight={len(self._in_flight)}>"

    @property
    def samples(self) -> tuple[float, ...]:
        """The recent round trips, oldest first."""
        return tuple(self._samples)

    def now(self) -> float:
        """The current time on this estimator's clock."""
        return self._clock()

    def new_ping(self, kind: bytes) -> bytes:
        """Record a PING about to be sent; return its 8-byte payload."""
        payload = PING_PREFIX + kind + next(self._counter).to_bytes(5, "big")
        now = self._clock()
        self._in_flight[payload] = now
        if kind == PingKind.RTT:
            self._rtt_ping, self._last_rtt_ping = payload, now
        return payload

    def rtt_ping_due(self) -> bool:
        """Whether a round-trip PING should go now: none is in flight and the
        last one left at least :data:`RTT_REFRESH_INTERVAL` ago."""
        if self._rtt_ping is not None:
            return False
        return self._clock() - self._last_rtt_ping >= RTT_REFRESH_INTERVAL

    def in_flight(self, payload: bytes) -> bool:
        """Whether the PING with this payload is still waiting for its ACK."""
        return payload in self._in_flight

    def sent_at(self, payload: bytes) -> float | None:
        """When the PING with this payload was sent, if it is still in flight."""
        return self._in_flight.get(payload)

    def acknowledged(self, payload: bytes) -> bool:
        """Take an ACK: record the round trip if the PING was ours.

        :returns: whether it was one of ours (else it belongs to the user).
        """
        sent = self._in_flight.pop(payload, None)
        if sent is None:
            return False
        self._samples.append(max(self._clock() - sent, 0.0))
        self.rtt = min(self._samples)
        if payload == self._rtt_ping:
            self._rtt_ping = None
        return True

    def forget(self, payload: bytes) -> None:
        """Stop waiting for a PING's ACK (its wait gave up)."""
        self._in_flight.pop(payload, None)
        if payload == self._rtt_ping:
            self._rtt_ping = None
