"""The release-test servers, proved with the reference clients curl and nghttp.

Before hyper is tested against nghttpd, h2o, nginx and hypercorn, these tests
show that each fixture really serves what it claims: h2 by ALPN over TLS,
h2c by prior knowledge (and by Upgrade where the server implements it),
HTTP/1.1, the docroot's exact bytes, nghttpd's server push, nginx's gzip and
keep-alive. A failure here is a fixture problem, not a hyper problem.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ._configs import NghttpdFactory, Server, start_nghttpd
from ._content import Certs, Docroot
from ._servers import ServerStartError, in_ci, missing, require_binary
from .asgi_app import pattern_bytes

#: Seconds any one client run may take.
CLIENT_TIMEOUT = 30.0
#: Seconds to wait for a server to write an access-log line after the response.
LOG_WAIT = 5.0
#: Size hypercorn's ``/bytes/N`` is asked for when hashes are compared.
HYPERCORN_BODY_SIZE = 1024 * 1024

TLS_SERVERS = ["nghttpd_server", "h2o_server", "nginx_server", "hypercorn_server"]
HTTP11_SERVERS = ["h2o_server", "nginx_server", "hypercorn_server"]
H2C_SERVERS = ["nghttpd_h2c_server", "h2o_server", "nginx_server", "hypercorn_server"]
UPGRADE_SERVERS = ["h2o_server", "hypercorn_server"]


def run(argv: list[str]) -> str:
    """Run a client and return its stdout and stderr together; fail the test if it fails."""
    result = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT, check=False)
    stdout = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{stderr}\n{stdout}"
    return stdout + stderr


def curl(binary: str, server: Server, *args: str) -> str:
    """Run curl trusting the server's CA, with bounded time."""
    return run(
        [binary, "-sS", "--max-time", str(CLIENT_TIMEOUT), "--cacert", str(server.ca_path), *args]
    )


def http_version(binary: str, server: Server, url: str, *flags: str) -> str:
    """Return the HTTP version curl used for ``url`` (``2``, ``1.1``)."""
    return curl(binary, server, *flags, "-o", "/dev/null", "-w", "%{http_version}", url).strip()


