"""A pure HTTP/1.1 response-head parser and the body-framing rules.

Bytes in, head out: nothing here reads a socket. The connection hands
:func:`parse_response_head` whatever it has buffered; the parser answers
``None`` (need more), a parsed head and how many bytes it used, or raises.
It accepts everything h11 accepts and parses it the same way (the tests
check that differentially), plus a few harmless leniencies of real servers
(empty lines before the status line). It is hand-written rather than h11
because it runs for every response and works in place on the socket
buffer without copies or per-event objects.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from hyper.common.exceptions import ChunkedDecodeError, InvalidResponseError, LineTooLongError

__all__ = [
    "MAX_CHUNK_SIZE_LINE",
    "MAX_HEADER_COUNT",
    "MAX_HEAD_SIZE",
    "Framing",
    "ResponseHead",
    "body_framing",
    "parse_chunk_size",
    "parse_header_lines",
    "parse_response_head",
    "wants_close",
]

#: The largest response head (status line + headers) accepted, in bytes.
MAX_HEAD_SIZE = 64 * 1024
#: The most header lines accepted in one head (or one trailer block).
MAX_HEADER_COUNT = 256
#: The longest chunk-size line (size + extensions) accepted, in bytes.
MAX_CHUNK_SIZE_LINE = 4096

_BLANK_LINE = re.compile(rb"\n\r?\n")
_STATUS_LINE = re.compile(
    rb"HTTP/(?P<version>[0-9]\.[0-9]) (?P<status>[0-9]{3})(?: (?P<reason>[^\x00\n\r\x0b\x0c]*))?"
)
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_BAD_VALUE_BYTE = re.compile(rb"[\x00\r\n\x0b\x0c]")
_OWS = b" \t"
_LEADING_BLANK_LINES = b"\r\n"


class ResponseHead(NamedTuple):
    """A parsed status line and header block."""

    #: The HTTP version from the status line, e.g. ``b"1.1"``.
    version: bytes
    #: The status code.
    status: int
    #: The reason phrase (may be empty).
    reason: bytes
    #: The header fields in order, names as sent.
    headers: list[tuple[bytes, bytes]]


class Framing(enum.Enum):
    """How a response body is delimited (RFC 9112, section 6.3)."""

    #: No body at all (HEAD, 1xx, 204, 304, a successful CONNECT).
    NONE = "none"
    #: Exactly ``Content-Length`` bytes.
    LENGTH = "length"
    #: Chunked transfer coding.
    CHUNKED = "chunked"
    #: Everything until the server closes the connection.
    CLOSE = "close"


def _fold_lines(lines: list[bytes]) -> list[bytes]:
    """Join obsolete line folding (continuation lines start with SP/HTAB)."""
    folded: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not folded:
                raise InvalidResponseError("continuation line at the start of the headers")
            folded[-1] = folded[-1] + b" " + line.lstrip(_OWS)
        else:
            folded.append(line)
    return folded


def parse_header_lines(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Parse header (or trailer) lines, without line endings, into pairs.

    :raises InvalidResponseError: for a malformed line.
    :raises LineTooLongError: for more than :data:`MAX_HEADER_COUNT` lines.
    """
    if len(lines) > MAX_HEADER_COUNT:
        raise LineTooLongError(f"more than {MAX_HEADER_COUNT} header lines")
    if any(line[:1] in (b" ", b"\t") for line in lines):
        lines = _fold_lines(lines)
    headers = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise InvalidResponseError(f"malformed header line {bytes(line[:100])!r}")
        value = value.strip(_OWS)
        if _BAD_VALUE_BYTE.search(value) is not None:
            raise InvalidResponseError(f"invalid byte in the value of header {name!r}")
        headers.append((name, value))
    return headers


