"""Flow-control window managers: the policy for HTTP/2 receive windows.

A window manager decides how much receive window to give back to the server,
and when. The connection creates one instance for itself and one for each
stream, from the class passed as ``window_manager=``. Managers are pure
arithmetic: they never touch a socket or the h2 state machine; the
connection turns the increments they return into WINDOW_UPDATE frames.

A stream's manager hears of data as the application *consumes* it, so an
unread stream stops earning window and its buffer stays bounded by the
window it advertised.
"""

from __future__ import annotations

__all__ = ["MAX_WINDOW_SIZE", "BaseFlowControlManager", "FlowControlManager"]

#: The largest window HTTP/2 allows (RFC 9113, section 6.9.1).
MAX_WINDOW_SIZE = 2**31 - 1


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
    Instances are owned by one connection and only called under its lock,
    so they need no locking of their own.

    :param initial_window_size: the window we advertised when the stream or
        connection opened.
    :param document_size: the expected body size, where known (from
        ``Content-Length``), else ``None``.

    :ivar initial_window_size: as given.
    :ivar window_size: the window the server currently believes it has,
        from this manager's point of view.
    :ivar document_size: as given; the connection may set it when the
        response headers arrive.
    :raises TypeError: if a size is not an int.
    :raises ValueError: if a size is negative or larger than HTTP/2 allows.
    """

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        size = _check_size("initial_window_size", initial_window_size)
        if size > MAX_WINDOW_SIZE:
            raise ValueError(f"initial_window_size must be at most {MAX_WINDOW_SIZE}, got {size}")
        self.initial_window_size: int = size
        self.window_size: int = size
        self.document_size: int | None = (
            None if document_size is None else _check_size("document_size", document_size)
        )

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
    """The simple refill policy.

    After each chunk is consumed: if the window left would fall below a
    quarter of the initial window (or below 1,000 bytes), give back enough
    to restore the full initial window in one WINDOW_UPDATE; otherwise send
    nothing. Batching updates this way costs one frame per three quarters
    of a window. :meth:`blocked` restores the full initial window too.
    """

    #: Refill once the window falls below this fraction of the initial window.
    REFILL_FRACTION = 4
    #: ... or below this many bytes, whichever is larger.
    REFILL_FLOOR = 1000

    def increase_window_size(self, frame_size: int) -> int:
        """Refill to the initial window once it runs low; see the class docs."""
        remaining = self.window_size - frame_size
        threshold = max(self.initial_window_size // self.REFILL_FRACTION, self.REFILL_FLOOR)
        if remaining >= threshold:
            return 0
        return max(self.initial_window_size - remaining, 0)

    def blocked(self) -> int:
        """Give back whatever is missing from the initial window."""
        return max(self.initial_window_size - self.window_size, 0)
