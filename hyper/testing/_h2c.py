"""HTTP/2 reached from HTTP/1.1 by ``Upgrade: h2c``, on the test server's side.

A cleartext HTTP/1.1 request that offers the switch (``Upgrade: h2c``,
``HTTP2-Settings`` and both named in ``Connection``) and has no body is
answered ``101 Switching Protocols`` by the HTTP/1.1 side, which then hands
its socket to an :class:`H2cHandle`. That handle starts h2 with
``initiate_upgrade_connection`` (applying the client's ``HTTP2-Settings``)
and serves the request that carried the offer as stream 1, through the same
routes and hooks as any HTTP/2 request. The pure checks of the offer live
here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h2.events

from hyper.testing._h2 import H2Handle

if TYPE_CHECKING:
    import socket

    from hyper.testing._server import Server

__all__ = ["H2cHandle", "h2c_settings"]

#: The stream that carries the upgraded request's response.
UPGRADED_STREAM_ID = 1

#: HTTP/1.1 headers that have no place in the HTTP/2 request (RFC 9113 section 8.2.2).
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"upgrade",
        b"http2-settings",
        b"host",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
    }
)


def _tokens(headers: list[tuple[bytes, bytes]], name: bytes) -> set[bytes]:
    return {
        item.strip(b" \t").lower()
        for key, value in headers
        if key.lower() == name
        for item in value.split(b",")
    }


def h2c_settings(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The ``HTTP2-Settings`` value of a request that offers h2c and has no
    body, or ``None`` if the request does not offer (or cannot take) the switch."""
    if _tokens(headers, b"upgrade") != {b"h2c"}:
        return None
    if not {b"upgrade", b"http2-settings"} <= _tokens(headers, b"connection"):
        return None
    if _tokens(headers, b"transfer-encoding") or _tokens(headers, b"content-length") - {b"0"}:
        return None  # a body would have to be read first: serve it as HTTP/1.1
    values = [value for key, value in headers if key.lower() == b"http2-settings"]
    return values[0] if len(values) == 1 else None


class H2cHandle(H2Handle):
    """An HTTP/2 connection that began as HTTP/1.1 and switched by ``Upgrade: h2c``.

    :param settings_header: the client's ``HTTP2-Settings`` value.
    :param method: the upgraded request's method.
    :param target: its request target.
    :param headers: its HTTP/1.1 header fields.

    Everything else is as for :class:`~hyper.testing.H2Handle`; the
    request is served as stream 1, whose body is empty.
    """

    def __init__(
        self,
        server: Server,
        sock: socket.socket,
        conn_id: int,
        settings_header: bytes,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        super().__init__(server, sock, conn_id, None)
        self._settings_header = settings_header
        host = next((value for key, value in headers if key.lower() == b"host"), b"")
        pseudo = [(b":method", method), (b":scheme", b"http"), (b":authority", host)]
        pseudo.append((b":path", target))
        fields = [(key.lower(), value) for key, value in headers]
        self._upgraded = pseudo + [(key, value) for key, value in fields if key not in _HOP_BY_HOP]

    def _start_h2(self) -> None:
        """Start h2 from the client's settings, with stream 1 half-closed
        (remote), and start serving the upgraded request on it."""
        self.h2.initiate_upgrade_connection(self._settings_header)
        event = h2.events.RequestReceived(stream_id=UPGRADED_STREAM_ID, headers=self._upgraded)
        self._on_request(event)
        self._pipes[UPGRADED_STREAM_ID].end()
