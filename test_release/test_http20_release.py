"""HTTP20Connection against real servers on 127.0.0.1: nghttpd, h2o, nginx, hypercorn.

The assertions are a user's: bodies byte-identical to the served files (by
hash), many requests multiplexed on one connection, a 256 MiB download in
bounded memory (measured in a child process: its own peak RSS, VmHWM), a
64 MiB upload stored or echoed intact, and HTTP/2 through a CONNECT proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from hyper.http20.connection import HTTP20Connection
from hyper.testing.connect_proxy import ConnectProxy

from ._configs import UPLOAD_PATH, Server
from ._content import Docroot
from .asgi_app import pattern_bytes

#: Seconds any one blocking call may take.
IO_TIMEOUT = 60.0
#: The big download, and the peak RSS its child process may reach (measured: about
#: 25 MiB, of which 24 MiB is the interpreter with hyper imported).
BIG_DOWNLOAD = 256 * 1024 * 1024
MAX_RSS_BYTES = 64 * 1024 * 1024
#: The big upload, sent in pieces of this size.
BIG_UPLOAD = 64 * 1024 * 1024
UPLOAD_PIECE = 1024 * 1024
#: Seconds the download child process may take.
CHILD_TIMEOUT = 300.0
REPO_ROOT = Path(__file__).resolve().parent.parent


class Target(NamedTuple):
    """Where to connect for HTTP/2: a server and one of its ports."""

    server: Server
    port: int
    secure: bool

    def connect(self) -> HTTP20Connection:
        return HTTP20Connection(
            self.server.host,
            self.port,
            secure=self.secure,
            verify=str(self.server.ca_path),
            timeout=IO_TIMEOUT,
        )


#: (fixture, TLS?) for every HTTP/2 port the fixtures offer.
TARGETS = [
    ("nghttpd_server", True),
    ("nghttpd_h2c_server", False),
    ("h2o_server", True),
    ("h2o_server", False),
    ("nginx_server", True),
    ("nginx_server", False),
    ("hypercorn_server", True),
    ("hypercorn_server", False),
]
DOCROOT_TARGETS = [t for t in TARGETS if t[0] != "hypercorn_server"]


def _target(request: pytest.FixtureRequest, fixture: str, tls: bool) -> Target:
    server: Server = request.getfixturevalue(fixture)
    if tls:
        assert server.tls_port is not None
        return Target(server, server.tls_port, True)
    port = server.h2c_port or server.plain_port
    assert port is not None
    return Target(server, port, False)


def _sha256_of(response_reader: Iterator[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for piece in response_reader:
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


def _ids(params: list[tuple[str, bool]]) -> list[str]:
    return [f"{name.removesuffix('_server')}-{'tls' if tls else 'h2c'}" for name, tls in params]


# --- multiplexed fetches -------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "tls"), DOCROOT_TARGETS, ids=_ids(DOCROOT_TARGETS))
def test_multiplexed_fetches_match_the_docroot(
    fixture: str, tls: bool, request: pytest.FixtureRequest, docroot: Docroot
) -> None:
    target = _target(request, fixture, tls)
    names = ["index.html", "style.css", "blob.bin", "text.txt"] * 5
    with target.connect() as conn:
        ids = [
            conn.request("GET", "/" + name, headers={"accept-encoding": "identity"})
            for name in names
        ]
        for sid, name in reversed(list(zip(ids, names, strict=True))):
            response = conn.get_response(sid)
            assert response.status == 200
            assert hashlib.sha256(response.read()).hexdigest() == docroot[name].sha256
        missing = conn.get_response(conn.request("GET", "/no-such-file"))
        assert missing.status == 404
        missing.read()
        assert "open" in repr(conn)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_multiplexed_fetches_from_hypercorn(tls: bool, request: pytest.FixtureRequest) -> None:
    target = _target(request, "hypercorn_server", tls)
    sizes = [0, 1, 1000, 65536, 1_000_000, 3_000_000] * 3
    with target.connect() as conn:
        ids = [conn.request("GET", f"/bytes/{size}") for size in sizes]
        for sid, size in zip(ids, sizes, strict=True):
            assert conn.get_response(sid).read() == pattern_bytes(size)
        trailers = conn.get_response(conn.request("GET", "/trailers", headers={"te": "trailers"}))
        assert trailers.read() == b"body before trailers\n"
        assert trailers.trailers[b"x-checksum"] == [b"abc"]


@pytest.mark.parametrize("fixture", ["nginx_server", "h2o_server"])
def test_gzip_from_nginx_and_h2o_is_decoded(
    fixture: str, request: pytest.FixtureRequest, docroot: Docroot
) -> None:
    target = _target(request, fixture, True)
    with target.connect() as conn:
        conn.request("GET", "/text.txt", headers={"accept-encoding": "gzip"})
        response = conn.get_response()
        body = response.read()
    assert hashlib.sha256(body).hexdigest() == docroot["text.txt"].sha256


# --- a big download in bounded memory ---------------------------------------------------

_DOWNLOAD_CHILD = textwrap.dedent(
    """
    import hashlib, json, resource, sys
    from hyper.http20.connection import HTTP20Connection

    host, port, secure, ca, path = sys.argv[1:6]
    conn = HTTP20Connection(host, int(port), secure=secure == "1", verify=ca, timeout=60)
    conn.request("GET", path, headers={"accept-encoding": "identity"})
    response = conn.get_response()
    digest, size = hashlib.sha256(), 0
    while piece := response.read(1024 * 1024):
        digest.update(piece)
        size += len(piece)
    conn.close()
    # ru_maxrss also counts the parent's size when it forked us; VmHWM is our own.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open("/proc/self/status") as status:
            lines = [line for line in status if line.startswith("VmHWM:")]
        peak = int(lines[0].split()[1]) * 1024
    except (OSError, IndexError):
        pass
    print(json.dumps({"sha256": digest.hexdigest(), "size": size, "peak_rss": peak}))
    """
)


def _download_in_child(target: Target, path: str) -> dict[str, int | str]:
    argv = [sys.executable, "-c", _DOWNLOAD_CHILD, target.server.host, str(target.port)]
    argv += ["1" if target.secure else "0", str(target.server.ca_path), path]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(argv, capture_output=True, timeout=CHILD_TIMEOUT, env=env, check=False)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    answer: dict[str, int | str] = json.loads(result.stdout)
    return answer


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "tls"),
    [("nghttpd_server", True), ("h2o_server", False), ("nginx_server", True)],
    ids=["nghttpd-tls", "h2o-h2c", "nginx-tls"],
)
def test_256_mib_download_in_bounded_memory(
    fixture: str, tls: bool, request: pytest.FixtureRequest, docroot: Docroot
) -> None:
    big = docroot.random_file(BIG_DOWNLOAD)
    answer = _download_in_child(_target(request, fixture, tls), big.url_path)
    assert (answer["size"], answer["sha256"]) == (BIG_DOWNLOAD, big.sha256)
    assert int(answer["peak_rss"]) < MAX_RSS_BYTES, f"peak RSS {answer['peak_rss']} bytes"


@pytest.mark.slow
def test_256_mib_download_from_hypercorn(request: pytest.FixtureRequest) -> None:
    answer = _download_in_child(
        _target(request, "hypercorn_server", True), f"/bytes/{BIG_DOWNLOAD}"
    )
    expected = hashlib.sha256()
    block = pattern_bytes(UPLOAD_PIECE)
    for _ in range(BIG_DOWNLOAD // UPLOAD_PIECE):
        expected.update(block)
    assert (answer["size"], answer["sha256"]) == (BIG_DOWNLOAD, expected.hexdigest())
    assert int(answer["peak_rss"]) < MAX_RSS_BYTES


# --- a big upload ----------------------------------------------------------------------


def _upload_pieces() -> Iterator[bytes]:
    for index in range(BIG_UPLOAD // UPLOAD_PIECE):
        yield hashlib.shake_128(b"upload:%d" % index).digest(UPLOAD_PIECE)


def _upload_digest() -> str:
    digest = hashlib.sha256()
    for piece in _upload_pieces():
        digest.update(piece)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize(("fixture", "tls"), [("nginx_server", True), ("h2o_server", False)])
def test_64_mib_upload_is_stored_intact(
    fixture: str, tls: bool, request: pytest.FixtureRequest
) -> None:
    target = _target(request, fixture, tls)
    name = f"up-{uuid.uuid4().hex}.bin"
    with target.connect() as conn:
        conn.request("PUT", UPLOAD_PATH + name, body=_upload_pieces())
        response = conn.get_response()
        assert response.status in (200, 201, 204), response.read()
        response.read()
    assert target.server.upload_dir is not None
    stored = target.server.upload_dir / name
    assert stored.stat().st_size == BIG_UPLOAD
    with stored.open("rb") as file:
        assert hashlib.file_digest(file, "sha256").hexdigest() == _upload_digest()


@pytest.mark.slow
@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_64_mib_upload_echoed_by_hypercorn(tls: bool, request: pytest.FixtureRequest) -> None:
    target = _target(request, "hypercorn_server", tls)
    with target.connect() as conn:
        conn.request("POST", "/echo", body=_upload_pieces())
        response = conn.get_response()
        assert response.status == 200
        digest, size = _sha256_of(iter(lambda: response.read(UPLOAD_PIECE), b""))
    assert (size, digest) == (BIG_UPLOAD, _upload_digest())


# --- through a proxy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "tls"), [("nghttpd_server", True), ("nginx_server", False)], ids=["tls", "h2c"]
)
def test_through_a_connect_proxy(
    fixture: str, tls: bool, request: pytest.FixtureRequest, docroot: Docroot
) -> None:
    target = _target(request, fixture, tls)
    with ConnectProxy() as proxy:
        conn = HTTP20Connection(
            target.server.host,
            target.port,
            secure=tls,
            verify=str(target.server.ca_path),
            proxy_host=f"{proxy.host}:{proxy.port}",
            timeout=IO_TIMEOUT,
        )
        with conn:
            ids = [conn.request("GET", "/blob.bin") for _ in range(3)]
            for sid in ids:
                body = conn.get_response(sid).read()
                assert hashlib.sha256(body).hexdigest() == docroot["blob.bin"].sha256
    assert [(r.method, r.target) for r in proxy.requests] == [
        ("CONNECT", f"{target.server.host}:{target.port}")
    ]
