"""Hypothesis strategies for the fuzzed HTTP/2 server's scripts.

Most scripts look like a server at work: SETTINGS, a wait for the client's
requests, then responses (HEADERS, a body in DATA frames, maybe trailers)
on the client's streams, with random frames of every type mixed in, an
occasional mutation of one operation's bytes, and an ending (close, reset,
or hold the connection open). Stream IDs favour the client's own (1, 3, 5)
so the frames reach deep into the stream state machine; header lists favour
plausible response headers, with malformed ones mixed in.
"""

from __future__ import annotations

import struct
from typing import TypeVar

from hypothesis import strategies as st

from fuzz._h2script import (
    CONTINUATION,
    GOAWAY,
    PING,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    Body,
    Data,
    Frame,
    Headers,
    Mutate,
    Op,
    Pause,
    Raw,
    WaitRequests,
)
from fuzz._util import Repeated

__all__ = ["client_stream", "frame", "script"]

#: Streams a client of up to three requests opens.
CLIENT_STREAMS = (1, 3, 5)
#: The largest DATA payload drawn, in bytes (above the 16 KiB default frame size).
MAX_DATA = 20000
#: The codings a response may claim (valid, stacked, unknown).
CODINGS = ("gzip", "deflate", "br", "zstd", "identity", "gzip, br", "x-gzip", "compress", "")

