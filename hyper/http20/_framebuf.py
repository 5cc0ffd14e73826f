"""The frame buffer hyper gives h2: frames parsed straight out of each read.

h2 keeps received bytes in one growing buffer: every read is appended to it,
each frame's payload is sliced out of it, and the parsed prefix is deleted.
On a bulk download that buffer is re-allocated at the size of a whole read
(hundreds of KiB) each time it drains, and glibc hands such blocks back to
the kernel and maps them afresh, so every downloaded byte was also a page
fault; the copies themselves were a tenth of the CPU time. This buffer
parses each whole frame where it lies in the read (hyperframe copies the
payload out once, into the frame's own ``bytes``) and copies only a frame
cut off by the end of a read, at most one frame long.

It also makes received frames cheap to format: h2 formats every frame for
its trace log, logging on or not (hyper gives h2 no logger, so the text is
always thrown away), and hyperframe's text for DATA copies and hex-encodes
the whole payload (a fifth of a download's CPU time). Each frame becomes an
instance of a subclass of its class whose text is its type and stream alone.

:func:`install_frame_buffer` puts it into an h2 connection; it keeps h2's
rules (the frame size limit, CONTINUATION following its HEADERS or
PUSH_PROMISE, at most ``CONTINUATION_BACKLOG`` of them) by reusing h2's own
checks, and falls back to h2's buffer if h2's internals are not as expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h2.connection
from h2.exceptions import FrameDataMissingError, ProtocolError
from h2.frame_buffer import FrameBuffer
from hyperframe.exceptions import InvalidDataError, InvalidFrameError
from hyperframe.frame import DataFrame, Frame

if TYPE_CHECKING:  # h2 4.4 names the type; older releases accept any buffer too
    from h2._typing import Buffer

__all__ = ["FRAME_HEADER_SIZE", "DirectFrameBuffer", "install_frame_buffer"]

#: Every HTTP/2 frame starts with a header this long (RFC 9113 section 4.1).
FRAME_HEADER_SIZE = 9

_EMPTY = memoryview(b"")


def _quiet_repr(frame: Frame) -> str:
    return f"{type(frame).__name__}(stream_id={frame.stream_id})"


def _quiet(cls: type[Frame]) -> type[Frame]:
    """The subclass of ``cls`` that received frames of that class become."""
    quiet = _QUIET.get(cls)
    if quiet is None:
        quiet = _QUIET[cls] = type(f"Quiet{cls.__name__}", (cls,), {"__repr__": _quiet_repr})
    return quiet


#: Frame class -> its quiet subclass (made once per class, shared by connections).
_QUIET: dict[type[Frame], type[Frame]] = {}
QuietDataFrame = _quiet(DataFrame)


class DirectFrameBuffer(FrameBuffer):
    """h2's client-side frame buffer, without copying whole reads.

    :meth:`add_data` keeps a view of the bytes given; iterating parses the
    frames in it and, once the view holds no whole frame more, copies the
    rest (part of one frame) aside. So the bytes given need only stay
    unchanged until the iteration that follows ends, which is how h2 uses
    it (``receive_data`` adds, then iterates to the end). An iteration cut
    short by an error means the connection is being torn down (h2 has
    queued its GOAWAY): the rest of that read is dropped.
    """

    def __init__(self) -> None:
        super().__init__(server=False)
        self._view = _EMPTY
        self._pos = 0
        #: The start of a frame that a read cut off; never a whole frame.
        self._partial = bytearray()
        #: Frame class -> quiet subclass, for the classes h2 handles.
        self._quiet: dict[type[Frame], type[Frame]] = {}

    def add_data(self, data: Buffer) -> None:
        """Take the next bytes received (parsed by the iteration that follows)."""
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def _keep_rest(self) -> None:
        """Copy what is left of the current view aside and let the view go."""
        self._partial += self._view[self._pos :]
        self._view, self._pos = _EMPTY, 0

    def _take_partial(self, wanted: int) -> bool:
        """Move bytes from the view to the partial frame until it is ``wanted``
        bytes long; whether it is."""
        need = wanted - len(self._partial)
        if need > 0:
            moved = self._view[self._pos : self._pos + need]
            self._partial += moved
            self._pos += len(moved)
        return len(self._partial) >= wanted

    def _frame_length(self, header: memoryview | bytearray) -> int:
        """The payload length a frame header announces, checked against the limit."""
        length = int.from_bytes(header[:3], "big")
        self._validate_frame_length(length)
        return length

    def _next_raw(self) -> memoryview | None:
        """The next whole frame (header and payload), or None if there is none yet."""
        if self._partial:
            if not self._take_partial(FRAME_HEADER_SIZE):
                return None
            end = FRAME_HEADER_SIZE + self._frame_length(self._partial)
            if not self._take_partial(end):
                return None
            whole, self._partial = self._partial, bytearray()
            return memoryview(whole)
        view, pos = self._view, self._pos
        if len(view) - pos >= FRAME_HEADER_SIZE:
            end = pos + FRAME_HEADER_SIZE + self._frame_length(view[pos : pos + 3])
            if end <= len(view):
                self._pos = end
                return view[pos:end]
        self._keep_rest()
        return None

    def __next__(self) -> Frame:
        """The next complete frame for h2 (header blocks joined, as h2's own buffer does)."""
        while (raw := self._next_raw()) is not None:
            try:
                frame, _ = Frame.parse_frame_header(raw[:FRAME_HEADER_SIZE])
            except (InvalidDataError, InvalidFrameError) as err:
                raise ProtocolError(f"Received frame with invalid header: {err!s}") from err
            try:
                frame.parse_body(raw[FRAME_HEADER_SIZE:])
            except InvalidDataError as err:
                raise ProtocolError("Received frame with non-compliant data") from err
            except InvalidFrameError as err:
                raise FrameDataMissingError("Frame data missing or invalid") from err
            quiet = self._quiet.get(type(frame))
            if quiet is not None:
                frame.__class__ = quiet
            whole = self._update_header_buffer(frame)
            if whole is not None:
                return whole
        raise StopIteration


def install_frame_buffer(conn: h2.connection.H2Connection) -> bool:
    """Give ``conn`` (a client that has received nothing yet) a
    :class:`DirectFrameBuffer`. h2 picks a frame's handler by its exact
    class, so each frame class's handler is registered for its quiet
    subclass too. If h2's internals are not as expected, nothing changes.

    :returns: whether it was installed.
    """
    table = getattr(conn, "_frame_dispatch_table", None)
    old = getattr(conn, "incoming_buffer", None)
    if not isinstance(table, dict) or DataFrame not in table or type(old) is not FrameBuffer:
        return False
    if not callable(getattr(old, "_update_header_buffer", None)):
        return False
    buffer = DirectFrameBuffer()
    for cls, handler in list(table.items()):
        if isinstance(cls, type) and issubclass(cls, Frame) and cls not in _QUIET.values():
            table[_quiet(cls)] = handler
            buffer._quiet[cls] = _quiet(cls)
    buffer.max_frame_size = old.max_frame_size
    conn.incoming_buffer = buffer
    return True
