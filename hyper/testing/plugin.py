"""pytest fixtures for :class:`hyper.testing.Server`; opt-in.

Load with ``pytest -p hyper.testing.plugin`` (or ``pytest_plugins =
["hyper.testing.plugin"]`` in a ``conftest.py``); hyper registers no entry
point, so it is never loaded behind a project's back. Servers are
function-scoped and share one session-wide CA, so starting one costs a
certificate and a thread (a few milliseconds). At teardown each server is
closed and any error recorded in its threads is raised, failing the test,
unless the server was told to expect errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from hyper.testing._server import Server

__all__ = [
    "hyper_ca",
    "hyper_server",
    "hyper_server_factory",
    "hyper_server_h2c",
    "hyper_server_http11",
]


@pytest.fixture(scope="session")
def hyper_ca() -> trustme.CA:
    """The :class:`trustme.CA` that every fixture server's certificate comes from."""
    return trustme.CA()


@pytest.fixture
def hyper_server_factory(hyper_ca: trustme.CA) -> Iterator[Callable[..., Server]]:
    """A function taking :class:`Server` keyword arguments and returning it started.

    Every server it made is closed at teardown, and their recorded errors raised.
    """
    servers: list[Server] = []

    def make(**kwargs: Any) -> Server:
        kwargs.setdefault("ca", hyper_ca)
        server = Server(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()
    for server in servers:
        if not server.expect_errors:
            server.check()


@pytest.fixture
def hyper_server(hyper_server_factory: Callable[..., Server]) -> Server:
    """A running TLS server offering ALPN ``h2`` and ``http/1.1``."""
    return hyper_server_factory()


@pytest.fixture
def hyper_server_h2c(hyper_server_factory: Callable[..., Server]) -> Server:
    """A running cleartext server: HTTP/2 with prior knowledge, or HTTP/1.1."""
    return hyper_server_factory(tls=False)


@pytest.fixture
def hyper_server_http11(hyper_server_factory: Callable[..., Server]) -> Server:
    """A running TLS server offering only ALPN ``http/1.1``."""
    return hyper_server_factory(protocols=("http/1.1",))
