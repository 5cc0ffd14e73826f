"""The HTTPie transport plugin: the class, its entry point, and HTTPie's ``main`` run in process.

HTTPie is run as a user would (``http --verify CA https://...``) against
the in-process server, with its output captured; what it prints (the
``HTTP/2.0 200 OK`` status line) and what the server saw (an HTTP/2
request) are both checked. The real ``http`` command against real servers
is in ``test_release/test_adapter_release.py``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import trustme
from cryptography.hazmat.primitives import serialization
from httpie.context import Environment
from httpie.core import main as httpie_main
from httpie.plugins import TransportPlugin
from httpie.ssl_ import HTTPieCertificate

from hyper.contrib import HTTP20Adapter
from hyper.contrib.httpie import HTTP2TransportPlugin
from hyper.testing import Server

#: HTTPie's exit status for a request that failed (``httpie.status.ExitStatus.ERROR``).
EXIT_ERROR = 1
#: The entry point group HTTPie reads transport plugins from.
ENTRY_POINT_GROUP = "httpie.plugins.transport.v1"

#: ``run(*args)``: HTTPie's exit status, stdout and stderr.
Runner = Callable[..., tuple[int, bytes, str]]


def test_the_plugin_mounts_a_new_adapter_on_https() -> None:
    assert issubclass(HTTP2TransportPlugin, TransportPlugin)
    plugin = HTTP2TransportPlugin()
    assert plugin.prefix == "https://"
    first, second = plugin.get_adapter(), plugin.get_adapter()
    assert isinstance(first, HTTP20Adapter)
    assert first is not second


def test_the_entry_point_names_the_plugin() -> None:
    try:
        importlib.metadata.distribution("hyper")
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            raise
        pytest.skip("hyper is not installed (pip install -e .): no entry points to check")
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    ours = [point for point in points if point.value.startswith("hyper.")]
    assert ours, "no hyper entry point: reinstall with pip install -e ."
    assert [point.load() for point in ours] == [HTTP2TransportPlugin]


def test_httpie_certificate_tuples_carry_the_key_password() -> None:
    key = HTTP20Adapter().pool_key
    request = _prepared("https://127.0.0.1:1/")
    cert = HTTPieCertificate("c.pem", "k.pem", "secret")
    assert key(request, cert=cert).cert == ("c.pem", "k.pem", "secret")
    assert key(request, cert=("c.pem", "k.pem")).cert == ("c.pem", "k.pem", None)
    assert key(request, cert="both.pem").cert == ("both.pem", None, None)
    with pytest.raises(TypeError):
        key(request, cert=42)  # type: ignore[arg-type]


def _prepared(url: str) -> requests.PreparedRequest:
    return requests.Request("GET", url).prepare()


# --- HTTPie's main, in process ------------------------------------------------------


@pytest.fixture
def run_httpie(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Runner]:
    """Run HTTPie's ``main`` with the plugin registered and the output captured.

    HTTPie never closes its session, so the adapters it got are closed here.
    """
    from httpie.plugins.registry import plugin_manager

    adapters: list[HTTP20Adapter] = []
    original = HTTP2TransportPlugin.get_adapter

    def recording(self: HTTP2TransportPlugin) -> HTTP20Adapter:
        adapter = original(self)
        adapters.append(adapter)
        return adapter

    monkeypatch.setattr(HTTP2TransportPlugin, "get_adapter", recording)
    saved = list(plugin_manager)
    plugin_manager.register(HTTP2TransportPlugin)  # even where not pip-installed

    def run(*args: str) -> tuple[int, bytes, str]:
        with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+t") as err:
            env = Environment(
                stdin=None,
                stdin_isatty=True,
                stdout=out,
                stdout_isatty=False,
                stdout_encoding="utf8",
                stderr=err,
                stderr_isatty=False,
                config_dir=tmp_path,
            )
            status = httpie_main(["http", "--ignore-stdin", *args], env)
            for adapter in adapters:
                adapter.close()
            out.seek(0)
            err.seek(0)
            return int(status), out.read(), err.read()

    yield run
    plugin_manager[:] = saved


def test_get_prints_the_http2_status_line(hyper_server: Server, run_httpie: Runner) -> None:
    status, out, _ = run_httpie(
        "--verify", hyper_server.ca_path, "-p", "hb", hyper_server.url + "/get"
    )
    head, _, body = out.partition(b"\r\n\r\n")
    assert status == 0
    assert head.split(b"\r\n")[0] == b"HTTP/2.0 200 OK"
    assert json.loads(body)["protocol"] == "h2"
    assert [r.http_version for r in hyper_server.requests] == ["HTTP/2"]


def test_post_json_and_an_error_status(hyper_server: Server, run_httpie: Runner) -> None:
    url = hyper_server.url
    status, out, _ = run_httpie("--verify", hyper_server.ca_path, "POST", url + "/post", "a=1")
    assert status == 0
    assert json.loads(json.loads(out)["data"]) == {"a": "1"}
    status, out, _ = run_httpie("--verify", hyper_server.ca_path, "-p", "h", url + "/status/404")
    assert out.split(b"\r\n")[0] == b"HTTP/2.0 404 Not Found"


def test_verify_fails_without_the_ca(hyper_server: Server, run_httpie: Runner) -> None:
    status, out, err = run_httpie(hyper_server.url + "/get")
    assert (status, out) == (EXIT_ERROR, b"")
    assert "SSLError" in err
    assert hyper_server.requests == []


def test_client_key_password_reaches_the_adapter(
    hyper_server: Server, run_httpie: Runner, tmp_path: Path
) -> None:
    cert, key = _encrypted_client_cert(hyper_server.ca, tmp_path, b"secret")
    base = ["--verify", hyper_server.ca_path, "--cert", cert, "--cert-key", key]
    status, _, _ = run_httpie(*base, "--cert-key-pass", "secret", hyper_server.url + "/get")
    assert status == 0
    status, _, err = run_httpie(*base, "--cert-key-pass", "wrong", hyper_server.url + "/get")
    assert status == EXIT_ERROR
    assert "SSLError" in err


def _encrypted_client_cert(ca: trustme.CA, where: Path, password: bytes) -> tuple[str, str]:
    """A client certificate and its key, encrypted with ``password``, as two files."""
    leaf = ca.issue_cert("client@example.com")
    private = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    cert_path, key_path = where / "client.pem", where / "client.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert_path))
    key_path.write_bytes(encrypted)
    return str(cert_path), str(key_path)
