"""Opening a connection: TCP, an optional HTTP CONNECT tunnel, then TLS.

Shared by the HTTP/1.1 and HTTP/2 connections, which call
:func:`open_socket` and get back a connected (and, if asked, TLS-wrapped)
socket plus the ALPN protocol. The ``connect`` timeout bounds each step of
the setup; the socket is left with the ``read`` timeout. Every failure is a
hyper exception: :class:`~hyper.common.exceptions.ConnectTimeout`,
:class:`~hyper.common.exceptions.ConnectionError`,
:class:`~hyper.common.exceptions.ProxyError` or
:class:`~hyper.common.exceptions.TLSError`.
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from hyper.common import exceptions
from hyper.common.body import HeadersType, normalize_headers
from hyper.common.timeout import Timeout, TimeoutValue
from hyper.common.util import parse_host, to_bytestring
from hyper.http11.parser import parse_response_head
from hyper.tls import StrPath, init_context, wrap_socket

__all__ = ["DEFAULT_PROXY_PORT", "MAX_TUNNEL_RESPONSE", "Endpoint", "ProxyConfig", "open_socket"]

log = logging.getLogger(__name__)

#: The proxy port used when ``proxy_host`` names none (as the old hyper did).
DEFAULT_PROXY_PORT = 8080
#: The largest response head a proxy may send to a CONNECT request.
MAX_TUNNEL_RESPONSE = 64 * 1024
_READ_SIZE = 4096


@dataclass(frozen=True)
class ProxyConfig:
    """Where an HTTP proxy is and what to send it.

    :ivar host: the proxy's host.
    :ivar port: the proxy's port.
    :ivar headers: extra headers for the proxy (``Proxy-Authorization`` from
        credentials in the proxy URL comes first).
    """

    host: str
    port: int
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def from_args(
        cls,
        proxy_host: str | None,
        proxy_port: int | None = None,
        proxy_headers: Iterable[tuple[str | bytes, str | bytes]] | dict[str, str] | None = None,
    ) -> ProxyConfig | None:
        """Build the proxy settings from a connection's arguments.

        ``proxy_host`` may be ``'proxy'``, ``'proxy:3128'`` or
        ``'http://user:password@proxy:3128'`` (credentials become a
        ``Proxy-Authorization: Basic`` header). ``None`` means no proxy.

        :raises ValueError: for an ``https://`` proxy (TLS to the proxy itself
            is not supported) or a malformed host or port.
        :raises TypeError: for arguments of the wrong type.
        """
        if proxy_host is None:
            if proxy_port is not None or proxy_headers:
                raise ValueError("proxy_port and proxy_headers need proxy_host")
            return None
        if not isinstance(proxy_host, str):
            raise TypeError(f"proxy_host must be a str, got {type(proxy_host).__name__}")
        text, auth = _split_credentials(proxy_host)
        if text.lower().startswith("https://"):
            raise ValueError("https:// proxies are not supported; use http://proxy:port")
        host, port, _ = parse_host(text, proxy_port, secure=False, default_port=DEFAULT_PROXY_PORT)
        headers = [auth] if auth else []
        items = proxy_headers.items() if isinstance(proxy_headers, dict) else proxy_headers or ()
        headers.extend((to_bytestring(k), to_bytestring(v)) for k, v in items)
        return cls(host, port, tuple(headers))


def _split_credentials(proxy_host: str) -> tuple[str, tuple[bytes, bytes] | None]:
    """Take ``user:password@`` out of a proxy URL as a Proxy-Authorization header."""
    scheme, sep, rest = proxy_host.rpartition("://")
    userinfo, at, hostport = rest.rpartition("@")
    if not at:
        return proxy_host, None
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode())
    return scheme + sep + hostport, (b"Proxy-Authorization", b"Basic " + token)


def connect_tcp(host: str, port: int, timeout: float | None) -> socket.socket:
    """Open a TCP connection with Nagle's algorithm off.

    :raises ConnectTimeout: if it takes longer than ``timeout``.
    :raises ConnectionError: if it fails (name resolution, refused, unreachable).
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError as exc:
        raise exceptions.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
    except OSError as exc:
        raise exceptions.ConnectionError(f"cannot connect to {host}:{port}: {exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_tunnel_head(sock: socket.socket) -> tuple[int, bytes]:
    """Read the proxy's answer to CONNECT; return its status and reason."""
    data = b""
    while True:
        try:
            chunk = sock.recv(_READ_SIZE)
        except TimeoutError as exc:
            raise exceptions.ConnectTimeout("the proxy did not answer CONNECT in time") from exc
        except OSError as exc:
            raise exceptions.ProxyError(f"proxy connection failed: {exc}") from exc
        if not chunk:
            raise exceptions.ProxyError("the proxy closed the connection during CONNECT")
        data += chunk
        try:
            parsed = parse_response_head(data)
        except exceptions.ProtocolError as exc:
            raise exceptions.ProxyError(f"the proxy sent an invalid response: {exc}") from exc
        if parsed is not None:
            head, used = parsed
            if head.status < 200:
                data = data[used:]
                continue
            if 200 <= head.status < 300 and used != len(data):
                raise exceptions.ProxyError("the proxy sent data before the tunnel opened")
            return head.status, head.reason
        if len(data) > MAX_TUNNEL_RESPONSE:
            raise exceptions.ProxyError("the proxy's response head is too long")


def _connect_target(host: str, port: int) -> str:
    """The authority-form CONNECT target: always ``host:port``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_tunnel(sock: socket.socket, target: str, proxy: ProxyConfig) -> None:
    """Ask the proxy on ``sock`` for a tunnel to ``target`` (``host:port``).

    :raises ProxyError: if the proxy refuses (``status`` is its status code)
        or misbehaves; the socket is then closed.
    """
    lines = [b"CONNECT %s HTTP/1.1" % target.encode(), b"Host: %s" % target.encode()]
    lines.extend(b"%s: %s" % pair for pair in proxy.headers)
    try:
        try:
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        except OSError as exc:
            raise exceptions.ProxyError(f"cannot send CONNECT to the proxy: {exc}") from exc
        status, reason = _read_tunnel_head(sock)
    except BaseException:
        sock.close()
        raise
    if not 200 <= status < 300:
        sock.close()
        text = reason.decode("latin-1")
        raise exceptions.ProxyError(f"the proxy refused the tunnel: {status} {text}", status)
    log.debug("tunnel to %s open through %s:%d", target, proxy.host, proxy.port)


def open_socket(
    host: str,
    port: int,
    *,
    secure: bool,
    timeout: Timeout,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    proxy: ProxyConfig | None = None,
    tunnel: bool = True,
    force_proto: str | None = None,
) -> tuple[socket.socket, str | None]:
    """Connect to ``host:port``, through ``proxy`` if given, and do TLS if ``secure``.

    With a proxy, TLS connections always go through a CONNECT tunnel;
    cleartext ones do too when ``tunnel`` is true (HTTP/2), else the socket
    goes to the proxy itself (HTTP/1.1 then sends absolute-form requests).

    :returns: the socket, with ``timeout.read`` set, and the ALPN protocol
        (``None`` for cleartext, or when the server chose none).
    :raises ConnectTimeout: if any step takes longer than ``timeout.connect``.
    :raises ConnectionError: if the connection fails.
    :raises ProxyError: if the proxy refuses the tunnel or misbehaves.
    :raises TLSError: if the TLS handshake fails.
    """
    if proxy is None:
        sock = connect_tcp(host, port, timeout.connect)
    else:
        sock = connect_tcp(proxy.host, proxy.port, timeout.connect)
        if secure or tunnel:
            open_tunnel(sock, _connect_target(host, port), proxy)
    protocol = None
    if secure:
        sock, protocol = wrap_socket(sock, server_hostname or host, ssl_context, force_proto)
    sock.settimeout(timeout.read)
    return sock, protocol


class Endpoint:
    """Where a connection goes and how: what both connection classes share.

    It checks and stores the public ``host``, ``port``, ``secure``,
    ``ssl_context``, ``proxy_host``, ``proxy_port``, ``proxy_headers`` and
    ``timeout`` attributes, and opens sockets with them.
    """

    host: str
    port: int
    secure: bool
    ssl_context: ssl.SSLContext | None
    timeout: Timeout

    def _init_endpoint(
        self,
        host: str,
        port: int | None,
        secure: bool | None,
        ssl_context: ssl.SSLContext | None,
        verify: bool | StrPath,
        proxy: tuple[str | None, int | None, HeadersType],
        timeout: TimeoutValue,
        default_port: int,
    ) -> None:
        """Check and store the arguments common to every connection.

        ``secure`` defaults to true for an https scheme, port 443, or when an
        ``ssl_context`` is given. ``proxy`` is ``(proxy_host, proxy_port,
        proxy_headers)``.

        :raises TypeError: for arguments of the wrong type.
        :raises ValueError: for a bad host, port, proxy or timeout.
        """
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError(f"ssl_context must be an ssl.SSLContext, got {type(ssl_context)!r}")
        if secure is None and ssl_context is not None:
            secure = True
        self.host, self.port, self.secure = parse_host(host, port, secure, default_port)
        self.ssl_context = ssl_context
        self._verify = verify
        proxy_host, proxy_port, proxy_headers = proxy
        headers = normalize_headers(proxy_headers) if proxy_headers else None
        self._proxy = ProxyConfig.from_args(proxy_host, proxy_port, headers)
        self.proxy_host = self._proxy.host if self._proxy else None
        self.proxy_port = self._proxy.port if self._proxy else None
        self.proxy_headers = proxy_headers
        self.timeout = Timeout.coerce(timeout)

    def _open_socket(
        self, alpn_protocols: tuple[str, ...], tunnel: bool, force_proto: str | None = None
    ) -> tuple[socket.socket, str | None]:
        """Open a socket to the endpoint; see :func:`open_socket`.

        Without an ``ssl_context``, one from :func:`hyper.tls.init_context`
        offering ``alpn_protocols`` is made at the first TLS connection.
        """
        if self.secure and self.ssl_context is None:
            self.ssl_context = init_context(verify=self._verify, alpn_protocols=alpn_protocols)
        return open_socket(
            self.host,
            self.port,
            secure=self.secure,
            timeout=self.timeout,
            ssl_context=self.ssl_context,
            proxy=self._proxy,
            tunnel=tunnel,
            force_proto=force_proto,
        )
