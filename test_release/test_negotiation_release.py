"""HTTPConnection choosing its protocol against real servers.

Over TLS, ALPN decides: nghttpd, h2o, hypercorn and nginx answer ``h2``;
an nginx without ``http2`` answers ``http/1.1``. In cleartext, h2o and
hypercorn accept the ``Upgrade: h2c`` offer, nginx ignores it (HTTP/1.1
stays, on a kept-alive socket), and nghttpd, which speaks only HTTP/2 with
prior knowledge, makes the first response fail at once with a message
naming ``force_proto='h2'``, which then works. Bodies are compared by hash.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

from hyper import HTTP11Response, HTTP20Response
from hyper.common import exceptions
from hyper.common.connection import HTTPConnection
from hyper.common.util import HTTPVersion

from ._configs import Server
from ._content import Docroot
from ._nginx_variants import NginxVariants
from .asgi_app import pattern_bytes

#: Seconds hyper may wait for a server at any one step.
CLIENT_TIMEOUT = 10.0
#: The short timeout of the tests that expect a prompt failure, and its bound.
SHORT_TIMEOUT = 3.0
#: Size of the hypercorn download.
HYPERCORN_SIZE = 300_000
#: Seconds a server may take to write an access-log line.
LOG_WAIT = 5.0


def connect(url: str, server: Server) -> HTTPConnection:
    """A connection trusting the test CA, with bounded waits."""
    return HTTPConnection(url, verify=str(server.ca_path), timeout=CLIENT_TIMEOUT)


def fetch(conn: HTTPConnection, path: str) -> tuple[int | None, bytes]:
    """GET ``path``: what ``request`` returned, and the body."""
    returned = conn.request("GET", path)
    response = conn.get_response(returned)
    assert response.status == 200
    return returned, response.read()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- TLS: ALPN ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nghttpd_server", "h2o_server", "nginx_server"])
def test_alpn_h2_from_file_servers(
    request: pytest.FixtureRequest, name: str, docroot: Docroot
) -> None:
    server: Server = request.getfixturevalue(name)
    blob = docroot["blob.bin"]
    with connect(server.tls_url, server) as conn:
        returned, body = fetch(conn, blob.url_path)
        assert (returned, conn.version) == (1, HTTPVersion.http20)
        assert sha(body) == blob.sha256
        assert fetch(conn, "/index.html")[0] == 3


def test_alpn_h2_from_hypercorn(hypercorn_server: Server) -> None:
    with connect(hypercorn_server.tls_url, hypercorn_server) as conn:
        returned, body = fetch(conn, f"/bytes/{HYPERCORN_SIZE}")
        assert (returned, conn.version) == (1, HTTPVersion.http20)
        assert body == pattern_bytes(HYPERCORN_SIZE)


def test_alpn_http11_from_nginx_without_http2(
    nginx_variants: NginxVariants, docroot: Docroot
) -> None:
    server = nginx_variants.server
    blob = docroot["blob.bin"]
    with connect(nginx_variants.http11_url, server) as conn:
        conn.request("GET", blob.url_path)
        response = conn.get_response()
        assert isinstance(response, HTTP11Response)
        assert conn.version is HTTPVersion.http11
        assert sha(response.read()) == blob.sha256
        assert fetch(conn, "/index.html")[0] is None
        with pytest.raises(ValueError):
            conn.get_response(1)


# --- cleartext: h2c Upgrade ---------------------------------------------------------


@pytest.mark.parametrize("name", ["h2o_server", "hypercorn_server"])
def test_upgrade_accepted(request: pytest.FixtureRequest, name: str, docroot: Docroot) -> None:
    server: Server = request.getfixturevalue(name)
    path = "/blob.bin" if name == "h2o_server" else f"/bytes/{HYPERCORN_SIZE}"
    expected = docroot["blob.bin"].sha256 if name == "h2o_server" else None
    with connect(server.plain_url, server) as conn:
        assert conn.version is HTTPVersion.http11
        assert conn.request("GET", path) is None
        response = conn.get_response()
        assert isinstance(response, HTTP20Response)
        assert conn.version is HTTPVersion.http20
        body = response.read()
        assert sha(body) == (expected or sha(pattern_bytes(HYPERCORN_SIZE)))
        assert fetch(conn, path)[0] == 3  # the next request is a new stream on that socket


def _log_lines(path: Path | None, count: int) -> list[str]:
    """The access log's lines, once it has ``count`` of them (bounded wait)."""
    assert path is not None
    deadline = time.monotonic() + LOG_WAIT
    while True:
        lines = path.read_text().splitlines()
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_upgrade_ignored_by_nginx(nginx_server: Server, docroot: Docroot) -> None:
    before = len(_log_lines(nginx_server.access_log, 0))
    with connect(nginx_server.plain_url, nginx_server) as conn:
        assert fetch(conn, "/index.html")[0] is None
        assert conn.version is HTTPVersion.http11
        assert sha(fetch(conn, "/style.css")[1]) == docroot["style.css"].sha256
    lines = _log_lines(nginx_server.access_log, before + 2)[before:]
    connections = {re.search(r"conn=(\d+)", line)[1] for line in lines}  # type: ignore[index]
    assert len(lines) == 2
    assert len(connections) == 1  # the offer did not cost the kept-alive socket


def test_nghttpd_without_upgrade_fails_clearly(nghttpd_h2c_server: Server) -> None:
    started = time.monotonic()
    with HTTPConnection(nghttpd_h2c_server.plain_url, timeout=SHORT_TIMEOUT) as conn:
        conn.request("GET", "/index.html")
        with pytest.raises((exceptions.InvalidResponseError, exceptions.ConnectionError)) as info:
            conn.get_response()
    assert time.monotonic() - started < SHORT_TIMEOUT
    if isinstance(info.value, exceptions.InvalidResponseError):
        assert "force_proto='h2'" in str(info.value)
    with HTTPConnection(nghttpd_h2c_server.plain_url, force_proto="h2", timeout=10) as conn:
        assert fetch(conn, "/index.html")[0] == 1
