"""HTTP11Connection against nginx and h2o, over TLS and cleartext, judged as a user would.

What the server saw is read from its access log (one line per request with
the connection number, the request, the status, the protocol and the
``Host`` header): keep-alive reuse is one connection number across many
requests, not a property of hyper's own bookkeeping. Uploads are proved by
the file the server stored (nginx's WebDAV ``PUT``, h2o's mruby sink), and
the 256 MiB download runs in a separate interpreter so its peak RSS counts
that download alone. The two large transfers are marked ``slow``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import hyper
from hyper.common import exceptions
from hyper.http11.connection import HTTP11Connection
from hyper.http11.response import HTTP11Response

from ._configs import UPLOAD_PATH, Server
from ._content import Docroot

log = logging.getLogger(__name__)

#: Seconds hyper may wait for a server at any one step.
CLIENT_TIMEOUT = 10.0
#: Seconds a server may take to write the access-log line of a finished request.
LOG_WAIT = 5.0
#: Seconds between looks at the access log.
LOG_POLL = 0.02
#: Requests sent on one connection to show keep-alive reuse.
KEEP_ALIVE_REQUESTS = 20
#: The large download, and the most memory the process streaming it may use.
DOWNLOAD_SIZE = 256 * 1024 * 1024
MAX_DOWNLOAD_RSS_KIB = 80 * 1024
#: How much the peak RSS may grow while the body is read (a buffered body would add 256 MiB).
MAX_DOWNLOAD_RSS_GROWTH_KIB = 16 * 1024
#: Seconds the download subprocess may take.
DOWNLOAD_TIMEOUT = 90.0
#: The large upload, and the piece size of the generator that sends it chunked.
UPLOAD_SIZE = 64 * 1024 * 1024
UPLOAD_PIECE = 64 * 1024
#: The helper script that runs the download in its own interpreter.
DOWNLOAD_SCRIPT = Path(__file__).with_name("_http11_download.py")

#: The reason phrase each server sends with a 404; hyper hands it over as sent.
NOT_FOUND_REASONS = {"nginx": "Not Found", "h2o": "File Not Found"}

SERVERS = ["nginx_server", "h2o_server"]
ENDPOINTS = [(fixture, tls) for fixture in SERVERS for tls in (True, False)]

_LOG_LINE = re.compile(
    r"conn=(?P<conn>\d+) (?:reqs=(?P<reqs>\d+) )?.*?"
    r'"(?P<method>\S+) (?P<target>\S+) [^"]*" (?P<status>\d{3}) \S+ (?P<protocol>\S+) '
    r"host=(?P<host>\S*)$"
)


@dataclass(frozen=True)
class Endpoint:
    """One server port, TLS (verified with the fixture CA) or cleartext."""

    server: Server
    tls: bool

    @property
    def port(self) -> int:
        port = self.server.tls_port if self.tls else self.server.plain_port
        assert port is not None
        return port

    def connect(self, **kwargs: Any) -> HTTP11Connection:
        if self.tls:
            kwargs.setdefault("verify", str(self.server.ca_path))
        kwargs.setdefault("timeout", CLIENT_TIMEOUT)
        return HTTP11Connection(self.server.host, self.port, secure=self.tls, **kwargs)


@dataclass(frozen=True)
class LogEntry:
    """One access-log line: what the server saw of one request."""

    conn: int
    reqs: int | None  # nginx only: the request's number on its connection
    method: str
    target: str
    status: int
    protocol: str
    host: str

    @classmethod
    def parse(cls, line: str) -> LogEntry:
        found = _LOG_LINE.search(line)
        assert found is not None, f"unexpected access-log line: {line}"
        reqs = found["reqs"]
        return cls(
            int(found["conn"]),
            int(reqs) if reqs else None,
            found["method"],
            found["target"],
            int(found["status"]),
            found["protocol"],
            found["host"],
        )


@pytest.fixture(
    params=ENDPOINTS, ids=[f"{f.split('_')[0]}-{'tls' if t else 'plain'}" for f, t in ENDPOINTS]
)
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    fixture, tls = request.param
    return Endpoint(request.getfixturevalue(fixture), tls)


def fetch(
    conn: HTTP11Connection, target: str, method: str = "GET", **kwargs: Any
) -> HTTP11Response:
    conn.request(method, target, **kwargs)
    return conn.get_response()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def log_entries(server: Server, marker: str, count: int) -> list[LogEntry]:
    """The access-log entries whose target holds ``marker``, once there are ``count``."""
    assert server.access_log is not None
    deadline = time.monotonic() + LOG_WAIT
    while True:
        lines = [line for line in server.access_log.read_text().splitlines() if marker in line]
        if len(lines) >= count or time.monotonic() > deadline:
            break
        time.sleep(LOG_POLL)
    return [LogEntry.parse(line) for line in lines]


def one_connection(entries: list[LogEntry], count: int) -> None:
    """Assert that ``count`` requests arrived on one HTTP/1.1 connection, in order."""
    assert len(entries) == count, entries
    assert len({entry.conn for entry in entries}) == 1, entries
    assert {entry.protocol for entry in entries} == {"HTTP/1.1"}
    if entries[0].reqs is not None:  # nginx numbers the requests of each connection
        first = entries[0].reqs
        assert [entry.reqs for entry in entries] == list(range(first, first + count))


# --- status, reason, HEAD, 404, Host ------------------------------------------------


def test_get_status_reason_headers_and_body(endpoint: Endpoint, docroot: Docroot) -> None:
    index = docroot["index.html"]
    with endpoint.connect() as conn:
        response = fetch(conn, index.url_path)
        assert (response.status, response.reason) == (200, "OK")
        assert response.headers[b"content-type"] == [b"text/html"]
        assert response.headers[b"content-length"] == [str(index.size).encode()]
        assert sha256(response.read()) == index.sha256
        assert response.closed


def test_head_reports_length_without_body_and_keeps_connection(
    endpoint: Endpoint, docroot: Docroot
) -> None:
    blob, style = docroot["blob.bin"], docroot["style.css"]
    marker = uuid.uuid4().hex
    with endpoint.connect() as conn:
        head = fetch(conn, f"{blob.url_path}?{marker}", method="HEAD")
        assert head.status == 200
        assert head.headers[b"content-length"] == [str(blob.size).encode()]
        assert head.read() == b""
        after = fetch(conn, f"{style.url_path}?{marker}")
        assert sha256(after.read()) == style.sha256
    entries = log_entries(endpoint.server, marker, 2)
    one_connection(entries, 2)
    assert [entry.method for entry in entries] == ["HEAD", "GET"]


def test_404_is_a_response_and_keeps_connection(endpoint: Endpoint, docroot: Docroot) -> None:
    marker = uuid.uuid4().hex
    with endpoint.connect() as conn:
        missing = fetch(conn, f"/missing-{marker}.html")
        assert (missing.status, missing.reason) == (404, NOT_FOUND_REASONS[endpoint.server.name])
        body = missing.read()
        assert missing.headers[b"content-length"] == [str(len(body)).encode()]
        found = fetch(conn, f"/style.css?{marker}")
        assert (found.status, sha256(found.read())) == (200, docroot["style.css"].sha256)
    entries = log_entries(endpoint.server, marker, 2)
    one_connection(entries, 2)
    assert [entry.status for entry in entries] == [404, 200]


def test_host_header_carries_the_non_default_port(endpoint: Endpoint) -> None:
    marker = uuid.uuid4().hex
    with endpoint.connect() as conn:
        assert fetch(conn, f"/index.html?{marker}-default").read()
        explicit = {"Host": f"localhost:{endpoint.port}"}
        assert fetch(conn, f"/index.html?{marker}-explicit", headers=explicit).status == 200
    default, given = log_entries(endpoint.server, marker, 2)
    assert default.host == f"127.0.0.1:{endpoint.port}"
    assert given.host == f"localhost:{endpoint.port}"


# --- keep-alive ---------------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(
    endpoint: Endpoint, docroot: Docroot
) -> None:
    marker = uuid.uuid4().hex
    style = docroot["style.css"]
    with endpoint.connect() as conn:
        for number in range(KEEP_ALIVE_REQUESTS):
            response = fetch(conn, f"{style.url_path}?{marker}-{number}")
            assert sha256(response.read()) == style.sha256
    entries = log_entries(endpoint.server, marker, KEEP_ALIVE_REQUESTS)
    one_connection(entries, KEEP_ALIVE_REQUESTS)
    targets = [entry.target for entry in entries]
    assert targets == [f"{style.url_path}?{marker}-{n}" for n in range(KEEP_ALIVE_REQUESTS)]
    if endpoint.server.name == "nginx":
        assert entries[0].reqs == 1  # a fresh connection, not one left over


def test_not_modified_and_partial_responses_keep_connection(
    endpoint: Endpoint, docroot: Docroot
) -> None:
    blob = docroot["blob.bin"]
    target = f"{blob.url_path}?{uuid.uuid4().hex}"
    with endpoint.connect() as conn:
        first = fetch(conn, target)
        (etag,) = first.headers[b"etag"]
        assert sha256(first.read()) == blob.sha256
        unchanged = fetch(conn, target, headers={"If-None-Match": etag})
        assert (unchanged.status, unchanged.reason) == (304, "Not Modified")
        assert unchanged.read() == b""
        part = fetch(conn, target, headers={"Range": "bytes=10-19"})
        assert (part.status, part.reason) == (206, "Partial Content")
        assert part.headers[b"content-range"] == [f"bytes 10-19/{blob.size}".encode()]
        assert part.read() == blob.path.read_bytes()[10:20]
    entries = log_entries(endpoint.server, target, 3)
    one_connection(entries, 3)
    assert [entry.status for entry in entries] == [200, 304, 206]


def test_connection_close_request_gets_a_new_connection_next(
    endpoint: Endpoint, docroot: Docroot
) -> None:
    marker = uuid.uuid4().hex
    style = docroot["style.css"]
    with endpoint.connect() as conn:
        last = fetch(conn, f"{style.url_path}?{marker}-1", headers={"Connection": "close"})
        assert last.headers[b"connection"] == [b"close"]
        assert sha256(last.read()) == style.sha256
        again = fetch(conn, f"{style.url_path}?{marker}-2")
        assert sha256(again.read()) == style.sha256
    first, second = log_entries(endpoint.server, marker, 2)
    assert first.conn != second.conn
    assert (first.reqs, second.reqs) in {(None, None), (1, 1)}


# --- chunked responses ----------------------------------------------------------------


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_gzip_chunked_text_is_decoded(nginx_server: Server, docroot: Docroot, tls: bool) -> None:
    text = docroot["text.txt"]
    marker = uuid.uuid4().hex
    target = f"{text.url_path}?{marker}"
    with Endpoint(nginx_server, tls).connect() as conn:
        decoded = fetch(conn, target)
        assert decoded.headers[b"transfer-encoding"] == [b"chunked"]
        assert decoded.headers[b"content-encoding"] == [b"gzip"]
        assert b"content-length" not in decoded.headers
        assert sha256(decoded.read()) == text.sha256
        raw = fetch(conn, target).read(decode_content=False)
        assert raw[:2] == b"\x1f\x8b"
        assert len(raw) < text.size // 4
        assert sha256(gzip.decompress(raw)) == text.sha256
        sliced = fetch(conn, target)
        pieces = list(iter(lambda: sliced.read(1000), b""))
        assert max(map(len, pieces)) <= 1000
        assert sha256(b"".join(pieces)) == text.sha256
        head = fetch(conn, target, method="HEAD")
        assert head.headers[b"content-encoding"] == [b"gzip"]
        assert head.read() == b""  # no body to decode, and no error for the missing one
    # Each chunked body was framed exactly: the connection served all four.
    one_connection(log_entries(nginx_server, marker, 4), 4)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_h2o_streams_a_stored_file_back_chunked(
    h2o_server: Server, docroot: Docroot, tls: bool
) -> None:
    blob = docroot["blob.bin"]
    target = f"{UPLOAD_PATH}{uuid.uuid4().hex}.bin"
    with Endpoint(h2o_server, tls).connect() as conn, blob.path.open("rb") as body:
        stored = fetch(conn, target, method="PUT", body=body)
        assert (stored.status, stored.read()) == (201, f"{blob.size}\n".encode())
        response = fetch(conn, target)
        assert response.headers[b"transfer-encoding"] == [b"chunked"]
        pieces = list(response.read_chunked())
        assert len(pieces) > 1
        assert sha256(b"".join(pieces)) == blob.sha256
        assert len(response.trailers) == 0
        # The last chunk was framed exactly: the connection serves one more request.
        assert fetch(conn, f"{target}?again").read() == blob.path.read_bytes()
    one_connection(log_entries(h2o_server, target, 3), 3)


# --- TLS verification --------------------------------------------------------------


def _own_context(server: Server) -> dict[str, Any]:
    return {"ssl_context": ssl.create_default_context(cafile=str(server.ca_path))}


@pytest.mark.parametrize("fixture", SERVERS)
@pytest.mark.parametrize(
    "trust",
    [
        lambda server: {"verify": str(server.ca_path)},
        lambda server: {"verify": server.ca_path},
        _own_context,
        lambda server: {"verify": False},
    ],
    ids=["verify-str", "verify-path", "ssl_context", "verify-false"],
)
def test_tls_with_the_fixture_ca(
    request: pytest.FixtureRequest, fixture: str, trust: Any, docroot: Docroot
) -> None:
    server: Server = request.getfixturevalue(fixture)
    with HTTP11Connection(
        server.host, server.tls_port, secure=True, timeout=CLIENT_TIMEOUT, **trust(server)
    ) as conn:
        assert sha256(fetch(conn, "/style.css").read()) == docroot["style.css"].sha256


@pytest.mark.parametrize("fixture", SERVERS)
def test_tls_by_name_checks_the_name_and_sends_it_as_host(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    server: Server = request.getfixturevalue(fixture)
    marker = uuid.uuid4().hex
    url = f"https://localhost:{server.tls_port}"
    with HTTP11Connection(url, verify=server.ca_path, timeout=CLIENT_TIMEOUT) as conn:
        assert fetch(conn, f"/index.html?{marker}").status == 200
    (entry,) = log_entries(server, marker, 1)
    assert entry.host == f"localhost:{server.tls_port}"


@pytest.mark.parametrize("fixture", SERVERS)
def test_tls_fails_without_the_fixture_ca(request: pytest.FixtureRequest, fixture: str) -> None:
    server: Server = request.getfixturevalue(fixture)
    marker = uuid.uuid4().hex
    conn = HTTP11Connection(server.host, server.tls_port, secure=True, timeout=CLIENT_TIMEOUT)
    with conn, pytest.raises(exceptions.TLSError) as raised:
        conn.request("GET", f"/style.css?{marker}")
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
    with pytest.raises(exceptions.TLSError):
        HTTP11Connection(
            f"https://{server.host}:{server.tls_port}", timeout=CLIENT_TIMEOUT
        ).connect()
    with Endpoint(server, tls=True).connect() as verified:
        assert fetch(verified, f"/index.html?{marker}").status == 200
    # Only the verified request reached the server.
    assert [entry.target for entry in log_entries(server, marker, 1)] == [f"/index.html?{marker}"]


# --- large transfers ------------------------------------------------------------------


def _download_in_subprocess(endpoint: Endpoint, url_path: str, mode: str) -> dict[str, Any]:
    """Run the download script in a fresh interpreter and return its report."""
    # The child imports the same hyper as this process, installed or not.
    repo_root = Path(hyper.__path__[0]).resolve().parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-bb", str(DOWNLOAD_SCRIPT), str(endpoint.port), url_path, mode]
    if endpoint.tls:
        argv.append(str(endpoint.server.ca_path))
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "tls", "mode"),
    [
        ("nginx_server", True, "read"),
        ("nginx_server", False, "readinto"),
        ("h2o_server", True, "readinto"),
        ("h2o_server", False, "read"),
    ],
)
def test_256mib_download_streams_in_bounded_memory(
    request: pytest.FixtureRequest,
    record_property: Any,
    docroot: Docroot,
    fixture: str,
    tls: bool,
    mode: str,
) -> None:
    large = docroot.random_file(DOWNLOAD_SIZE)
    endpoint = Endpoint(request.getfixturevalue(fixture), tls)
    report = _download_in_subprocess(endpoint, large.url_path, mode)
    megabytes_per_second = large.size / 1e6 / report["seconds"]
    record_property("throughput_mb_s", round(megabytes_per_second))
    record_property("rss_peak_kib", report["rss_peak_kib"])
    log.info(
        "%s %s %s: %.0f MB/s, peak RSS %d KiB (%d KiB before the request; ru_maxrss %d KiB)",
        endpoint.server.name,
        "tls" if tls else "plain",
        mode,
        megabytes_per_second,
        report["rss_peak_kib"],
        report["rss_before_kib"],
        report["ru_maxrss_kib"],
    )
    assert (report["status"], report["size"]) == (200, large.size)
    assert report["sha256"] == large.sha256
    assert report["rss_peak_kib"] < MAX_DOWNLOAD_RSS_KIB
    assert report["rss_peak_kib"] - report["rss_before_kib"] < MAX_DOWNLOAD_RSS_GROWTH_KIB


def _pieces(path: Path, consumed: list[int]) -> Iterator[bytes]:
    """Yield a file in :data:`UPLOAD_PIECE` pieces, counting the bytes handed out."""
    with path.open("rb") as file:
        while piece := file.read(UPLOAD_PIECE):
            consumed.append(len(piece))
            yield piece


@pytest.mark.slow
@pytest.mark.parametrize("fixture", SERVERS)
@pytest.mark.parametrize("kind", ["file", "generator"])
def test_64mib_upload_reaches_the_server_intact(
    request: pytest.FixtureRequest, docroot: Docroot, fixture: str, kind: str
) -> None:
    source = docroot.random_file(UPLOAD_SIZE)
    server: Server = request.getfixturevalue(fixture)
    assert server.upload_dir is not None
    name = f"{uuid.uuid4().hex}.bin"
    consumed: list[int] = []
    with Endpoint(server, tls=True).connect() as conn, source.path.open("rb") as file:
        body = file if kind == "file" else _pieces(source.path, consumed)
        response = fetch(conn, UPLOAD_PATH + name, method="PUT", body=body)
        assert response.status == 201
        answer = response.read()
    stored = server.upload_dir / name
    try:
        assert stored.stat().st_size == source.size
        digest = hashlib.sha256()
        with stored.open("rb") as received:
            while piece := received.read(UPLOAD_PIECE * 16):
                digest.update(piece)
        assert digest.hexdigest() == source.sha256
    finally:
        stored.unlink(missing_ok=True)
    if server.name == "h2o":
        assert answer == f"{source.size}\n".encode()
    if kind == "generator":
        assert sum(consumed) == source.size
