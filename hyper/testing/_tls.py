"""TLS for the test server: certificates from a trustme CA, ALPN both ways.

Each server issues its own leaf certificate for ``127.0.0.1``, ``localhost``
and ``::1`` from a :class:`trustme.CA` (its own, or one shared by the pytest
plugin for speed). The server context offers the configured ALPN protocols;
the client context trusts only that CA, so a test that forgets to trust it
fails verification instead of silently passing.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import trustme

__all__ = ["CERT_IDENTITIES", "client_context", "server_context"]

#: The names the server certificate is valid for.
CERT_IDENTITIES = ("127.0.0.1", "localhost", "::1")

#: ALPN protocol names the server can speak.
KNOWN_PROTOCOLS = ("h2", "http/1.1")


def server_context(ca: trustme.CA, protocols: Sequence[str]) -> ssl.SSLContext:
    """Build the server-side context: a fresh leaf cert, ALPN *protocols*."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*CERT_IDENTITIES).configure_cert(ctx)
    ctx.set_alpn_protocols(list(protocols))
    return ctx


def client_context(ca: trustme.CA, protocols: Sequence[str]) -> ssl.SSLContext:
    """Build a client context that trusts *ca* and offers ALPN *protocols*.

    :raises ValueError: a protocol is not ``"h2"`` or ``"http/1.1"``.
    """
    check_protocols(protocols, "protocols")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    ctx.set_alpn_protocols(list(protocols))
    return ctx


def check_protocols(protocols: Sequence[str], name: str) -> tuple[str, ...]:
    """Validate a protocol list and return it as a tuple.

    :raises TypeError: *protocols* is a bare string.
    :raises ValueError: it is empty or names an unknown protocol.
    """
    if isinstance(protocols, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of protocol names, not a string")
    result = tuple(protocols)
    unknown = [p for p in result if p not in KNOWN_PROTOCOLS]
    if unknown or not result:
        raise ValueError(f"{name} must be a non-empty subset of {KNOWN_PROTOCOLS}, not {result}")
    return result
