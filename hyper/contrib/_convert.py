"""Between requests and hyper: requests' arguments in, requests' exceptions out.

The requests adapter (:mod:`hyper.contrib.requests_adapter`) calls these to
read ``timeout``, ``verify``, ``cert``, ``proxies`` and ``max_retries`` the
way requests' own adapter does, to hand a request's headers and body to
hyper (and put a body back to its start for another attempt), and to raise
requests' exception for a failure of hyper's, chained with ``from``.
"""

from __future__ import annotations

import os
from typing import NoReturn, TypeAlias
from urllib.parse import urlsplit

import requests
from requests.models import PreparedRequest
from requests.utils import prepend_scheme_if_needed, select_proxy
from urllib3 import Timeout as Urllib3Timeout
from urllib3.util.retry import Retry

from hyper.common import exceptions
from hyper.common.timeout import Timeout
from hyper.common.transport import ProxyConfig
from hyper.contrib._pool import ClientCert

__all__ = [
    "Body",
    "CertArg",
    "TimeoutArg",
    "client_cert_from",
    "proxy_for",
    "raise_translated",
    "request_headers",
    "retry_from",
    "timeout_from",
    "verify_from",
]

#: What ``timeout=`` accepts: as requests' own adapter.
TimeoutArg: TypeAlias = (
    "float | tuple[float | None, float | None] | Timeout | Urllib3Timeout | None"
)
#: What ``cert=`` accepts: a PEM file, ``(cert, key)``, or HTTPie's ``(cert, key, password)``.
CertArg: TypeAlias = "str | tuple[str, str] | tuple[str | None, ...] | None"

#: hyper's request-time failures and the requests exception each becomes (first match wins).
REQUEST_ERRORS: tuple[
    tuple[type[exceptions.HyperError], type[requests.exceptions.RequestException]], ...
] = (
    (exceptions.ConnectTimeout, requests.exceptions.ConnectTimeout),
    (exceptions.ReadTimeout, requests.exceptions.ReadTimeout),
    (exceptions.TimeoutError, requests.exceptions.Timeout),
    (exceptions.ProxyError, requests.exceptions.ProxyError),
    (exceptions.TLSError, requests.exceptions.SSLError),
    (exceptions.HyperError, requests.exceptions.ConnectionError),
)


def retry_from(max_retries: object) -> Retry:
    """``max_retries`` as requests' adapter reads it."""
    if isinstance(max_retries, Retry):
        return max_retries
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise TypeError(f"max_retries must be an int >= 0 or a urllib3 Retry, got {max_retries!r}")
    if max_retries == 0:
        return Retry(0, read=False)  # requests' default: no retries, read errors raised
    return Retry.from_int(max_retries)


def timeout_from(timeout: object) -> Timeout:
    """``timeout`` (a number, a (connect, read) pair, a Timeout) as hyper's :class:`Timeout`.

    :raises ValueError: for anything else, as requests' adapter does.
    """
    if isinstance(timeout, Urllib3Timeout):
        number = (int, float)
        connect, read = timeout.connect_timeout, timeout.read_timeout
        timeout = Timeout(
            connect=connect if isinstance(connect, number) else None,
            read=read if isinstance(read, number) else None,
        )
    try:
        return Timeout.coerce(timeout)  # type: ignore[arg-type]  # checked by coerce
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Invalid timeout {timeout!r}. Pass a (connect, read) timeout tuple, "
            "or a single float to set both timeouts to the same value."
        ) from exc


def verify_from(verify: object) -> bool | str:
    if isinstance(verify, bool):
        return verify
    if isinstance(verify, (str, os.PathLike)):
        return os.fspath(verify)
    raise TypeError(f"verify must be a bool or a CA bundle path, got {type(verify).__name__}")


def client_cert_from(cert: object) -> ClientCert | None:
    """``cert``: a PEM file, ``(cert, key)`` or HTTPie's ``(cert, key, password)``."""
    if cert is None:
        return None
    if isinstance(cert, (str, os.PathLike)):
        return (os.fspath(cert), None, None)
    if isinstance(cert, tuple) and len(cert) in (2, 3) and cert[0]:
        key = os.fspath(cert[1]) if cert[1] else None
        password = cert[2] if len(cert) == 3 else None
        return (os.fspath(cert[0]), key, password)
    raise TypeError(f"cert must be a path or a (cert, key) tuple, got {cert!r}")


def proxy_for(url: str, proxies: dict[str, str] | None, request: PreparedRequest) -> str | None:
    """The proxy URL requests chose for ``url``, checked, or ``None``."""
    proxy = select_proxy(url, proxies)
    if not proxy:
        return None
    proxy = prepend_scheme_if_needed(proxy, "http")
    if urlsplit(proxy).scheme.lower() != "http":
        raise requests.exceptions.InvalidProxyURL(
            f"hyper's adapter supports only http:// proxies, got {proxy!r}", request=request
        )
    try:
        ProxyConfig.from_args(proxy)
    except ValueError as exc:
        raise requests.exceptions.InvalidProxyURL(str(exc), request=request) from exc
    return proxy


def request_headers(request: PreparedRequest) -> list[tuple[str | bytes, str | bytes]]:
    """The request's headers, less requests' default ``Connection: keep-alive``
    (HTTP/1.1's default anyway), which would stop an h2c Upgrade offer."""
    return [
        (name, value)
        for name, value in request.headers.items()
        if not (_text(name).lower() == "connection" and _text(value).lower() == "keep-alive")
    ]


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def raise_translated(error: exceptions.HyperError, request: PreparedRequest) -> NoReturn:
    """Raise the requests exception for a request-time hyper failure."""
    for hyper_class, requests_class in REQUEST_ERRORS:
        if isinstance(error, hyper_class):
            raise requests_class(error, request=request) from error
    raise error  # pragma: no cover - the last row matches every HyperError


class Body:
    """A request body, and how to put it back to its start for another attempt."""

    __slots__ = ("_body", "_start")

    def __init__(self, body: object) -> None:
        self._body = body
        self._start: int | None = None
        seekable, tell = getattr(body, "seekable", None), getattr(body, "tell", None)
        if callable(seekable) and callable(tell):
            try:
                self._start = int(tell()) if seekable() else None
            except (OSError, ValueError):
                self._start = None

    def rewind(self) -> bool:
        """Make the body sendable again; ``False`` if it cannot be (an iterator)."""
        body = self._body
        if body is None or isinstance(body, (bytes, bytearray, memoryview, str)):
            return True
        seek = getattr(body, "seek", None)
        if self._start is None or not callable(seek):
            return False
        try:
            seek(self._start)
        except (OSError, ValueError):
            return False
        return True
