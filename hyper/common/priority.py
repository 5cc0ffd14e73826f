"""Request priority as RFC 9218 defines it: the ``priority`` header field.

RFC 9113 deprecated HTTP/2's original priority tree; its replacement,
"Extensible Prioritization" (RFC 9218), is a plain header field that works
the same over HTTP/2 and HTTP/1.1 (where proxies and CDNs use it):
``priority: u=0, i`` asks for urgency 0 (most urgent of 0-7; 3 is the
default) and incremental delivery (the client can use the body piece by
piece, so the server may interleave it with other responses). A server is
free to ignore it. :class:`Priority` holds the two parameters and renders
the field value; ``request(..., priority=...)`` sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_URGENCY",
    "MAX_URGENCY",
    "Priority",
    "PriorityType",
    "priority_field",
    "with_priority",
]

#: The urgency a request has when it says nothing (RFC 9218 section 4.1).
DEFAULT_URGENCY = 3
#: The least urgent level; 0 is the most urgent.
MAX_URGENCY = 7


@dataclass(frozen=True)
class Priority:
    """The priority of a request (RFC 9218).

    :param urgency: 0 (most urgent) to 7 (least); default 3.
    :param incremental: whether the response is useful piece by piece (an
        image, a video, a streamed log) rather than only once complete.
    :raises TypeError: if ``urgency`` is not an int or ``incremental`` not a bool.
    :raises ValueError: if ``urgency`` is outside 0-7.
    """

    urgency: int = DEFAULT_URGENCY
    incremental: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.urgency, bool) or not isinstance(self.urgency, int):
            raise TypeError(f"urgency must be an int, got {type(self.urgency).__name__}")
        if not 0 <= self.urgency <= MAX_URGENCY:
            raise ValueError(f"urgency must be 0-{MAX_URGENCY}, got {self.urgency}")
        if not isinstance(self.incremental, bool):
            raise TypeError(f"incremental must be a bool, got {type(self.incremental).__name__}")

    @property
    def field_value(self) -> bytes:
        """The ``priority`` header value, e.g. ``b"u=1, i"``; the defaults are
        left out (``b""`` for the default priority)."""
        parts = []
        if self.urgency != DEFAULT_URGENCY:
            parts.append(b"u=%d" % self.urgency)
        if self.incremental:
            parts.append(b"i")
        return b", ".join(parts)


#: What ``priority=`` accepts: a :class:`Priority`, an urgency alone, or ``None``.
PriorityType = Priority | int | None


def priority_field(priority: PriorityType) -> tuple[bytes, bytes] | None:
    """The ``priority`` header pair to send for ``priority=``, or ``None``
    when nothing needs sending (``None`` or the default priority).

    :raises TypeError: for anything but a :class:`Priority`, an int or ``None``.
    :raises ValueError: for an urgency outside 0-7.
    """
    if priority is None:
        return None
    if isinstance(priority, bool) or not isinstance(priority, (Priority, int)):
        raise TypeError(f"priority must be a Priority or an int, got {type(priority).__name__}")
    value = (Priority(priority) if isinstance(priority, int) else priority).field_value
    return (b"priority", value) if value else None


def with_priority(
    pairs: list[tuple[bytes, bytes]], priority: PriorityType
) -> list[tuple[bytes, bytes]]:
    """Request header pairs with the ``priority`` field of ``priority=``
    replacing any the caller put among them (unchanged for ``None``).

    :raises TypeError: for a ``priority`` of the wrong type.
    :raises ValueError: for an urgency outside 0-7.
    """
    if priority is None:
        return pairs
    field = priority_field(priority)
    kept = [pair for pair in pairs if pair[0].lower() != b"priority"]
    return kept if field is None else [*kept, field]
