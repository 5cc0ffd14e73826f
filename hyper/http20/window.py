"""Flow-control window managers: the policy for HTTP/2 receive windows.

A window manager decides how much receive window to give back to the server,
and when. The connection creates one instance for itself and one for each
stream, from the class passed as ``window_manager=``. Managers are pure
arithmetic: they never touch a socket or the h2 state machine; the
connection turns the increments they return into WINDOW_UPDATE frames, and
gives each manager a read-only round-trip estimate (:attr:`~BaseFlowControlManager.rtt`)
measured with PING frames.

A stream's manager hears of data as the application *consumes* it, so an
unread stream stops earning window and its buffer stays bounded by the
window it advertised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyper.http20._rtt import RttSource

__all__ = ["MAX_WINDOW_SIZE", "BaseFlowControlManager", "FlowControlManager"]

#: The largest window HTTP/2 allows (RFC 9113, section 6.9.1).
MAX_WINDOW_SIZE = 2**31 - 1

_MIB = 1024 * 1024


def _check_size(name: str, value: object) -> int:
    """Validate a window or document size: an int from 0 to the HTTP/2 maximum."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


class BaseFlowControlManager:
    """The interface every window manager implements.

    Subclass it and implement :meth:`increase_window_size` and
    :meth:`blocked`; pass the class (not an instance) as ``window_manager=``.
    Instances are owned by one connection and only called under its I/O
    lock, so they need no locking of their own; do not share one between
    connections.

    :param initial_window_size: the window we advertised when the stream or
        connection opened.
    :param document_size: the expected body size, where known (from
        ``Content-Length``), else ``None``.

    :ivar initial_window_size: as given: the window advertised at the start.
        It never changes, even when a manager grows the window beyond it.
    :ivar window_size: the window the server currently believes it has,
        from this manager's point of view: the initial window, less the
        bytes reported to :meth:`increase_window_size`, plus the increments
        returned. It may exceed ``initial_window_size`` once a manager gives
        more back than was used (a window may grow up to
        :data:`MAX_WINDOW_SIZE`).
    :ivar document_size: as given; the connection may set it when the
        response headers arrive.
    :raises TypeError: if a size is not an int.
    :raises ValueError: if a size is negative or larger than HTTP/2 allows.
    """

    # Class-level defaults, so a subclass whose __init__ skips ours still works.
    _rtt_source: RttSource | None = None
    _connection_level = False

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        size = _check_size("initial_window_size", initial_window_size)
        if size > MAX_WINDOW_SIZE:
            raise ValueError(f"initial_window_size must be at most {MAX_WINDOW_SIZE}, got {size}")
        self.initial_window_size: int = size
        self.window_size: int = size
        self.document_size: int | None = (
            None if document_size is None else _check_size("document_size", document_size)
        )

    @property
    def rtt(self) -> float | None:
        """The connection's round-trip time estimate in seconds, or ``None``.

        Read-only; kept up to date by the connection: the smallest round
        trip of the last 8 PINGs hyper sent on this socket (one goes with the
        first request, then at most one a second while DATA arrives).
        ``None`` until the first ACK, or for a manager not attached to a
        connection.
        """
        source = self._rtt_source
        return None if source is None else source.rtt

    @property
    def connection_level(self) -> bool:
        """Whether this manager governs the connection's window (``True``)
        or one stream's (``False``). Read-only; set by the connection."""
        return self._connection_level

    def increase_window_size(self, frame_size: int) -> int:
        """Decide how much window to give back after ``frame_size`` bytes.

        Called once per chunk of data consumed (``window_size`` has not yet
        been reduced by ``frame_size``). Return the increment to send in a
        WINDOW_UPDATE, or 0 to send none now.
        """
        raise NotImplementedError("window managers must implement increase_window_size()")

    def blocked(self) -> int:
        """Called when the server says it is blocked by our window.

        Return the increment to send, or 0.
        """
        raise NotImplementedError("window managers must implement blocked()")

    def _attach(self, source: RttSource | None, *, connection_level: bool) -> None:
        """Give the manager its connection's round-trip estimate (called by the session)."""
        self._rtt_source = source
        self._connection_level = connection_level

    def _handle_frame(self, frame_size: int) -> int:
        """Account for ``frame_size`` consumed bytes; return the increment."""
        increment = self.increase_window_size(frame_size)
        self.window_size = min(self.window_size - frame_size + increment, MAX_WINDOW_SIZE)
        return increment

    def _blocked(self) -> int:
        """Handle a blocked signal; return the increment."""
        increment = self.blocked()
        self.window_size = min(self.window_size + increment, MAX_WINDOW_SIZE)
        return increment


