"""``response.raw`` for the requests adapter: a hyper response dressed as urllib3's.

requests reads a response body through ``raw.stream()`` (or ``raw.read()``),
extracts cookies through ``raw._original_response.msg.get_all``, takes the
status, reason and headers from ``raw`` and gives the connection back with
``raw.release_conn()``; HTTPie also reads ``raw._original_response.version``.
:class:`RawResponse` offers exactly that over an
:class:`~hyper.http20.response.HTTP20Response` or
:class:`~hyper.http11.response.HTTP11Response`, and gives its pool lease back
as soon as the body has been read to its end or the response is closed.
Failures while reading the body are raised as the urllib3 exceptions that
requests translates (``ProtocolError``, ``DecodeError``,
``ReadTimeoutError``, ``SSLError``), chained to hyper's exception.
"""

from __future__ import annotations

import contextlib
import http
import http.client
from collections.abc import Iterator
from typing import TYPE_CHECKING

from urllib3 import exceptions as urllib3_exceptions
from urllib3._collections import HTTPHeaderDict

from hyper.common import exceptions
from hyper.common.util import HTTPVersion
from hyper.http11.response import HTTP11Response
from hyper.http20.response import HTTP20Response

if TYPE_CHECKING:
    from hyper.contrib._pool import Lease

__all__ = ["READ_AHEAD", "RawResponse", "reason_phrase"]

#: The fewest bytes asked of hyper per read: small reads (HTTPie reads one
#: byte at a time) are served from what was read ahead.
READ_AHEAD = 64 * 1024

#: urllib3's numbers for the HTTP versions (http.client's ``version``).
VERSION_NUMBERS = {HTTPVersion.http20: 20, HTTPVersion.http11: 11}
#: The statuses whose ``Location`` is a redirect (as urllib3 counts them).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def reason_phrase(status: int, reason: str) -> str:
    """``reason`` if the server sent one, else the standard phrase for
    ``status`` (HTTP/2 has no reason phrase), else ``''``."""
    if reason:
        return reason
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class OriginalResponse:
    """What requests and HTTPie read from urllib3's ``_original_response``
    (an :class:`http.client.HTTPResponse` there).

    :ivar status: the status code.
    :ivar reason: the reason phrase.
    :ivar version: ``20`` or ``11``.
    :ivar msg: the headers as an :class:`http.client.HTTPMessage` (requests'
        cookie extraction calls its ``get_all``).
    """

    def __init__(self, status: int, reason: str, version: int, msg: http.client.HTTPMessage):
        self.status = status
        self.reason = reason
        self.version = version
        self.msg = msg

    def __repr__(self) -> str:
        return f"<OriginalResponse {self.status} version={self.version}>"


