"""Accepting connections and choosing each one's protocol.

The accept thread polls the listening socket so shutdown is prompt, and
hands each connection to a thread of its own. That thread does the TLS
handshake (bounded by the I/O timeout), then picks the protocol: ALPN's
answer when there is one, otherwise the first bytes (the HTTP/2 preface
means HTTP/2 with prior knowledge, anything else HTTP/1.1). For shutdown it
keeps a duplicate of every raw socket: shutting that down wakes a thread
blocked on the connection without touching its TLS object from another
thread.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import select
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING

from hyper.testing._connection import POLL_INTERVAL, READ_SIZE, is_disconnect
from hyper.testing._h2 import H2Handle
from hyper.testing._h11 import H11Handle
from hyper.testing._tls import server_context

if TYPE_CHECKING:
    from hyper.testing._server import Server

__all__ = ["PREFACE", "Acceptor"]

log = logging.getLogger(__name__)

#: The HTTP/2 client connection preface.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: Pending connections the listening socket queues.
LISTEN_BACKLOG = 128


class Acceptor:
    """Owns the listening socket, the accept thread and connection start-up."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._context = server_context(server.ca, server.protocols) if server.tls else None
        self._listener = socket.create_server((server.host, 0), backlog=LISTEN_BACKLOG)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._killers: dict[int, socket.socket] = {}
        server._start_thread("hyper-testing-accept", self._accept_loop)

    def stop(self) -> None:
        """Wake every connection thread by shutting its socket down."""
        with self._lock:
            for killer in self._killers.values():
                with contextlib.suppress(OSError):  # already gone
                    killer.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self) -> None:
        server = self._server
        try:
            while not server.stopping.is_set():
                ready, _, _ = select.select([self._listener], [], [], POLL_INTERVAL)
                if not ready:
                    continue
                try:
                    sock, _ = self._listener.accept()
                except OSError as exc:  # e.g. the client aborted already
                    log.debug("accept failed: %s", exc)
                    continue
                conn_id = server._next_connection_id()
                serve = functools.partial(self._serve, sock, conn_id)
                server._start_thread(f"hyper-testing-conn-{conn_id}", serve)
        except Exception as exc:
            server._record_error(exc)
        finally:
            self._listener.close()

    def _serve(self, sock: socket.socket, conn_id: int) -> None:
        with self._lock:
            self._killers[conn_id] = sock.dup()
        handle: H2Handle | H11Handle | None = None
        initial = b""
        try:
            if not self._server.stopping.is_set():
                handle, initial = self._open(sock, conn_id)
            if handle is not None:
                self._server._add_connection(handle)
                handle._run(initial)
        except Exception as exc:
            if is_disconnect(exc):
                log.debug("connection %d: client went away: %s", conn_id, exc)
            else:
                self._server._record_error(exc)
        finally:
            if handle is not None:
                handle.close()
            sock.close()
            with self._lock:
                self._killers.pop(conn_id).close()

    def _open(self, sock: socket.socket, conn_id: int) -> tuple[H2Handle | H11Handle | None, bytes]:
        """Handshake and pick the protocol; ``(None, b"")`` to just close."""
        sock.settimeout(self._server.io_timeout)
        # Responses go out as several small writes (head, then body pieces):
        # without this, Nagle's algorithm holds each one back for the
        # client's delayed ACK, some 40 ms per response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        alpn = None
        if self._context is not None:
            tls_sock = self._handshake(sock, self._context)
            if tls_sock is None:
                return None, b""
            sock, alpn = tls_sock, tls_sock.selected_alpn_protocol()
        initial = b""
        if alpn is None:
            initial = self._sniff(sock)
            if not initial:
                return None, b""
        if alpn == "h2" or (alpn is None and self._wants_h2(initial)):
            return H2Handle(self._server, sock, conn_id, alpn), initial
        return H11Handle(self._server, sock, conn_id, alpn), initial

    def _handshake(self, sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket | None:
        tls_sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        try:
            tls_sock.do_handshake()
        except OSError as exc:  # ssl.SSLError, timeouts and resets alike
            log.debug("TLS handshake failed: %s", exc)
            self._server.handshake_failures.append(exc)
            tls_sock.close()
            return None
        return tls_sock

    def _wants_h2(self, initial: bytes) -> bool:
        protocols = self._server.protocols
        return "http/1.1" not in protocols or (initial.startswith(PREFACE) and "h2" in protocols)

    def _sniff(self, sock: socket.socket) -> bytes:
        """Read until the bytes are, or cannot be, the HTTP/2 preface.

        Returns ``b""`` on EOF, shutdown or a client silent for the I/O timeout.
        """
        data = b""
        deadline = time.monotonic() + self._server.io_timeout
        while len(data) < len(PREFACE) and PREFACE.startswith(data):
            if self._server.stopping.is_set() or time.monotonic() >= deadline:
                return b""
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if not pending and not select.select([sock], [], [], POLL_INTERVAL)[0]:
                continue
            chunk = sock.recv(READ_SIZE)
            if not chunk:
                return b""
            data += chunk
        return data
