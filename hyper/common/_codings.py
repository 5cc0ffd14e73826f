"""The content codings themselves: one stage class per coding.

Each :class:`Stage` undoes one coding on bytes queued with ``feed`` and hands
out decoded bytes with ``read(n)``, asking its codec for bounded output per
call (zlib's ``max_length``, brotli's ``output_buffer_limit``, and for zstd a
walk over the framing that hands the codec only blocks whose output fits).
:mod:`hyper.common.decoders` chains stages into the public decoder and owns the
one optional import (zstd), handing :class:`ZstdStage` its codec; nothing here
imports an optional package. Codec errors become
:class:`~hyper.common.exceptions.ContentDecodingError` here, with the original
as ``__cause__``.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from typing import Protocol

import brotli

from hyper.common.exceptions import ContentDecodingError

# Compressed bytes handed to a codec per call, at least: zlib copies the input
# it could not use into ``unconsumed_tail``, so this bounds that copy.
_INPUT_SLICE = 64 * 1024
# Output a codec is asked for per call (brotli overshoots its limit, up to
# about twice plus its 32 KiB ring buffer).
_OUTPUT_SLICE = 256 * 1024
# zstd framing (RFC 8878, section 3.1): magic numbers and the largest block.
_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE_MAGIC = 0x184D2A50
_ZSTD_SKIPPABLE_MASK = 0xFFFFFFF0
_ZSTD_BLOCK_MAX = 128 * 1024
_ZSTD_FRAME_HEADER_MAX = 18
_ZSTD_DICT_ID_SIZES = (0, 1, 2, 4)
_ZSTD_CONTENT_SIZE_SIZES = (0, 2, 4, 8)


def join_parts(parts: list[bytes]) -> bytes:
    """The parts as one bytes object, without a copy for a single part."""
    return parts[0] if len(parts) == 1 else b"".join(parts)


class InputQueue:
    """Fed bytes waiting for a codec, handed out as views without copying."""

    __slots__ = ("_chunks", "_offset", "size")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._offset = 0
        self.size = 0

    def append(self, data: bytes) -> None:
        """Queue *data* behind what is queued."""
        self._chunks.append(data)
        self.size += len(data)

    def peek(self, limit: int) -> memoryview:
        """Up to *limit* bytes from the front, taken from one chunk."""
        if not self._chunks:
            return memoryview(b"")
        return memoryview(self._chunks[0])[self._offset : self._offset + limit]

    def head(self, count: int) -> bytes:
        """The first *count* bytes (fewer if fewer are queued), across chunks."""
        parts: list[bytes] = []
        offset, wanted = self._offset, count
        for chunk in self._chunks:
            parts.append(chunk[offset : offset + wanted])
            wanted -= len(parts[-1])
            offset = 0
            if not wanted:
                break
        return b"".join(parts)

    def consume(self, count: int) -> None:
        """Drop *count* bytes (at most :attr:`size`) from the front."""
        self.size -= count
        while count:
            left = len(self._chunks[0]) - self._offset
            if count < left:
                self._offset += count
                return
            count -= left
            self._chunks.popleft()
            self._offset = 0


class Stage:
    """Undoes one coding: compressed bytes in, at most *n* bytes out per read.

    Subclasses implement :meth:`_decode` (which may return more than asked;
    the excess is kept for the next read) and :meth:`_complete`.
    """

    name = "identity"
    errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self.input = InputQueue()
        self.finished = False  # no more input will come
        self.done = False  # finished, ended properly, and all output read
        self._idle = True  # the last read found nothing more to produce
        self._received = False
        self._pending = b""
        self._pending_pos = 0

    def feed(self, data: bytes) -> None:
        """Queue *data*, which must not be empty."""
        self.input.append(data)
        self._received, self._idle = True, False

    def finish(self) -> None:
        """No more input will come; raise now if that leaves the coding cut short
        and nothing more to read (else the read that finds so raises)."""
        self.finished = True
        if self._idle and not self.done:
            self._conclude()

    def read(self, n: int) -> bytes:
        """At most *n* decoded bytes; ``b""`` when the input queued so far is
        used up, or the coding ended.

        :raises ContentDecodingError: the data is corrupt, or truncated.
        """
        if self._pending:
            return self._take_pending(n)
        if self.done:
            return b""
        try:
            out = self._decode(n)
        except self.errors as exc:
            raise ContentDecodingError(f"corrupt {self.name} data: {exc}") from exc
        self._idle = not out
        if len(out) > n:
            self._pending, self._pending_pos = out, n
            return out[:n]
        if not out and self.finished:
            self._conclude()
        return out

    def _take_pending(self, n: int) -> bytes:
        start = self._pending_pos
        out = self._pending[start : start + n]
        self._pending_pos += len(out)
        if self._pending_pos == len(self._pending):
            self._pending = b""
        return out

    def _conclude(self) -> None:
        # An empty body is an empty body, whatever its header says (HEAD, 304).
        if self._received and not self._complete():
            raise ContentDecodingError(f"truncated {self.name} data")
        self.done = True

    def _decode(self, n: int) -> bytes:
        view = self.input.peek(n)
        self.input.consume(len(view))
        return view.tobytes()

    def _complete(self) -> bool:
        return True


def _is_zlib_header(head: bytes) -> bool:
    """Whether two bytes open a zlib stream (RFC 1950) rather than raw deflate."""
    return (
        head[0] & 0x0F == zlib.DEFLATED
        and head[0] >> 4 <= 7
        and int.from_bytes(head, "big") % 31 == 0
    )


class ZlibStage(Stage):
    """gzip (any number of members, as browsers accept) or deflate.

    ``deflate`` is meant to be zlib-wrapped (RFC 9110) but servers also send
    raw deflate; the first two bytes tell which.
    """

    errors = (zlib.error,)

    def __init__(self, gzip: bool) -> None:
        super().__init__()
        self.name = "gzip" if gzip else "deflate"
        self._gzip = gzip
        self._obj: zlib._Decompress | None = None
        self._more = False  # the last call filled its output: more may be pending
        self._ended = False  # deflate only: the stream ended

    def _start(self) -> zlib._Decompress | None:
        if self._gzip:
            wbits = 16 + zlib.MAX_WBITS
        elif self._ended:
            raise ContentDecodingError("data after the end of the deflate stream")
        elif self.input.size < 2:
            return None
        else:
            wbits = zlib.MAX_WBITS if _is_zlib_header(self.input.head(2)) else -zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)
        return self._obj

    def _decode(self, n: int) -> bytes:
        parts: list[bytes] = []
        want = n
        while want:
            view = self.input.peek(max(_INPUT_SLICE, want >> 2))
            if not view and not self._more:
                break
            obj = self._obj or self._start()
            if obj is None:
                break
            out = obj.decompress(view, want)
            # At the end, the rest is in unused_data (unconsumed_tail may repeat it).
            used = len(view) - len(obj.unused_data if obj.eof else obj.unconsumed_tail)
            self.input.consume(used)
            self._more = len(out) == want
            if out:
                parts.append(out)
                want -= len(out)
            if obj.eof:
                self._obj, self._more, self._ended = None, False, True
            elif not out and not used:
                break
        return join_parts(parts) if parts else b""

    def _complete(self) -> bool:
        return self._obj is None and not self.input.size and (self._gzip or self._ended)


class BrotliStage(Stage):
    """br (RFC 7932), asked for bounded output with ``output_buffer_limit``."""

    name = "br"
    errors = (brotli.error,)

    def __init__(self) -> None:
        super().__init__()
        self._obj = brotli.Decompressor()
        self._more = False

    def _decode(self, n: int) -> bytes:
        obj, want = self._obj, n
        parts: list[bytes] = []
        while want > 0:
            limit = min(want, _OUTPUT_SLICE)
            # Drain what is pending before handing over more input.
            if self._more or not obj.can_accept_more_data():
                view = memoryview(b"")
            else:
                view = self.input.peek(_INPUT_SLICE)
                if not view:
                    break
            out = obj.process(view, output_buffer_limit=limit)
            self.input.consume(len(view))
            self._more = len(out) >= limit and not obj.is_finished()
            if out:
                parts.append(out)
                want -= len(out)
            elif not view:
                break
        return join_parts(parts) if parts else b""

    def _complete(self) -> bool:
        return bool(self._obj.is_finished()) and not self.input.size


class FrameDecoder(Protocol):
    """What a zstd backend offers for one frame: all output of the given input."""

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: memoryview, /) -> bytes: ...


_BLOCK, _FRAME_END, _MAGIC = "block", "frame end", "magic"


class ZstdStage(Stage):
    """zstd (RFC 8878), one or more frames, bounded by walking the framing.

    Neither zstandard's ``decompressobj`` nor its readers bound the output of
    one call on input fed piecemeal, so this stage reads the block headers
    itself: a block's output is at most its declared size (raw and RLE
    blocks) or 128 KiB (compressed blocks), and each call to the frame
    decoder gets only the blocks whose bounds fit the output wanted. The
    decoder still checks everything else.
    """

    name = "zstd"

    def __init__(self, new_frame: Callable[[], FrameDecoder], errors: tuple[type[Exception], ...]):
        super().__init__()
        self.errors = errors
        self._new_frame = new_frame
        self._frame: FrameDecoder | None = None
        self._state = _MAGIC
        self._pass = 0  # bytes to hand to the frame decoder as they are
        self._skip = 0  # bytes of a skippable frame left to drop
        self._checksum = False

    def _decode(self, n: int) -> bytes:
        budget = max(n, _ZSTD_BLOCK_MAX)
        room = budget
        parts: list[bytes] = []
        while True:
            used = self._step(room, parts)
            if used is not None:
                room -= used
            elif parts or room == budget:
                return join_parts(parts) if parts else b""
            else:  # the next block did not fit, and the accounted ones gave nothing
                room = budget

    def _step(self, room: int, parts: list[bytes]) -> int | None:
        """Go over one piece of framing; return the output it may add, or
        ``None`` when it needs more input or more room."""
        if self._skip:
            count = min(self._skip, self.input.size)
            self.input.consume(count)
            self._skip -= count
            return 0 if count else None
        if self._pass and self._frame is not None:
            view = self.input.peek(min(self._pass, _INPUT_SLICE))
            if not view:
                return None
            out = self._frame.decompress(view)
            self.input.consume(len(view))
            self._pass -= len(view)
            if out:
                parts.append(out)
            if not self._pass and self._state is _FRAME_END:
                self._end_frame()
            return 0
        if self._state is _BLOCK:
            return self._block_header(room)
        return self._frame_header()

    def _frame_header(self) -> int | None:
        head = self.input.head(_ZSTD_FRAME_HEADER_MAX)
        if len(head) < 5:
            return None
        magic = int.from_bytes(head[:4], "little")
        if magic & _ZSTD_SKIPPABLE_MASK == _ZSTD_SKIPPABLE_MAGIC:
            if len(head) < 8:
                return None
            self.input.consume(8)
            self._skip = int.from_bytes(head[4:8], "little")
            return 0
        if magic != _ZSTD_MAGIC:
            raise ContentDecodingError("corrupt zstd data: not a zstd frame")
        descriptor = head[4]
        single_segment = descriptor >> 5 & 1
        size = 5 + (1 - single_segment) + _ZSTD_DICT_ID_SIZES[descriptor & 3]
        size += _ZSTD_CONTENT_SIZE_SIZES[descriptor >> 6] or single_segment
        if len(head) < size:
            return None
        self._frame = self._new_frame()
        self._checksum = bool(descriptor & 4)
        self._pass, self._state = size, _BLOCK
        return 0

    def _block_header(self, room: int) -> int | None:
        head = self.input.head(3)
        if len(head) < 3:
            return None
        value = int.from_bytes(head, "little")
        kind, size = value >> 1 & 3, value >> 3
        if kind == 3 or size > _ZSTD_BLOCK_MAX:
            raise ContentDecodingError("corrupt zstd data: invalid block header")
        bound = _ZSTD_BLOCK_MAX if kind == 2 else size
        if bound > room:
            return None
        self._pass = 3 + (1 if kind == 1 else size)
        if value & 1:  # the frame's last block, then its checksum
            self._pass += 4 * self._checksum
            self._state = _FRAME_END
        return bound

    def _end_frame(self) -> None:
        if self._frame is None or not self._frame.eof:
            raise ContentDecodingError("corrupt zstd data: the frame did not end")
        self._frame, self._state = None, _MAGIC

    def _complete(self) -> bool:
        return self._state is _MAGIC and not self._skip and not self.input.size