Headerlist = tuple[tuple[bytes, bytes], ...]
T = TypeVar("T")


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, picked with the given weights; shrinks towards the first."""
    total = sum(weight for weight, _ in choices)

    def pick(number: int) -> st.SearchStrategy[T]:
        for weight, strategy in choices:
            if number < weight:
                return strategy
            number -= weight
        raise ValueError(f"no choice for {number}")  # unreachable: number < total

    return st.integers(0, total - 1).flatmap(pick)


_long = st.builds(Repeated, st.binary(min_size=1, max_size=3), st.integers(0, MAX_DATA // 3))

client_stream = st.one_of(
    st.sampled_from(CLIENT_STREAMS),
    st.sampled_from(CLIENT_STREAMS),
    st.sampled_from((0, 2, 4, 7, 9, 0x7FFFFFFF, 0x80000001)),
    st.integers(0, 2**32 - 1),
)
_error_code = st.one_of(st.integers(0, 0xD), st.integers(0, 2**32 - 1))
_small = st.integers(0, 300)
_token = st.text("abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=12).map(str.encode)

_status = weighted(
    (12, st.sampled_from((b"200",) * 5 + (b"204", b"206", b"304", b"404", b"500", b"100", b"103"))),
    (1, st.binary(max_size=4)),
)
_header_name = weighted(
    (6, st.sampled_from((b"content-type", b"cache-control", b"etag", b"vary"))),
    (6, _token),
    (1, st.sampled_from((b"Upper", b"connection", b"te", b":path", b":status", b"", b"a b"))),
    (1, st.sampled_from((b"content-length", b"content-encoding"))),
)
_header_value = weighted(
    (6, st.sampled_from((b"0", b"5", b"10", b"text/plain", b"gzip", b"br", b"trailers"))),
    (3, st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(str.encode)),
    (1, st.binary(max_size=40)),
    (1, st.builds(Repeated, st.just(b"v"), st.integers(0, 5000))),
)
_headerlist = st.lists(st.tuples(_header_name, _header_value), max_size=6).map(tuple)


@st.composite
def _response_headers(draw: st.DrawFn, body: bytes | None, coding: str) -> Headerlist:
    headers: list[tuple[bytes, bytes]] = [(b":status", draw(_status))]
    if coding and draw(st.booleans()):
        headers.append((b"content-encoding", coding.encode()))
    if body is not None and draw(st.booleans()):
        length = len(body) + draw(st.sampled_from((0,) * 8 + (1, -1)))
        headers.append((b"content-length", str(length).encode()))
    headers.extend(draw(_headerlist))
    if draw(st.integers(0, 19)) == 0:
        headers = list(draw(st.permutations(headers)))  # pseudo-header after a regular one
    return tuple(headers)


@st.composite
def _header_block(draw: st.DrawFn, stream: int, headers: Headerlist, end: bool) -> Headers:
    fancy = draw(st.integers(0, 3)) == 0
    return Headers(
        stream=stream,
        headers=headers,
        end_stream=end,
        fragments=draw(st.integers(1, 4)) if fancy else 1,
        pad=draw(st.one_of(st.none(), st.integers(0, 300))) if fancy else None,
        priority=draw(st.booleans()) if fancy else False,
        raw_block=draw(st.binary(min_size=1, max_size=30))
        if draw(st.integers(0, 30)) == 0
        else None,
        drop_end_headers=draw(st.integers(0, 40)) == 0,
    )


@st.composite
def response(draw: st.DrawFn, stream: int) -> list[Op]:
    """A response on ``stream``: HEADERS, a body, maybe trailers."""
    coding = draw(st.sampled_from(CODINGS))
    payload = draw(st.one_of(st.binary(max_size=200), _long))
    encoded = coding in ("", "identity") or draw(st.booleans())
    headers = draw(_response_headers(payload if not coding else None, coding if encoded else ""))
    empty = draw(st.integers(0, 5)) == 0
    ops: list[Op] = [draw(_header_block(stream, headers, empty))]
    if empty:
        return ops
    trailers = draw(st.integers(0, 4)) == 0
    if encoded and coding:
        frame_size = draw(st.integers(1, 20000))
        ops.append(Body(stream, payload, coding, frame_size, end_stream=not trailers))
    else:
        ops.append(Data(stream, payload, end_stream=not trailers, pad=draw(_pad)))
    if trailers:
        ops.append(draw(_header_block(stream, draw(_headerlist), True)))
    return ops


_pad = st.one_of(st.none(), st.none(), st.integers(0, 300))
#: Valid values of the settings a server sends (RFC 9113, section 6.5.2).
_VALID_SETTINGS = {
    1: st.integers(0, 1 << 16),
    3: st.one_of(st.integers(0, 3), st.integers(0, 1000)),
    4: st.one_of(st.integers(0, 100), st.integers(0, 2**31 - 1)),
    5: st.integers(1 << 14, (1 << 24) - 1),
    6: st.integers(0, 1 << 20),
    8: st.integers(0, 1),
}
_settings_entry = weighted(
    (
        12,
        st.sampled_from(sorted(_VALID_SETTINGS)).flatmap(
            lambda key: st.tuples(st.just(key), _VALID_SETTINGS[key])
        ),
    ),
    (1, st.tuples(st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1))),
)


def _settings_payload(entries: list[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack(">HI", key, value) for key, value in entries)


_frame_kinds = st.one_of(
    st.builds(
        lambda s, p, e, pad: Data(s, p, e, pad),
        client_stream,
        st.one_of(st.binary(max_size=100), _long),
        st.booleans(),
        _pad,
    ),
    st.builds(
        lambda s, c: Frame(RST_STREAM, 0, s, struct.pack(">I", c)), client_stream, _error_code
    ),
    st.builds(
        lambda last, c, d: Frame(GOAWAY, 0, 0, struct.pack(">II", last, c) + d),
        st.one_of(st.sampled_from((0, 1, 3, 5)), st.integers(0, 2**32 - 1)),
        _error_code,
        st.binary(max_size=20),
    ),
    st.builds(
        lambda s, inc: Frame(WINDOW_UPDATE, 0, s, struct.pack(">I", inc)),
        st.one_of(st.just(0), client_stream),
        st.one_of(st.integers(0, 70000), st.integers(0, 2**32 - 1)),
    ),
    st.builds(
        lambda ack, d: Frame(PING, ack, 0, d), st.integers(0, 1), st.binary(min_size=8, max_size=8)
    ),
    st.builds(
        lambda entries, ack: Frame(SETTINGS, ack, 0, _settings_payload(entries)),
        st.lists(_settings_entry, max_size=4),
        st.integers(0, 1),
    ),
    st.builds(
        lambda s, dep, w: Frame(PRIORITY, 0, s, struct.pack(">IB", dep, w)),
        client_stream,
        st.integers(0, 2**32 - 1),
        st.integers(0, 255),
    ),
    st.builds(
        lambda s, end, h: Headers(s, h, end_stream=end),
        client_stream,
        st.booleans(),
        _headerlist.map(lambda h: ((b":status", b"200"), *h)),
    ),
    st.builds(
        lambda s, promised, h: Headers(s, h, promised=promised),
        client_stream,
        st.one_of(st.sampled_from((2, 4, 6)), st.integers(0, 2**32 - 1)),
        st.just(((b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/p"))).map(
            lambda h: (*h, (b":authority", b"x"))
        ),
    ),
    st.builds(
        lambda s, f, p: Frame(CONTINUATION, f, s, p), client_stream, _small, st.binary(max_size=20)
    ),
    st.builds(
        lambda k, f, s, p: Frame(k, f, s, p),
        st.integers(0, 255),
        st.integers(0, 255),
        client_stream,
        st.binary(max_size=40),
    ),
)

#: Any one operation other than a whole response.
frame = _frame_kinds


@st.composite
def _mutated(draw: st.DrawFn, ops: list[Op]) -> list[Op]:
    candidates = [
        (i, op) for i, op in enumerate(ops) if isinstance(op, (Frame, Headers, Data, Body))
    ]
    if not candidates or draw(st.integers(0, 3)) != 0:
        return ops
    index, inner = draw(st.sampled_from(candidates))
    how = draw(st.sampled_from(("flip", "truncate", "length")))
    at, value = draw(st.integers(0, 2**16)), draw(st.integers(0, 2**24 - 1))
    return [*ops[:index], Mutate(inner, how, at, value), *ops[index + 1 :]]


_extra_frames = weighted((4, st.just(0)), (3, st.just(1)), (3, st.integers(2, 4)))


@st.composite
def script(draw: st.DrawFn, requests: int) -> list[Op]:
    """A whole connection's script for a client that makes ``requests`` requests."""
    ops: list[Op] = []
    if draw(st.integers(0, 15)):
        entries = draw(st.lists(_settings_entry, max_size=3))
        ops.append(Frame(SETTINGS, 0, 0, _settings_payload(entries)))
    if draw(st.integers(0, 15)):
        ops.append(WaitRequests(requests))
    body: list[Op] = []
    streams = [s for s in CLIENT_STREAMS[:requests] if draw(st.integers(0, 9))]
    if draw(st.integers(0, 2)) == 0:
        streams = draw(st.permutations(streams))
    for stream in streams:
        body.extend(draw(response(stream)))
    for _ in range(draw(_extra_frames)):
        body.insert(draw(st.integers(0, len(body))), draw(frame))
    if draw(st.integers(0, 12)) == 0:
        body.insert(draw(st.integers(0, len(body))), Pause(draw(st.floats(0, 0.05))))
    if draw(st.integers(0, 20)) == 0:
        body.append(Raw(draw(st.binary(max_size=30))))
    return ops + draw(_mutated(body))
