"""Taking GOAWAY frames out of the bytes the server sends, before h2 sees them.

h2 treats a received GOAWAY as the end of the connection: its state machine
closes and every later frame (the DATA of the streams the server promised to
finish) is a protocol error. RFC 9113 section 6.8 says the opposite: streams
at or below the GOAWAY's last stream ID may still complete. So the
connection passes the incoming bytes through :class:`GoAwaySplitter`, which
follows the frame boundaries (nine-byte headers carry each frame's length),
hands every other frame to h2 untouched and in order, and returns each GOAWAY
as a parsed :class:`hyperframe.frame.GoAwayFrame` at its place in the
sequence. Pure: bytes in, pieces out; it never touches a socket.
"""

from __future__ import annotations

import hyperframe.exceptions
from hyperframe.frame import Frame, GoAwayFrame

from hyper.common.exceptions import ProtocolError
from hyper.http20._framebuf import FRAME_HEADER_SIZE

__all__ = [
    "FRAME_HEADER_SIZE",
    "GOAWAY_TYPE",
    "MAX_HEADER_BLOCK",
    "GoAwaySplitter",
    "Piece",
]

#: The frame type of GOAWAY.
GOAWAY_TYPE = 0x7
#: Frame types that start a header block, CONTINUATION, and END_HEADERS.
BLOCK_START_TYPES = frozenset({0x1, 0x5})  # HEADERS, PUSH_PROMISE
CONTINUATION_TYPE = 0x9
END_HEADERS_FLAG = 0x4
#: The most bytes a header block may take on the wire: twice the decoded
#: header list we accept (MAX_HEADER_LIST_SIZE, 64 KiB), since HPACK may
#: encode a little larger than it decodes, plus room for padding.
MAX_HEADER_BLOCK = 2 * 64 * 1024 + 1024

#: What :meth:`GoAwaySplitter.split` returns, in wire order: bytes for h2, or
#: a GOAWAY frame for the connection.
Piece = memoryview | GoAwayFrame


