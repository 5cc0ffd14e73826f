"""Helpers shared by the tests of the requests adapter and the HTTPie plugin."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from hyper.contrib import HTTP20Adapter
from hyper.testing import Request, Response, Server

#: Bound on every wait of the client in these tests (the timeout= of each request).
CLIENT_TIMEOUT = 10.0

#: ``make_session(server, **adapter_kwargs)``: a session whose http:// and
#: https:// requests go through a new adapter, trusting ``server``'s CA.
SessionFactory = Callable[..., requests.Session]


@pytest.fixture
def make_session() -> Iterator[SessionFactory]:
    """Sessions through :class:`HTTP20Adapter`, closed at teardown."""
    sessions: list[requests.Session] = []

    def make(server: Server | None = None, **kwargs: Any) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxies or CA bundles from the environment
        if server is not None and server.tls:
            session.verify = server.ca_path
        adapter = HTTP20Adapter(**kwargs)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def adapter_of(session: requests.Session) -> HTTP20Adapter:
    """The adapter mounted on a session from ``make_session``."""
    adapter = session.get_adapter("https://")
    assert isinstance(adapter, HTTP20Adapter)
    return adapter


class HitCounter:
    """A route that answers ``status`` (or aborts the response) for its first
    ``failures`` hits and echoes the request afterwards, counting hits."""

    def __init__(self, server: Server, path: str, failures: int, status: int | None = None):
        self.hits = 0
        self._failures = failures
        self._status = status
        self._lock = threading.Lock()
        server.add_route(path, self._serve)

    def _serve(self, request: Request, response: Response) -> None:
        body = request.body
        with self._lock:
            self.hits += 1
            failing = self.hits <= self._failures
        if failing and self._status is None:
            response.abort()
        elif failing:
            response.send(b"try again\n", status=self._status or 503)
        else:
            response.send_json({"hits": self.hits, "length": len(body)})
