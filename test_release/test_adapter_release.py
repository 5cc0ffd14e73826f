"""The requests adapter and the real ``http`` command (HTTPie) against real servers.

The protocol and the connection of each request are read from the
server's side: h2o's access log names the connection and the protocol of
every request, nghttpd speaks nothing but HTTP/2 (its frame log, with
``-v``, shows each request's stream). Bodies are compared by hash with the
served files. HTTPie runs as a subprocess, exactly as a user types it; the
hyper plugin reaches it through its entry point (``pip install -e .``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import hyper
from hyper.contrib import HTTP20Adapter
from hyper.testing import ConnectProxy

from ._configs import NghttpdFactory, Server
from ._content import Certs, Docroot
from ._nginx_variants import NginxVariants
from ._servers import missing
from .test_http11_release import LogEntry, log_entries

#: Seconds the adapter may wait for a server at any one step.
CLIENT_TIMEOUT = 10.0
#: Bound on every run of the ``http`` command.
RUN_TIMEOUT = 30.0
#: Requests on one connection, and threads sharing one session.
SEQUENTIAL = 25
THREADS = 8
#: Size of the streamed download.
DOWNLOAD_SIZE = 8 * 1024 * 1024
#: HTTPie's exit status for a failed request.
HTTPIE_ERROR = 1
_ROOT = str(Path(hyper.__file__).resolve().parents[1])


@pytest.fixture
def session(release_certs: Certs) -> Iterator[requests.Session]:
    """A session through the adapter (http:// and https://), trusting the test CA."""
    with requests.Session() as made:
        made.trust_env = False
        made.verify = str(release_certs.ca_path)
        adapter = HTTP20Adapter()
        made.mount("https://", adapter)
        made.mount("http://", adapter)
        yield made


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def marker() -> str:
    """A query string that picks this test's lines out of a shared access log."""
    return f"t={uuid.uuid4().hex}"


def one_http2_connection(entries: list[LogEntry], count: int) -> None:
    """Assert that ``count`` requests came over HTTP/2 on one connection."""
    assert len(entries) == count, entries
    assert {entry.protocol for entry in entries} == {"HTTP/2"}
    assert len({entry.conn for entry in entries}) == 1, entries


# --- the adapter ------------------------------------------------------------------


def test_get_and_post_against_nghttpd(
    session: requests.Session, nghttpd_server: Server, docroot: Docroot
) -> None:
    blob = docroot["blob.bin"]
    response = session.get(nghttpd_server.tls_url + blob.url_path, timeout=CLIENT_TIMEOUT)
    assert (response.raw.version, response.reason) == (20, "OK")
    assert sha(response.content) == blob.sha256
    echoed = session.post(nghttpd_server.tls_url + "/upload", json={"a": [1, 2]})
    assert json.loads(echoed.content) == {"a": [1, 2]}  # nghttpd --echo-upload


def test_25_requests_on_one_h2o_connection(
    session: requests.Session, h2o_server: Server, docroot: Docroot
) -> None:
    tag = marker()
    for _ in range(SEQUENTIAL):
        response = session.get(f"{h2o_server.tls_url}/index.html?{tag}", timeout=CLIENT_TIMEOUT)
        assert response.content == docroot["index.html"].path.read_bytes()
    one_http2_connection(log_entries(h2o_server, tag, SEQUENTIAL), SEQUENTIAL)


def test_8_threads_share_one_h2o_connection(
    session: requests.Session, h2o_server: Server, docroot: Docroot
) -> None:
    tag, blob = marker(), docroot["blob.bin"]
    start = threading.Barrier(THREADS, timeout=CLIENT_TIMEOUT)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(5):
                url = f"{h2o_server.tls_url}{blob.url_path}?{tag}"
                assert sha(session.get(url, timeout=CLIENT_TIMEOUT).content) == blob.sha256
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_TIMEOUT)
    assert not failures, failures
    one_http2_connection(log_entries(h2o_server, tag, THREADS * 5), THREADS * 5)


def test_streamed_download_and_verify(
    session: requests.Session, h2o_server: Server, docroot: Docroot
) -> None:
    big = docroot.random_file(DOWNLOAD_SIZE)
    response = session.get(h2o_server.tls_url + big.url_path, stream=True, timeout=CLIENT_TIMEOUT)
    digest = hashlib.sha256()
    for chunk in response.iter_content(64 * 1024):
        digest.update(chunk)
    assert digest.hexdigest() == big.sha256
    with pytest.raises(requests.exceptions.SSLError):
        session.get(h2o_server.tls_url + "/index.html", verify=True, timeout=CLIENT_TIMEOUT)


