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

The connection's HPACK encoder and decoder are the caching ones of
:mod:`hyper.http20._hpack`.
"""

from __future__ import annotations

import struct

import h2.config
import h2.connection
from hyperframe.frame import DataFrame, Frame

from hyper.http20._hpack import CachingDecoder, CachingEncoder

__all__ = ["H2Connection", "Part"]

#: A piece of the outgoing byte stream: bytes, or a view of a request body's
#: immutable bytes (the socket copies mutable buffers when it queues them).
Part = bytes | memoryview

#: A frame header: 24-bit length (as 16 + 8 bits), type, flags, stream ID.
_HEADER = struct.Struct(">HBBBL")
_DATA_TYPE = 0x0
_END_STREAM = 0x1


class H2Connection(h2.connection.H2Connection):
    """An h2 client connection whose unpadded DATA frames skip h2's buffer
    and whose HPACK coders remember the blocks they repeat."""

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config=config)
        self._parts: list[Part] = []
        encoder = CachingEncoder()
        encoder.header_table_size = self.encoder.header_table_size
        encoder.table_size_changes = list(self.encoder.table_size_changes)
        encoder.header_table.resized = self.encoder.header_table.resized
        self.encoder = encoder
        decoder = CachingDecoder()
        decoder.max_header_list_size = self.decoder.max_header_list_size
        decoder.max_allowed_table_size = self.decoder.max_allowed_table_size
        self.decoder = decoder

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