def _split_lines(block: bytes) -> list[bytes]:
    """Split a head into lines, accepting CRLF or bare LF endings."""
    lines = block.split(b"\n")
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def parse_response_head(data: bytes | bytearray | memoryview) -> tuple[ResponseHead, int] | None:
    """Parse a response head from the start of ``data``.

    :returns: ``None`` if ``data`` does not hold a whole head yet, else the
        head and the number of bytes it took (the body starts there).
    :raises InvalidResponseError: if the head is malformed.
    :raises LineTooLongError: if no head ends within :data:`MAX_HEAD_SIZE`
        bytes, or it has too many header lines.
    """
    raw = bytes(data[:MAX_HEAD_SIZE])
    start = len(raw) - len(raw.lstrip(_LEADING_BLANK_LINES))
    prefix = raw[start : start + 5]
    if not b"HTTP/".startswith(prefix):
        raise InvalidResponseError(f"response does not start with a status line: {prefix!r}")
    match = _BLANK_LINE.search(raw, start)
    if match is None:
        if len(raw) >= MAX_HEAD_SIZE:
            raise LineTooLongError(f"response head longer than {MAX_HEAD_SIZE} bytes")
        return None
    end = match.end()
    lines = _split_lines(raw[start : match.start()])
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        raise InvalidResponseError(f"malformed status line {lines[0][:100]!r}")
    if int(status["status"]) < 100:
        raise InvalidResponseError(f"status code {status['status']!r} is below 100")
    headers = parse_header_lines(lines[1:]) if len(lines) > 1 else []
    head = ResponseHead(
        version=status["version"],
        status=int(status["status"]),
        reason=status["reason"] or b"",
        headers=headers,
    )
    return head, end


def _header_values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """All comma-separated items of header ``name`` (lower-case), in order."""
    items: list[bytes] = []
    for key, value in headers:
        if key.lower() == name:
            items.extend(item.strip(_OWS) for item in value.split(b","))
    return items


def _content_length(values: list[bytes]) -> int:
    """The one Content-Length that all (possibly repeated) values agree on."""
    distinct = {value for value in values if value}
    if len(distinct) != 1:
        raise InvalidResponseError(f"conflicting Content-Length values {sorted(distinct)!r}")
    (text,) = distinct
    if not text.isdigit() or len(text) > 18:
        raise InvalidResponseError(f"invalid Content-Length {text[:40]!r}")
    return int(text)


def body_framing(head: ResponseHead, request_method: bytes) -> tuple[Framing, int | None]:
    """Decide how the body of ``head`` is delimited, per RFC 9112 section 6.3.

    :returns: the framing and, for :attr:`Framing.LENGTH`, the length.
    :raises InvalidResponseError: for a body with both Content-Length and
        Transfer-Encoding, conflicting or malformed Content-Length values.
    """
    status = head.status
    if request_method == b"HEAD" or status < 200 or status in (204, 304):
        return Framing.NONE, None
    if request_method == b"CONNECT" and status < 300:
        return Framing.NONE, None
    codings = _header_values(head.headers, b"transfer-encoding")
    lengths = _header_values(head.headers, b"content-length")
    if codings:
        if lengths:
            raise InvalidResponseError("response has both Content-Length and Transfer-Encoding")
        if codings[-1].lower() == b"chunked":
            return Framing.CHUNKED, None
        return Framing.CLOSE, None
    if lengths:
        return Framing.LENGTH, _content_length(lengths)
    return Framing.CLOSE, None


def wants_close(head: ResponseHead) -> bool:
    """Whether the connection cannot be reused after this response.

    True for ``Connection: close``, and for HTTP/1.0 without
    ``Connection: keep-alive``.
    """
    tokens = {token.lower() for token in _header_values(head.headers, b"connection")}
    if b"close" in tokens:
        return True
    return head.version == b"1.0" and b"keep-alive" not in tokens


def parse_chunk_size(line: bytes) -> int:
    """Parse a chunk-size line (without its line ending), ignoring extensions.

    :raises ChunkedDecodeError: if the size is not hexadecimal or too large.
    """
    size, _, _ext = line.partition(b";")
    size = size.strip(_OWS)
    if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
        raise ChunkedDecodeError(f"invalid chunk size line {line[:40]!r}")
    return int(size, 16)