def test_cleartext_upgrades_with_h2o(session: requests.Session, h2o_server: Server) -> None:
    tag = marker()
    versions = [
        session.get(f"{h2o_server.plain_url}/index.html?{tag}").raw.version for _ in range(3)
    ]
    assert versions == [20, 20, 20]  # the first by Upgrade, the rest on that connection
    entries = log_entries(h2o_server, tag, 3)
    assert len({entry.conn for entry in entries}) == 1, entries


def test_http11_fallback_and_client_certificate(
    session: requests.Session, nginx_variants: NginxVariants, release_certs: Certs, tmp_path: Path
) -> None:
    response = session.get(nginx_variants.http11_url + "/index.html", timeout=CLIENT_TIMEOUT)
    assert (response.raw.version, response.reason) == (11, "OK")
    client = release_certs.ca.issue_cert("adapter@example.org", common_name="adapter-client")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    url = nginx_variants.mtls_url + "/whoami"
    shown = session.get(url, cert=(str(cert), str(key)), timeout=CLIENT_TIMEOUT)
    assert "CN=adapter-client" in shown.text
    assert session.get(url, timeout=CLIENT_TIMEOUT).status_code == 400  # no certificate


def test_through_a_connect_proxy(
    session: requests.Session, h2o_server: Server, docroot: Docroot
) -> None:
    tag = marker()
    with ConnectProxy() as proxy:
        proxies = {"https": f"http://{proxy.host}:{proxy.port}"}
        response = session.get(f"{h2o_server.tls_url}/index.html?{tag}", proxies=proxies)
        assert response.content == docroot["index.html"].path.read_bytes()
        assert [r.method for r in proxy.requests] == ["CONNECT"]
    one_http2_connection(log_entries(h2o_server, tag, 1), 1)


# --- the http command --------------------------------------------------------------


@pytest.fixture(scope="module")
def http_command(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], str]:
    """The ``http`` command beside this interpreter, with the hyper plugin installed."""
    binary = Path(sys.executable).with_name("http")
    if not binary.exists():
        missing("http", "pip install -e .[httpie]")
    points = importlib.metadata.entry_points(group="httpie.plugins.transport.v1")
    if not any(point.value.startswith("hyper.") for point in points):
        missing("hyper's HTTPie plugin", "pip install -e . (registers the entry point)")
    config = tmp_path_factory.mktemp("httpie-config")
    return [str(binary), "--ignore-stdin", "--timeout", str(CLIENT_TIMEOUT)], str(config)


def http(command: tuple[list[str], str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``http ARGS`` with no proxy variables and its own config directory."""
    argv, config = command
    proxies = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k.lower() not in proxies}
    env.update(HTTPIE_CONFIG_DIR=config, PYTHONPATH=_ROOT)
    return subprocess.run(
        [*argv, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        env=env,
        check=False,
    )


def test_http_get_from_h2o_says_http2(
    http_command: tuple[list[str], str], h2o_server: Server, docroot: Docroot
) -> None:
    tag = marker()
    url = f"{h2o_server.tls_url}/index.html?{tag}"
    result = http(http_command, "--verify", str(h2o_server.ca_path), "-p", "hb", url)
    assert (result.returncode, result.stderr) == (0, b""), result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/2.0 200 OK"
    assert body.rstrip(b"\n") == docroot["index.html"].path.read_bytes().rstrip(b"\n")
    one_http2_connection(log_entries(h2o_server, tag, 1), 1)


def test_http_post_to_nghttpd(
    http_command: tuple[list[str], str], nghttpd_factory: NghttpdFactory
) -> None:
    server = nghttpd_factory(verbose=True)  # its log shows every HTTP/2 frame
    path = f"/upload?{marker()}"
    result = http(
        http_command,
        "--verify",
        str(server.ca_path),
        "-p",
        "hb",
        "POST",
        server.tls_url + path,
        "a=1",
    )
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/2.0 200 OK"
    assert json.loads(body) == {"a": "1"}
    frames = server.log_path.read_text(errors="replace")
    assert f":path: {path}" in frames
    assert ":method: POST" in frames


def test_http_verify_with_and_without_the_ca(
    http_command: tuple[list[str], str], nghttpd_server: Server
) -> None:
    url = nghttpd_server.tls_url + "/index.html"
    refused = http(http_command, url)
    assert refused.returncode == HTTPIE_ERROR
    assert b"SSLError" in refused.stderr
    trusted = http(http_command, "--verify", str(nghttpd_server.ca_path), "-p", "h", url)
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.split(b"\r\n")[0] == b"HTTP/2.0 200 OK"
