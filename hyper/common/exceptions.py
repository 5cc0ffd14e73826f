"""The one exception hierarchy every part of hyper raises from.

Everything derives from :class:`HyperError`. Socket-level failures are also
the builtin :class:`ConnectionError` or :class:`TimeoutError`, so code written
for the standard library catches them too; caller mistakes are also
:class:`ValueError`. Low-level errors (``ssl``, ``socket``, ``h2``, ``zlib``,
``brotli``) are translated at the edge with ``raise ... from exc``, so the
original is always in ``__cause__``. Match on the class and its attributes;
message text is not part of the API.

The names :class:`ConnectionError`, :class:`TimeoutError` and
:class:`ConnectionResetError` deliberately shadow builtins of the same name
(the old hyper used them); refer to them module-qualified.
"""

from __future__ import annotations

import builtins

__all__ = [
    "ChunkedDecodeError",
    "ConnectTimeout",
    "ConnectionError",
    "ConnectionResetError",
    "ConnectionTerminatedError",
    "ContentDecodingError",
    "HPACKDecodingError",
    "HPACKEncodingError",
    "HTTP20Error",
    "HyperError",
    "InvalidResponseError",
    "LineTooLongError",
    "LocalProtocolError",
    "MissingCertFile",
    "ProtocolError",
    "ProxyError",
    "ReadTimeout",
    "RequestNotProcessedError",
    "SocketError",
    "StreamResetError",
    "TLSError",
    "TimeoutError",
]


class HyperError(Exception):
    """Root of every exception hyper raises on purpose."""


# --- the network ----------------------------------------------------------


class ConnectionError(HyperError, builtins.ConnectionError):
    """The connection to the server (or proxy) failed or was lost.

    Also a builtin :class:`ConnectionError` (and so an :class:`OSError`).
    """


class ConnectionResetError(ConnectionError, builtins.ConnectionResetError):
    """The peer closed the connection while a message was still expected."""


class ProxyError(ConnectionError):
    """The proxy refused or failed to open a tunnel.

    :ivar status: the proxy's response status code, or ``None`` when the
        proxy did not answer with a status line.
    :ivar response: the proxy's response object, where there was one.
    """

    def __init__(self, message: str, status: int | None = None, response: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.response = response


class TLSError(ConnectionError):
    """The TLS handshake failed, or it negotiated something unusable.

    The :mod:`ssl` exception, where there was one, is ``__cause__``.
    """


class MissingCertFile(HyperError, builtins.FileNotFoundError):
    """A CA bundle or certificate file that was named does not exist."""


class TimeoutError(HyperError, builtins.TimeoutError):
    """An operation took longer than the configured timeout.

    Also a builtin :class:`TimeoutError`.
    """


class ConnectTimeout(TimeoutError, ConnectionError):
    """Connecting (TCP, proxy tunnel or TLS handshake) timed out.

    Nothing was sent, so the request can always be retried. It is also a
    :class:`ConnectionError`, as in requests.
    """


class ReadTimeout(TimeoutError):
    """The server did not send data in time (a read or ``total`` timeout)."""


# --- the protocol ---------------------------------------------------------


class ProtocolError(HyperError):
    """The server broke the HTTP protocol."""


class InvalidResponseError(ProtocolError):
    """A response could not be parsed or framed (bad status line, headers,
    conflicting lengths, truncated body)."""


class ChunkedDecodeError(ProtocolError):
    """A chunked body was malformed, or ``read_chunked()`` was called on a
    response that is not chunked."""


class LineTooLongError(ProtocolError):
    """A line or header block from the server exceeded its size limit."""


class HTTP20Error(HyperError):
    """Base of the errors that only HTTP/2 can produce."""


class StreamResetError(HTTP20Error):
    """A stream was reset (RST_STREAM), by the server or by us.

    Only the stream named fails; the connection and its other streams go on.

    :ivar stream_id: the stream that was reset.
    :ivar error_code: the HTTP/2 error code (an :class:`h2.errors.ErrorCodes`
        value where known, else an ``int``), or ``None`` if unknown.
    :ivar remote: ``True`` if the server sent the reset.
    """

    def __init__(
        self,
        message: str,
        stream_id: int | None = None,
        error_code: int | None = None,
        remote: bool = True,
    ) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.error_code = error_code
        self.remote = remote


class ConnectionTerminatedError(ConnectionError, HTTP20Error):
    """The server ended the HTTP/2 connection with GOAWAY.

    :ivar error_code: the GOAWAY error code.
    :ivar last_stream_id: the highest stream the server says it processed.
    :ivar additional_data: the debug data the server sent, or ``None``.
    """

    def __init__(
        self,
        message: str,
        error_code: int | None = None,
        last_stream_id: int | None = None,
        additional_data: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.last_stream_id = last_stream_id
        self.additional_data = additional_data


class HPACKDecodingError(ProtocolError, HTTP20Error):
    """A header block from the server could not be decoded."""


class HPACKEncodingError(HTTP20Error):
    """A header block could not be encoded for sending."""


class ContentDecodingError(HyperError):
    """A body's ``Content-Encoding`` could not be decoded: corrupt or
    truncated data, too many stacked codings, or a whole-body read past
    the configured cap on decoded size."""


class RequestNotProcessedError(HyperError):
    """The server did not process the request, so it is safe to retry.

    Raised when a stream above GOAWAY's ``last_stream_id`` or one refused with
    REFUSED_STREAM cannot be re-sent automatically (for instance because its
    body cannot be replayed).
    """


class LocalProtocolError(HyperError, builtins.ValueError):
    """The caller asked for something HTTP cannot send (for instance a header
    value with CR or LF). Also a :class:`ValueError`."""


#: The old hyper's name for a generic socket failure.
SocketError = ConnectionError
