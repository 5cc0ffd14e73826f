"""An in-process HTTP/2 and HTTP/1.1 server for testing HTTP clients.

:class:`Server` runs on threads inside the test process, binds ``127.0.0.1``
on a free port, speaks HTTP/2 (on h2's server side) and HTTP/1.1 (on h11)
over TLS with ALPN (certificates from trustme) or cleartext, serves
httpbin-like default routes, and lets a test add routes, push responses
(HTTP/2), hook HTTP/2 events and inject raw frames or bytes to stage faults.
Errors raised in server threads come back to the test. Nothing else in
hyper imports this package; it needs the ``testing`` extra (``pip install
hyper[testing]``). The pytest fixtures live in :mod:`hyper.testing.plugin`,
loaded with ``-p hyper.testing.plugin``.
"""

from __future__ import annotations

try:
    import h11  # noqa: F401
    import trustme  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("hyper.testing needs h11 and trustme: pip install hyper[testing]") from exc

from hyper.testing._connection import ClientDisconnected, ConnectionHandle
from hyper.testing._h2 import H2Handle
from hyper.testing._h2_push import PushRefused
from hyper.testing._h2_response import H2Response
from hyper.testing._h11 import H11Handle, H11Response
from hyper.testing._messages import HeaderInput, Request, Response
from hyper.testing._routes import Handler, payload, payload_chunks
from hyper.testing._server import H2ConnectHook, H2EventHook, Server
from hyper.testing.connect_proxy import ConnectProxy, ProxiedRequest
from hyper.testing.delay_proxy import DelayProxy, DelayProxyError

__all__ = [
    "ClientDisconnected",
    "ConnectProxy",
    "ConnectionHandle",
    "DelayProxy",
    "DelayProxyError",
    "H2ConnectHook",
    "H2EventHook",
    "H2Handle",
    "H2Response",
    "H11Handle",
    "H11Response",
    "Handler",
    "HeaderInput",
    "ProxiedRequest",
    "PushRefused",
    "Request",
    "Response",
    "Server",
    "payload",
    "payload_chunks",
]