class FlowControlManager(BaseFlowControlManager):
    """The default policy: windows topped up in batches, grown to the
    bandwidth-delay product of the link (BDP estimation), up to a cap.

    A window of *W* bytes lets the server send at most *W* bytes per round
    trip, so on a link of bandwidth *B* and round trip *R* a transfer needs
    about *B* * *R* bytes of window (5 MB at 100 MB/s and 50 ms) or it
    idles part of every round trip. The manager keeps a *target* window
    (:attr:`target_window_size`, at first the initial window) and, each
    time :meth:`increase_window_size` is called:

    1. Measures. Given a round-trip estimate *R* (:attr:`rtt`; without one
       nothing is measured and the window never grows), it adds the bytes
       to the current sample: those the application consumed (a stream's
       manager) or that arrived (the connection's). Once the sample spans
       *S* = max(*R*, :attr:`MIN_SAMPLE_TIME`) seconds, the drain per round
       trip is *drained* = bytes * *R* / elapsed, and a new sample begins.
       Before that, when *R* is at least :attr:`MIN_SAMPLE_TIME`, the bytes
       counted so far are already a lower bound of *drained* (they drained
       in less than a round trip), so growth need not wait for the end of
       the sample: the first window of a transfer is enough evidence.
    2. Grows. If *drained* * :attr:`GROW_THRESHOLD` reaches the target, the
       window, not the link or the reader, is what limits the transfer: the
       target is multiplied by :attr:`GROWTH_FACTOR`, up to the cap (step 4),
       and the whole difference is given back at once. The next sample
       starts one round trip later, when the larger window can first show.
       The target settles where a round trip drains less than a third of
       it: three to twelve times the BDP, within the cap. With the default
       sizes a stream's window is 32 MiB or 64 MiB, the connection's 64 MiB
       or 128 MiB. A reader slower than the link drains less than the link
       could deliver, so its window grows only as far as its own pace
       justifies, and an unread stream drains nothing. On a local link (*R*
       near zero) *drained* is tiny next to any useful window: the window
       stays at its initial size.
    3. Refills. Otherwise it gives back what was used, restoring the full
       target in one WINDOW_UPDATE, once :attr:`MAX_WITHHELD` bytes have
       been used or the window left would fall below a quarter of the target
       (:attr:`REFILL_FRACTION`) or :attr:`REFILL_FLOOR` bytes; else it
       sends nothing. Small windows so cost one frame per three quarters of
       a window, large ones one frame per MiB, and the server always holds
       nearly all of a large window.
    4. Caps. A stream's target never exceeds :attr:`STREAM_WINDOW_CAP`, nor
       its ``document_size`` when known (a window larger than the body buys
       nothing); the connection's never exceeds
       :attr:`CONNECTION_WINDOW_CAP`. The connection's manager measures all
       DATA as it arrives, so its *drained* is the sum over the streams: it
       is sized for the sum.

    :meth:`blocked` restores the full target. ``initial_window_size`` keeps
    the advertised value; ``window_size`` never exceeds the target. Like
    every manager, an instance is called only under its connection's I/O
    lock (not thread-safe on its own).
    """

    #: Refill once the window falls below this fraction of the target window.
    REFILL_FRACTION = 4
    #: ... or below this many bytes, whichever is larger.
    REFILL_FLOOR = 1000
    #: ... or once this much of it has been used: a large window is topped
    #: up in steps of this size, so the server always has nearly all of it
    #: (one 13-byte WINDOW_UPDATE per MiB; a refill at a quarter would leave
    #: a 16 MiB window with 4 to 16 MiB, 10 on average, halving a fast
    #: link's throughput at a 50 ms round trip).
    MAX_WITHHELD = _MIB
    #: Grow when one round trip drains at least 1/GROW_THRESHOLD of the
    #: target. A window-limited transfer drains nearly all of it per idle
    #: round trip; but *R* is the smallest round trip measured, and under
    #: load a window takes longer to come back (the server's and the
    #: network's queues), so a third leaves room for a loaded round trip up
    #: to three times the idle one, where a half stopped growth short of the
    #: link's speed in measurements at 50 ms.
    GROW_THRESHOLD = 3
    #: Multiply the target by this much at each growth (at most once per two
    #: round trips). Four reaches the cap from the initial window in one
    #: step: doubling took a round trip more, about 10 % of a 32 MiB
    #: download at 50 ms, and the cap bounds the overshoot.
    GROWTH_FACTOR = 4
    #: Shortest sample, in seconds: with a round trip near zero, rates over
    #: shorter spans are dominated by the bursts in which an application reads.
    MIN_SAMPLE_TIME = 0.01
    #: The largest target of a stream's window, twice the default initial
    #: window: it bounds what one stream may hold unread once grown (only a
    #: stream read as fast as it arrives grows). 64 MiB per 50 ms round trip
    #: is 1.3 GB/s; the initial 32 MiB, 670 MB/s.
    STREAM_WINDOW_CAP = 64 * _MIB
    #: The largest target of the connection's window: two streams at their cap.
    CONNECTION_WINDOW_CAP = 128 * _MIB

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        super().__init__(initial_window_size, document_size)
        self._target = self.initial_window_size
        self._sample_start: float | None = None
        self._sample_bytes = 0

    @property
    def target_window_size(self) -> int:
        """The window this manager currently keeps open: the initial window,
        grown by BDP estimation up to its cap."""
        return self._target

    @property
    def window_cap(self) -> int:
        """The largest target this manager may grow to (step 4 of the class docs)."""
        if self.connection_level:
            cap = self.CONNECTION_WINDOW_CAP
        else:
            cap = self.STREAM_WINDOW_CAP
            if self.document_size is not None:
                cap = min(cap, self.document_size)
        return min(max(cap, self.initial_window_size), MAX_WINDOW_SIZE)

    def increase_window_size(self, frame_size: int) -> int:
        """Measure, grow, refill; see the class docs."""
        grown = self._measure(frame_size)
        remaining = self.window_size - frame_size
        threshold = max(self._target // self.REFILL_FRACTION, self.REFILL_FLOOR)
        withheld = self._target - remaining
        if not grown and remaining >= threshold and withheld < self.MAX_WITHHELD:
            return 0
        return max(self._target - remaining, 0)

    def blocked(self) -> int:
        """Give back whatever is missing from the target window."""
        return max(self._target - self.window_size, 0)

    def _measure(self, frame_size: int) -> bool:
        """Steps 1, 2 and 4: count the drain, grow the target; whether it grew."""
        source = self._rtt_source
        rtt = None if source is None else source.rtt
        if source is None or rtt is None:
            self._sample_start = None
            return False
        now = source.now()
        start = self._sample_start
        if start is None or now < start:  # no sample yet, or waiting for a grown window
            if start is None:
                self._sample_start, self._sample_bytes = now, 0
            return False
        self._sample_bytes += frame_size
        elapsed = now - start
        if elapsed < max(rtt, self.MIN_SAMPLE_TIME):
            # Within the round trip: what drained so far is a lower bound.
            drained = self._sample_bytes if rtt >= self.MIN_SAMPLE_TIME else 0.0
        else:
            drained = self._sample_bytes * rtt / elapsed
            self._sample_start, self._sample_bytes = now, 0
        if drained * self.GROW_THRESHOLD < self._target:
            return False
        cap = self.window_cap
        if self._target >= cap:
            return False
        self._target = min(self._target * self.GROWTH_FACTOR, cap)
        self._sample_start, self._sample_bytes = now + rtt, 0
        return True
