"""Fuzz target: the pure HTTP/1.1 parser (response heads, framing, chunk sizes).

Inputs are built heads (status lines and header lines of every shape, odd
line endings, obsolete folding, leading blank lines, too many or too long
lines), the same with bytes flipped, inserted, deleted or cut, and plain
random bytes. Each input is parsed whole, as a ``bytearray`` and a
``memoryview``, and at a few prefixes, as a connection does while bytes
arrive. What must hold:

* only :class:`~hyper.common.exceptions.HyperError` subclasses escape;
* a prefix either needs more (``None``) or gives exactly what the whole
  input gives (the same head and length, or the same error class), so how
  the bytes were split never changes the answer;
* a parsed head is well-formed (status 100-999, token names, values free of
  CR, LF and NUL), ends within the input and :data:`MAX_HEAD_SIZE`, and
  parses to itself again;
* :func:`body_framing`, :func:`wants_close`, :func:`parse_header_lines` and
  :func:`parse_chunk_size` answer or raise only hyper's errors, and a chunk
  size is a non-negative number that fits its hex digits.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from fuzz._engine import Target
from hyper.common.exceptions import HyperError
from hyper.http11.parser import (
    MAX_HEAD_SIZE,
    Framing,
    ResponseHead,
    body_framing,
    parse_chunk_size,
    parse_header_lines,
    parse_response_head,
    wants_close,
)

__all__ = ["TARGET", "Example", "check"]

#: Seconds after which one example counts as a hang.
TIME_LIMIT = 5.0
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_METHODS = (b"GET", b"HEAD", b"CONNECT", b"POST")


@dataclass(frozen=True)
class Example:
    """Bytes to parse, where to cut them, and extra lines for the helpers."""

    data: bytes
    cuts: tuple[int, ...]
    lines: tuple[bytes, ...]
    chunk_line: bytes


_eol = st.sampled_from((b"\r\n", b"\r\n", b"\n", b"\r", b"\n\r", b""))
_version = st.sampled_from(
    (b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.", b"HTTP/11", b"http/1.1")
)
_status = st.one_of(
    st.sampled_from((b"200", b"204", b"304", b"101", b"100", b"099", b"999", b"20", b"2000")),
    st.binary(max_size=4),
)
_reason = st.one_of(st.sampled_from((b" OK", b"", b" ", b" Not Found")), st.binary(max_size=20))
_name = st.one_of(
    st.sampled_from(
        (b"Content-Length", b"Transfer-Encoding", b"Connection", b"Content-Type", b"X-A")
    ),
    st.binary(max_size=12),
)
_value = st.one_of(
    st.sampled_from((b"0", b"12", b"chunked", b"gzip, chunked", b"close", b"keep-alive", b"1, 1")),
    st.sampled_from((b"-1", b"99999999999999999999", b"0x10", b" 5 ", b"chunked, gzip")),
    st.binary(max_size=30),
)
_separator = st.sampled_from((b": ", b":", b" : ", b":\t", b""))
_fold = st.sampled_from((b"", b"", b"", b" ", b"\t"))


@st.composite
def built_head(draw: st.DrawFn) -> bytes:
    """A response head assembled from plausible and odd parts."""
    eol = draw(_eol)
    parts = [draw(st.sampled_from((b"", b"", b"\r\n", b"\n\n")))]
    parts.append(draw(_version) + b" " + draw(_status) + draw(_reason) + eol)
    for _ in range(draw(st.integers(0, 8))):
        line = draw(_fold) + draw(_name) + draw(_separator) + draw(_value)
        parts.append(line + draw(_eol) if draw(st.integers(0, 5)) == 0 else line + eol)
    if draw(st.integers(0, 10)):
        parts.append(eol)
    repeat = draw(st.sampled_from((1, 1, 1, 300, 3000)))
    if repeat > 1:  # too many header lines, or a head near the size limit
        parts.insert(2, (b"X-Pad: " + b"p" * draw(st.integers(0, 40)) + b"\r\n") * repeat)
    parts.append(draw(st.binary(max_size=20)))  # the start of a body
    return b"".join(parts)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` with a few bytes flipped, inserted, deleted or cut."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(("flip", "insert", "delete", "cut")))
        if how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif at < len(data):
            if how == "flip":
                data[at] ^= draw(st.integers(1, 255))
            elif how == "delete":
                del data[at]
            else:
                del data[at:]
    return bytes(data)


_data = st.one_of(
    built_head(),
    built_head(),
    mutated(built_head()),
    st.binary(max_size=200),
    st.builds(lambda n: b"\r\n" * n + b"HTTP/1.1 200 OK\r\n\r\n", st.sampled_from((0, 1, 40000))),
    st.builds(lambda n: b"HTTP/1.1 200 OK\r\nX: " + b"v" * n, st.sampled_from((10, 70000))),
)

_chunk_line = st.one_of(
    st.sampled_from((b"0", b"1a", b"ffffffffffffffff", b"10000000000000000", b"a;ext=1", b" 5 ")),
    st.binary(max_size=24),
)


@st.composite
def example(draw: st.DrawFn) -> Example:
    """Draw one parser input with its cut points and helper inputs."""
    data = draw(_data)
    cuts = tuple(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    lines = tuple(draw(st.lists(st.one_of(st.binary(max_size=30), built_head()), max_size=4)))
    return Example(data, cuts, lines, draw(_chunk_line))


def _outcome(data: bytes | bytearray | memoryview) -> Any:
    """The parser's answer as a comparable value (an error becomes its class)."""
    try:
        return parse_response_head(data)
    except HyperError as exc:
        return type(exc)


def _check_head(head: ResponseHead, end: int, data: bytes) -> None:
    assert 0 < end <= min(len(data), MAX_HEAD_SIZE), f"head ends at {end} of {len(data)}"
    assert 100 <= head.status <= 999, head.status
    for name, value in head.headers:
        assert _TOKEN.fullmatch(name), name
        assert not set(value) & {0, 10, 13}, value
    assert _outcome(data[:end]) == (head, end), "the head does not parse to itself"
    for method in _METHODS:
        try:
            framing, length = body_framing(head, method)
        except HyperError:
            continue
        assert (length is not None) == (framing is Framing.LENGTH)
        assert length is None or length >= 0
    assert isinstance(wants_close(head), bool)


def _check_helpers(ex: Example) -> None:
    with contextlib.suppress(HyperError):
        parse_header_lines(list(ex.lines))
    try:
        size = parse_chunk_size(ex.chunk_line)
    except HyperError:
        return
    assert 0 <= size < 16**16, size


def check(ex: Example) -> None:
    """Run one example (the check of this target).

    :raises AssertionError: an invariant broke (see the module docstring).
    """
    whole = _outcome(ex.data)
    assert _outcome(bytearray(ex.data)) == whole, "bytearray parses differently"
    assert _outcome(memoryview(ex.data)) == whole, "memoryview parses differently"
    for cut in ex.cuts:
        part = _outcome(ex.data[:cut])
        assert part is None or part == whole, f"prefix {cut} gives {part!r}, whole {whole!r}"
    if isinstance(whole, tuple):
        _check_head(whole[0], whole[1], ex.data)
    _check_helpers(ex)


TARGET = Target("http11", example(), check, time_limit=TIME_LIMIT, batch_size=300)
