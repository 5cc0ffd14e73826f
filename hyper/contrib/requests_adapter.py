"""The requests transport adapter: requests' API, with hyper's HTTP/2 underneath.

``session.mount("https://", HTTP20Adapter())`` sends that session's HTTPS
requests through hyper: HTTP/2 where the server offers it by ALPN (one
connection per origin, shared by every thread of the session), HTTP/1.1
otherwise; in cleartext, HTTP/1.1 with an h2c Upgrade offer. The adapter
only translates: a ``PreparedRequest`` becomes ``request()`` and
``get_response()`` on a pooled :class:`~hyper.common.connection.HTTPConnection`
(see :mod:`hyper.contrib._pool`), the answer becomes a ``requests.Response``
whose ``raw`` is a :class:`RawResponse` (:mod:`hyper.contrib._raw`), and
hyper's exceptions become requests' (chained with ``from``; the arguments
and errors are converted in :mod:`hyper.contrib._convert`). ``max_retries``
follows requests' own adapter, with urllib3's ``Retry`` doing the counting.
Needs requests (``pip install hyper[requests]``).
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any, cast
from urllib.parse import urlsplit

try:
    import requests
    from requests.adapters import BaseAdapter
    from requests.cookies import extract_cookies_to_jar
    from requests.models import PreparedRequest, Response
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers
    from urllib3 import exceptions as urllib3_exceptions
    from urllib3.util.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("HTTP20Adapter needs requests: pip install hyper[requests]") from exc

from hyper.common import exceptions
from hyper.common.body import BodyType
from hyper.common.connection import HTTPConnection
from hyper.contrib._convert import (
    Body,
    CertArg,
    TimeoutArg,
    client_cert_from,
    proxy_for,
    raise_translated,
    request_headers,
    retry_from,
    timeout_from,
    verify_from,
)
from hyper.contrib._pool import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_POOL_CONNECTIONS,
    DEFAULT_POOL_MAXSIZE,
    ClientCert,
    ConnectionPool,
    PoolKey,
)
from hyper.contrib._raw import OriginalResponse, RawResponse
from hyper.http20.window import BaseFlowControlManager
from hyper.tls import init_context

__all__ = ["HTTP20Adapter", "OriginalResponse", "RawResponse"]

log = logging.getLogger(__name__)

#: How many distinct TLS set-ups (``verify`` and ``cert`` pairs) keep a cached context.
MAX_CACHED_CONTEXTS = 16


class _Failure:
    """An attempt that failed, and whether the request may have reached the server."""

    __slots__ = ("error", "sent", "touched")

    def __init__(self, error: exceptions.HyperError, touched: bool) -> None:
        self.error = error
        self.touched = touched  # request() was called: the body may have been read
        self.sent = touched and not isinstance(error, exceptions.RequestNotProcessedError)


class HTTP20Adapter(BaseAdapter):
    """A requests transport adapter that speaks HTTP/2 (and HTTP/1.1) through hyper.

    ::

        session = requests.Session()
        session.mount("https://", HTTP20Adapter())
        session.get("https://example.com/").raw.version  # 20

    :param window_manager: the
        :class:`~hyper.http20.window.BaseFlowControlManager` subclass for
        HTTP/2 connections (the old hyper's argument); ``None``: hyper's default.
    :param pool_connections: how many origins (scheme, host, port, TLS
        settings, proxy, timeouts) to keep connections for.
    :param pool_maxsize: how many idle HTTP/1.1 connections to keep per
        origin (an HTTP/2 origin has one connection whatever this says).
    :param max_retries: as requests' ``HTTPAdapter``: an int or a urllib3
        ``Retry``. ``0`` (the default) retries nothing. Failures to connect,
        and requests the server says it did not process, count as connect
        errors; any failure after the request went out counts as a read
        error, retried only for methods the ``Retry`` allows. A body that
        cannot be sent again (an iterator) is never retried once read.
    :param pool_block: wait for a free HTTP/1.1 connection (at most the
        connect timeout) instead of opening more than ``pool_maxsize``.
    :param idle_timeout: close connections unused for this many seconds
        (``None``: keep them).
    :raises TypeError: for a ``window_manager`` or ``max_retries`` of the wrong type.
    :raises ValueError: for pool sizes below 1 or a non-positive ``idle_timeout``.

    Thread-safe: one adapter (and so one ``requests.Session``) may be used
    from many threads; their requests to one HTTP/2 origin go as concurrent
    streams on one connection. Connections keep the timeouts they were made
    with, so requests with a different ``timeout`` use different connections.
    """

    def __init__(
        self,
        window_manager: type[BaseFlowControlManager] | None = None,
        *,
        pool_connections: int = DEFAULT_POOL_CONNECTIONS,
        pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
        max_retries: int | Retry = 0,
        pool_block: bool = False,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        super().__init__()
        if window_manager is not None and not (
            isinstance(window_manager, type) and issubclass(window_manager, BaseFlowControlManager)
        ):
            raise TypeError("window_manager must be a BaseFlowControlManager subclass (the class)")
        self.window_manager = window_manager
        self.max_retries = retry_from(max_retries)
        self._contexts: dict[tuple[bool | str | None, ClientCert | None], ssl.SSLContext] = {}
        self._lock = threading.Lock()  # guards _contexts
        self._pool = ConnectionPool(
            self._new_connection,
            maxsize=pool_connections,
            per_origin=pool_maxsize,
            block=pool_block,
            idle_timeout=idle_timeout,
        )

    def __repr__(self) -> str:
        return f"<HTTP20Adapter {self._pool!r}>"

    def __getstate__(self) -> dict[str, Any]:
        """What pickling keeps: the settings, not the connections."""
        pool = self._pool
        return {
            "window_manager": self.window_manager,
            "max_retries": self.max_retries,
            "pool_connections": pool.maxsize,
            "pool_maxsize": pool.per_origin,
            "pool_block": pool.block,
            "idle_timeout": pool.idle_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild an unpickled adapter, with no connections."""
        self.__init__(**state)  # type: ignore[misc]

    # --- sending ---------------------------------------------------------

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: TimeoutArg = None,
        verify: bool | str = True,
        cert: CertArg = None,
        proxies: dict[str, str] | None = None,
    ) -> Response:
        """Send a prepared request and return the response, its body unread.

        ``stream`` makes no difference here: requests reads the body when
        it is ``False``. Arguments as for requests' ``HTTPAdapter.send``.

        :raises requests.exceptions.InvalidURL: for a URL without a host or
            with a bad port.
        :raises requests.exceptions.InvalidSchema: for a scheme other than
            http and https.
        :raises requests.exceptions.InvalidProxyURL: for a proxy other than
            ``http://``.
        :raises ValueError: for an invalid ``timeout``.
        :raises OSError: if a ``verify`` or ``cert`` file does not exist.
        :raises requests.exceptions.ConnectTimeout: if connecting timed out.
        :raises requests.exceptions.ReadTimeout: if the response did not come in time.
        :raises requests.exceptions.SSLError: if TLS failed (a bad
            certificate, or one that did not verify).
        :raises requests.exceptions.ProxyError: if the proxy refused the tunnel.
        :raises requests.exceptions.ConnectionError: for other connection
            and protocol failures.
        :raises requests.exceptions.RetryError: when a ``Retry`` with a
            ``status_forcelist`` runs out on an error status.
        :raises hyper.common.exceptions.LocalProtocolError: for a request
            hyper cannot send (also a :class:`ValueError`).
        """
        key = self.pool_key(request, timeout, verify, cert, proxies)
        self._context(key, request)  # build it outside the pool's lock; fail early
        body = Body(request.body)
        retries = self.max_retries
        while True:
            outcome = self._attempt(request, key)
            if isinstance(outcome, _Failure):
                retries = self._retry_failure(retries, request, outcome, body)
                continue
            next_retries = self._retry_status(retries, request, outcome, body)
            if next_retries is None:
                return self.build_response(request, outcome)
            retries = next_retries

    def _attempt(self, request: PreparedRequest, key: PoolKey) -> RawResponse | _Failure:
        """Send once on a pooled connection; the response head, or why not."""
        try:
            lease = self._pool.acquire(key, key.timeout.connect if self._pool.block else None)
        except exceptions.HyperError as exc:
            return _Failure(exc, touched=False)
        conn, touched, stream_id = lease.conn, False, None
        try:
            conn.connect()  # a failure here sent nothing: always safe to retry
            lease.settle(final=key.secure)  # over TLS, ALPN has answered
            touched = True
            body = cast("BodyType", request.body)  # requests' Iterable[bytes | str]
            stream_id = conn.request(
                request.method or "GET", request.path_url, body, request_headers(request)
            )
            lease.settle(final=key.secure)
            response = conn.get_response(stream_id)
            lease.settle(final=True)
        except exceptions.HyperError as exc:
            if stream_id is not None:  # HTTP/2: free the stream a timeout left pending
                conn.cancel(stream_id)
            lease.release()
            return _Failure(exc, touched)
        except BaseException:
            lease.release(reusable=False)
            raise
        return RawResponse(response, lease, request.url or "")

    def _retry_failure(
        self, retries: Retry, request: PreparedRequest, failure: _Failure, body: Body
    ) -> Retry:
        """The ``Retry`` for the next attempt after a failure, or raise it."""
        if isinstance(failure.error, exceptions.LocalProtocolError):
            raise failure.error  # sending it again cannot help
        if failure.touched and not body.rewind():
            raise_translated(failure.error, request)
        if failure.sent:
            marker: urllib3_exceptions.HTTPError = urllib3_exceptions.ProtocolError(failure.error)
        else:
            marker = urllib3_exceptions.ConnectTimeoutError(failure.error)
        try:
            retries = retries.increment(request.method, request.url, error=marker)
        except urllib3_exceptions.HTTPError:  # exhausted, or not retryable
            raise_translated(failure.error, request)
        log.debug("retrying %s %s after %r", request.method, request.url, failure.error)
        retries.sleep()
        return retries

    def _retry_status(
        self, retries: Retry, request: PreparedRequest, raw: RawResponse, body: Body
    ) -> Retry | None:
        """The ``Retry`` for another attempt after an error status, or ``None``
        to return this response."""
        has_retry_after = "Retry-After" in raw.headers
        if not retries.is_retry(request.method or "GET", raw.status, has_retry_after):
            return None
        if not body.rewind():
            return None
        try:
            # urllib3 reads status, headers and get_redirect_location() from it.
            retries = retries.increment(request.method, request.url, response=raw)  # type: ignore[arg-type]
        except urllib3_exceptions.MaxRetryError as exc:
            if not retries.raise_on_status:
                return None
            raw.close()
            raise requests.exceptions.RetryError(exc, request=request) from exc
        raw.drain_conn()
        retries.sleep(raw)  # type: ignore[arg-type]  # reads Retry-After from raw.headers
        return retries

    # --- connections -----------------------------------------------------

    def pool_key(
        self,
        request: PreparedRequest,
        timeout: TimeoutArg = None,
        verify: bool | str = True,
        cert: CertArg = None,
        proxies: dict[str, str] | None = None,
    ) -> PoolKey:
        """What a connection for this request must be fixed to.

        :raises: as :meth:`send` for a bad URL, proxy or timeout.
        """
        url = request.url or ""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise requests.exceptions.InvalidSchema(f"no connection adapters for {url!r}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise requests.exceptions.InvalidURL(
                f"invalid port in {url!r}", request=request
            ) from exc
        if not parts.hostname:
            raise requests.exceptions.InvalidURL(f"no host in {url!r}", request=request)
        secure = scheme == "https"
        return PoolKey(
            scheme,
            parts.hostname,
            port,
            verify_from(verify) if secure else None,
            client_cert_from(cert) if secure else None,
            proxy_for(url, proxies, request),
            timeout_from(timeout),
        )

    def _context(
        self, key: PoolKey, request: PreparedRequest | None = None
    ) -> ssl.SSLContext | None:
        """The TLS context for ``key``'s settings (cached), or ``None`` in cleartext."""
        if not key.secure:
            return None
        settings = (key.verify, key.cert)
        with self._lock:
            context = self._contexts.get(settings)
        if context is not None:
            return context
        cert = key.cert
        files = None if cert is None else (cert[0], cert[1]) if cert[1] else cert[0]
        try:
            context = init_context(
                verify=True if key.verify is None else key.verify,
                cert=files,
                cert_password=None if cert is None else cert[2],
            )
        except exceptions.TLSError as exc:
            raise requests.exceptions.SSLError(str(exc), request=request) from exc
        with self._lock:
            if len(self._contexts) >= MAX_CACHED_CONTEXTS:
                self._contexts.clear()
            return self._contexts.setdefault(settings, context)

    def _new_connection(self, key: PoolKey) -> HTTPConnection:
        """Make the (unconnected) connection for ``key``; the pool calls this."""
        return HTTPConnection(
            key.host,
            key.port,
            secure=key.secure,
            window_manager=self.window_manager,
            ssl_context=self._context(key),
            proxy_host=key.proxy,
            timeout=key.timeout,
        )

    # --- responses and lifecycle -------------------------------------------

    def build_response(self, request: PreparedRequest, raw: RawResponse) -> Response:
        """Make the ``requests.Response`` for a response whose head has arrived.

        Its cookies are extracted from ``Set-Cookie``; its body is read
        through ``raw``.
        """
        response = Response()
        response.status_code = raw.status
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw
        response.reason = raw.reason
        response.url = request.url or ""
        extract_cookies_to_jar(response.cookies, request, raw)
        response.request = request
        response.connection = self  # type: ignore[assignment]  # typed as HTTPAdapter
        return response

    def close(self) -> None:
        """Close every pooled connection (those still in use once their
        responses are done). The adapter stays usable."""
        self._pool.close()
        with self._lock:
            self._contexts.clear()
