"""Helpers shared by the HTTP/2 test modules."""

from __future__ import annotations

import threading
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


def run_threads(count: int, work: Callable[[int], None], timeout: float = 60.0) -> None:
    """Run ``work(index)`` on ``count`` threads; re-raise the first failure.

    :raises AssertionError: if a thread is still running after ``timeout``.
    """
    failures: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still waiting: {stuck}"
    if failures:
        raise failures[0]
