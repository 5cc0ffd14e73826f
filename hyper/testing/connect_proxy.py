"""A small HTTP proxy for tests: CONNECT tunnels and absolute-form requests.

:class:`ConnectProxy` binds 127.0.0.1 on a free port. A ``CONNECT
host:port`` request opens a TCP connection to the target and relays bytes
both ways (so TLS and HTTP/2 run end to end through it); a plain request in
absolute form (``GET http://host:port/path HTTP/1.1``) is forwarded to that
origin in origin form, and the rest of the connection is relayed. It can
demand credentials (answering 407), refuse tunnels with a chosen status,
and records every request head it saw. Every wait is bounded; an error in
a proxy thread is raised again when the proxy stops.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

__all__ = ["ConnectProxy", "ProxiedRequest"]

log = logging.getLogger(__name__)

#: The longest request head the proxy reads.
MAX_HEAD = 64 * 1024
_POLL = 0.2
_JOIN_TIMEOUT = 5.0
_RELAY_CHUNK = 256 * 1024


@dataclass
class ProxiedRequest:
    """One request head the proxy received.

    :ivar method: e.g. ``"CONNECT"`` or ``"GET"``.
    :ivar target: the request target as sent (``host:port`` or an absolute URL).
    :ivar headers: the header fields, names lower-cased.
    """

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


class ConnectProxy:
    """An HTTP proxy on 127.0.0.1 for tests; use it as a context manager.

    :param auth: ``(user, password)`` to demand by ``Proxy-Authorization:
        Basic``; without it (or with wrong ones) the proxy answers 407.
    :param refuse_status: if set, every CONNECT is answered with this status
        (and a short body) instead of a tunnel.
    """

    def __init__(self, auth: tuple[str, str] | None = None, refuse_status: int | None = None):
        self.auth = auth
        self.refuse_status = refuse_status
        self.requests: list[ProxiedRequest] = []
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the proxy listens on."""
        return self.host, self.port

    # --- lifecycle -------------------------------------------------------

    def __enter__(self) -> ConnectProxy:
        listener = socket.socket()
        listener.bind((self.host, 0))
        listener.listen(64)
        listener.settimeout(_POLL)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self._errors:
            raise self._errors[0]

    def stop(self) -> None:
        """Stop accepting, close every relayed connection, join the threads."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes threads blocked in recv
            _close(sock)
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT)

    def _spawn(self, target: object, *args: object) -> None:
        def run() -> None:
            try:
                target(*args)  # type: ignore[operator]
            except OSError as exc:
                log.debug("proxy thread ended: %s", exc)
            except BaseException as exc:  # surfaced at stop
                self._errors.append(exc)

        thread = threading.Thread(target=run, daemon=True, name="hyper-test-proxy")
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    # --- serving ---------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(_JOIN_TIMEOUT)
            self._track(client)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        head, rest = _read_head(client)
        if head is None:
            _close(client)
            return
        request = _parse_head(head)
        with self._lock:
            self.requests.append(request)
        if not self._authorized(request):
            client.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            _close(client)
            return
        if request.method == "CONNECT":
            self._tunnel(client, request, rest)
        else:
            self._forward(client, request, head, rest)

    def _authorized(self, request: ProxiedRequest) -> bool:
        if self.auth is None:
            return True
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return request.headers.get("proxy-authorization") == f"Basic {token}"

    def _tunnel(self, client: socket.socket, request: ProxiedRequest, rest: bytes) -> None:
        if self.refuse_status is not None:
            client.sendall(
                b"HTTP/1.1 %d Refused\r\nContent-Length: 7\r\n\r\nrefused" % self.refuse_status
            )
            _close(client)
            return
        host, _, port = request.target.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=_JOIN_TIMEOUT)
        self._track(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            upstream.sendall(rest)
        self._relay(client, upstream)

    def _forward(
        self, client: socket.socket, request: ProxiedRequest, head: bytes, rest: bytes
    ) -> None:
        url = urlsplit(request.target)
        port = url.port or 80
        upstream = socket.create_connection((url.hostname or "", port), timeout=_JOIN_TIMEOUT)
        self._track(upstream)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        first, _, others = head.partition(b"\r\n")
        method, _, _ = first.partition(b" ")
        upstream.sendall(b"%s %s HTTP/1.1\r\n%s" % (method, path.encode(), others) + rest)
        self._relay(client, upstream)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        self._spawn(_pipe, upstream, client)
        _pipe(client, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from ``source`` to ``sink`` until EOF, then half-close ``sink``."""
    source.settimeout(None)
    try:
        while data := source.recv(_RELAY_CHUNK):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        _close(sink)


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > MAX_HEAD:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _parse_head(head: bytes) -> ProxiedRequest:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return ProxiedRequest(method, target, headers)


def _close(sock: socket.socket) -> None:
    sock.close()  # idempotent; also wakes a thread blocked reading it