class RawResponse:
    """A hyper response with the parts of urllib3's ``HTTPResponse`` that
    requests, HTTPie and users of ``response.raw`` rely on.

    Header names and values are ``str`` (decoded as Latin-1, like
    http.client). By default :meth:`read` and :meth:`stream` return the body
    as sent (``decode_content`` is ``False``, as with requests' own
    adapter); pass ``decode_content=True`` to undo ``Content-Encoding``.
    Whether a body is decoded is fixed by the first read. Not thread-safe:
    one thread reads one response.

    :param response: the hyper response.
    :param lease: the pool lease to give back when the body is done.
    :param url: the request URL (for error messages).

    :ivar status: the status code.
    :ivar reason: the reason phrase; for HTTP/2 (which has none) the
        standard phrase for the status.
    :ivar version: ``20`` for HTTP/2, ``11`` for HTTP/1.1.
    :ivar version_string: ``"HTTP/2"`` or ``"HTTP/1.1"``.
    :ivar headers: a urllib3 ``HTTPHeaderDict`` of the response headers.
    :ivar decode_content: the default for ``decode_content``.
    """

    def __init__(self, response: HTTP20Response | HTTP11Response, lease: Lease, url: str) -> None:
        self._response = response
        self._lease: Lease | None = lease
        self._url = url
        self._buffer = b""  # read ahead; served from _offset on
        self._offset = 0
        self._decode: bool | None = None  # fixed by the first read
        self.status = response.status
        self.reason = reason_phrase(response.status, response.reason)
        self.version = VERSION_NUMBERS[response.version]
        self.version_string = response.version.value
        self.decode_content = False
        pairs = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers.iter_raw()
        ]
        self.headers = HTTPHeaderDict(pairs)
        message = http.client.HTTPMessage()
        for name, value in pairs:
            message[name] = value  # appends: repeated fields stay separate
        self._original_response = OriginalResponse(self.status, self.reason, self.version, message)
        if response.closed:  # no body (HEAD, 204, 304): the connection is free now
            self._give_back()

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status}] {self.version_string}>"

    # --- reading ---------------------------------------------------------

    def read(
        self,
        amt: int | None = None,
        decode_content: bool | None = None,
        cache_content: bool = False,
    ) -> bytes:
        """Read ``amt`` bytes of the body (fewer only at its end), or all of it.

        :param amt: how many bytes; ``None`` reads to the end.
        :param decode_content: undo ``Content-Encoding``; ``None`` means
            :attr:`decode_content`.
        :param cache_content: accepted for urllib3 compatibility; ignored.
        :raises ValueError: if ``decode_content`` differs from the first read's.
        :raises urllib3.exceptions.ProtocolError: if the connection or stream failed.
        :raises urllib3.exceptions.DecodeError: if the body cannot be decoded.
        :raises urllib3.exceptions.ReadTimeoutError: if data stopped coming in time.
        """
        decode = self.decode_content if decode_content is None else decode_content
        parts = []
        wanted = amt
        while wanted is None or wanted > 0:
            piece = self._read_some(READ_AHEAD if wanted is None else wanted, decode)
            if not piece:
                break
            parts.append(piece)
            if wanted is not None:
                wanted -= len(piece)
        return b"".join(parts)

    def stream(
        self, amt: int | None = 2**16, decode_content: bool | None = None
    ) -> Iterator[bytes]:
        """Yield the body in pieces as they arrive, each at most ``amt`` bytes
        (``None``: as they come). Never yields an empty piece.

        :raises: as :meth:`read`.
        """
        decode = self.decode_content if decode_content is None else decode_content
        while piece := self._read_some(amt or READ_AHEAD, decode):
            yield piece

    def readinto(self, b: bytearray | memoryview) -> int:
        """Read body bytes (as :meth:`read` would return them) into ``b``.

        :returns: how many; 0 at the end of the body.
        """
        view = memoryview(b).cast("B")
        decode = self.decode_content if self._decode is None else self._decode
        data = self._read_some(len(view), decode) if len(view) else b""
        view[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        """Always ``True``: the body can be read."""
        return True

    def _read_some(self, amt: int, decode: bool) -> bytes:
        """Up to ``amt`` bytes: from what was read ahead, else one read from hyper."""
        if self._decode is None:
            self._decode = bool(decode)
        elif bool(decode) != self._decode:
            raise ValueError("decode_content cannot change once the body has been read from")
        if self._offset >= len(self._buffer):
            if self._response.closed:
                return b""
            with self._translated():
                self._buffer = self._response.read(max(amt, READ_AHEAD), decode_content=decode)
            self._offset = 0
            if not self._buffer:
                self._give_back()
                return b""
        start, self._offset = self._offset, min(self._offset + amt, len(self._buffer))
        data = self._buffer[start : self._offset]  # copies amt bytes, not the rest
        if self._offset >= len(self._buffer) and self._response.closed:
            self._give_back()
        return data

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Raise hyper's body errors as the urllib3 ones requests expects;
        a failed response gives its connection back."""
        try:
            yield
        except exceptions.HyperError as exc:
            self._response.close()
            self._give_back()
            raise _urllib3_error(exc, self._url) from exc

    # --- the connection ---------------------------------------------------

    def _give_back(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def release_conn(self) -> None:
        """Give the connection back to the pool; an unread rest of the body
        is discarded (the HTTP/2 stream is reset; an HTTP/1.1 socket closed)."""
        self.close()

    def drain_conn(self) -> None:
        """Read and discard the rest of the body, keeping the connection
        reusable; a failure just closes the response."""
        try:
            decode = self.decode_content if self._decode is None else self._decode
            while self._read_some(READ_AHEAD, decode):
                pass
        except urllib3_exceptions.HTTPError:
            self.close()

    def close(self) -> None:
        """Stop reading and give the connection back. Idempotent."""
        self._buffer, self._offset = b"", 0
        with contextlib.suppress(exceptions.HyperError):
            self._response.close()
        self._give_back()

    @property
    def closed(self) -> bool:
        """Whether the body has been read to its end or the response closed."""
        return self._response.closed and self._offset >= len(self._buffer)

    def isclosed(self) -> bool:
        """:attr:`closed`, as http.client spells it."""
        return self.closed

    def get_redirect_location(self) -> str | bool | None:
        """The ``Location`` of a redirect; ``False`` if the status is not one."""
        if self.status in REDIRECT_STATUSES:
            return self.headers.get("location")
        return False


def _urllib3_error(exc: exceptions.HyperError, url: str) -> urllib3_exceptions.HTTPError:
    """The urllib3 exception requests turns into its own for a body failure."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, exceptions.ReadTimeout):
        return urllib3_exceptions.ReadTimeoutError(None, url, message)  # type: ignore[arg-type]
    if isinstance(exc, exceptions.ContentDecodingError):
        return urllib3_exceptions.DecodeError(message)
    if isinstance(exc, exceptions.TLSError):
        return urllib3_exceptions.SSLError(message)
    return urllib3_exceptions.ProtocolError(f"Connection broken: {message}")
