"""The pure HTTP/1.1 head parser: tables of inputs, and h11 as a differential oracle."""

from __future__ import annotations

import h11
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hyper.common.exceptions import (
    ChunkedDecodeError,
    HyperError,
    InvalidResponseError,
    LineTooLongError,
)
from hyper.http11.parser import (
    MAX_HEAD_SIZE,
    MAX_HEADER_COUNT,
    Framing,
    ResponseHead,
    body_framing,
    parse_chunk_size,
    parse_response_head,
    wants_close,
)


def head(data: bytes) -> ResponseHead:
    result = parse_response_head(data)
    assert result is not None
    return result[0]


def test_simple_response() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    parsed, used = parse_response_head(data)  # type: ignore[misc]
    assert parsed == ResponseHead(
        b"1.1", 200, b"OK", [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")]
    )
    assert data[used:] == b"hello"


@pytest.mark.parametrize(
    "data",
    [b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nA: b\r\n", b"HTT", b"HTTP/1.1 200 OK\r\n\r"],
)
def test_incomplete_heads_need_more(data: bytes) -> None:
    assert parse_response_head(data) is None


def test_accepts_memoryview_and_bytearray() -> None:
    data = bytearray(b"HTTP/1.1 404 Not Found\r\n\r\n")
    assert head(memoryview(data)).status == 404
    assert head(data).reason == b"Not Found"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"HTTP/1.1 200\r\n\r\n", (200, b"")),  # no reason phrase
        (b"HTTP/1.1 200 \r\n\r\n", (200, b"")),
        (b"HTTP/1.0 503 Service  Unavailable \t\r\n\r\n", (503, b"Service  Unavailable \t")),
        (b"HTTP/1.1 200 OK\n\n", (200, b"OK")),  # bare LF line endings
        (b"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", (200, b"OK")),  # stray blank lines first
        (b"HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\n\r\n", (200, "été".encode())),  # obs-text
    ],
)
def test_status_lines(data: bytes, expected: tuple[int, bytes]) -> None:
    parsed = head(data)
    assert (parsed.status, parsed.reason) == expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (b"A: b", [(b"A", b"b")]),
        (b"A:b", [(b"A", b"b")]),
        (b"A: \t b c \t", [(b"A", b"b c")]),
        (b"A:", [(b"A", b"")]),
        (b"A: b\r\n c\r\n\td", [(b"A", b"b c d")]),  # obsolete line folding
        (b"X-\xff: 1".replace(b"\xff", b"y"), [(b"X-y", b"1")]),
        (b"A: \x80\xff", [(b"A", b"\x80\xff")]),
        (b"A: 1\r\nA: 2", [(b"A", b"1"), (b"A", b"2")]),
    ],
)
def test_header_lines(lines: bytes, expected: list[tuple[bytes, bytes]]) -> None:
    assert head(b"HTTP/1.1 200 OK\r\n" + lines + b"\r\n\r\n").headers == expected


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/11 200 OK\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x00K\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"\x16\x03\x01\x00",  # a TLS record on a cleartext connection
        b"HTTP/1.1 200 OK\r\n: empty-name\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA b: c\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA : c\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\x0bc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded-first\r\n\r\n",
    ],
)
def test_malformed_heads_are_rejected(data: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        parse_response_head(data)


def test_head_size_is_bounded() -> None:
    huge = b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD_SIZE
    with pytest.raises(LineTooLongError):
        parse_response_head(huge)
    with pytest.raises(LineTooLongError):
        parse_response_head(b"\r\n" * MAX_HEAD_SIZE)
    complete_but_huge = huge + b"\r\n\r\n"
    with pytest.raises(LineTooLongError):
        parse_response_head(complete_but_huge)


def test_header_count_is_bounded() -> None:
    lines = b"".join(b"X: %d\r\n" % i for i in range(MAX_HEADER_COUNT + 1))
    with pytest.raises(LineTooLongError):
        parse_response_head(b"HTTP/1.1 200 OK\r\n" + lines + b"\r\n")
    ok = b"".join(b"X: %d\r\n" % i for i in range(MAX_HEADER_COUNT))
    assert len(head(b"HTTP/1.1 200 OK\r\n" + ok + b"\r\n").headers) == MAX_HEADER_COUNT


def make(status: int, *headers: tuple[bytes, bytes], version: bytes = b"1.1") -> ResponseHead:
    return ResponseHead(version, status, b"", list(headers))


@pytest.mark.parametrize(
    ("response", "method", "expected"),
    [
        (make(200, (b"Content-Length", b"10")), b"HEAD", (Framing.NONE, None)),
        (make(204, (b"Content-Length", b"10")), b"GET", (Framing.NONE, None)),
        (make(304), b"GET", (Framing.NONE, None)),
        (make(100), b"GET", (Framing.NONE, None)),
        (make(200), b"CONNECT", (Framing.NONE, None)),
        (make(407, (b"Content-Length", b"3")), b"CONNECT", (Framing.LENGTH, 3)),
        (make(200, (b"Content-Length", b"10")), b"GET", (Framing.LENGTH, 10)),
        (make(200, (b"content-length", b"0")), b"POST", (Framing.LENGTH, 0)),
        (
            make(200, (b"Content-Length", b"7, 7"), (b"Content-Length", b"7")),
            b"GET",
            (Framing.LENGTH, 7),
        ),
        (make(200, (b"Transfer-Encoding", b"chunked")), b"GET", (Framing.CHUNKED, None)),
        (make(200, (b"Transfer-Encoding", b"gzip, Chunked")), b"GET", (Framing.CHUNKED, None)),
        (make(200, (b"Transfer-Encoding", b"chunked, gzip")), b"GET", (Framing.CLOSE, None)),
        (make(200), b"GET", (Framing.CLOSE, None)),
    ],
)
def test_body_framing(response: ResponseHead, method: bytes, expected: tuple) -> None:
    assert body_framing(response, method) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [(b"Content-Length", b"10"), (b"Transfer-Encoding", b"chunked")],
        [(b"Content-Length", b"10"), (b"Content-Length", b"11")],
        [(b"Content-Length", b"10, 11")],
        [(b"Content-Length", b"-1")],
        [(b"Content-Length", b"0x10")],
        [(b"Content-Length", b"1" * 19)],
        [(b"Content-Length", b"")],
    ],
)
def test_bad_framing_is_rejected(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(InvalidResponseError):
        body_framing(make(200, *headers), b"GET")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (make(200), False),
        (make(200, (b"Connection", b"close")), True),
        (make(200, (b"connection", b"Keep-Alive, CLOSE")), True),
        (make(200, version=b"1.0"), True),
        (make(200, (b"Connection", b"keep-alive"), version=b"1.0"), False),
    ],
)
def test_wants_close(response: ResponseHead, expected: bool) -> None:
    assert wants_close(response) is expected


