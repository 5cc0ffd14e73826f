"""Incremental decoders for the ``Content-Encoding`` codings of HTTP bodies.

A :class:`ContentDecoder` undoes the codings named by one header value (gzip,
deflate, br and, when a zstd implementation is importable, zstd; stacked up to
:data:`MAX_STACKED_ENCODINGS`) on a body fed to it piece by piece. It does no
I/O: raw bytes go in with :meth:`~ContentDecoder.feed`, decoded bytes come out
with :meth:`~ContentDecoder.read`, never more than asked for, and each coding
is asked only for as much output as the next one needs, so a decompression
bomb is read in slices in constant memory. :func:`decode_all` reads a whole
body under a cap. Errors of the compression libraries never escape: they
become :class:`~hyper.common.exceptions.ContentDecodingError` with the
original as ``__cause__``. Decoders are not thread-safe: use one per body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from hyper.common._codings import BrotliStage, FrameDecoder, Stage, ZlibStage, ZstdStage, join_parts
from hyper.common.exceptions import ContentDecodingError

__all__ = [
    "DEFAULT_MAX_DECODED_SIZE",
    "MAX_STACKED_ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "ZSTD_MAX_WINDOW_SIZE",
    "ContentDecoder",
    "accept_encoding",
    "decode_all",
]

log = logging.getLogger(__name__)

#: The cap :func:`decode_all` puts on a decoded body by default (1 GiB).
DEFAULT_MAX_DECODED_SIZE = 1 << 30
#: The most codings one ``Content-Encoding`` value may stack.
MAX_STACKED_ENCODINGS = 5
#: The largest zstd window accepted: RFC 9659 caps the ``zstd`` content
#: coding at 8 MiB, which also bounds the memory one zstd decoder may take.
ZSTD_MAX_WINDOW_SIZE = 1 << 23

# Decoded bytes one coding passes to the next per pull, and decode_all per read.
_STAGE_SLICE = 256 * 1024
_READ_SLICE = 1 << 20


_CODINGS: dict[bytes, Callable[[], Stage]] = {
    b"gzip": lambda: ZlibStage(gzip=True),
    b"x-gzip": lambda: ZlibStage(gzip=True),
    b"deflate": lambda: ZlibStage(gzip=False),
    b"br": BrotliStage,
}

# The one optional import: zstd comes from the standard library on Python
# 3.14+, else from the zstandard package, else it is neither decoded nor offered.
try:
    import compression.zstd as _std_zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    try:
        import zstandard as _zstandard
    except ImportError:  # pragma: no cover - tested in a child process, see the tests
        log.debug("no zstd implementation: zstd is not offered")
    else:

        def _zstandard_stage() -> Stage:
            dctx = _zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW_SIZE)
            return ZstdStage(dctx.decompressobj, (_zstandard.ZstdError,))

        _CODINGS[b"zstd"] = _zstandard_stage
else:  # pragma: no cover - Python 3.14+ only
    _STD_ZSTD_OPTIONS = {
        _std_zstd.DecompressionParameter.window_log_max: ZSTD_MAX_WINDOW_SIZE.bit_length() - 1
    }

    def _std_zstd_frame() -> FrameDecoder:
        return _std_zstd.ZstdDecompressor(options=_STD_ZSTD_OPTIONS)  # type: ignore[no-any-return,unused-ignore]

    _CODINGS[b"zstd"] = lambda: ZstdStage(_std_zstd_frame, (_std_zstd.ZstdError, EOFError))

#: The codings offered in ``Accept-Encoding``: exactly those decoded here.
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(
    name for name in ("gzip", "deflate", "br", "zstd") if name.encode() in _CODINGS
)


def accept_encoding() -> bytes:
    """The default ``Accept-Encoding`` request header value.

    :returns: the codings of :data:`SUPPORTED_ENCODINGS`, comma-separated,
        e.g. ``b"gzip, deflate, br, zstd"``.
    """
    return ", ".join(SUPPORTED_ENCODINGS).encode("ascii")


def _parse_codings(content_encoding: str | bytes) -> tuple[bytes, ...]:
    """The codings a header value names, in the order they were applied."""
    value: object = content_encoding
    if isinstance(value, str):
        value = value.encode("latin-1", "replace")
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"content_encoding must be str or bytes, not {type(value).__name__}")
    names = (name.strip(b" \t").lower() for name in value.split(b","))
    codings = tuple(bytes(name) for name in names if name and name != b"identity")
    if len(codings) > MAX_STACKED_ENCODINGS:
        raise ContentDecodingError(
            f"{len(codings)} stacked content codings, more than {MAX_STACKED_ENCODINGS}"
        )
    for name in codings:
        if name not in _CODINGS:
            raise ContentDecodingError(f"unsupported content coding {name!r}")
    return codings


class ContentDecoder:
    """Undoes the codings of one ``Content-Encoding`` value, incrementally.

    Codings are undone in the reverse of the order the header lists them;
    names are case-insensitive, ``x-gzip`` means ``gzip`` and ``identity`` is
    ignored (with no coding left, bytes pass through). Feed the raw body with
    :meth:`feed`, take decoded bytes with :meth:`read` until it returns
    ``b""``, then feed more (see :attr:`needs_input`); when the raw body ends,
    call :meth:`finish` and read until :attr:`eof`. A gzip body may hold
    several members and a zstd body several frames; they decode as one body.
    A raw body of no bytes at all decodes to no bytes, whatever the coding.

    Fed bytes stay queued until decoded, so read between feeds to keep memory
    bounded. Once a call raised :class:`ContentDecodingError`, every later
    call raises a new one with it as ``__cause__``. Not thread-safe: one
    decoder per body.

    :param content_encoding: the header value, e.g. ``b"gzip"`` or
        ``"gzip, br"`` (join several ``Content-Encoding`` fields with ``", "``).
    :raises ContentDecodingError: a coding is not supported here, or more than
        :data:`MAX_STACKED_ENCODINGS` are stacked. Callers that would rather
        hand such a body over undecoded (as urllib3 and requests do) catch it.
    :raises TypeError: *content_encoding* is neither ``str`` nor ``bytes``.
    """

    def __init__(self, content_encoding: str | bytes) -> None:
        codings = _parse_codings(content_encoding)
        #: The codings the header names (lower-cased), in the order applied.
        self.codings: tuple[str, ...] = tuple(name.decode("ascii") for name in codings)
        self._stages = [_CODINGS[name]() for name in reversed(codings)] or [Stage()]
        self._finished = False
        self._starved = True
        self._failure: ContentDecodingError | None = None

    @classmethod
    def for_header(cls, content_encoding: str | bytes | None) -> ContentDecoder | None:
        """A decoder for a header value, or ``None`` when there is nothing to
        undo (no header, an empty value, or only ``identity``).

        :raises ContentDecodingError: as the constructor.
        :raises TypeError: as the constructor.
        """
        if content_encoding is None or not _parse_codings(content_encoding):
            return None
        return cls(content_encoding)

    @property
    def needs_input(self) -> bool:
        """``True`` when :meth:`read` cannot produce more until more is fed:
        before the first :meth:`feed`, and after :meth:`read` returned ``b""``
        for lack of input. Right after :meth:`feed` it is ``False`` (only a
        read can tell whether the input sufficed); after :meth:`finish`, it
        is always ``False``.
        """
        return self._starved and not self._finished

    @property
    def eof(self) -> bool:
        """``True`` once :meth:`finish` was called, every coding ended
        properly and all decoded output has been read."""
        return self._stages[-1].done

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add raw (still encoded) bytes of the body.

        ``bytes`` are kept as they are until decoded; other bytes-like
        objects are copied first.

        :raises ContentDecodingError: an earlier call failed.
        :raises ValueError: :meth:`finish` was already called.
        :raises TypeError: *data* is not bytes-like.
        """
        self._raise_failure()
        if self._finished:
            raise ValueError("feed() called after finish()")
        if not isinstance(data, bytes):
            data = memoryview(data).tobytes()  # also refuses what is not bytes-like
        if data:
            self._stages[0].feed(data)
            self._starved = False

    def read(self, max_length: int) -> bytes:
        """Decoded bytes, at most *max_length* of them.

        :returns: ``b""`` when more input is needed (:attr:`needs_input`) or
            the body ended (:attr:`eof`), else between 1 and *max_length* bytes.
        :raises ContentDecodingError: the body is corrupt, or (after
            :meth:`finish`) truncated.
        :raises ValueError: *max_length* is less than 1.
        """
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, not {max_length}")
        self._raise_failure()
        try:
            out = self._pull(len(self._stages) - 1, max_length)
        except ContentDecodingError as exc:
            self._failure = exc
            raise
        self._starved = not out
        return out

    def finish(self) -> None:
        """Tell the decoder the raw body has ended.

        Output still buffered can be read afterwards. Calling it again does
        nothing.

        :raises ContentDecodingError: the body is truncated and nothing is
            left to read; if decoded output is still buffered, the read that
            drains it raises instead.
        """
        self._raise_failure()
        if self._finished:
            return
        self._finished = True
        try:
            for stage in self._stages:
                stage.finish()
                if not stage.done:
                    break
        except ContentDecodingError as exc:
            self._failure = exc
            raise

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise ContentDecodingError("the body failed to decode earlier") from self._failure

    def _pull(self, index: int, n: int) -> bytes:
        """At most *n* bytes out of stage *index*, feeding it from the stage
        before as it runs dry."""
        stage = self._stages[index]
        while True:
            out = stage.read(n)
            if out or not index or stage.done:
                return out
            data = self._pull(index - 1, _STAGE_SLICE)
            if data:
                stage.feed(data)
            elif self._stages[index - 1].done:
                stage.finish()
            else:
                return b""

    def __repr__(self) -> str:
        state = "eof" if self.eof else "finished" if self._finished else "open"
        return f"<ContentDecoder {', '.join(self.codings) or 'identity'} ({state})>"


