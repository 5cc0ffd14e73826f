"""The ``hyper`` command against real servers, run as a subprocess.

Downloads are compared with the served files by hash (binary output is
byte for byte), uploads come back through echoing servers (nghttpd's
``--echo-upload``, hypercorn's ``/echo``), the protocol is read from
``-i``'s status line, a client certificate is checked by an nginx that
demands one, and the progress bar is looked for on a pseudo-terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hyper
from hyper.cli import ExitCode
from hyper.testing import ConnectProxy

from ._configs import Server
from ._content import Certs, Docroot
from ._nginx_variants import NginxVariants
from .asgi_app import pattern_bytes

#: Bound on every run of the command.
RUN_TIMEOUT = 30.0
#: The size of the download shown with a progress bar.
PROGRESS_SIZE = 8 * 1024 * 1024
_ROOT = str(Path(hyper.__file__).resolve().parents[1])


def environment(**extra: str) -> dict[str, str]:
    """No proxy variables (unless given), and hyper importable."""
    proxies = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k.lower() not in proxies}
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run(*args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m hyper ARGS``, bounded."""
    return subprocess.run(
        [sys.executable, "-m", "hyper", *args],
        input=stdin,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        env=environment(**env),
        check=False,
    )


def run_ok(*args: str, stdin: bytes = b"", **env: str) -> bytes:
    """Run it, insist on success with nothing on stderr; return stdout."""
    result = run(*args, stdin=stdin, **env)
    assert (result.returncode, result.stderr) == (0, b""), result.stderr
    return result.stdout


def trusting(server: Server, *args: str) -> list[str]:
    return ["--cacert", str(server.ca_path), *args]


def status_line(output: bytes) -> bytes:
    return output.split(b"\n", 1)[0]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- downloads and protocols ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scheme", "status"),
    [
        ("nghttpd_server", "tls", b"HTTP/2 200"),
        ("h2o_server", "tls", b"HTTP/2 200"),
        ("h2o_server", "plain", b"HTTP/2 200"),  # by Upgrade
        ("nginx_server", "tls", b"HTTP/2 200"),
        ("nginx_server", "plain", b"HTTP/1.1 200 OK"),  # the offer ignored
    ],
)
def test_binary_download(
    request: pytest.FixtureRequest, docroot: Docroot, name: str, scheme: str, status: bytes
) -> None:
    server: Server = request.getfixturevalue(name)
    url = server.tls_url if scheme == "tls" else server.plain_url
    blob = docroot["blob.bin"]
    out = run_ok(*trusting(server, "-i", url + blob.url_path))
    head, _, body = out.partition(b"\n\n")
    assert status_line(head) == status
    assert sha(body) == blob.sha256


def test_http11_only_tls(nginx_variants: NginxVariants, docroot: Docroot) -> None:
    server = nginx_variants.server
    out = run_ok(*trusting(server, "-i", nginx_variants.http11_url + "/blob.bin"))
    head, _, body = out.partition(b"\n\n")
    assert status_line(head) == b"HTTP/1.1 200 OK"
    assert sha(body) == docroot["blob.bin"].sha256


@pytest.mark.parametrize("option", ["--h1", "--h2"])
def test_forced_protocols(nginx_server: Server, docroot: Docroot, option: str) -> None:
    out = run_ok(*trusting(nginx_server, option, "-i", nginx_server.tls_url + "/index.html"))
    expected = b"HTTP/1.1 200 OK" if option == "--h1" else b"HTTP/2 200"
    assert status_line(out) == expected
    assert out.endswith(docroot["index.html"].path.read_bytes())


def test_gzip_is_decoded(nginx_server: Server, docroot: Docroot) -> None:
    text = docroot["text.txt"]
    out = run_ok(*trusting(nginx_server, "-i", nginx_server.tls_url + text.url_path))
    head, _, body = out.partition(b"\n\n")
    assert b"content-encoding: gzip" in head.lower()
    assert sha(body) == text.sha256


def test_nghttpd_h2c_needs_h2(nghttpd_h2c_server: Server, docroot: Docroot) -> None:
    url = nghttpd_h2c_server.plain_url + "/index.html"
    started = time.monotonic()
    failed = run("--timeout", "5", url)
    assert failed.returncode in (ExitCode.PROTOCOL, ExitCode.CONNECTION)
    assert failed.stderr.startswith(b"hyper: error: ")
    assert b"Traceback" not in failed.stderr
    assert time.monotonic() - started < 5
    assert run_ok("--h2", url) == docroot["index.html"].path.read_bytes()


