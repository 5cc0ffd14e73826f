"""Request bodies and outgoing headers, as both HTTP versions need them.

:func:`prepare_body` turns what a caller passes as ``body=`` into a
:class:`RequestBody`: its length where it can be known, the chunks to send,
and whether it can be sent again (for a retry). :func:`normalize_headers`
turns ``headers=`` into byte pairs and refuses anything that could split or
smuggle a header (CR, LF or NUL anywhere, a name that is not a token)
before a byte is sent. Pure: nothing here writes to a socket.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeAlias, TypeGuard, cast

from hyper import __version__
from hyper.common.exceptions import LocalProtocolError
from hyper.common.headers import HTTPHeaderMap

__all__ = [
    "FILE_CHUNK_SIZE",
    "METHODS_WITH_BODY",
    "USER_AGENT",
    "BodyType",
    "HeadersType",
    "RequestBody",
    "check_method",
    "content_length",
    "normalize_headers",
    "prepare_body",
    "request_target",
]

#: How much of a file body is read per chunk.
FILE_CHUNK_SIZE = 256 * 1024
#: The ``User-Agent`` both protocols send unless the caller gives one.
USER_AGENT = b"hyper/" + __version__.encode()
#: Methods that send ``Content-Length: 0`` even without a body.
METHODS_WITH_BODY = frozenset({b"POST", b"PUT", b"PATCH"})

_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_PSEUDO_TOKEN = re.compile(rb":[a-z]+")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00\r\n]")
_FORBIDDEN_IN_TARGET = re.compile(rb"[\x00-\x20\x7f]")  # controls and spaces
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def content_length(method: bytes, length: int | None) -> bytes | None:
    """The ``Content-Length`` value to send for a body of ``length`` bytes,
    or ``None`` when none is sent: the length is unknown, or the body is
    empty and ``method`` is not one that carries a body.
    """
    if length is None or (not length and method not in METHODS_WITH_BODY):
        return None
    return str(length).encode()


def check_method(method: str | bytes) -> bytes:
    """Return a request method as bytes, refusing what is not an HTTP token.

    :raises TypeError: if it is neither str nor bytes.
    :raises LocalProtocolError: if it is empty or not a token (spaces, CR, LF...).
    """
    data = _as_bytes(method, "method")
    if _TOKEN.fullmatch(data) is None:
        raise LocalProtocolError(f"invalid method {data[:40]!r}")
    return data


def request_target(url: str | bytes) -> bytes:
    """Return a request target (``/path?query``, or an absolute URL) as
    ASCII bytes: non-ASCII characters are percent-encoded as UTF-8, as
    browsers and requests do.

    :raises TypeError: if it is neither str nor bytes.
    :raises LocalProtocolError: if it is empty or holds spaces or control
        characters (CR, LF, NUL...), which could split the request.
    """
    data = _as_bytes(url, "url")
    if not data or _FORBIDDEN_IN_TARGET.search(data) is not None:
        raise LocalProtocolError(f"invalid request target {data[:100]!r}")
    return _NON_ASCII.sub(lambda match: b"%%%02X" % match[0][0], data)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | str: ...


#: What ``body=`` accepts.
BodyType: TypeAlias = (
    "bytes | bytearray | memoryview | str | _Readable | Iterable[bytes] | Iterable[str] | None"
)
#: What ``headers=`` accepts.
HeadersType: TypeAlias = (
    "Mapping[str, str] | Mapping[bytes, bytes] | HTTPHeaderMap | Iterable[tuple[Any, Any]] | None"
)


def _as_bytes(value: object, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be str or bytes, got {type(value).__name__}")


def normalize_headers(
    headers: HeadersType, allow_pseudo: bool = False
) -> list[tuple[bytes, bytes]]:
    """Turn ``headers=`` into a list of ``(name, value)`` byte pairs, in order.

    Accepts a dict, an :class:`~hyper.common.headers.HTTPHeaderMap` (raw
    pairs, not split) or an iterable of pairs; names and values as str
    (UTF-8) or bytes. Leading and trailing spaces and tabs of values are
    dropped.

    :raises TypeError: for anything else.
    :raises LocalProtocolError: for a name that is not a valid token, or a
        name or value holding CR, LF or NUL.
    """
    if headers is None:
        return []
    if isinstance(headers, HTTPHeaderMap):
        pairs: Iterable[tuple[Any, Any]] = headers.iter_raw()
    elif isinstance(headers, Mapping):
        pairs = headers.items()
    elif _is_pair_iterable(headers):
        pairs = headers
    else:
        raise TypeError("headers must be a mapping or an iterable of (name, value) pairs")
    result = []
    for pair in pairs:
        name, value = pair
        name = _as_bytes(name, "a header name")
        value = _as_bytes(value, f"the value of header {name!r}").strip(b" \t")
        valid_name = _PSEUDO_TOKEN if allow_pseudo and name[:1] == b":" else _TOKEN
        if valid_name.fullmatch(name) is None:
            raise LocalProtocolError(f"invalid header name {name!r}")
        if _FORBIDDEN_IN_VALUE.search(value) is not None:
            raise LocalProtocolError(f"header {name!r} has CR, LF or NUL in its value")
        result.append((name, value))
    return result


def _is_pair_iterable(value: object) -> TypeGuard[Iterable[tuple[Any, Any]]]:
    """Whether ``value`` may be an iterable of pairs (not a str or bytes)."""
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes))


class RequestBody:
    """A request body ready to send.

    :ivar length: the size in bytes, or ``None`` when it cannot be known
        before sending (iterables, text files, pipes).
    :ivar replayable: whether :meth:`chunks` can be called again after a
        first attempt (bytes, str and seekable files can; iterators cannot).
    """

    __slots__ = ("_data", "_file", "_iterable", "_sent", "_start", "length", "replayable")

    def __init__(
        self,
        data: bytes | None = None,
        file: _Readable | None = None,
        iterable: Iterable[bytes | str] | None = None,
        length: int | None = None,
    ) -> None:
        self._data = data
        self._file = file
        self._iterable = iterable
        self._sent = False
        self._start = _tell(file) if file is not None else None
        self.length = len(data) if data is not None else length
        self.replayable = iterable is None and (file is None or self._start is not None)

    @property
    def data(self) -> bytes | None:
        """The whole body when it is held in memory (bytes or str), else ``None``."""
        return self._data

    def chunks(self, size: int = FILE_CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the body in pieces (files in ``size``-byte reads; str as UTF-8).

        :raises TypeError: if an iterable yields something other than str or bytes.
        :raises ValueError: if called again on a body that is not
            :attr:`replayable`.
        """
        if self._sent and not self.replayable:
            raise ValueError("this request body cannot be sent twice (it is an iterator)")
        self._sent = True
        if self._data is not None:
            if self._data:
                yield self._data
        elif self._file is not None:
            yield from self._file_chunks(self._file, size)
        elif self._iterable is not None:
            for chunk in self._iterable:
                piece = _as_bytes(chunk, "each chunk of an iterable body")
                if piece:
                    yield piece

    def _file_chunks(self, file: _Readable, size: int) -> Iterator[bytes]:
        if self._start is not None:
            cast(io.IOBase, file).seek(self._start)
        while True:
            piece = file.read(size)
            if not piece:
                return
            yield piece.encode("utf-8") if isinstance(piece, str) else bytes(piece)


