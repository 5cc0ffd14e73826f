"""What HTTP/1.1 and HTTP/2 responses share: reading and decoding the body.

A protocol's response class supplies the raw body through two hooks
(:meth:`BaseResponse._read_raw` and :meth:`BaseResponse._release`); this base
turns them into ``read``, ``read_chunked``, ``readinto``, iteration and
``close``, undoing ``Content-Encoding`` on the way with bounded output per
call, so a decompression bomb can be read in slices in constant memory and
a whole-body ``read()`` stops at the configured cap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType

from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE, ContentDecoder
from hyper.common.exceptions import ContentDecodingError
from hyper.common.headers import HTTPHeaderMap
from hyper.common.util import HTTPVersion

__all__ = ["RAW_READ_SIZE", "BaseResponse"]

log = logging.getLogger(__name__)

#: How many raw body bytes are pulled from the connection per step.
RAW_READ_SIZE = 256 * 1024
#: How many decoded bytes a whole-body ``read()`` asks the decoder for per
#: step: large pieces keep a big body from fragmenting the heap.
DECODED_READ_STEP = 1024 * 1024


class BaseResponse:
    """The body-reading half of a response; see the protocol classes.

    :ivar status: the status code.
    :ivar reason: the reason phrase (always ``''`` on HTTP/2, which has none).
    :ivar headers: the response headers.
    :ivar version: the HTTP version of the response.
    """

    version: HTTPVersion

    def __init__(
        self,
        status: int,
        reason: str,
        headers: HTTPHeaderMap,
        max_decoded_size: int = DEFAULT_MAX_DECODED_SIZE,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self._max_decoded_size = max_decoded_size
        self._decoder: ContentDecoder | None = None
        self._decoding: bool | None = None  # fixed by the first read
        self._raw_done = False
        self._closed = False
        self._stash = b""  # raw body read ahead to reach the trailers

    # --- hooks for the protocol classes ----------------------------------

    def _read_raw(self, amt: int) -> bytes:
        """Up to ``amt`` raw (still encoded) body bytes; ``b''`` at the end."""
        raise NotImplementedError

    def _read_raw_all(self) -> bytes:
        """The rest of the raw body; subclasses may do this faster."""
        parts = []
        while chunk := self._read_raw(RAW_READ_SIZE):
            parts.append(chunk)
        return b"".join(parts)

    def _readinto_raw(self, buffer: memoryview) -> int:
        """Raw body bytes into ``buffer``; 0 at the end."""
        data = self._read_raw(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _release(self, complete: bool) -> None:
        """The response is done with (``complete``: its body was read to the end)."""

    def _trailer_map(self) -> HTTPHeaderMap:
        """The trailers received (only called once the raw body has ended)."""
        return HTTPHeaderMap()

    # --- raw reads, serving read-ahead bytes first -------------------------

    def _pull(self, amt: int) -> bytes:
        if self._stash:
            data, self._stash = self._stash[:amt], self._stash[amt:]
            return data
        return self._read_raw(amt)

    def _pull_all(self) -> bytes:
        stash, self._stash = self._stash, b""
        return stash + self._read_raw_all() if stash else self._read_raw_all()

    def _pullinto(self, view: memoryview) -> int:
        if self._stash:
            data = self._pull(len(view))
            view[: len(data)] = data
            return len(data)
        return self._readinto_raw(view)

    @property
    def trailers(self) -> HTTPHeaderMap:
        """The trailing headers sent after the body (empty if there were none).

        Trailers come after the body, so if the body has not been read to
        its end, the rest of it is read first and kept in memory for later
        :meth:`read` calls.
        """
        if not self._raw_ended():
            self._stash += self._read_raw_all()
        return self._trailer_map()

    def _raw_ended(self) -> bool:
        """Whether the raw body has been received to its end."""
        raise NotImplementedError

    # --- decoding --------------------------------------------------------

    def _start_decoding(self, decode_content: bool) -> ContentDecoder | None:
        """Fix, at the first read, whether the body is decoded; return the decoder."""
        if self._decoding is None:
            self._decoding = bool(decode_content)
            if self._decoding:
                self._decoder = self._make_decoder()
        elif bool(decode_content) != self._decoding:
            raise ValueError("decode_content cannot change once the body has been read from")
        return self._decoder

    def _make_decoder(self) -> ContentDecoder | None:
        values = self.headers.get(b"content-encoding") or []
        if not values:
            return None
        try:
            return ContentDecoder.for_header(b", ".join(values))
        except ContentDecodingError as exc:
            # An encoding we cannot undo is handed over as it came, as the
            # old hyper and requests do, rather than failing the response.
            log.warning("not decoding the body: %s", exc)
            return None

    def _read_decoded(self, decoder: ContentDecoder, amt: int) -> bytes:
        """Up to ``amt`` decoded bytes; ``b''`` only at the end of the body."""
        while True:
            data = decoder.read(amt)
            if data or self._raw_done:  # after finish(), b"" means no more output
                return data
            raw = self._pull(RAW_READ_SIZE)
            if raw:
                decoder.feed(raw)
            else:
                self._raw_done = True
                decoder.finish()

    def _read_all_decoded(self, decoder: ContentDecoder) -> bytes:
        parts = []
        total = 0
        while data := self._read_decoded(decoder, DECODED_READ_STEP):
            total += len(data)
            if total > self._max_decoded_size:
                raise ContentDecodingError(
                    f"decoded body larger than the cap of {self._max_decoded_size} bytes; "
                    "read it in pieces with read(amt) instead"
                )
            parts.append(data)
        return b"".join(parts)

    # --- the public reading API -----------------------------------------

    def read(self, amt: int | None = None, decode_content: bool = True) -> bytes:
        """Read the body.

        :param amt: the most bytes to return; ``None`` reads to the end.
            Returns ``b''`` only at the end of the body.
        :param decode_content: undo ``Content-Encoding`` (gzip, deflate, br,
            zstd). Must be the same for every read of one response.
        :raises ValueError: if ``amt`` is negative, or ``decode_content``
            changes between reads.
        :raises hyper.common.exceptions.ContentDecodingError: if the body
            cannot be decoded, or a whole-body read passes the cap on
            decoded size (read in pieces instead).
        :raises hyper.common.exceptions.HyperError: for connection and
            protocol failures.
        """
        if amt is not None and (isinstance(amt, bool) or not isinstance(amt, int)):
            raise TypeError(f"amt must be an int or None, got {type(amt).__name__}")
        if amt is not None and amt < 0:
            raise ValueError(f"amt must not be negative, got {amt}")
        decoder = self._start_decoding(decode_content)
        if amt == 0:
            return b""
        if decoder is None:
            data = self._pull_all() if amt is None else self._pull(amt)
        elif amt is None:
            data = self._read_all_decoded(decoder)
        else:
            data = self._read_decoded(decoder, amt)
        if not data or amt is None:
            self._finished()
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        """Read body bytes (decoded) into the writable buffer ``b``.

        :returns: the number of bytes written; 0 at the end of the body.
        """
        view = memoryview(b).cast("B")
        if not view:
            return 0
        decoder = self._start_decoding(True)
        if decoder is None:
            count = self._pullinto(view)
        else:
            data = self._read_decoded(decoder, len(view))
            count = len(data)
            view[:count] = data
        if not count:
            self._finished()
        return count

    def read_chunked(self, decode_content: bool = True) -> Iterator[bytes]:
        """Yield the body piece by piece as it arrives (never an empty piece).

        Each piece is what the server sent in one go (a chunk, a DATA frame,
        or one read), decoded if ``decode_content``; the pieces together
        are the whole body.
        """
        decoder = self._start_decoding(decode_content)
        while True:
            data = (
                self._pull(RAW_READ_SIZE)
                if decoder is None
                else self._read_decoded(decoder, RAW_READ_SIZE)
            )
            if not data:
                self._finished()
                return
            yield data

    def __iter__(self) -> Iterator[bytes]:
        """Iterating a response yields its decoded body in pieces."""
        return self.read_chunked()

    def _finished(self) -> None:
        if not self._closed:
            self._closed = True
            self._release(True)

    def close(self) -> None:
        """Stop reading. An unread rest of the body is discarded; the
        connection is then not reused (HTTP/1.1) or the stream is reset
        (HTTP/2). Idempotent."""
        if not self._closed:
            self._closed = True
            self._release(False)

    @property
    def closed(self) -> bool:
        """Whether the body has been read to the end or the response closed."""
        return self._closed

    def __enter__(self) -> BaseResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
