"""Server push from real servers: nghttpd (``-p``) and h2o (preload links).

Every pushed body must be byte-identical to the file on disk (SHA-256), the
parent response too, and a client with push off must receive no push.
"""

from __future__ import annotations

import hashlib

import pytest

from hyper.http20.connection import HTTP20Connection

from ._configs import H2O_PUSH_PAGE, NghttpdFactory, Server
from ._content import Docroot

IO_TIMEOUT = 30.0
PUSHED = ("/style.css", "/blob.bin")


def connect(server: Server, enable_push: bool = True) -> HTTP20Connection:
    return HTTP20Connection(
        server.host,
        server.tls_port,
        secure=True,
        verify=str(server.ca_path),
        enable_push=enable_push,
        timeout=IO_TIMEOUT,
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def collect(conn: HTTP20Connection, path: str) -> tuple[bytes, dict[str, bytes]]:
    """The page's body and every pushed body by path."""
    sid = conn.request("GET", path)
    response = conn.get_response(sid)
    assert response.status == 200
    pushed: dict[str, bytes] = {}
    for push in conn.get_pushes(sid, capture_all=True):
        assert push.method == b"GET"
        assert push.authority.startswith(b"127.0.0.1") or push.authority.startswith(b"localhost")
        pushed[push.path.decode()] = push.get_response().read()
    return response.read(), pushed


def check(docroot: Docroot, page: bytes, pushed: dict[str, bytes]) -> None:
    assert sha256(page) == docroot["index.html"].sha256
    assert sorted(pushed) == sorted(PUSHED)
    for path, body in pushed.items():
        assert sha256(body) == docroot[path.lstrip("/")].sha256, path


@pytest.mark.release
def test_nghttpd_push_contents(nghttpd_factory: NghttpdFactory, docroot: Docroot) -> None:
    server = nghttpd_factory(push={"/index.html": list(PUSHED)})
    with connect(server) as conn:
        page, pushed = collect(conn, "/index.html")
        check(docroot, page, pushed)
        # Again on the same connection: pushes come with each request.
        page, pushed = collect(conn, "/index.html")
        check(docroot, page, pushed)


@pytest.mark.release
def test_h2o_push_from_preload_links(h2o_server: Server, docroot: Docroot) -> None:
    with connect(h2o_server) as conn:
        page, pushed = collect(conn, H2O_PUSH_PAGE)
    check(docroot, page, pushed)


@pytest.mark.release
@pytest.mark.parametrize("name", ["nghttpd", "h2o"])
def test_no_push_when_push_is_off(
    name: str, nghttpd_factory: NghttpdFactory, h2o_server: Server, docroot: Docroot
) -> None:
    if name == "nghttpd":
        server, path = nghttpd_factory(push={"/index.html": list(PUSHED)}), "/index.html"
    else:
        server, path = h2o_server, H2O_PUSH_PAGE
    with connect(server, enable_push=False) as conn:
        page, pushed = collect(conn, path)
    assert sha256(page) == docroot["index.html"].sha256
    assert pushed == {}


@pytest.mark.release
def test_cancelled_nghttpd_push_leaves_the_connection_working(
    nghttpd_factory: NghttpdFactory, docroot: Docroot
) -> None:
    server = nghttpd_factory(push={"/index.html": list(PUSHED)})
    with connect(server) as conn:
        sid = conn.request("GET", "/index.html")
        response = conn.get_response(sid)
        for push in conn.get_pushes(sid, capture_all=True):
            push.cancel()
        assert sha256(response.read()) == docroot["index.html"].sha256
        sid = conn.request("GET", "/blob.bin")
        assert sha256(conn.get_response(sid).read()) == docroot["blob.bin"].sha256
