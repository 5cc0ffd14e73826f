"""Tests of the Content-Encoding decoders: every coding alone and stacked,
bounded output, truncation, corruption, header parsing and the size cap.

The bomb tests decode a body of zeros in a child process (``bomb_rss.py``, run
with ``sys.executable``) that reports its peak resident memory: by default
256 MiB per coding, two children at a time, in a few seconds. Set
``HYPER_BIG_BOMBS=1`` to add bombs of 1 GiB (plus 1 MiB, just over
:data:`DEFAULT_MAX_DECODED_SIZE`) and 10 GiB per coding, with ``decode_all``
under the default cap; those take about two minutes on two cores and about
1.1 GiB of memory per child.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from children import child_env, run_json_children
from hypothesis import given, settings
from hypothesis import strategies as st

from hyper.common._codings import ZstdStage
from hyper.common.decoders import (
    DEFAULT_MAX_DECODED_SIZE,
    MAX_STACKED_ENCODINGS,
    SUPPORTED_ENCODINGS,
    ContentDecoder,
    accept_encoding,
    decode_all,
)
from hyper.common.exceptions import ContentDecodingError

HAS_ZSTD = "zstd" in SUPPORTED_ENCODINGS
needs_zstd = pytest.mark.skipif(not HAS_ZSTD, reason="no zstd implementation")

try:
    import zstandard

    def zstd_compress(data: bytes, checksum: bool = False) -> bytes:
        return zstandard.ZstdCompressor(write_checksum=checksum).compress(data)

    ZSTD_ERROR: type[Exception] = zstandard.ZstdError
except ImportError:  # Python 3.14+ without the zstandard package
    try:
        from compression import zstd as std_zstd  # type: ignore[import-not-found,unused-ignore]

        def zstd_compress(data: bytes, checksum: bool = False) -> bytes:
            options = {std_zstd.CompressionParameter.checksum_flag: checksum}
            return std_zstd.compress(data, options=options)  # type: ignore[no-any-return,unused-ignore]

        ZSTD_ERROR = std_zstd.ZstdError
    except ImportError:
        ZSTD_ERROR = Exception


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": raw_deflate,
    "br": brotli.compress,
    "zstd": lambda data: zstd_compress(data),
}


def encode(name: str, data: bytes) -> tuple[str, bytes]:
    """*data* encoded as the header value *name* says (codings applied in
    order; ``deflate-raw`` is raw deflate labelled ``deflate``)."""
    for coding in name.split(", "):
        data = ENCODERS[coding](data)
    return name.replace("deflate-raw", "deflate"), data


def coding_params(names: list[str]) -> list[Any]:
    return [pytest.param(name, marks=needs_zstd) if "zstd" in name else name for name in names]


SINGLE = coding_params(["gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd"])
STACKED = coding_params(["gzip, br", "deflate, gzip, zstd", "br, deflate-raw", "zstd, zstd"])
ALL = SINGLE + STACKED

RANDOM = random.Random(20240611)
BODY = RANDOM.randbytes(3000) + bytes(40000) + b"hyper decodes " * 3000 + RANDOM.randbytes(500)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def drain(decoder: ContentDecoder, max_length: int) -> bytes:
    """Everything *decoder* can give now."""
    out = []
    while data := decoder.read(max_length):
        out.append(data)
    return b"".join(out)


def decode_in_steps(header: str, body: bytes, chunk: int, max_length: int) -> bytes:
    """Feed *body* in *chunk* pieces, reading up to *max_length* at a time."""
    decoder = ContentDecoder(header)
    out = []
    assert decoder.needs_input
    for piece in chunked(body, chunk):
        decoder.feed(piece)
        while data := decoder.read(max_length):
            assert 0 < len(data) <= max_length
            out.append(data)
        assert decoder.needs_input
        assert not decoder.eof
    decoder.finish()
    assert not decoder.needs_input
    while data := decoder.read(max_length):
        assert len(data) <= max_length
        out.append(data)
    assert decoder.eof
    assert decoder.read(max_length) == b""
    return b"".join(out)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("chunk", [1, 7, 1 << 30])
def test_round_trip_in_odd_chunks(name: str, chunk: int) -> None:
    body = BODY[:20000] if chunk == 1 else BODY
    header, encoded = encode(name, body)
    assert decode_in_steps(header, encoded, chunk, 4099) == body


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("chunk", [1, 7, 1 << 30])
def test_empty_body_round_trip(name: str, chunk: int) -> None:
    header, encoded = encode(name, b"")
    assert encoded
    assert decode_in_steps(header, encoded, chunk, 10) == b""


@pytest.mark.parametrize("name", ALL)
def test_no_raw_bytes_at_all_is_an_empty_body(name: str) -> None:
    header, _ = encode(name, b"")
    decoder = ContentDecoder(header)
    decoder.finish()
    assert decoder.eof
    assert decoder.read(100) == b""


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("max_length", [1, 3, 1000, 65536])
def test_reads_never_exceed_max_length(name: str, max_length: int) -> None:
    body = bytes(50000) + RANDOM.randbytes(2000) if max_length < 1000 else bytes(3 << 20) + BODY
    header, encoded = encode(name, body)
    decoder = ContentDecoder(header)
    decoder.feed(encoded)
    decoder.finish()
    sizes = []
    while data := decoder.read(max_length):
        sizes.append(len(data))
    assert max(sizes) <= max_length
    assert sum(sizes) == len(body)
    assert decoder.eof


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
    max_length=st.integers(min_value=1, max_value=5000),
    name=st.sampled_from(["gzip", "deflate", "deflate-raw", "br", "gzip, br"]),
)
def test_any_split_and_read_size_round_trips(
    body: bytes, cuts: list[int], max_length: int, name: str
) -> None:
    header, encoded = encode(name, body)
    decoder = ContentDecoder(header)
    out = []
    start = 0
    for end in [*sorted(cuts), len(encoded)]:
        decoder.feed(encoded[start:end])
        start = max(start, end)
        while data := decoder.read(max_length):
            assert len(data) <= max_length
            out.append(data)
    decoder.finish()
    while data := decoder.read(max_length):
        out.append(data)
    assert b"".join(out) == body
    assert decoder.eof


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("keep", ["all but one byte", "half", "one byte"])
def test_truncated_body_raises_at_finish(name: str, keep: str) -> None:
    header, encoded = encode(name, BODY)
    size = {"all but one byte": len(encoded) - 1, "half": len(encoded) // 2, "one byte": 1}[keep]
    decoder = ContentDecoder(header)
    decoder.feed(encoded[:size])
    while decoder.read(65536):
        pass
    with pytest.raises(ContentDecodingError):
        decoder.finish()
    with pytest.raises(ContentDecodingError):  # and it stays failed
        decoder.read(10)


@pytest.mark.parametrize("name", ALL)
def test_truncated_body_raises_when_read_after_finish(name: str) -> None:
    header, encoded = encode(name, BODY)
    decoder = ContentDecoder(header)
    decoder.feed(encoded[:-1])
    decoder.finish()  # output is still buffered: the read that drains it tells
    with pytest.raises(ContentDecodingError):
        drain(decoder, 1000)
    with pytest.raises(ContentDecodingError):
        decode_all(ContentDecoder(header), [encoded[:-1]])


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


CORRUPT: list[Any] = [
    ("gzip", flip_last_byte(gzip.compress(BODY)), zlib.error),  # the length in the trailer
    ("deflate", flip_last_byte(zlib.compress(BODY)), zlib.error),  # the Adler-32
    ("deflate", b"\xff" * 16, zlib.error),  # raw deflate with a reserved block type
    ("br", b"\xff" * 16, brotli.error),
    pytest.param(
        "zstd", flip_last_byte(zstd_compress(BODY, checksum=True)), ZSTD_ERROR, marks=needs_zstd
    ),
    ("gzip, br", brotli.compress(b"\x1f\x8b not gzip at all"), zlib.error),
]


@pytest.mark.parametrize(("header", "encoded", "cause"), CORRUPT)
@pytest.mark.parametrize("chunk", [7, 1 << 30])
def test_corrupt_body_raises_with_cause(
    header: str, encoded: bytes, cause: type[Exception], chunk: int
) -> None:
    with pytest.raises(ContentDecodingError) as caught:
        decode_all(ContentDecoder(header), chunked(encoded, chunk))
    assert isinstance(caught.value.__cause__, cause)


@pytest.mark.parametrize("name", ALL)
def test_failure_is_sticky(name: str) -> None:
    header, encoded = encode(name, BODY)
    decoder = ContentDecoder(header)
    decoder.feed(encoded + b"\x00trailing junk")
    decoder.finish()
    with pytest.raises(ContentDecodingError) as first:
        drain(decoder, 1 << 20)
    for call in (lambda: decoder.read(1), decoder.finish, lambda: decoder.feed(b"x")):
        with pytest.raises(ContentDecodingError) as again:
            call()
        assert again.value.__cause__ is first.value


@pytest.mark.parametrize("name", SINGLE)
@pytest.mark.parametrize("junk", [b"\x00", b"junk after the end", b"\x1f\x8b\x08"])
def test_trailing_garbage_is_refused(name: str, junk: bytes) -> None:
    header, encoded = encode(name, BODY)
    with pytest.raises(ContentDecodingError):
        decode_all(ContentDecoder(header), [encoded, junk])


@pytest.mark.parametrize("chunk", [1, 7, 1 << 30])
def test_gzip_members_decode_as_one_body(chunk: int) -> None:
    parts = [b"first member ", b"", BODY[:5000], b" last"]
    encoded = b"".join(gzip.compress(part) for part in parts)
    assert decode_in_steps("gzip", encoded, chunk, 1000) == b"".join(parts)


@needs_zstd
@pytest.mark.parametrize("chunk", [1, 7, 1 << 30])
def test_zstd_frames_and_skippable_frames_decode_as_one_body(chunk: int) -> None:
    skippable = (0x184D2A5F).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"skip!"
    empty_skippable = (0x184D2A50).to_bytes(4, "little") + bytes(4)
    encoded = (
        zstd_compress(b"one ", checksum=True)
        + skippable
        + zstd_compress(BODY)
        + empty_skippable
        + zstd_compress(b"")
    )
    assert decode_in_steps("zstd", encoded, chunk, 1000) == b"one " + BODY


@needs_zstd
def test_zstd_window_over_the_rfc_9659_limit_is_refused() -> None:
    # A frame header that asks for a 16 MiB window: not single-segment,
    # window descriptor exponent 14 (2 ** (10 + 14)), then one empty raw block.
    frame = (0xFD2FB528).to_bytes(4, "little") + bytes([0x00, 14 << 3]) + b"\x01\x00\x00"
    with pytest.raises(ContentDecodingError) as caught:
        decode_all(ContentDecoder("zstd"), [frame])
    assert isinstance(caught.value.__cause__, ZSTD_ERROR)
    at_limit = frame[:5] + bytes([13 << 3]) + frame[6:]
    assert decode_all(ContentDecoder("zstd"), [at_limit]) == b""


@needs_zstd
@pytest.mark.parametrize(
    "block_header",
    [
        (3 << 1 | 1).to_bytes(3, "little"),  # the reserved block type
        ((128 * 1024 + 1) << 3 | 1 << 1 | 1).to_bytes(3, "little"),  # an RLE block over 128 KiB
    ],
)
def test_zstd_invalid_block_headers_are_refused(block_header: bytes) -> None:
    frame = (0xFD2FB528).to_bytes(4, "little") + bytes([0x00, 0x00]) + block_header + b"\x00"
    with pytest.raises(ContentDecodingError):
        decode_all(ContentDecoder("zstd"), [frame])


@needs_zstd
def test_zstd_frame_the_decoder_does_not_end_is_refused() -> None:
    class NeverEnding:
        eof = False

        def decompress(self, data: memoryview) -> bytes:
            return b""

    stage = ZstdStage(NeverEnding, ())
    stage.feed((0xFD2FB528).to_bytes(4, "little") + b"\x00\x00" + b"\x01\x00\x00")
    with pytest.raises(ContentDecodingError):
        stage.read(100)


def test_without_zstd_it_is_neither_offered_nor_decoded() -> None:
    code = """if True:
        import sys
        sys.modules["zstandard"] = sys.modules["compression.zstd"] = None
        from hyper.common import decoders
        assert decoders.accept_encoding() == b"gzip, deflate, br", decoders.accept_encoding()
        assert decoders.SUPPORTED_ENCODINGS == ("gzip", "deflate", "br")
        try:
            decoders.ContentDecoder("zstd")
        except decoders.ContentDecodingError:
            pass
        else:
            sys.exit("zstd was accepted without an implementation")
    """
    child = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, timeout=60
    )
    assert child.returncode == 0, child.stderr.decode()


@pytest.mark.parametrize(("name", "trailer"), [("gzip", 8), ("deflate", 4)])
def test_read_filled_exactly_then_the_trailer_arrives(name: str, trailer: int) -> None:
    body = BODY[:3000]
    header, encoded = encode(name, body)
    decoder = ContentDecoder(header)
    decoder.feed(encoded[:-trailer])
    assert decoder.read(len(body)) == body
    assert decoder.read(1) == b""
    assert decoder.needs_input
    decoder.feed(encoded[-trailer:])
    decoder.finish()
    assert decoder.read(1) == b""
    assert decoder.eof


@pytest.mark.parametrize("header", ["compress", "gzip, bzip2", "x-compress", "gzïp", b"\xff"])
def test_unknown_coding_is_refused_at_construction(header: str | bytes) -> None:
    with pytest.raises(ContentDecodingError):
        ContentDecoder(header)
    with pytest.raises(ContentDecodingError):
        ContentDecoder.for_header(header)


def test_non_text_header_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        ContentDecoder(3)  # type: ignore[arg-type]


def test_stacked_codings_are_capped() -> None:
    header, encoded = encode(", ".join(["gzip"] * MAX_STACKED_ENCODINGS), BODY)
    assert decode_all(ContentDecoder(header + ", identity"), [encoded]) == BODY
    with pytest.raises(ContentDecodingError):
        ContentDecoder(header + ", br")


@pytest.mark.parametrize(
    ("header", "codings"),
    [
        ("GZIP", ("gzip",)),
        (b" gzip ", ("gzip",)),
        ("X-Gzip", ("x-gzip",)),
        (b"Gzip,\tBR", ("gzip", "br")),
        ("gzip,,identity, Identity ,deflate", ("gzip", "deflate")),
    ],
)
def test_header_value_is_case_and_space_insensitive(
    header: str | bytes, codings: tuple[str, ...]
) -> None:
    decoder = ContentDecoder(header)
    assert decoder.codings == codings
    encoded = BODY
    for coding in codings:
        encoded = ENCODERS[coding](encoded)
    assert decode_all(decoder, chunked(encoded, 999)) == BODY


@pytest.mark.parametrize("header", [None, "", b"", "identity", " Identity , ", b","])
def test_for_header_gives_none_when_nothing_to_undo(header: str | bytes | None) -> None:
    assert ContentDecoder.for_header(header) is None


def test_for_header_builds_a_decoder() -> None:
    decoder = ContentDecoder.for_header(b"br")
    assert decoder is not None
    assert decode_all(decoder, [brotli.compress(BODY)]) == BODY


def test_identity_passes_bytes_through_in_bounded_reads() -> None:
    decoder = ContentDecoder("identity")
    assert decoder.codings == ()
    decoder.feed(b"abc")
    decoder.feed(bytearray(b"defgh"))
    decoder.feed(memoryview(b"ij"))
    assert decoder.read(2) == b"ab"
    assert decode_all(ContentDecoder(b""), [b"x" * 10, b"y"]) == b"x" * 10 + b"y"
    rest = [decoder.read(4) for _ in range(4)]
    assert rest == [b"c", b"defg", b"h", b"ij"]


def test_accept_encoding_advertises_what_decodes() -> None:
    expected = b"gzip, deflate, br, zstd" if HAS_ZSTD else b"gzip, deflate, br"
    assert accept_encoding() == expected
    assert ", ".join(SUPPORTED_ENCODINGS).encode() == expected
    for coding in SUPPORTED_ENCODINGS:
        _, encoded = encode(coding, BODY)
        assert decode_all(ContentDecoder(coding), [encoded]) == BODY
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return
    assert HAS_ZSTD  # a zstd implementation is importable: it is offered


def test_lifecycle_flags_and_repr() -> None:
    _, encoded = encode("gzip", b"hello")
    decoder = ContentDecoder(b"gzip")
    assert (decoder.needs_input, decoder.eof) == (True, False)
    assert repr(decoder) == "<ContentDecoder gzip (open)>"
    decoder.feed(encoded)
    assert not decoder.needs_input
    assert decoder.read(100) == b"hello"
    assert decoder.read(100) == b""
    assert decoder.needs_input
    decoder.finish()
    decoder.finish()  # again: nothing happens
    assert (decoder.needs_input, decoder.eof) == (False, True)
    assert repr(decoder) == "<ContentDecoder gzip (eof)>"


def test_bad_arguments_are_refused() -> None:
    decoder = ContentDecoder("gzip")
    for bad in (0, -1):
        with pytest.raises(ValueError):
            decoder.read(bad)
    with pytest.raises(TypeError):
        decoder.feed("text")  # type: ignore[arg-type]
    decoder.finish()
    with pytest.raises(ValueError):
        decoder.feed(b"more")
    with pytest.raises(ValueError):
        decode_all(ContentDecoder("gzip"), [], max_size=-1)


class CountingDecoder(ContentDecoder):
    """Records how many decoded bytes reads handed out."""

    handed_out = 0

    def read(self, max_length: int) -> bytes:
        out = super().read(max_length)
        self.handed_out += len(out)
        return out


@pytest.mark.parametrize("name", ALL)
def test_decode_all_stops_at_the_cap(name: str) -> None:
    body = bytes(8 << 20)
    header, encoded = encode(name, body)
    assert decode_all(ContentDecoder(header), [encoded], max_size=len(body)) == body
    decoder = CountingDecoder(header)
    with pytest.raises(ContentDecodingError):
        decode_all(decoder, chunked(encoded, 4096), max_size=(1 << 20) + 5)
    assert decoder.handed_out == (1 << 20) + 6  # one byte past the cap, no more


# --- decompression bombs, in child processes ------------------------------

BOMB_SCRIPT = Path(__file__).with_name("bomb_rss.py")
BOMB_CODINGS = ["gzip", "deflate", "deflate-raw", "br", "zstd", "gzip, br"]
SLICE = 64 * 1024
MIB = 1 << 20
#: How much more than its baseline a child may take while streaming a bomb.
STREAM_RSS_LIMIT_KIB = 100 * 1024
#: Slack over the cap for decode_all (the read slice, allocator overhead).
CAP_RSS_SLACK_KIB = 48 * 1024
BOMB_TIMEOUT = 1200
BOMB_JOBS = 2  # children at a time: the machines have two cores


def run_bombs(size: int, cap: int) -> dict[str, dict[str, Any]]:
    """Run bomb_rss.py for every coding, :data:`BOMB_JOBS` children at a time."""
    codings = [c for c in BOMB_CODINGS if HAS_ZSTD or "zstd" not in c]
    argvs = [[coding, str(size), str(cap)] for coding in codings]
    reports = run_json_children(BOMB_SCRIPT, argvs, BOMB_JOBS, BOMB_TIMEOUT)
    return dict(zip(codings, reports, strict=True))


def check_bomb(report: dict[str, Any], size: int, cap: int) -> None:
    assert report["decoded"] == size
    assert report["eof"]
    assert report["largest_read"] == SLICE
    assert report["peak_kib"] - report["baseline_kib"] < STREAM_RSS_LIMIT_KIB
    assert report["refused"]
    assert report["cap_peak_kib"] - report["cap_baseline_kib"] < cap // 1024 + CAP_RSS_SLACK_KIB


@pytest.fixture(scope="module")
def small_bombs() -> dict[str, dict[str, Any]]:
    return run_bombs(256 * MIB, 64 * MIB)


@pytest.mark.slow
@pytest.mark.parametrize("coding", coding_params(BOMB_CODINGS))
def test_bomb_streams_in_constant_memory(
    small_bombs: dict[str, dict[str, Any]], coding: str
) -> None:
    check_bomb(small_bombs[coding], 256 * MIB, 64 * MIB)


big_bombs = pytest.mark.skipif(
    os.environ.get("HYPER_BIG_BOMBS") != "1", reason="set HYPER_BIG_BOMBS=1 for the big bombs"
)


@pytest.mark.slow
@big_bombs
@pytest.mark.timeout(3 * BOMB_TIMEOUT)
@pytest.mark.parametrize("size", [DEFAULT_MAX_DECODED_SIZE + MIB, 10 << 30], ids=["1GiB", "10GiB"])
def test_big_bombs_stream_in_constant_memory(size: int) -> None:
    reports = run_bombs(size, DEFAULT_MAX_DECODED_SIZE)
    sys.stderr.write(json.dumps(reports, indent=1) + "\n")
    for report in reports.values():
        check_bomb(report, size, DEFAULT_MAX_DECODED_SIZE)
