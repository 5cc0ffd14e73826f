"""Helpers shared by the HTTP/2 test modules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hyper.http20.connection import HTTP20Connection
from hyper.testing import Server

#: Bound on every wait in the HTTP/2 tests.
IO_TIMEOUT = 10.0


def connect(server: Server, **kwargs: Any) -> HTTP20Connection:
    """An HTTP/2 connection to ``server`` (trusting its CA, or h2c), bounded waits."""
    kwargs.setdefault("timeout", IO_TIMEOUT)
    if server.tls:
        kwargs.setdefault("ssl_context", server.ssl_context(("h2",)))
    else:
        kwargs.setdefault("secure", False)
    return HTTP20Connection(server.host, server.port, **kwargs)


def wait_until(predicate: Callable[[], bool], timeout: float = IO_TIMEOUT) -> None:
    """Poll ``predicate`` until it holds, failing the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