# --- request items and uploads ---------------------------------------------------------


def test_items_against_hypercorn(hypercorn_server: Server) -> None:
    url = hypercorn_server.tls_url + "/headers"
    body = json.loads(run_ok(*trusting(hypercorn_server, url, "X-One:1")))
    assert ["x-one", "1"] in body["headers"]
    assert body["http_version"] == "2"
    posted = run_ok(*trusting(hypercorn_server, hypercorn_server.tls_url + "/echo", "a=b", "n=1"))
    assert json.loads(posted) == {"a": "b", "n": "1"}


def test_upload_from_file_and_stdin(nghttpd_server: Server, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    url = nghttpd_server.tls_url + "/upload"
    assert run_ok(*trusting(nghttpd_server, url, f"@{source}")) == data
    assert run_ok(*trusting(nghttpd_server, "PUT", url, "@-"), stdin=data[:1000]) == data[:1000]


def test_hypercorn_upgrade_and_pattern(hypercorn_server: Server) -> None:
    out = run_ok("-i", hypercorn_server.plain_url + "/bytes/200000")
    head, _, body = out.partition(b"\n\n")
    assert status_line(head) == b"HTTP/2 200"
    assert body == pattern_bytes(200_000)


# --- TLS options ---------------------------------------------------------------------------


def test_client_certificate(
    nginx_variants: NginxVariants, release_certs: Certs, tmp_path: Path
) -> None:
    client = release_certs.ca.issue_cert("cli-client@example.org", common_name="cli-client")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    url = nginx_variants.mtls_url + "/whoami"
    server = nginx_variants.server
    shown = run_ok(*trusting(server, "--cert", str(cert), "--key", str(key), url))
    assert b"CN=cli-client" in shown
    refused = run_ok(*trusting(server, "-i", url))
    assert status_line(refused) == b"HTTP/1.1 400 Bad Request"


def test_unverified_certificate(h2o_server: Server) -> None:
    url = h2o_server.tls_url + "/index.html"
    result = run(url)
    assert result.returncode == ExitCode.TLS
    assert result.stderr.count(b"\n") == 1
    assert run_ok("--no-verify", url).startswith(b"<!DOCTYPE html>")


# --- transfer options -------------------------------------------------------------------------


def test_redirect_followed(nginx_server: Server, docroot: Docroot) -> None:
    directory = docroot.path / "cli-dir"
    directory.mkdir(exist_ok=True)
    (directory / "index.html").write_bytes(b"inside\n")
    url = nginx_server.tls_url + "/cli-dir"
    assert status_line(run_ok(*trusting(nginx_server, "-i", url))) == b"HTTP/2 301"
    assert run_ok(*trusting(nginx_server, "-L", url)) == b"inside\n"


def test_through_a_proxy(nghttpd_server: Server, docroot: Docroot) -> None:
    with ConnectProxy() as proxy:
        address = f"http://{proxy.host}:{proxy.port}"
        out = run_ok(
            *trusting(nghttpd_server, nghttpd_server.tls_url + "/index.html"), https_proxy=address
        )
    assert out == docroot["index.html"].path.read_bytes()
    assert [(r.method, r.target) for r in proxy.requests] == [
        ("CONNECT", f"127.0.0.1:{nghttpd_server.tls_port}")
    ]


def _read_until_closed(fd: int, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal closed with the command
            break
        if not chunk:
            break
        data += chunk
    return data


def test_output_file_with_progress(h2o_server: Server, docroot: Docroot, tmp_path: Path) -> None:
    big = docroot.random_file(PROGRESS_SIZE)
    target = tmp_path / "download.bin"
    args = trusting(h2o_server, "-o", str(target), h2o_server.tls_url + big.url_path)
    primary, secondary = os.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "hyper", *args], stderr=secondary, env=environment()
    ) as process:
        os.close(secondary)
        shown = _read_until_closed(primary, time.monotonic() + RUN_TIMEOUT)
        assert process.wait(RUN_TIMEOUT) == 0
    os.close(primary)
    assert b"100% [" in shown
    assert b"8.0 MiB / 8.0 MiB" in shown
    assert sha(target.read_bytes()) == big.sha256
    piped = run(*args)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, b"", b"")
    assert sha(target.read_bytes()) == big.sha256