def _tell(file: object) -> int | None:
    """Where a seekable file is now, or None if it cannot seek."""
    try:
        if not file.seekable():  # type: ignore[attr-defined]
            return None
        position: int = file.tell()  # type: ignore[attr-defined]
        return position
    except (AttributeError, OSError, ValueError):
        return None


def _file_length(file: object) -> int | None:
    """The bytes left to read in a binary file, where that can be known."""
    if isinstance(file, io.TextIOBase):
        return None
    try:
        size: int | None = os.fstat(file.fileno()).st_size  # type: ignore[attr-defined]
        position: int = file.tell()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        size = None
    if size is not None and size > 0:
        return max(size - position, 0)
    if isinstance(file, io.BytesIO):
        return len(file.getbuffer()) - file.tell()
    return None


def prepare_body(body: BodyType) -> RequestBody:
    """Classify ``body=`` and work out what can be known before sending it.

    bytes-like and str (UTF-8) are held in memory; objects with ``read()``
    are streamed in :data:`FILE_CHUNK_SIZE` pieces (length from the file's
    size where it is a regular file or :class:`io.BytesIO`); other iterables
    of bytes or str are streamed with unknown length.

    :raises TypeError: for anything else (an int, a dict, ...).
    """
    if body is None:
        return RequestBody(data=b"")
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        return RequestBody(data=_as_bytes(body, "body"))
    if hasattr(body, "read"):
        return RequestBody(file=cast(_Readable, body), length=_file_length(body))
    if isinstance(body, Mapping) or not isinstance(body, Iterable):
        raise TypeError(
            "body must be bytes, str, a file-like object or an iterable of bytes, "
            f"got {type(body).__name__}"
        )
    return RequestBody(iterable=cast("Iterable[bytes | str]", body))