class GoAwaySplitter:
    """Splits incoming HTTP/2 bytes into runs of frames and GOAWAY frames.

    Not thread-safe: one per socket, used under the connection's I/O lock.

    :param max_frame_size: the largest frame payload accepted (what we
        advertised as SETTINGS_MAX_FRAME_SIZE); a longer frame is refused.

    :param max_header_block: the most bytes one header block (HEADERS or
        PUSH_PROMISE with its CONTINUATION frames) may take on the wire.

    :ivar oversized: a frame was refused for its size (the connection
        answers with GOAWAY FRAME_SIZE_ERROR, RFC 9113 section 4.2).
    """

    def __init__(self, max_frame_size: int, max_header_block: int = MAX_HEADER_BLOCK) -> None:
        self._max_frame_size = max_frame_size
        self._max_header_block = max_header_block
        self._block = 0  # bytes of the header block being received
        self.oversized = False
        self._in_frame = 0  # payload bytes of a passed-through frame still to come
        self._carry = bytearray()  # the start of a frame header cut by the end of a read
        self._goaway: bytearray | None = None  # header and payload of a GOAWAY so far
        self._goaway_left = 0

    def split(self, data: memoryview) -> list[Piece]:
        """Cut ``data`` into pieces at GOAWAY frames; every byte is used.

        A frame header cut short at the end of ``data`` is kept and
        completed by the next call.

        :returns: the pieces, in wire order.
        :raises ProtocolError: for a frame longer than the maximum frame
            size (as soon as its header arrives), or a malformed GOAWAY.
        """
        pieces: list[Piece] = []
        pos = start = self._finish_header(data, pieces)
        end = len(data)
        while pos < end:
            if self._in_frame:
                step = min(self._in_frame, end - pos)
                self._in_frame -= step
                pos += step
            elif self._goaway is not None:
                pos = start = self._collect(data, pos, pieces)
            elif end - pos < FRAME_HEADER_SIZE:
                self._carry = bytearray(data[pos:end])
                break
            elif data[pos + 3] == GOAWAY_TYPE:
                if pos > start:
                    pieces.append(data[start:pos])
                pos = start = self._begin_goaway(data[pos : pos + FRAME_HEADER_SIZE], pos)
            else:
                self._in_frame = self._pass(data[pos : pos + FRAME_HEADER_SIZE])
                pos += FRAME_HEADER_SIZE
        if pos > start:
            pieces.append(data[start:pos])
        return pieces

    def _finish_header(self, data: memoryview, pieces: list[Piece]) -> int:
        """Complete a header carried over from the last call; return bytes used."""
        if not self._carry:
            return 0
        need = FRAME_HEADER_SIZE - len(self._carry)
        if len(data) < need:
            self._carry += data
            return len(data)
        header = memoryview(bytes(self._carry) + bytes(data[:need]))
        self._carry = bytearray()
        if header[3] == GOAWAY_TYPE:
            return self._begin_goaway(header, need - FRAME_HEADER_SIZE)
        pieces.append(header)
        self._in_frame = self._pass(header)
        return need

    def _pass(self, header: memoryview) -> int:
        """Check the header of a frame passed to h2; return its payload length.

        Besides the frame size, the bytes of one header block (HEADERS or
        PUSH_PROMISE and its CONTINUATION frames) are counted: h2 buffers a
        whole block before decoding it, so a server could otherwise make it
        hold up to 64 frames of the maximum size.

        :raises ProtocolError: for an oversized frame or header block.
        """
        length = self._length(header)
        kind, flags = header[3], header[4]
        if kind in BLOCK_START_TYPES or (kind == CONTINUATION_TYPE and self._block):
            self._block += length
            if self._block > self._max_header_block:
                raise ProtocolError(
                    f"a header block of over {self._max_header_block} bytes "
                    "(HEADERS with CONTINUATION frames)"
                )
            if flags & END_HEADERS_FLAG:
                self._block = 0
        return length

    def _length(self, header: memoryview) -> int:
        """The payload length a frame header announces, checked as soon as
        the header is here: an oversized frame is refused before its payload
        is waited for (and buffered).

        :raises ProtocolError: if it exceeds the maximum frame size.
        """
        length = int.from_bytes(header[:3], "big")
        if length > self._max_frame_size:
            self.oversized = True
            raise ProtocolError(
                f"a frame of {length} bytes exceeds the maximum frame size "
                f"({self._max_frame_size}; FRAME_SIZE_ERROR)"
            )
        return length

    def _begin_goaway(self, header: memoryview, pos: int) -> int:
        """Start collecting a GOAWAY whose header ends at ``pos + 9``; return that."""
        length = self._length(header)
        self._goaway = bytearray(header)
        self._goaway_left = length
        return pos + FRAME_HEADER_SIZE

    def _collect(self, data: memoryview, pos: int, pieces: list[Piece]) -> int:
        """Add GOAWAY payload bytes from ``data[pos:]``; emit the frame when whole."""
        goaway = self._goaway if self._goaway is not None else bytearray()
        step = min(self._goaway_left, len(data) - pos)
        goaway += data[pos : pos + step]
        self._goaway_left -= step
        if not self._goaway_left:
            pieces.append(_parse_goaway(bytes(goaway)))
            self._goaway = None
        return pos + step


def _parse_goaway(raw: bytes) -> GoAwayFrame:
    """Parse a whole GOAWAY frame (header and payload).

    :raises ProtocolError: if it is malformed (short payload, a stream ID).
    """
    try:
        frame, _ = Frame.parse_frame_header(memoryview(raw[:FRAME_HEADER_SIZE]))
        frame.parse_body(memoryview(raw[FRAME_HEADER_SIZE:]))
    except hyperframe.exceptions.HyperframeError as exc:
        raise ProtocolError(f"malformed GOAWAY frame: {exc}") from exc
    if not isinstance(frame, GoAwayFrame):  # pragma: no cover - the type byte said GOAWAY
        raise ProtocolError("expected a GOAWAY frame")
    return frame
