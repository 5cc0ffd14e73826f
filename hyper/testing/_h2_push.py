"""Server push on the test server's HTTP/2 side, and what the client resets.

This module holds the pure parts of push: the check and assembly of a
promised request's header block (:func:`promise_headers`), the error raised
when the client's settings forbid a promise (:class:`PushRefused`), and
:class:`ResetScanner`, which follows the frame boundaries of the bytes the
client sends and reports every RST_STREAM frame in them, kept by a
:class:`ResetLog` that tests can wait on. The scanner sees the wire, not h2's
events, so a reset of a stream h2 already forgot (a push the
client cancels after it has been sent whole) is recorded too, and event hooks
cannot hide one. No I/O here: :class:`~hyper.testing.H2Handle` feeds the
log and sends the frames.
"""

from __future__ import annotations

import threading
import time

from hyper.common.exceptions import HyperError
from hyper.testing._messages import HeaderInput, header_bytes

__all__ = [
    "MAX_STREAM_ID",
    "PushRefused",
    "ResetLog",
    "ResetScanner",
    "check_stream_id",
    "promise_headers",
]

#: The largest HTTP/2 stream id (31 bits).
MAX_STREAM_ID = 2**31 - 1

#: What an HTTP/2 byte stream from a client opens with.
CLIENT_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: Size of an HTTP/2 frame header.
FRAME_HEADER_SIZE = 9

#: The RST_STREAM frame type, and the size of its payload.
RST_STREAM_TYPE = 0x3
RST_STREAM_PAYLOAD = 4

#: Header fields that have no place in an HTTP/2 header block (RFC 9113, 8.2.2).
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)

#: Fields :func:`promise_headers` refuses in *headers*: h2 would reject them
#: only half-way through HPACK-encoding the block, leaving the client's decoder
#: out of step (``host`` when it differs from ``:authority``).
_REFUSED = _CONNECTION_SPECIFIC | {b"host"}


class PushRefused(HyperError):
    """The server could not promise a push, because of the client's settings.

    Raised by :meth:`H2Response.push` when the client sent
    ``SETTINGS_ENABLE_PUSH = 0``, when a new pushed stream would exceed the
    client's ``SETTINGS_MAX_CONCURRENT_STREAMS``, or when h2 refuses the
    promise for another reason (the message says which). The promise was not
    sent. :meth:`H2Handle.push_promise` stages a promise regardless.
    """


def check_stream_id(value: int, argument: str) -> int:
    """Return *value* if it can be an HTTP/2 stream id.

    :raises TypeError: *value* is not an ``int``.
    :raises ValueError: *value* is outside 0 to :data:`MAX_STREAM_ID`.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{argument} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_STREAM_ID:
        raise ValueError(f"{argument} must be 0-{MAX_STREAM_ID}, not {value}")
    return value


def promise_headers(
    path: str, headers: HeaderInput, *, method: str, scheme: str, authority: str
) -> list[tuple[bytes, bytes]]:
    """Build the header block of a promised request: pseudo-headers, then *headers*.

    :raises TypeError: *path*, *method*, *scheme* or *authority* is not a
        ``str``, or a header is neither ``str`` nor ``bytes``.
    :raises ValueError: one of them is empty, or *headers* holds a
        pseudo-header, ``host``, or a connection-specific field.
    """
    pseudo = {":method": method, ":scheme": scheme, ":authority": authority, ":path": path}
    for pseudo_name, text in pseudo.items():
        argument = pseudo_name[1:]
        if not isinstance(text, str):
            raise TypeError(f"{argument} must be a str, not {type(text).__name__}")
        if not text:
            raise ValueError(f"{argument} must not be empty")
    fields = header_bytes(headers, lower=True)
    for name, value in fields:
        if not name or name.startswith(b":"):
            raise ValueError(f"headers: {name!r} is not allowed (pass method, scheme, authority)")
        if name in _REFUSED or (name == b"te" and value != b"trailers"):
            raise ValueError(f"headers: {name!r} is not allowed in a promised request")
    block = [(key.encode(), text.encode("latin-1")) for key, text in pseudo.items()]
    return block + fields


class ResetScanner:
    """Follows the frames in a client's HTTP/2 bytes and picks out RST_STREAM.

    Feed it every byte the client sends, in order, starting with the
    connection preface. It keeps at most one frame header (or one RST_STREAM
    frame) and skips all other payloads without copying them. A RST_STREAM
    frame of the wrong length is skipped (h2 fails the connection for it).
    """

    def __init__(self) -> None:
        self._skip = len(CLIENT_PREFACE)  # h2 checks the preface itself
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        """Scan *data*; return ``(stream_id, error_code)`` of each RST_STREAM completed in it."""
        found: list[tuple[int, int]] = []
        view = memoryview(data)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            need = self._wanted() - len(self._pending)
            self._pending += view[:need]
            view = view[need:]
            if len(self._pending) == self._wanted():
                self._complete(found)
        return found

    def _wanted(self) -> int:
        """How many bytes the frame being read needs before it can be judged."""
        if len(self._pending) >= FRAME_HEADER_SIZE and self._is_reset():
            return FRAME_HEADER_SIZE + RST_STREAM_PAYLOAD
        return FRAME_HEADER_SIZE

    def _is_reset(self) -> bool:
        length = int.from_bytes(self._pending[:3], "big")
        return self._pending[3] == RST_STREAM_TYPE and length == RST_STREAM_PAYLOAD

    def _complete(self, found: list[tuple[int, int]]) -> None:
        """A frame header (or a whole RST_STREAM frame) is in :attr:`_pending`."""
        header = self._pending
        if len(header) == FRAME_HEADER_SIZE and not self._is_reset():
            self._skip = int.from_bytes(header[:3], "big")
            self._pending = bytearray()
        elif len(header) > FRAME_HEADER_SIZE:
            stream_id = int.from_bytes(header[5:9], "big") & MAX_STREAM_ID
            found.append((stream_id, int.from_bytes(header[9:13], "big")))
            self._pending = bytearray()


class ResetLog:
    """The client's RST_STREAM frames, read off the wire by a :class:`ResetScanner`.

    :meth:`feed` runs on the connection thread only; the other methods may
    run on any thread.
    """

    def __init__(self) -> None:
        self._scanner = ResetScanner()
        self._cond = threading.Condition()
        self._resets: list[tuple[int, int]] = []
        self._closed = False

    def feed(self, data: bytes) -> None:
        """Scan the client's next bytes, recording any RST_STREAM in them."""
        found = self._scanner.feed(data)
        if found:
            with self._cond:
                self._resets += found
                self._cond.notify_all()

    def close(self) -> None:
        """The connection is closed: no more resets will come; wake the waiters."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def snapshot(self) -> list[tuple[int, int]]:
        """The resets so far, ``(stream_id, error_code)``, oldest first."""
        with self._cond:
            return list(self._resets)

    def has(self, stream_id: int) -> bool:
        """Whether the client reset *stream_id*."""
        with self._cond:
            return any(sid == stream_id for sid, _ in self._resets)

    def wait(self, stream_id: int, timeout: float) -> int | None:
        """The error code of the first reset of *stream_id*, waiting up to *timeout*.

        :returns: the code, or ``None`` if the connection closed without one.
        :raises TimeoutError: none arrived within *timeout*.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                codes = [code for sid, code in self._resets if sid == stream_id]
                if codes:
                    return codes[0]
                if self._closed:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no RST_STREAM on stream {stream_id} from the client")
                self._cond.wait(remaining)
