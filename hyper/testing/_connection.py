"""The socket side of one accepted connection, shared by both protocols.

:class:`ConnectionHandle` owns the (possibly TLS-wrapped) socket of one
accepted connection. Every read and every write of that socket happens while
holding the handle's lock, because OpenSSL forbids a read and a write running
at the same time on one TLS object. Reads never block under the lock: the
connection thread first waits for readability outside it, then reads with a
zero timeout. Writes block for at most the server's I/O timeout. A failed
write marks the connection closed and raises :class:`ClientDisconnected`, so
handler code stops at once when the client goes away.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING

from hyper.common.exceptions import HyperError

if TYPE_CHECKING:
    from hyper.testing._server import Server

__all__ = ["ClientDisconnected", "ConnectionHandle"]

log = logging.getLogger(__name__)

#: How long the connection thread waits for readability before it looks at
#: the shutdown flag again; this bounds how long shutdown takes.
POLL_INTERVAL = 0.05

#: Bytes asked for per read.
READ_SIZE = 65536

#: Exceptions that mean "the peer went away", not "something is broken".
_DISCONNECTS: tuple[type[BaseException], ...] = (
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


class ClientDisconnected(HyperError):
    """The client reset the stream or closed the connection.

    Raised inside a handler by the response's write methods and by request
    body reads. The server swallows it when it escapes a handler: a client that
    hangs up is not a server failure.
    """


def is_disconnect(exc: BaseException) -> bool:
    """Tell whether *exc* only means that the peer went away."""
    return isinstance(exc, (ClientDisconnected, *_DISCONNECTS))


class ConnectionHandle:
    """One accepted connection, as the server sees it.

    Tests get handles from :attr:`Server.connections`, from
    :attr:`Response.connection` and from HTTP/2 event hooks. Thread-safe: every
    method takes :attr:`lock`.

    :ivar server: the :class:`Server` that accepted it.
    :ivar id: the connection's number, counted from 1 per server.
    :ivar protocol: ``"h2"`` or ``"http/1.1"``.
    :ivar tls: whether the connection is TLS.
    :ivar alpn: the protocol ALPN selected, or ``None`` (cleartext, or a
        client that offered none).
    :ivar lock: the re-entrant lock guarding the socket (and, for HTTP/2, the
        h2 state machine).
    """

    protocol = "http/1.1"

    def __init__(self, server: Server, sock: socket.socket, conn_id: int, alpn: str | None) -> None:
        self.server = server
        self.id = conn_id
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.alpn = alpn
        self.lock = threading.RLock()
        self._sock = sock
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} id={self.id} {self.protocol} tls={self.tls} {state}>"

    @property
    def closed(self) -> bool:
        """Whether the connection has been closed (by either side)."""
        return self._closed

    def send_raw(self, data: bytes) -> None:
        """Write *data* to the socket as it is, outside any protocol state.

        :raises ClientDisconnected: the connection is closed or the write
            failed.
        :raises TimeoutError: the client did not read for the server's I/O
            timeout.
        """
        with self.lock:
            self._sendall(data)

    def close(self) -> None:
        """Close the connection at once, without any goodbye. Idempotent."""
        with self.lock:
            if not self._closed:
                self._closed = True
                self._on_closed()
                # Shut down first: the connection thread may be polling this
                # socket, and close() alone would hold the FIN until it wakes.
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()

    # --- for the protocol modules ------------------------------------------

    def _on_closed(self) -> None:
        """Wake whoever waits on this connection; called once, under the lock."""

    def _sendall(self, data: bytes) -> None:
        """Write all of *data*; the caller holds the lock."""
        if self._closed:
            raise ClientDisconnected(f"connection {self.id} is closed")
        try:
            self._sock.sendall(data)
        except TimeoutError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise ClientDisconnected(f"connection {self.id}: write failed: {exc}") from exc

    def _wait_readable(self) -> bool:
        """Wait up to :data:`POLL_INTERVAL` for data; waits without the lock."""
        if self._closed:
            return False
        if isinstance(self._sock, ssl.SSLSocket):
            with self.lock:  # pending() looks into the TLS object
                if not self._closed and self._sock.pending():
                    return True
        try:
            ready, _, _ = select.select([self._sock], [], [], POLL_INTERVAL)
        except (OSError, ValueError):  # closed under us by close()
            return False
        return bool(ready)

    def _recv_nowait(self) -> bytes | None:
        """Read what is there: bytes, ``b""`` at EOF, ``None`` if nothing yet.

        The caller holds the lock. A reset or failed TLS read counts as EOF.
        """
        if self._closed:
            return b""
        self._sock.settimeout(0)
        try:
            return self._sock.recv(READ_SIZE)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return None
        except OSError as exc:
            log.debug("connection %d: read failed: %s", self.id, exc)
            return b""
        finally:
            if not self._closed:
                self._sock.settimeout(self.server.io_timeout)

    def _read(self, timeout: float | None) -> bytes:
        """Wait for data (up to *timeout*, or until shutdown if ``None``).

        :returns: the bytes read, or ``b""`` at EOF or shutdown.
        :raises TimeoutError: nothing arrived within *timeout*.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.server.stopping.is_set():
            if self._wait_readable():
                with self.lock:
                    data = self._recv_nowait()
                if data is not None:
                    return data
            elif self._closed:
                return b""
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"connection {self.id}: client sent nothing for {timeout} s")
        return b""
