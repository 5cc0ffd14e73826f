"""h2's connection, with request-body DATA queued without h2's copies.

h2 serialises every frame it sends into one growing buffer: a DATA frame's
payload is copied into a new ``bytes`` with its header, then into the
buffer, which ``data_to_send()`` copies once more into the ``bytes`` it
returns. On an upload that is four copies of every byte, each into memory
freshly allocated at the size of a frame or of a whole flush (hundreds of
KiB), which glibc maps afresh from the kernel each time, so each copy was
also a page fault per 4 KiB. :class:`H2Connection` keeps h2's state machine
and flow-control accounting untouched and changes only where a DATA frame
goes: its nine-byte header and a reference to its payload join a list of
parts in wire order, which :meth:`H2Connection.take_parts` hands to the
socket, where they are copied once, into a write buffer that is reused.

Everything else (HEADERS, SETTINGS, WINDOW_UPDATE, padded DATA) still goes
through h2's own buffer; its bytes are moved into the list before each DATA
frame, so the order on the wire is h2's. If a future h2 stops routing frames
through ``_prepare_for_sending``, every frame simply stays in h2's buffer.

The connection's HPACK encoder is a :class:`CachingEncoder`: a program
sending the same request again (the same headers, in the same order) gets
the header block encoded last time, when encoding it changed nothing and the
encoder's table is as it was then. HPACK encoding is a pure function of the
fields and the table, so the bytes are the ones hpack would produce; only the
cost (a sixth of a small request's CPU time) goes.
"""

from __future__ import annotations

import struct
from typing import Any

import h2.config
import h2.connection
import hpack
from hyperframe.frame import DataFrame, Frame

__all__ = ["CachingEncoder", "H2Connection", "Part"]

#: A piece of the outgoing byte stream: bytes, or a view of a request body's
#: immutable bytes (the socket copies mutable buffers when it queues them).
Part = bytes | memoryview

#: A frame header: 24-bit length (as 16 + 8 bits), type, flags, stream ID.
_HEADER = struct.Struct(">HBBBL")
_DATA_TYPE = 0x0
_END_STREAM = 0x1


#: How many distinct header lists :class:`CachingEncoder` remembers.
ENCODER_CACHE_SIZE = 32


class CachingEncoder(hpack.Encoder):
    """An HPACK encoder that reuses the block of a header list it encoded
    before, when that encoding left its dynamic table unchanged and the
    table is still in the same state.

    The table's state is pinned by its newest entry (the object itself, held
    here, so it cannot be freed and its identity reused), its length and its
    maximum size: every insertion makes a new newest entry, an eviction
    shortens the table, and a resize is sent as an update before the next
    block (such a block is never taken from the cache).
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}

    def _state(self) -> tuple[Any, ...]:
        table = self.header_table
        entries = table.dynamic_entries
        return (entries[0] if entries else None, len(entries), table.maxsize)

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        """Encode ``headers`` as hpack does (see the class docs)."""
        if isinstance(headers, dict) or self.header_table.resized:
            return super().encode(headers, huffman)
        fields = tuple(headers)
        key = (huffman, fields, tuple(map(type, fields)))
        state = self._state()
        cached = self._cache.get(key)
        if cached is not None and _same(cached[0], state):
            return cached[1]
        block = super().encode(fields, huffman)
        if _same(self._state(), state):  # a pure encoding: it may be reused
            if len(self._cache) >= ENCODER_CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = (state, block)
        return block


def _same(one: tuple[Any, ...], other: tuple[Any, ...]) -> bool:
    """Whether two encoder table states are the same (the newest entries by identity)."""
    return one[0] is other[0] and one[1:] == other[1:]


class H2Connection(h2.connection.H2Connection):
    """An h2 client connection whose unpadded DATA frames skip h2's buffer
    and whose HPACK encoder is a :class:`CachingEncoder`."""

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self._parts: list[Part] = []
        encoder = CachingEncoder()
        encoder.header_table_size = self.encoder.header_table_size
        encoder.table_size_changes = list(self.encoder.table_size_changes)
        encoder.header_table.resized = self.encoder.header_table.resized
        self.encoder = encoder

    def _prepare_for_sending(self, frames: list[Frame]) -> None:
        """Queue ``frames`` (h2 calls this for every frame it sends)."""
        if len(frames) == 1 and type(frames[0]) is DataFrame and "PADDED" not in frames[0].flags:
            frame = frames[0]
            self._take_h2_bytes()  # what h2 queued before this frame goes first
            length = len(frame.data)
            flags = _END_STREAM if "END_STREAM" in frame.flags else 0
            self._parts.append(
                _HEADER.pack(length >> 8, length & 0xFF, _DATA_TYPE, flags, frame.stream_id)
            )
            if length:
                self._parts.append(frame.data)
            return
        super()._prepare_for_sending(frames)

    def _take_h2_bytes(self) -> None:
        data = super().data_to_send()
        if data:
            self._parts.append(data)

    def take_parts(self) -> list[Part]:
        """Everything queued to send, in wire order; the queue is left empty."""
        self._take_h2_bytes()
        parts, self._parts = self._parts, []
        return parts

    def data_to_send(self, amount: int | None = None) -> bytes:
        """h2's call, kept working: up to ``amount`` queued bytes (all if
        ``None``), joined into one ``bytes``."""
        data = b"".join(self.take_parts())
        if amount is None or amount >= len(data):
            return data
        self._parts.append(data[amount:])
        return data[:amount]
