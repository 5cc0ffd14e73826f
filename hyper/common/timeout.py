"""Timeouts: the value object users pass, and the per-response deadline.

A timeout is a number (connect and read), a ``(connect, read)`` pair, or a
:class:`Timeout` with ``connect``, ``read`` and ``total``. ``read`` bounds
each wait for data; ``total`` bounds a whole response from the request to
the last byte of the body, so a server that sends one byte a second cannot
hold a caller forever. Pure arithmetic on :func:`time.monotonic`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hyper.common.exceptions import ReadTimeout

__all__ = ["Deadline", "Timeout", "TimeoutValue"]


def _check(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout {name} must be a number or None, got {type(value).__name__}")
    if not value > 0:  # also rejects NaN
        raise ValueError(f"timeout {name} must be positive, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Timeout:
    """How long to wait, in seconds; ``None`` means no limit.

    :param connect: for the TCP connection, a proxy tunnel and the TLS
        handshake.
    :param read: for each wait on the server.
    :param total: for a whole response, from sending the request to the
        end of its body.
    :raises TypeError: if a value is not a number or ``None``.
    :raises ValueError: if a value is not positive.
    """

    connect: float | None = None
    read: float | None = None
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            object.__setattr__(self, name, _check(name, getattr(self, name)))

    @classmethod
    def coerce(cls, value: TimeoutValue) -> Timeout:
        """Turn any accepted form of ``timeout=`` into a :class:`Timeout`.

        ``None`` (no limits), a number (connect and read), a
        ``(connect, read)`` pair, or a :class:`Timeout`.

        :raises TypeError: for any other type.
        :raises ValueError: for non-positive values or a pair of wrong length.
        """
        if value is None or isinstance(value, Timeout):
            return value or cls()
        if isinstance(value, tuple):
            if len(value) != 2:
                raise ValueError(f"a timeout tuple is (connect, read), got {len(value)} items")
            return cls(connect=value[0], read=value[1])
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(connect=value, read=value)
        raise TypeError(
            "timeout must be None, a number, a (connect, read) tuple or a Timeout, "
            f"got {type(value).__name__}"
        )

    def deadline(self) -> Deadline:
        """Start the clock for one response."""
        return Deadline(self)


#: What ``timeout=`` accepts.
TimeoutValue = Timeout | float | int | tuple[float | None, float | None] | None


class Deadline:
    """The clock for one response: how long the next wait may take.

    :param timeout: the limits that apply.
    """

    __slots__ = ("_end", "_read")

    def __init__(self, timeout: Timeout) -> None:
        self._read = timeout.read
        self._end = None if timeout.total is None else time.monotonic() + timeout.total

    def next_wait(self) -> float | None:
        """The socket timeout for the next wait: ``read``, capped by what is
        left of ``total``.

        :raises ReadTimeout: if ``total`` has already run out.
        """
        if self._end is None:
            return self._read
        left = self._end - time.monotonic()
        if left <= 0:
            raise ReadTimeout("the response took longer than the total timeout")
        return left if self._read is None else min(left, self._read)

    @property
    def total_bounded(self) -> bool:
        """Whether a total limit applies (so waits must be re-armed each time)."""
        return self._end is not None
