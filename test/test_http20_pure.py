"""The pure pieces of the HTTP/2 client, without a socket: the GOAWAY splitter,
the request header block, and the stream's body bookkeeping."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hpack import Encoder, NeverIndexedHeaderTuple
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame
from hypothesis import given
from hypothesis import strategies as st

from hyper.common.body import request_target
from hyper.common.exceptions import LocalProtocolError, ProtocolError
from hyper.common.timeout import Timeout
from hyper.http20._frames import GoAwaySplitter
from hyper.http20._headers import build_request_headers, build_trailers
from hyper.http20.stream import Stream

PSEUDO = {b":method": b"GET", b":scheme": b"https", b":authority": b"a.example", b":path": b"/"}


# --- the GOAWAY splitter -----------------------------------------------------------


def _frames() -> st.SearchStrategy[Frame]:
    data = st.builds(
        lambda sid, body: DataFrame(sid, body),
        st.integers(1, 99).map(lambda n: 2 * n + 1),
        st.binary(max_size=40),
    )
    goaway = st.builds(
        lambda last, code, extra: GoAwayFrame(0, last, code, extra),
        st.integers(0, 2**31 - 1),
        st.integers(0, 13),
        st.binary(max_size=20),
    )
    ping = st.builds(lambda opaque: PingFrame(0, opaque), st.binary(min_size=8, max_size=8))
    headers = st.builds(lambda block: HeadersFrame(1, block), st.binary(max_size=30))
    return st.one_of(data, goaway, ping, headers)


def _split(wire: bytes, cuts: list[int]) -> list[bytes | GoAwayFrame]:
    splitter = GoAwaySplitter(max_frame_size=16384)
    out: list[bytes | GoAwayFrame] = []
    edges = [0, *sorted(cut % (len(wire) + 1) for cut in cuts), len(wire)]
    for start, end in itertools.pairwise(edges):
        for piece in splitter.split(memoryview(wire[start:end])):
            out.append(piece if isinstance(piece, GoAwayFrame) else bytes(piece))
    return out


@given(st.lists(_frames(), max_size=12), st.lists(st.integers(0, 10_000), max_size=8))
def test_splitter_passes_frames_through_and_takes_goaways_out(
    frames: list[Frame], cuts: list[int]
) -> None:
    wire = b"".join(frame.serialize() for frame in frames)
    out = _split(wire, cuts)
    passed = b"".join(piece for piece in out if isinstance(piece, bytes))
    assert passed == b"".join(f.serialize() for f in frames if not isinstance(f, GoAwayFrame))
    goaways = [piece for piece in out if isinstance(piece, GoAwayFrame)]
    expected = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert [(g.last_stream_id, g.error_code, g.additional_data) for g in goaways] == [
        (g.last_stream_id, g.error_code, g.additional_data) for g in expected
    ]


def test_splitter_keeps_wire_order_around_a_goaway() -> None:
    before, after = PingFrame(0, b"12345678"), DataFrame(1, b"tail")
    goaway = GoAwayFrame(0, 7, 0, b"bye")
    wire = before.serialize() + goaway.serialize() + after.serialize()
    out = _split(wire, [])
    assert [type(piece) for piece in out] == [bytes, GoAwayFrame, bytes]
    assert out[0] == before.serialize()
    assert out[2] == after.serialize()


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x00\x04\x07\x00\x00\x00\x00\x00" + b"\x00" * 4,  # payload too short
        b"\x00\x00\x08\x07\x00\x00\x00\x00\x01" + b"\x00" * 8,  # on a stream
        b"\x01\x00\x00\x07\x00\x00\x00\x00\x00",  # longer than the frame limit
    ],
)
def test_splitter_refuses_malformed_goaway(raw: bytes) -> None:
    splitter = GoAwaySplitter(max_frame_size=16384)
    with pytest.raises(ProtocolError):
        splitter.split(memoryview(raw + b"\x00" * 8))


def test_splitter_refuses_an_oversized_frame_from_its_header_alone() -> None:
    splitter = GoAwaySplitter(max_frame_size=16384)
    header = (16385).to_bytes(3, "big") + b"\x00\x00\x00\x00\x00\x01"  # DATA, no payload yet
    with pytest.raises(ProtocolError, match="maximum frame size"):
        splitter.split(memoryview(header))
    carried = GoAwaySplitter(max_frame_size=16384)
    assert carried.split(memoryview(header[:4])) == []  # a header cut by the read
    with pytest.raises(ProtocolError):
        carried.split(memoryview(header[4:]))


def _frame_header(length: int, kind: int, flags: int, stream_id: int = 1) -> bytes:
    return length.to_bytes(3, "big") + bytes([kind, flags]) + stream_id.to_bytes(4, "big")


def test_splitter_bounds_a_header_block_across_continuation_frames() -> None:
    splitter = GoAwaySplitter(max_frame_size=1 << 20, max_header_block=100_000)
    first = _frame_header(60_000, 0x1, 0) + bytes(60_000)  # HEADERS, no END_HEADERS
    assert splitter.split(memoryview(first))
    with pytest.raises(ProtocolError, match="header block"):
        splitter.split(memoryview(_frame_header(60_000, 0x9, 0)))  # CONTINUATION
    # Blocks that end are counted apart: many of them pass.
    fine = GoAwaySplitter(max_frame_size=1 << 20, max_header_block=100_000)
    for _ in range(5):
        fine.split(memoryview(_frame_header(60_000, 0x1, 0) + bytes(60_000)))
        fine.split(memoryview(_frame_header(30_000, 0x9, 0x4) + bytes(30_000)))


# --- request headers ---------------------------------------------------------------


def _build(pairs: list[tuple[bytes, bytes]], length: int | None = 0, **pseudo: Any) -> Any:
    return build_request_headers({**PSEUDO, **pseudo}, pairs, length)


def test_secrets_and_short_cookies_are_never_indexed() -> None:
    pairs = [
        (b"Authorization", b"Bearer x"),
        (b"proxy-authorization", b"Basic y"),
        (b"cookie", b"id=1"),
        (b"cookie", b"long=" + b"z" * 30),
        (b"x-other", b"1"),
    ]
    block = dict((name, type(field)) for field in _build(pairs) for name in [field[0]])
    assert block[b"authorization"] is NeverIndexedHeaderTuple
    assert block[b"proxy-authorization"] is NeverIndexedHeaderTuple
    assert block[b"x-other"] is tuple
    cookies = [type(field) for field in _build(pairs) if field[0] == b"cookie"]
    assert cookies == [NeverIndexedHeaderTuple, tuple]
    assert type(build_trailers([(b"Authorization", b"t")])[0]) is NeverIndexedHeaderTuple
    # hpack then sends them as never-indexed literals (RFC 7541 section 6.2.3)
    encoder = Encoder()
    encoded = encoder.encode(build_trailers([(b"authorization", b"t")]))
    assert encoded[0] & 0xF0 == 0x10
    assert not encoder.header_table.dynamic_entries


def test_pseudo_headers_first_then_defaults() -> None:
    block = _build([(b"X-Foo", b"1")])
    assert block[:4] == list(PSEUDO.items())
    names = [name for name, _ in block[4:]]
    assert names == [b"x-foo", b"accept-encoding", b"user-agent"]


@pytest.mark.parametrize(
    ("pairs", "gone"),
    [
        ([(b"Connection", b"close")], b"connection"),
        ([(b"connection", b"x-hop"), (b"X-Hop", b"1")], b"x-hop"),
        ([(b"Keep-Alive", b"5")], b"keep-alive"),
        ([(b"PROXY-CONNECTION", b"keep-alive")], b"proxy-connection"),
        ([(b"Transfer-Encoding", b"chunked")], b"transfer-encoding"),
        ([(b"Upgrade", b"h2c")], b"upgrade"),
        ([(b"TE", b"gzip")], b"te"),
    ],
)
def test_connection_specific_headers_are_dropped(pairs: list[Any], gone: bytes) -> None:
    assert gone not in {name for name, _ in _build(pairs)}


def test_te_trailers_and_user_overrides_survive() -> None:
    block = dict(_build([(b"TE", b"trailers"), (b"user-agent", b"me"), (b"host", b"h.example")]))
    assert (block[b"te"], block[b"user-agent"], block[b":authority"]) == (
        b"trailers",
        b"me",
        b"h.example",
    )
    explicit = dict(_build([(b":authority", b"x.example"), (b"Host", b"ignored")]))
    assert explicit[b":authority"] == b"x.example"


@pytest.mark.parametrize(
    ("method", "length", "expected"),
    [(b"GET", 0, None), (b"POST", 0, b"0"), (b"PUT", 5, b"5"), (b"POST", None, None)],
)
def test_content_length(method: bytes, length: int | None, expected: bytes | None) -> None:
    block = dict(build_request_headers({**PSEUDO, b":method": method}, [], length))
    assert block.get(b"content-length") == expected


def test_bad_pseudo_headers_and_tokens() -> None:
    with pytest.raises(LocalProtocolError):
        _build([(b":status", b"200")])
    for bad in (b"", b"a b", b"x\r\n"):
        with pytest.raises(LocalProtocolError):
            request_target(bad)
    with pytest.raises(TypeError):
        request_target(3)  # type: ignore[arg-type]


# --- the stream's body bookkeeping ---------------------------------------------------


def _stream() -> Stream:
    return Stream(1, None, Timeout().deadline())  # type: ignore[arg-type]


def test_next_piece_marks_the_last_piece_exactly() -> None:
    stream = _stream()
    stream.add_body(iter([b"abcd", b"efgh"]), b"", finishing=True)
    pieces = []
    while stream.has_outgoing:
        piece, last = stream.next_piece(4)
        pieces.append((bytes(piece), last))
        if last:
            stream.local_closed = True
    assert pieces == [(b"abcd", False), (b"efgh", True)]


def test_take_credits_padding_and_slices_chunks() -> None:
    stream = _stream()
    stream.receive_data(b"hello", 5 + 11)
    stream.receive_data(b"world", 5)
    assert stream.take(3) == (b"hel", 3 + 11)
    assert stream.take(4) == (b"lowo", 4)  # across DATA frames
    assert stream.take(100) == (b"rld", 3)
    assert stream.take(100) == (b"", 0)
    assert stream.buffered == 0