def decode_all(
    decoder: ContentDecoder,
    chunks: Iterable[bytes],
    max_size: int = DEFAULT_MAX_DECODED_SIZE,
) -> bytes:
    """Decode a whole body, refusing one that decodes to more than *max_size*.

    Feeds every chunk, then finishes the decoder. Decoding stops as soon as
    the output passes the cap, so at most *max_size* plus one read slice is
    ever held.

    :param decoder: a fresh decoder (nothing fed yet, not finished).
    :param chunks: the raw body, in pieces.
    :param max_size: the most decoded bytes accepted.
    :returns: the decoded body.
    :raises ContentDecodingError: the body is corrupt or truncated, or its
        decoded size exceeds *max_size*.
    :raises ValueError: *max_size* is negative.
    """
    if max_size < 0:
        raise ValueError(f"max_size must not be negative, not {max_size}")
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        decoder.feed(chunk)
        total = _drain(decoder, parts, total, max_size)
    decoder.finish()
    _drain(decoder, parts, total, max_size)
    return join_parts(parts) if parts else b""


def _drain(decoder: ContentDecoder, parts: list[bytes], total: int, max_size: int) -> int:
    """Read all *decoder* can give now into *parts*; return the new total."""
    while piece := decoder.read(min(_READ_SLICE, max_size - total + 1)):
        total += len(piece)
        if total > max_size:
            raise ContentDecodingError(f"the decoded body exceeds {max_size} bytes")
        parts.append(piece)
    return total
