"""Host, port and URL helpers shared by every connection class.

They turn what a user passes to a connection (``'host'``, ``'host:port'``,
``'[::1]:8443'``, ``'https://host:port'``) into one checked
``(host, port, secure)`` triple, and build the ``Host``/``:authority`` value
back from it. Pure functions: no I/O, no DNS.
"""

from __future__ import annotations

import enum

__all__ = [
    "DEFAULT_PORTS",
    "HTTPVersion",
    "authority",
    "parse_host",
    "to_bytestring",
    "to_host_port_tuple",
]

#: The port each scheme uses when none is given.
DEFAULT_PORTS = {"http": 80, "https": 443}

_MAX_PORT = 65535


class HTTPVersion(enum.Enum):
    """The HTTP version a connection or response speaks.

    The values are the versions' names as written in documentation.
    """

    #: HTTP/1.1
    http11 = "HTTP/1.1"
    #: HTTP/2
    http20 = "HTTP/2"


def to_bytestring(value: str | bytes) -> bytes:
    """Return ``value`` as bytes, encoding a ``str`` as UTF-8.

    :raises TypeError: if ``value`` is neither ``str`` nor ``bytes``.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected str or bytes, got {type(value).__name__}")


def _check_port(port: object, source: str) -> int:
    """Validate a port number given as an int (or digits from a host string)."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, got {type(port).__name__}")
    if not 0 < port <= _MAX_PORT:
        raise ValueError(f"port {port} out of range 1-{_MAX_PORT} (from {source})")
    return port


def _split_scheme(text: str) -> tuple[str | None, str]:
    """Split ``'https://rest'`` into ``('https', 'rest')``; a bare host has no scheme."""
    head, sep, rest = text.partition("://")
    if not sep:
        return None, text
    scheme = head.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported scheme {head!r} in {text!r}: use http or https")
    if "/" in rest.rstrip("/") or "?" in rest or "#" in rest:
        raise ValueError(f"expected only scheme, host and port, got a path in {text!r}")
    return scheme, rest.rstrip("/")


def _split_port(hostport: str, original: str) -> tuple[str, int | None]:
    """Split ``'host:port'``/``'[v6]:port'``; a bare IPv6 address has no port."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            raise ValueError(f"unclosed '[' in {original!r}")
        host, rest = hostport[1:end], hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after ']' in {original!r}")
        port_text = rest[1:] if rest else None
    elif hostport.count(":") == 1:
        host, port_text = hostport.split(":")
    else:
        host, port_text = hostport, None  # a name, or an unbracketed IPv6 address
    if not host:
        raise ValueError(f"no host in {original!r}")
    if port_text is None:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"port {port_text!r} in {original!r} is not a number")
    return host, _check_port(int(port_text), repr(original))


def parse_host(
    host: str | bytes,
    port: int | None = None,
    secure: bool | None = None,
    default_port: int = 443,
) -> tuple[str, int, bool]:
    """Work out ``(host, port, secure)`` for a connection.

    ``host`` may be ``'example.com'``, ``'example.com:8443'``, ``'[::1]:8443'``,
    a bare IPv6 address, or ``'https://example.com:8443'`` (with ``http`` or
    ``https``: the scheme decides ``secure`` and the default port). Without
    a scheme, the port is ``port``, else the one in ``host``, else
    ``default_port``; ``secure`` defaults to ``True`` exactly when the port
    is 443, as in the old hyper. The returned host has no IPv6 brackets.

    :raises TypeError: if an argument has the wrong type.
    :raises ValueError: for an empty host, a bad or out-of-range port, an
        unknown scheme, a path in the URL, or a port or ``secure`` that
        contradicts what ``host`` says.
    """
    if isinstance(host, bytes):
        host = host.decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"host must be str or bytes, got {type(host).__name__}")
    if secure is not None and not isinstance(secure, bool):
        raise TypeError(f"secure must be a bool or None, got {type(secure).__name__}")
    original = host
    scheme, hostport = _split_scheme(host.strip())
    name, port_in_host = _split_port(hostport, original)
    if port is not None:
        _check_port(port, "the port argument")
        if port_in_host is not None and port_in_host != port:
            raise ValueError(f"port={port} contradicts the port in {original!r}")
    if scheme is not None:
        scheme_secure = scheme == "https"
        if secure is not None and secure != scheme_secure:
            raise ValueError(f"secure={secure} contradicts the scheme of {original!r}")
        secure = scheme_secure
        default_port = DEFAULT_PORTS[scheme]
    chosen = port if port is not None else port_in_host
    final_port = chosen if chosen is not None else default_port
    if secure is None:
        secure = final_port == DEFAULT_PORTS["https"]
    return name, final_port, secure


def to_host_port_tuple(host_port_str: str | bytes, default_port: int = 80) -> tuple[str, int]:
    """Split ``'host[:port]'`` into ``(host, port)`` (the old hyper's helper).

    :raises ValueError: as :func:`parse_host`.
    """
    name, port, _ = parse_host(host_port_str, default_port=default_port)
    return name, port


def authority(host: str, port: int, secure: bool) -> str:
    """The ``Host`` header / ``:authority`` value for an origin.

    The port is included only when it is not the scheme's default, and an
    IPv6 address is put in brackets.
    """
    name = f"[{host}]" if ":" in host else host
    default = DEFAULT_PORTS["https" if secure else "http"]
    return name if port == default else f"{name}:{port}"
