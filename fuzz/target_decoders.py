"""Fuzz target: the content decoders (gzip, deflate, br, zstd and stacks of them).

Each example names a ``Content-Encoding`` value (valid codings, stacks,
``identity``, unknown names, odd case and spacing), a body encoded with it
in one of several valid shapes (zlib-wrapped or raw deflate, several gzip
members, several or skippable zstd frames), then maybe corrupted (bytes
flipped, cut, inserted, appended) or replaced by random bytes, and a way to
decode it: fed in drawn pieces and read in drawn slice sizes, or through
:func:`decode_all` under a drawn cap. Now and then the body is a
decompression bomb (64 MiB of zeros) read in slices under
:mod:`tracemalloc`. What must hold:

* only :class:`~hyper.common.exceptions.ContentDecodingError` escapes, and
  once raised, every later call raises it again;
* ``read(n)`` never returns more than ``n`` bytes, and after ``finish()`` an
  empty read means :attr:`~ContentDecoder.eof` (no silent truncation);
* an uncorrupted body decodes to exactly what was encoded, and
  :func:`decode_all` refuses exactly the bodies larger than its cap;
* a bomb read in 64 KiB slices stays within :data:`BOMB_PEAK_LIMIT` of
  traced memory.
"""

from __future__ import annotations

import functools
import gzip
import tracemalloc
import zlib
from dataclasses import dataclass

import brotli
from hypothesis import strategies as st

from fuzz._engine import Target
from fuzz._util import Repeated
from hyper.common.decoders import SUPPORTED_ENCODINGS, ContentDecoder, decode_all
from hyper.common.exceptions import ContentDecodingError

__all__ = ["BOMB_PEAK_LIMIT", "TARGET", "Example", "check"]

#: Seconds after which one example counts as a hang.
TIME_LIMIT = 20.0
#: Reads of one body after which decoding counts as endless.
MAX_READS = 1 << 20
#: The decoded size of a bomb, and the slice it is read in.
BOMB_SIZE = 64 << 20
BOMB_SLICE = 64 * 1024
#: The most memory (traced by tracemalloc) decoding a bomb may take.
BOMB_PEAK_LIMIT = 8 << 20

_CODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd", "identity")


@dataclass(frozen=True)
class Example:
    """A body, its coding, how it is damaged and how it is decoded."""

    header: str
    shapes: tuple[int, ...]
    payload: bytes
    damage: tuple[tuple[str, int, int], ...]
    random_body: bytes | None
    feeds: tuple[int, ...]
    reads: tuple[int, ...]
    cap: int | None
    bomb: bool


@st.composite
def _header(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(_CODINGS), min_size=1, max_size=3))
    if draw(st.integers(0, 15)) == 0:
        names.append(draw(st.sampled_from(("compress", "gzip;q=1", "", "br br"))))
    if draw(st.integers(0, 20)) == 0:
        names = names * 3  # more stacked codings than allowed
    sep = draw(st.sampled_from((", ", ",", " , ", ",\t")))
    text = sep.join(names)
    return text.upper() if draw(st.integers(0, 9)) == 0 else text


_payload = st.one_of(
    st.binary(max_size=2000),
    st.builds(Repeated, st.binary(min_size=1, max_size=8), st.integers(1, 1 << 15)),
)
_damage = st.tuples(
    st.sampled_from(("flip", "cut", "insert", "append")),
    st.integers(0, 1 << 20),
    st.integers(1, 255),
)
_sizes = st.lists(st.sampled_from((1, 2, 7, 100, 4096, 65536, 1 << 20)), min_size=1, max_size=4)
#: Bodies longer than this are not read in slices of fewer than 64 bytes.
_SMALL_BODY = 4096


@st.composite
def example(draw: st.DrawFn) -> Example:
    """Draw one decoding example."""
    header = draw(_header())
    payload = draw(_payload)
    reads = tuple(draw(_sizes))
    if len(payload) > _SMALL_BODY:
        reads = tuple(max(64, size) for size in reads)
    return Example(
        header=header,
        shapes=tuple(draw(st.lists(st.integers(0, 3), min_size=3, max_size=3))),
        payload=payload,
        damage=tuple(draw(st.lists(_damage, max_size=2))) if draw(st.integers(0, 2)) == 0 else (),
        random_body=draw(st.binary(max_size=300)) if draw(st.integers(0, 10)) == 0 else None,
        feeds=tuple(draw(_sizes)),
        reads=reads,
        cap=draw(st.one_of(st.none(), st.none(), st.integers(0, 1 << 18))),
        bomb=draw(st.integers(0, 60)) == 0,
    )


def _encode_one(data: bytes, name: str, shape: int) -> bytes:
    """``data`` in coding ``name``; ``shape`` picks one of its valid layouts."""
    half = len(data) // 2
    if name in ("gzip", "x-gzip"):
        if shape == 1:  # two members
            return gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)
        return gzip.compress(data, compresslevel=1 + shape, mtime=0)
    if name == "deflate":
        if shape == 1:  # raw deflate, as some servers send it
            compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            return compressor.compress(data) + compressor.flush()
        return zlib.compress(data, 1 + shape)
    if name == "br":
        return bytes(brotli.compress(data, quality=(0, 4, 9, 1)[shape]))
    if name == "zstd":
        return _zstd(data, shape)
    return data