@pytest.mark.parametrize(
    ("line", "size"),
    [(b"0", 0), (b"a", 10), (b"FF", 255), (b"10;ext=1", 16), (b"10 ; ext", 16), (b"0000001", 1)],
)
def test_chunk_size(line: bytes, size: int) -> None:
    assert parse_chunk_size(line) == size


@pytest.mark.parametrize("line", [b"", b"g", b"-1", b"0x10", b"1" * 17, b" ", b";ext"])
def test_bad_chunk_size(line: bytes) -> None:
    with pytest.raises(ChunkedDecodeError):
        parse_chunk_size(line)


# --- h11 as the oracle ------------------------------------------------------------

_NAMES = st.sampled_from(
    [b"Content-Type", b"X-A", b"content-length", b"Set-Cookie", b"Via", b"x", b"A b", b"", b"\xff"]
)
_VALUE_BYTES = st.sampled_from(
    [b"a", b"1", b" ", b"\t", b",", b'"', b"\x80", b"\x00", b"\x0b", b"\r"]
)
_VALUES = st.lists(_VALUE_BYTES, max_size=12).map(b"".join)
_EOL = st.sampled_from([b"\r\n", b"\n"])


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    eol = draw(_EOL)
    version = draw(st.sampled_from([b"1.1", b"1.0", b"1.1", b"1.0", b"2.0", b"11"]))
    status = draw(st.sampled_from([b"200", b"204", b"404", b"101", b"200", b"99", b"2000"]))
    reason = draw(st.sampled_from([b"", b" ", b" OK", b" Not Found", b" \x80\t", b" a\x00"]))
    lines = [b"HTTP/" + version + b" " + status + reason]
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from([b" ", b"\t"])) + draw(_VALUES))  # a fold
        else:
            sep = draw(st.sampled_from([b":", b": ", b":\t", b": ", b" :"]))
            lines.append(draw(_NAMES) + sep + draw(_VALUES))
    return eol.join(lines) + eol + eol


def h11_parse(data: bytes) -> h11.Response | h11.InformationalResponse | None:
    """The first response event h11 sees, or None if h11 rejects the head."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    try:
        event = client.next_event()
    except h11.RemoteProtocolError:
        return None
    assert isinstance(event, (h11.Response, h11.InformationalResponse))
    return event


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(response_heads())
@example(b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n")
@example(b"HTTP/1.1 200\n\n")
def test_agrees_with_h11(data: bytes) -> None:
    theirs = h11_parse(data)
    try:
        result = parse_response_head(data)
    except InvalidResponseError:
        assert theirs is None, f"h11 accepted what we rejected: {data!r}"
        return
    if theirs is None:
        return  # we may be more lenient than h11, never stricter
    assert result is not None
    ours, used = result
    assert used == len(data)
    assert ours.status == theirs.status_code
    assert ours.reason == theirs.reason
    assert ours.version == theirs.http_version
    assert [(n.lower(), v) for n, v in ours.headers] == [
        (n.lower(), v) for n, v in theirs.headers.raw_items()
    ]
    length = [v for n, v in ours.headers if n.lower() == b"content-length"]
    if length and ours.status >= 200 and ours.status not in (204, 304):
        assert body_framing(ours, b"GET") == (Framing.LENGTH, int(length[0]))


@settings(max_examples=300)
@given(st.binary(max_size=300), st.sampled_from([b"GET", b"HEAD"]))
def test_any_bytes_parse_or_raise_a_hyper_error(data: bytes, method: bytes) -> None:
    try:
        result = parse_response_head(data)
        if result is not None:
            framing, length = body_framing(result[0], method)
            assert isinstance(framing, Framing)
            assert (length is not None) == (framing is Framing.LENGTH)
    except HyperError:
        pass
