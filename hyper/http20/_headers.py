"""Building the header block of an HTTP/2 request from what the caller gave.

HTTP/2 carries the request line as pseudo-headers (``:method``, ``:scheme``,
``:authority``, ``:path``) and forbids the headers that describe an HTTP/1.1
connection. Callers (and programs written for HTTP/1.1, such as HTTPie) pass
``Connection``, ``Keep-Alive`` or ``Transfer-Encoding`` anyway, so these are
dropped here, case-insensitively, before h2 sees them (h2 would refuse the
request); a ``Host`` header becomes ``:authority``. Credentials and short
cookies are marked never to be indexed by HPACK. Pure functions on byte
pairs: the caller has already checked names and values for CR, LF and NUL
and stripped the values' surrounding whitespace. With this, h2's own
outbound normalisation (the same steps, as generators over every field) is
turned off.
"""

from __future__ import annotations

import logging

from hpack import NeverIndexedHeaderTuple

from hyper.common.body import USER_AGENT, content_length
from hyper.common.decoders import accept_encoding
from hyper.common.exceptions import LocalProtocolError

__all__ = [
    "CONNECTION_SPECIFIC_HEADERS",
    "REQUEST_PSEUDO_HEADERS",
    "SECRET_HEADERS",
    "SHORT_COOKIE",
    "build_request_headers",
    "build_trailers",
]

log = logging.getLogger(__name__)

#: Headers that only make sense on an HTTP/1.1 connection (RFC 9113 section
#: 8.2.2); sent over HTTP/2 they make the request malformed.
CONNECTION_SPECIFIC_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
#: Fields HPACK must never put in its tables (RFC 7541 section 7.1.3), where
#: an attacker who can add guesses to the same connection could learn them
#: from the compressed size. Cookies shorter than
#: :data:`SHORT_COOKIE` bytes are treated the same (as nghttp2 and h2 do).
SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization"})
SHORT_COOKIE = 20
#: The pseudo-headers of a request, in the order they are sent.
REQUEST_PSEUDO_HEADERS = (b":method", b":scheme", b":authority", b":path", b":protocol")


def _connection_named(pairs: list[tuple[bytes, bytes]]) -> set[bytes]:
    """The header names a ``Connection`` header lists (they are hop-by-hop too)."""
    names: set[bytes] = set()
    for name, value in pairs:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.split(b","))
    return names


def _hop_by_hop(name: bytes, value: bytes, named: set[bytes]) -> bool:
    if name in CONNECTION_SPECIFIC_HEADERS or name in named:
        return True
    return name == b"te" and value.lower() != b"trailers"


def build_request_headers(
    pseudo: dict[bytes, bytes],
    pairs: list[tuple[bytes, bytes]],
    body_length: int | None,
) -> list[tuple[bytes, bytes]]:
    """The header block to send: pseudo-headers first, then the rest, lower-cased.

    :param pseudo: the default pseudo-headers (``:method``, ``:scheme``,
        ``:authority``, ``:path``).
    :param pairs: the caller's headers, already normalised; a pseudo-header
        among them replaces the default, and a ``Host`` header replaces
        ``:authority`` unless ``:authority`` is given too.
    :param body_length: the body's length if known; it becomes
        ``content-length`` unless the caller set one.
    :raises LocalProtocolError: for a pseudo-header a request cannot carry.
    """
    values = dict(pseudo)
    regular: list[tuple[bytes, bytes]] = []
    named = _connection_named(pairs)
    explicit_authority = False
    for raw_name, value in pairs:
        name = raw_name.lower()
        if name.startswith(b":"):
            if name not in REQUEST_PSEUDO_HEADERS:
                raise LocalProtocolError(f"{name!r} is not a request pseudo-header")
            values[name] = value
            explicit_authority = explicit_authority or name == b":authority"
        elif name == b"host":
            if not explicit_authority:
                values[b":authority"] = value
        elif _hop_by_hop(name, value, named):
            log.debug("dropping connection-specific header %r", name)
        else:
            regular.append(_field(name, value))
    _add_defaults(regular, values[b":method"], body_length)
    head = [(name, values[name]) for name in REQUEST_PSEUDO_HEADERS if name in values]
    return head + regular


def _add_defaults(regular: list[tuple[bytes, bytes]], method: bytes, length: int | None) -> None:
    present = {name for name, _ in regular}
    if b"accept-encoding" not in present:
        regular.append((b"accept-encoding", accept_encoding()))
    if b"user-agent" not in present:
        regular.append((b"user-agent", USER_AGENT))
    value = content_length(method, length)
    if value is not None and b"content-length" not in present:
        regular.append((b"content-length", value))


def build_trailers(pairs: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The trailer block to send after a request body: names lower-cased,
    connection-specific fields dropped (pseudo-headers were already refused
    by :func:`~hyper.common.body.normalize_headers`)."""
    named = _connection_named(pairs)
    block = []
    for raw_name, value in pairs:
        name = raw_name.lower()
        if _hop_by_hop(name, value, named):
            log.debug("dropping connection-specific trailer %r", name)
        else:
            block.append(_field(name, value))
    return block


def _field(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """The pair to send: never indexed if it is a secret (see :data:`SECRET_HEADERS`)."""
    if name in SECRET_HEADERS or (name == b"cookie" and len(value) < SHORT_COOKIE):
        return NeverIndexedHeaderTuple(name, value)
    return (name, value)