def _zstd(data: bytes, shape: int) -> bytes:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=1 + shape, write_content_size=shape != 2)
    if shape == 1:  # two frames
        half = len(data) // 2
        return compressor.compress(data[:half]) + compressor.compress(data[half:])
    if shape == 3:  # a skippable frame first
        return b"\x50\x2a\x4d\x18\x04\x00\x00\x00skip" + compressor.compress(data)
    return compressor.compress(data)


def encoded_body(ex: Example) -> tuple[bytes, bool]:
    """The body to decode and whether it is intact (decodes to the payload)."""
    if ex.random_body is not None:
        return ex.random_body, False
    data = bytes(ex.payload)
    names = [n.strip().lower() for n in ex.header.split(",")]
    for index, name in enumerate(names):
        data = _encode_one(data, name, ex.shapes[index % len(ex.shapes)])
    for how, at, value in ex.damage:
        at = at % (len(data) + 1)
        if how == "flip" and at < len(data):
            data = data[:at] + bytes((data[at] ^ value,)) + data[at + 1 :]
        elif how == "cut":
            data = data[:at]
        elif how == "insert":
            data = data[:at] + bytes((value,)) + data[at:]
        else:
            data += bytes((value,)) * (value % 5 + 1)
    return data, not ex.damage


def _pieces(data: bytes, sizes: tuple[int, ...]) -> list[bytes]:
    pieces, at, index = [], 0, 0
    while at < len(data):
        size = sizes[index % len(sizes)]
        pieces.append(data[at : at + size])
        at, index = at + size, index + 1
    return pieces


def _drain(decoder: ContentDecoder, sizes: tuple[int, ...], out: list[bytes]) -> None:
    """Read until the decoder has nothing more for now."""
    for index in range(MAX_READS):
        amt = sizes[index % len(sizes)]
        piece = decoder.read(amt)
        assert len(piece) <= amt, f"read({amt}) returned {len(piece)} bytes"
        if not piece:
            return
        out.append(piece)
    raise AssertionError(f"{MAX_READS} reads and the decoder still has output")


def _stream(decoder: ContentDecoder, body: bytes, ex: Example) -> bytes:
    out: list[bytes] = []
    for piece in _pieces(body, ex.feeds):
        decoder.feed(piece)
        _drain(decoder, ex.reads, out)
        assert decoder.needs_input, "read() returned b'' but needs_input is False"
    decoder.finish()
    _drain(decoder, ex.reads, out)
    assert decoder.eof, "after finish() a read returned b'' before the end of the body"
    return b"".join(out)


def _decode_all(decoder: ContentDecoder, body: bytes, ex: Example, intact: bool) -> None:
    cap = ex.cap or 0
    try:
        result = decode_all(decoder, _pieces(body, ex.feeds), cap)
    except ContentDecodingError:
        assert not intact or len(ex.payload) > cap, "decode_all() refused an intact body"
        return
    assert not intact or result == ex.payload, "decode_all() decoded the wrong bytes"
    assert len(result) <= cap, "decode_all() passed its cap"


def _decode(decoder: ContentDecoder, body: bytes, ex: Example, intact: bool) -> None:
    try:
        result = _stream(decoder, body, ex)
    except ContentDecodingError:
        assert not intact, "an intact body was refused"
        _check_sticky(decoder)
        return
    assert not intact or result == ex.payload, "the body decoded to the wrong bytes"


def _check_sticky(decoder: ContentDecoder) -> None:
    """After a failure every call fails again."""
    for call in (lambda: decoder.read(1), decoder.finish, lambda: decoder.feed(b"x")):
        try:
            call()
        except ContentDecodingError:
            continue
        raise AssertionError("a failed decoder did not fail again")


@functools.lru_cache(maxsize=8)
def _bomb(name: str) -> bytes:
    return _encode_one(bytes(BOMB_SIZE), name, 0)


def _check_bomb(ex: Example) -> None:
    name = ex.header.split(",")[0].strip().lower()
    if name not in SUPPORTED_ENCODINGS and name != "x-gzip":
        return
    body = _bomb(name)
    decoder = ContentDecoder(name)
    tracemalloc.start()
    try:
        decoder.feed(body)
        decoder.finish()
        total = 0
        while piece := decoder.read(BOMB_SLICE):
            assert len(piece) <= BOMB_SLICE
            total += len(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == BOMB_SIZE, f"the {name} bomb decoded to {total} bytes"
    assert decoder.eof, f"the {name} bomb did not reach its end"
    assert peak <= BOMB_PEAK_LIMIT, f"decoding the {name} bomb took {peak} bytes"


def check(ex: Example) -> None:
    """Run one example (the check of this target).

    :raises AssertionError: an invariant broke (see the module docstring).
    """
    if ex.bomb:
        _check_bomb(ex)
        return
    try:
        decoder = ContentDecoder.for_header(ex.header)
    except ContentDecodingError:
        return  # an unknown coding or too many: refused up front, as documented
    if decoder is None:
        return
    body, intact = encoded_body(ex)
    if ex.cap is not None:
        _decode_all(decoder, body, ex, intact)
    else:
        _decode(decoder, body, ex, intact)


TARGET = Target("decoders", example(), check, time_limit=TIME_LIMIT, batch_size=100)
