"""Cleartext HTTP/2 reached by ``Upgrade: h2c``: the offer, the answer and the switch.

A client that does not know whether a cleartext server speaks HTTP/2 sends
its first request as HTTP/1.1 with ``Upgrade: h2c`` and its SETTINGS in
``HTTP2-Settings`` (RFC 7540 section 3.2). A server that agrees answers
``101 Switching Protocols`` and goes on in HTTP/2 on the same socket,
answering that request on stream 1; any other answer is an ordinary
HTTP/1.1 response and the offer is simply declined. This module builds the
offer's headers from the very settings the session will use, recognises the
101, and adopts the upgraded request as stream 1 of the session started on
the switched socket (``Session.start(upgraded=True)``: h2's
``initiate_upgrade_connection`` sends the preface and leaves stream 1
half-closed (local), since its request already went out). Pure protocol
decisions. (RFC 9113 deprecated the mechanism; h2o and hypercorn still
implement it, nginx and nghttpd do not.)
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from hyperframe.frame import SettingsFrame

from hyper.http20._session import Session, _local_settings
from hyper.http20._settings import STREAM_WINDOW_SIZE
from hyper.http20.stream import Stream
from hyper.http20.window import BaseFlowControlManager

__all__ = [
    "H2C_TOKEN",
    "NO_UPGRADE_METHODS",
    "OFFER_HEADER_NAMES",
    "UPGRADED_STREAM_ID",
    "adopt_stream",
    "is_h2c_switch",
    "offer_allowed",
    "offer_headers",
    "settings_header",
]

#: The protocol token of cleartext HTTP/2 in ``Upgrade``.
H2C_TOKEN = b"h2c"
#: The stream on which the server answers the upgraded request.
UPGRADED_STREAM_ID = 1
#: Methods never sent with an offer. h2 does not see the upgraded request, so
#: for HEAD it would check the response's ``content-length`` against an empty
#: body and fail; CONNECT opens a tunnel, not an exchange.
NO_UPGRADE_METHODS = frozenset({b"HEAD", b"CONNECT"})
#: Request headers (lower-case) that mean the caller manages the connection
#: itself (a WebSocket upgrade, say): no offer is added next to them.
OFFER_HEADER_NAMES = frozenset({b"connection", b"upgrade", b"http2-settings"})


def settings_header(enable_push: bool) -> bytes:
    """The ``HTTP2-Settings`` value: our SETTINGS payload, base64url without padding.

    It carries exactly the values a :class:`~hyper.http20._session.Session`
    sends, so the server applies the right ones to stream 1 before our
    SETTINGS frame arrives.
    """
    settings = _local_settings(enable_push)
    frame = SettingsFrame(0, settings=dict(settings.items()))
    return base64.urlsafe_b64encode(frame.serialize_body()).rstrip(b"=")


def offer_allowed(method: bytes, body: object) -> bool:
    """Whether a request may carry the offer: no body (the server would have
    to read it as HTTP/1.1 first) and a method outside :data:`NO_UPGRADE_METHODS`."""
    if method in NO_UPGRADE_METHODS:
        return False
    if body is None:
        return True
    return isinstance(body, (bytes, bytearray, memoryview, str)) and len(body) == 0


def offer_headers(enable_push: bool) -> list[tuple[bytes, bytes]]:
    """The three headers that offer the switch to HTTP/2."""
    return [
        (b"Connection", b"Upgrade, HTTP2-Settings"),
        (b"Upgrade", H2C_TOKEN),
        (b"HTTP2-Settings", settings_header(enable_push)),
    ]


def is_h2c_switch(status: int, headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether a response head accepts the offer: ``101`` with ``Upgrade: h2c``.

    Header names and the token are compared case-insensitively (the old
    hyper insisted on lower case and failed on ``Upgrade: H2C``).
    """
    if status != 101:
        return False
    tokens = [
        item.strip(b" \t").lower()
        for name, value in headers
        if name.lower() == b"upgrade"
        for item in value.split(b",")
    ]
    return tokens == [H2C_TOKEN]


def adopt_stream(
    session: Session, stream: Stream, window_manager: type[BaseFlowControlManager]
) -> None:
    """Make ``stream`` the upgraded request: sent, half-closed, waiting for
    its response on wire stream 1."""
    stream.wire_id = UPGRADED_STREAM_ID
    stream.local_closed = True
    stream.submitted = True
    stream.window = window_manager(STREAM_WINDOW_SIZE)
    session.streams[UPGRADED_STREAM_ID] = stream