def body_sha256(binary: str, server: Server, url: str, *flags: str) -> str:
    """Download ``url`` with curl and return the body's SHA-256."""
    result = subprocess.run(
        [
            binary,
            "-sS",
            "--max-time",
            str(CLIENT_TIMEOUT),
            "--cacert",
            str(server.ca_path),
            *flags,
            url,
        ],
        capture_output=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    return hashlib.sha256(result.stdout).hexdigest()


def expected_body(server: Server, docroot: Docroot) -> tuple[str, str]:
    """Return (path, sha256) of a 1 MiB body the server serves."""
    if server.name == "hypercorn":
        size = HYPERCORN_BODY_SIZE
        return f"/bytes/{size}", hashlib.sha256(pattern_bytes(size)).hexdigest()
    blob = docroot["blob.bin"]
    return blob.url_path, blob.sha256


def wait_for_lines(path: Path, marker: str, count: int) -> list[str]:
    """Return the lines of ``path`` containing ``marker`` once there are ``count``."""
    deadline = time.monotonic() + LOG_WAIT
    while True:
        lines = [line for line in path.read_text().splitlines() if marker in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize("fixture", TLS_SERVERS)
def test_tls_alpn_negotiates_h2(
    fixture: str, request: pytest.FixtureRequest, curl_binary: str
) -> None:
    server: Server = request.getfixturevalue(fixture)
    assert http_version(curl_binary, server, server.tls_url + "/", "--http2") == "2"


@pytest.mark.parametrize("fixture", TLS_SERVERS)
def test_nghttp_negotiates_h2_over_tls(
    fixture: str, request: pytest.FixtureRequest, nghttp_binary: str
) -> None:
    server: Server = request.getfixturevalue(fixture)
    output = run([nghttp_binary, "-nv", "--timeout=20", server.tls_url + "/"])
    assert "The negotiated protocol: h2" in output
    assert ":status: 200" in output


@pytest.mark.parametrize("fixture", TLS_SERVERS)
def test_tls_h2_body_matches_docroot(
    fixture: str, request: pytest.FixtureRequest, curl_binary: str, docroot: Docroot
) -> None:
    server: Server = request.getfixturevalue(fixture)
    path, sha256 = expected_body(server, docroot)
    assert body_sha256(curl_binary, server, server.tls_url + path, "--http2") == sha256


@pytest.mark.parametrize("fixture", HTTP11_SERVERS)
def test_http11_over_tls(
    fixture: str, request: pytest.FixtureRequest, curl_binary: str, docroot: Docroot
) -> None:
    server: Server = request.getfixturevalue(fixture)
    path, sha256 = expected_body(server, docroot)
    assert http_version(curl_binary, server, server.tls_url + "/", "--http1.1") == "1.1"
    assert body_sha256(curl_binary, server, server.tls_url + path, "--http1.1") == sha256


@pytest.mark.parametrize("fixture", HTTP11_SERVERS)
def test_http11_cleartext(
    fixture: str, request: pytest.FixtureRequest, curl_binary: str, docroot: Docroot
) -> None:
    server: Server = request.getfixturevalue(fixture)
    path, sha256 = expected_body(server, docroot)
    assert http_version(curl_binary, server, server.plain_url + "/", "--http1.1") == "1.1"
    assert body_sha256(curl_binary, server, server.plain_url + path, "--http1.1") == sha256


@pytest.mark.parametrize("fixture", H2C_SERVERS)
def test_h2c_prior_knowledge(
    fixture: str, request: pytest.FixtureRequest, curl_binary: str, docroot: Docroot
) -> None:
    server: Server = request.getfixturevalue(fixture)
    path, sha256 = expected_body(server, docroot)
    flag = "--http2-prior-knowledge"
    assert http_version(curl_binary, server, server.h2c_url + "/", flag) == "2"
    assert body_sha256(curl_binary, server, server.h2c_url + path, flag) == sha256


@pytest.mark.parametrize("fixture", H2C_SERVERS)
def test_nghttp_h2c_prior_knowledge(
    fixture: str, request: pytest.FixtureRequest, nghttp_binary: str
) -> None:
    server: Server = request.getfixturevalue(fixture)
    output = run([nghttp_binary, "-nv", "--timeout=20", server.h2c_url + "/"])
    assert "recv SETTINGS frame" in output
    assert ":status: 200" in output
    assert "HTTP Upgrade" not in output


@pytest.mark.parametrize("fixture", UPGRADE_SERVERS)
def test_h2c_upgrade(fixture: str, request: pytest.FixtureRequest, curl_binary: str) -> None:
    server: Server = request.getfixturevalue(fixture)
    output = curl(curl_binary, server, "--http2", "-v", "-o", "/dev/null", server.plain_url + "/")
    assert "< HTTP/1.1 101" in output
    assert http_version(curl_binary, server, server.plain_url + "/", "--http2") == "2"


def test_nghttpd_push_visible_to_nghttp(
    nghttpd_factory: NghttpdFactory, nghttpd_server: Server, nghttp_binary: str
) -> None:
    pushing = nghttpd_factory(push={"/index.html": ["/style.css"]}, verbose=True)
    output = run([nghttp_binary, "-nv", "--timeout=20", pushing.tls_url + "/index.html"])
    assert "recv PUSH_PROMISE frame" in output
    assert ":path: /style.css" in output
    # The frame log is written line by line, so it shows the push while nghttpd still runs.
    assert wait_for_lines(pushing.log_path, "send PUSH_PROMISE frame", 1)
    plain = run([nghttp_binary, "-nv", "--timeout=20", nghttpd_server.tls_url + "/index.html"])
    assert "PUSH_PROMISE" not in plain


@pytest.mark.parametrize(
    ("url_attr", "flag", "protocol"),
    [
        ("plain_url", "--http1.1", "HTTP/1.1"),
        ("tls_url", "--http2", "HTTP/2.0"),
    ],
)
def test_nginx_access_log_shows_connection_reuse(
    nginx_server: Server, curl_binary: str, url_attr: str, flag: str, protocol: str
) -> None:
    marker = uuid.uuid4().hex
    base = getattr(nginx_server, url_attr)
    urls = [f"{base}/index.html?{marker}-1", f"{base}/style.css?{marker}-2"]
    curl(curl_binary, nginx_server, flag, "-o", "/dev/null", "-o", "/dev/null", *urls)
    assert nginx_server.access_log is not None
    lines = wait_for_lines(nginx_server.access_log, marker, 2)
    assert len(lines) == 2, lines
    connections = {line.split()[1] for line in lines}
    assert len(connections) == 1, lines
    assert [line.split()[2] for line in lines] == ["reqs=1", "reqs=2"]
    assert all(protocol in line for line in lines)


def test_nginx_gzips_text(nginx_server: Server, curl_binary: str, docroot: Docroot) -> None:
    text = docroot["text.txt"]
    url = nginx_server.tls_url + text.url_path
    headers = curl(
        curl_binary, nginx_server, "--http2", "--compressed", "-D", "-", "-o", "/dev/null", url
    )
    assert "content-encoding: gzip" in headers.lower()
    assert body_sha256(curl_binary, nginx_server, url, "--http2", "--compressed") == text.sha256
    raw_size = curl(
        curl_binary,
        nginx_server,
        "--http2",
        "-H",
        "accept-encoding: gzip",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        url,
    )
    assert int(raw_size) < text.size // 4


def test_hypercorn_echoes_upload(
    hypercorn_server: Server, curl_binary: str, docroot: Docroot
) -> None:
    blob = docroot["blob.bin"]
    url = hypercorn_server.tls_url + "/echo"
    digest = body_sha256(
        curl_binary, hypercorn_server, url, "--http2", "--data-binary", f"@{blob.path}"
    )
    assert digest == blob.sha256


def test_large_file_generated_on_demand_is_served(
    h2o_server: Server, curl_binary: str, docroot: Docroot
) -> None:
    size = 5 * 1024 * 1024 + 3
    large = docroot.random_file(size)
    assert docroot.random_file(size) is large  # written once, then reused
    assert large.path.stat().st_size == size
    assert hashlib.sha256(large.path.read_bytes()).hexdigest() == large.sha256
    url = h2o_server.tls_url + large.url_path
    assert body_sha256(curl_binary, h2o_server, url, "--http2") == large.sha256


def test_server_object_describes_running_server(nginx_server: Server) -> None:
    assert Path(f"/proc/{nginx_server.pid}").exists()
    assert len(set(nginx_server.ports)) == 3
    assert nginx_server.tls_url.startswith("https://127.0.0.1:")
    assert nginx_server.ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert (nginx_server.docroot / "index.html").is_file()


def test_stop_ends_server_and_frees_port(
    tmp_path: Path, release_certs: Certs, docroot: Docroot, curl_binary: str
) -> None:
    server, process = start_nghttpd(tmp_path, release_certs, docroot, tls=False)
    assert http_version(curl_binary, server, server.h2c_url + "/", "--http2-prior-knowledge") == "2"
    process.stop()
    assert process.popen.returncode is not None
    assert not Path(f"/proc/{server.pid}").exists()
    result = subprocess.run(
        [curl_binary, "-sS", "--max-time", "5", "--http2-prior-knowledge", server.h2c_url + "/"],
        capture_output=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 7  # curl: failed to connect


def test_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="missing: nginx not found"):
        missing("nginx", "apt package nginx-light")


def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        missing("h2o", "apt package h2o")


def test_require_binary_finds_sbin_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        path = require_binary("nghttpd")
    except pytest.skip.Exception:
        pytest.skip("nghttpd is not installed")
    assert Path(path).name == "nghttpd"
    assert Path(path).is_file()


def test_start_failure_reports_log(tmp_path: Path, release_certs: Certs, docroot: Docroot) -> None:
    broken = Certs(
        release_certs.ca, release_certs.ca_path, tmp_path / "absent.pem", tmp_path / "absent.key"
    )
    with pytest.raises(ServerStartError, match="nghttpd exited"):
        start_nghttpd(tmp_path, broken, docroot, tls=True)
