"""The test server's public face: configuration, lifecycle, routes, hooks, logs.

:class:`Server` binds ``127.0.0.1`` on a free port, accepts on one thread and
serves each connection on its own thread (see ``_accept``); HTTP/2 requests
get a thread per stream. Every wait is bounded: the accept loop and the
connection threads poll the shutdown flag, sockets have an I/O timeout, and
:meth:`Server.close` joins every thread against one deadline. Anything a
server thread raises (other than a client hanging up) is recorded and raised
again in the test by :meth:`Server.check`, which leaving the ``with`` block
calls unless the server was told to expect errors.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import h2.events
import trustme

from hyper.testing import _accept
from hyper.testing._connection import ConnectionHandle, is_disconnect
from hyper.testing._h2 import H2Handle, check_settings
from hyper.testing._messages import Request, Response
from hyper.testing._routes import DEFAULT_ROUTES, Handler
from hyper.testing._tls import check_protocols, client_context

__all__ = ["H2ConnectHook", "H2EventHook", "Server"]

log = logging.getLogger(__name__)

#: Default bound on every socket read/write wait and flow-control wait.
DEFAULT_IO_TIMEOUT = 10.0

#: How long :meth:`Server.close` waits for all server threads together.
SHUTDOWN_TIMEOUT = 5.0

#: An HTTP/2 event hook: return ``True`` to skip the server's own handling.
H2EventHook = Callable[[H2Handle, h2.events.Event], "bool | None"]

#: An HTTP/2 connect hook: runs once the server's SETTINGS are queued.
H2ConnectHook = Callable[[H2Handle], None]


def _check_path(path: str) -> None:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must be a str starting with '/', not {path!r}")


def _not_found(request: Request, response: Response) -> None:
    response.send(f"no route for {request.path}\n".encode(), status=404, content_type="text/plain")


class Server:
    """An in-process HTTP/2 and HTTP/1.1 test server; a context manager.

    ::

        with Server() as server:               # TLS, ALPN h2 and http/1.1
            ctx = server.ssl_context()         # a client context trusting it
            ...connect to server.host, server.port...

    With ``tls=True`` ALPN picks the protocol; in cleartext (``tls=False``)
    the server reads the first bytes: the HTTP/2 preface means HTTP/2 with
    prior knowledge, anything else HTTP/1.1. Routes, hooks and settings may
    be changed while it runs. Thread-safe.

    :param tls: serve TLS with a certificate from :attr:`ca`.
    :param protocols: the protocols to speak: ``"h2"``, ``"http/1.1"`` or both.
    :param ca: the CA to issue the certificate from (a new one by default).
    :param h2_settings: SETTINGS values to send, ``{SettingCodes.X: value}``,
        over h2's defaults (e.g. a tiny ``INITIAL_WINDOW_SIZE``).
    :param h2_data_frame_size: cap DATA frames below the client's
        ``MAX_FRAME_SIZE`` (e.g. ``1`` for one-byte frames).
    :param expect_errors: do not raise recorded errors on exit.
    :param io_timeout: bound, in seconds, on each socket, body and window wait.
    :param h2c_upgrade: in cleartext, answer an HTTP/1.1 request that offers
        ``Upgrade: h2c`` (without a body) with 101 and go on in HTTP/2,
        serving that request as stream 1. By default on when *protocols*
        include both ``"h2"`` and ``"http/1.1"``.
    :raises TypeError: *protocols* is a string.
    :raises ValueError: an argument is out of range.

    :ivar host: ``"127.0.0.1"``.
    :ivar port: the bound port (``0`` until :meth:`start`).
    :ivar tls: whether it serves TLS.
    :ivar protocols: the protocols it speaks, as a tuple.
    :ivar ca: the :class:`trustme.CA` the server certificate comes from.
    :ivar errors: exceptions recorded in server threads, oldest first.
    :ivar handshake_failures: TLS handshake errors (not raised: clients that
        reject the certificate cause them on purpose).
    :ivar expect_errors: may be set mid-test.
    :ivar h2c_upgrade: whether h2c Upgrade offers are taken; may be set mid-test.
    :ivar stopping: a :class:`threading.Event` set when shutdown begins.
    """

    def __init__(
        self,
        *,
        tls: bool = True,
        protocols: Sequence[str] = ("h2", "http/1.1"),
        ca: trustme.CA | None = None,
        h2_settings: Mapping[int, int] | None = None,
        h2_data_frame_size: int | None = None,
        expect_errors: bool = False,
        io_timeout: float = DEFAULT_IO_TIMEOUT,
        h2c_upgrade: bool | None = None,
    ) -> None:
        self.protocols = check_protocols(protocols, "protocols")
        self.h2_settings = check_settings(h2_settings or {})
        if h2_data_frame_size is not None and h2_data_frame_size < 1:
            raise ValueError(f"h2_data_frame_size must be positive, not {h2_data_frame_size}")
        if not io_timeout > 0:
            raise ValueError(f"io_timeout must be positive, not {io_timeout}")
        self.tls = tls
        self.ca = ca if ca is not None else trustme.CA()
        self.h2_data_frame_size = h2_data_frame_size
        self.expect_errors = expect_errors
        self.io_timeout = io_timeout
        if h2c_upgrade is None:
            h2c_upgrade = {"h2", "http/1.1"} <= set(self.protocols)
        self.h2c_upgrade = h2c_upgrade
        self.host = "127.0.0.1"
        self.port = 0
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.handshake_failures: list[BaseException] = []
        # One lock for all the shared lists and tables below.
        self._lock = threading.Lock()
        self._routes: dict[str, Handler] = dict(DEFAULT_ROUTES)
        self._h2_event_hooks: list[H2EventHook] = []
        self._h2_connect_hooks: list[H2ConnectHook] = []
        self._connections: list[ConnectionHandle] = []
        self._requests: list[Request] = []
        self._threads: list[threading.Thread] = []
        self._accepted = 0
        self._acceptor: _accept.Acceptor | None = None
        self._tmpdir: str | None = None

    def __repr__(self) -> str:
        state = "stopped" if self.stopping.is_set() else "running" if self.port else "new"
        return f"<Server {self.url} {'/'.join(self.protocols)} {state}>"

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> Server:
        """Bind and start serving; returns the server.

        :raises RuntimeError: it was already started.
        :raises OSError: binding failed.
        """
        if self._acceptor is not None:
            raise RuntimeError("the server was already started")
        self._acceptor = _accept.Acceptor(self)
        self.port = self._acceptor.port
        return self

    def close(self) -> None:
        """Stop serving and join every server thread (bounded). Idempotent.

        Threads still running after :data:`SHUTDOWN_TIMEOUT` are recorded as
        errors. Recorded errors are not raised here; see :meth:`check`.
        """
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._acceptor is not None:
            self._acceptor.stop()
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        while True:  # threads may start others while stopping: look again
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive or time.monotonic() >= deadline:
                break
            alive[0].join(max(0.0, deadline - time.monotonic()))
        for thread in alive:
            self._record_error(
                RuntimeError(f"{thread.name} did not stop within {SHUTDOWN_TIMEOUT} s")
            )
        with self._lock:
            tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def check(self) -> None:
        """Raise the first exception recorded in a server thread, if any."""
        with self._lock:
            first = self.errors[0] if self.errors else None
        if first is not None:
            raise first

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if not self.expect_errors:
            self.check()

    def sleep(self, seconds: float) -> bool:
        """Sleep in a handler; returns ``False`` early if the server stops."""
        return not self.stopping.wait(seconds)

    # --- addresses and trust ---------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return (self.host, self.port)

    @property
    def authority(self) -> str:
        """``"127.0.0.1:PORT"``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``"https://127.0.0.1:PORT"`` (``http://`` without TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.authority}"

    @property
    def ca_path(self) -> str:
        """Path of a PEM file holding the CA certificate (for curl, requests...).

        Written on first use; removed by :meth:`close`.

        :raises RuntimeError: the server is closed.
        """
        if self.stopping.is_set():
            raise RuntimeError("the server is closed; its CA file is gone")
        with self._lock:
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="hyper-testing-")
            path = Path(self._tmpdir) / "ca.pem"
            if not path.exists():
                self.ca.cert_pem.write_to_path(str(path))
            return str(path)

    def ssl_context(self, protocols: Sequence[str] = ("h2", "http/1.1")) -> ssl.SSLContext:
        """A client :class:`ssl.SSLContext` trusting :attr:`ca`, offering ALPN *protocols*.

        :raises ValueError: a protocol is unknown.
        """
        return client_context(self.ca, protocols)

    # --- routes and hooks ------------------------------------------------

    @property
    def routes(self) -> list[str]:
        """The route paths served now."""
        with self._lock:
            return list(self._routes)

    def add_route(self, path: str, handler: Handler) -> None:
        """Serve *path* with ``handler(request, response)``, replacing any route.

        *path* is matched exactly, without the query string; a path ending in
        ``/*`` matches everything below it (the rest is
        :attr:`Request.subpath`). Exact routes win, then the longest prefix.

        :raises ValueError: *path* does not start with ``/``.
        """
        _check_path(path)
        with self._lock:
            self._routes[path] = handler

    def route(self, path: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add_route`.

        :raises ValueError: *path* does not start with ``/``.
        """
        _check_path(path)

        def register(handler: Handler) -> Handler:
            self.add_route(path, handler)
            return handler

        return register

    def on_h2_event(self, hook: H2EventHook) -> H2EventHook:
        """Call ``hook(handle, event)`` for each h2 event, before the server.

        Runs on the connection thread holding ``handle.lock``; returning
        ``True`` skips the server's own handling of that event (for example,
        swallowing ``DataReceived`` leaves the client's window closed). Usable
        as a decorator.
        """
        with self._lock:
            self._h2_event_hooks.append(hook)
        return hook

    def on_h2_connect(self, hook: H2ConnectHook) -> H2ConnectHook:
        """Call ``hook(handle)`` on each new HTTP/2 connection.

        It runs after the server's SETTINGS are queued and before any client
        frame is read, so it can send frames first. Usable as a decorator.
        """
        with self._lock:
            self._h2_connect_hooks.append(hook)
        return hook

    # --- logs ------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """How many connections were accepted."""
        with self._lock:
            return self._accepted

    @property
    def connections(self) -> list[ConnectionHandle]:
        """Handles of the connections served so far (past the TLS handshake)."""
        with self._lock:
            return list(self._connections)

    @property
    def requests(self) -> list[Request]:
        """The requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    # --- for the other modules -------------------------------------------

    def _record_error(self, exc: BaseException) -> None:
        log.warning("test server error: %r", exc, exc_info=exc)
        with self._lock:
            self.errors.append(exc)

    def _next_connection_id(self) -> int:
        with self._lock:
            self._accepted += 1
            return self._accepted

    def _add_connection(self, handle: ConnectionHandle) -> None:
        with self._lock:
            self._connections.append(handle)

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _find_route(self, path: str) -> tuple[Handler, str]:
        with self._lock:
            handler = self._routes.get(path)
            if handler is not None:
                return handler, ""
            prefixes = [p[:-1] for p in self._routes if p.endswith("/*")]
            matches = [p for p in prefixes if path.startswith(p)]
            if not matches:
                return _not_found, ""
            best = max(matches, key=len)
            return self._routes[best + "*"], path[len(best) :]

    def _run_handler(self, request: Request, response: Response) -> None:
        """Log *request*, run its route, finish or fail the response."""
        with self._lock:
            self._requests.append(request)
        self._serve(request, response)

    def _serve(self, request: Request, response: Response) -> None:
        """Run *request*'s route, then finish the response, or fail it if
        the handler raised (a client that went away is no error)."""
        handler, request.subpath = self._find_route(request.path)
        try:
            handler(request, response)
            response.finish()
        except Exception as exc:
            if is_disconnect(exc):
                log.debug("%r: client went away: %s", request, exc)
                return
            self._record_error(exc)
            try:
                response._fail()
            except Exception as second:
                log.debug("%r: could not report the failure: %r", request, second)

    def _start_handler(
        self, request: Request, response: Response, done: Callable[[Request], None]
    ) -> None:
        def run() -> None:
            try:
                self._run_handler(request, response)
            finally:
                done(request)

        self._start_thread(f"hyper-testing-stream-{request.connection.id}-{request.stream_id}", run)

    def _call_h2_event_hooks(self, handle: H2Handle, event: h2.events.Event) -> bool:
        with self._lock:
            hooks = list(self._h2_event_hooks)
        return any(hook(handle, event) for hook in hooks)

    def _call_h2_connect_hooks(self, handle: H2Handle) -> None:
        with self._lock:
            hooks = list(self._h2_connect_hooks)
        for hook in hooks:
            hook(handle)
