"""What a fuzzed HTTP/2 server sends: script operations and their wire bytes.

A script is a list of operations, drawn by :mod:`fuzz._h2strategies`:
frames given field by field (:class:`Frame`, anything at all), HEADERS and
PUSH_PROMISE whose header list is HPACK-encoded when the script is rendered
and may be split over CONTINUATION frames (:class:`Headers`), DATA with or
without padding (:class:`Data`), a body compressed with a content coding
and cut into DATA frames (:class:`Body`), raw bytes, pauses, waits for the
client's requests, and :class:`Mutate`, which corrupts the bytes of the
operation it wraps. :func:`render` turns a script into the pieces a server
thread writes, with one HPACK encoder per connection, so header blocks stay
valid unless a mutation or a dropped frame puts the decoder out of step.
Frames are laid out by hand (RFC 9113, section 4.1), so nothing refuses a
malformed one.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

import brotli
import hpack

__all__ = [
    "Body",
    "Data",
    "Frame",
    "Headers",
    "Mutate",
    "Op",
    "Pause",
    "Raw",
    "WaitRequests",
    "frame_bytes",
    "render",
]

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0x0, 0x1, 0x2, 0x3, 0x4, 0x5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
_MAX_LENGTH = (1 << 24) - 1


@dataclass(frozen=True)
class Frame:
    """Any frame: type, flags, stream and payload as given."""

    kind: int
    flags: int
    stream: int
    payload: bytes = b""


@dataclass(frozen=True)
class Headers:
    """A header block on HEADERS (or PUSH_PROMISE) plus CONTINUATION frames.

    :ivar fragments: how many frames carry the block (1: no CONTINUATION).
    :ivar promised: send PUSH_PROMISE for this stream instead of HEADERS.
    :ivar raw_block: send these bytes instead of an HPACK encoding.
    :ivar drop_end_headers: leave END_HEADERS off the last frame.
    """

    stream: int
    headers: tuple[tuple[bytes, bytes], ...]
    end_stream: bool = False
    fragments: int = 1
    pad: int | None = None
    priority: bool = False
    promised: int | None = None
    raw_block: bytes | None = None
    drop_end_headers: bool = False


@dataclass(frozen=True)
class Data:
    """One DATA frame, padded with ``pad`` zero bytes when not ``None``."""

    stream: int
    payload: bytes
    end_stream: bool = False
    pad: int | None = None


@dataclass(frozen=True)
class Body:
    """``payload`` encoded with ``coding`` (a Content-Encoding value), in
    DATA frames of at most ``frame_size`` bytes; the last one may end the stream."""

    stream: int
    payload: bytes
    coding: str
    frame_size: int
    end_stream: bool = True


@dataclass(frozen=True)
class Raw:
    """Bytes written as they are."""

    data: bytes


@dataclass(frozen=True)
class Pause:
    """Flush and sleep ``seconds`` before the next operation."""

    seconds: float


@dataclass(frozen=True)
class WaitRequests:
    """Flush, then read until the client sent ``count`` HEADERS (bounded)."""

    count: int


@dataclass(frozen=True)
class Mutate:
    """Corrupt the rendered bytes of ``inner``.

    :ivar how: ``"flip"`` (xor the byte at ``at`` with ``value``),
        ``"truncate"`` (keep ``at`` bytes) or ``"length"`` (set the length
        field of its first frame to ``value``).
    """

    inner: Frame | Headers | Data | Body
    how: str
    at: int
    value: int


Op = Frame | Headers | Data | Body | Raw | Pause | WaitRequests | Mutate
Piece = bytes | Pause | WaitRequests


def frame_bytes(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    """One frame on the wire (the stream's reserved bit is kept as given)."""
    payload = bytes(payload)
    length = min(len(payload), _MAX_LENGTH)
    header = length.to_bytes(3, "big") + bytes((kind & 0xFF, flags & 0xFF))
    return header + (stream & 0xFFFFFFFF).to_bytes(4, "big") + payload


def _padded(payload: bytes, pad: int | None) -> tuple[bytes, int]:
    if pad is None:
        return payload, 0
    return bytes((pad & 0xFF,)) + payload + bytes(pad & 0xFF), PADDED


def encode_body(payload: bytes, coding: str) -> bytes:
    """``payload`` encoded with each coding of ``coding``, in order."""
    for name in (part.strip().lower() for part in coding.split(",")):
        if name in ("gzip", "x-gzip"):
            payload = gzip.compress(payload, mtime=0)
        elif name == "deflate":
            payload = zlib.compress(payload)
        elif name == "br":
            payload = brotli.compress(payload)
        elif name == "zstd":
            import zstandard

            payload = zstandard.ZstdCompressor().compress(payload)
    return payload


def _headers(op: Headers, encoder: hpack.Encoder) -> bytes:
    if op.raw_block is not None:
        block = op.raw_block
    else:
        block = encoder.encode([(bytes(name), bytes(value)) for name, value in op.headers])
    count = max(1, op.fragments)
    step = max(1, -(-len(block) // count))
    pieces = [block[i : i + step] for i in range(0, len(block), step)] or [b""]
    first = pieces[0]
    flags = END_STREAM if op.end_stream and op.promised is None else 0
    if op.promised is not None:
        first = (op.promised & 0xFFFFFFFF).to_bytes(4, "big") + first
        kind = PUSH_PROMISE
    else:
        kind = HEADERS
        if op.priority:
            first = b"\x00\x00\x00\x00\x0f" + first
            flags |= PRIORITY_FLAG
    first, pad_flag = _padded(first, op.pad)
    frames = []
    for index, piece in enumerate([first, *pieces[1:]]):
        last = index == len(pieces) - 1
        end = END_HEADERS if last and not op.drop_end_headers else 0
        if index == 0:
            frames.append(frame_bytes(kind, flags | pad_flag | end, op.stream, piece))
        else:
            frames.append(frame_bytes(CONTINUATION, end, op.stream, piece))
    return b"".join(frames)


def _body(op: Body) -> bytes:
    encoded = encode_body(op.payload, op.coding)
    size = max(1, op.frame_size)
    chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)] or [b""]
    frames = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        frames.append(
            frame_bytes(DATA, END_STREAM if last and op.end_stream else 0, op.stream, chunk)
        )
    return b"".join(frames)


def _mutate(data: bytes, op: Mutate) -> bytes:
    if not data:
        return data
    if op.how == "flip":
        at = op.at % len(data)
        return data[:at] + bytes((data[at] ^ (op.value & 0xFF or 1),)) + data[at + 1 :]
    if op.how == "truncate":
        return data[: op.at % len(data)]
    return (op.value & _MAX_LENGTH).to_bytes(3, "big") + data[3:]


def op_bytes(op: Frame | Headers | Data | Body | Raw | Mutate, encoder: hpack.Encoder) -> bytes:
    """The wire bytes of one operation."""
    if isinstance(op, Frame):
        return frame_bytes(op.kind, op.flags, op.stream, op.payload)
    if isinstance(op, Headers):
        return _headers(op, encoder)
    if isinstance(op, Data):
        payload, pad_flag = _padded(op.payload, op.pad)
        flags = pad_flag | (END_STREAM if op.end_stream else 0)
        return frame_bytes(DATA, flags, op.stream, payload)
    if isinstance(op, Body):
        return _body(op)
    if isinstance(op, Raw):
        return op.data
    return _mutate(op_bytes(op.inner, encoder), op)


def render(script: list[Op], chunk: int | None) -> list[Piece]:
    """The pieces a server thread writes in order: bytes (cut into ``chunk``-byte
    writes when given), pauses and waits. One HPACK encoder for the script."""
    encoder = hpack.Encoder()
    pieces: list[Piece] = []
    pending = b""
    for op in script:
        if isinstance(op, (Pause, WaitRequests)):
            pieces.extend(_cut(pending, chunk))
            pending = b""
            pieces.append(op)
        else:
            pending += op_bytes(op, encoder)
    pieces.extend(_cut(pending, chunk))
    return pieces


def _cut(data: bytes, chunk: int | None) -> list[Piece]:
    if not data:
        return []
    if chunk is None:
        return [data]
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]
