"""Tests of hyper.tls against a real TLS server on 127.0.0.1.

A small stdlib ``ssl`` server runs in a thread per test, with certificates from
a throwaway ``trustme`` CA; it records what it saw (SNI, ALPN, client
certificate, handshake error) so the tests can check both ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from hyper import tls
from hyper.common import exceptions
from hyper.common.bufsocket import BufferedSocket

#: Upper bound on every wait in this file, in seconds.
WAIT = 5.0
GREETING = b"hello from the server\n"


@dataclass
class Seen:
    """What the server observed on one connection."""

    sni: str | None = None
    alpn: str | None = None
    version: str | None = None
    peer_cert: dict[str, object] | None = None
    error: Exception | None = None


@dataclass
class TLSServer:
    """A one-connection TLS server on 127.0.0.1, run in a thread."""

    context: ssl.SSLContext
    seen: Seen = field(default_factory=Seen)
    listener: socket.socket = field(init=False)
    failure: BaseException | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.context.sni_callback = self._record_sni
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def _record_sni(self, sslobj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        self.seen.sni = name

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(WAIT)
            try:
                tls_conn = self.context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.seen.error = exc  # an expected outcome in the rejection tests
                conn.close()
                return
            with tls_conn:
                self._serve(tls_conn)
        except BaseException as exc:  # re-raised in the test by __exit__
            self.failure = exc

    def _serve(self, tls_conn: ssl.SSLSocket) -> None:
        self.seen.alpn = tls_conn.selected_alpn_protocol()
        self.seen.version = tls_conn.version()
        self.seen.peer_cert = tls_conn.getpeercert()  # type: ignore[assignment]
        try:
            tls_conn.sendall(GREETING)
            while tls_conn.recv(1024):  # until the client closes
                pass
        except (ssl.SSLError, OSError) as exc:
            self.seen.error = exc  # a client that rejected us, or a TLS 1.3 cert failure

    def __enter__(self) -> TLSServer:
        self.thread.start()
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:  # the test failed: wake a pending accept(), keep its error
            self.listener.shutdown(socket.SHUT_RDWR)
        self.thread.join(WAIT)
        self.listener.close()
        if exc_type is not None:
            return
        assert not self.thread.is_alive(), "server thread did not finish"
        if self.failure is not None:
            raise self.failure


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's CA and key-log settings out of these tests."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "SSLKEYLOGFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def server_context(server_cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    context.set_alpn_protocols([tls.H2_PROTOCOL, tls.HTTP11_PROTOCOL])
    return context


@pytest.fixture
def serve(server_context: ssl.SSLContext) -> Iterator[TLSServer]:
    with TLSServer(server_context) as server:
        yield server


def connect(server: TLSServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)


def talk(server: TLSServer, context: ssl.SSLContext | None, **kwargs: str) -> str | None:
    """Connect, handshake, read the greeting, close; return wrap_socket's protocol."""
    return talk_over(server, connect(server), context, **kwargs)


def talk_over(
    server: TLSServer, sock: socket.socket, context: ssl.SSLContext | None, **kwargs: str
) -> str | None:
    """Handshake on ``sock``, read the greeting, close; return wrap_socket's protocol."""
    kwargs.setdefault("server_hostname", "localhost")
    tls_sock, proto = tls.wrap_socket(sock, ssl_context=context, **kwargs)
    buffered = BufferedSocket(tls_sock)
    try:
        assert buffered.readline() == GREETING
    finally:
        buffered.close()
    return proto


# --- defaults --------------------------------------------------------------


def test_default_context_verifies_and_is_modern() -> None:
    context = tls.init_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.cert_store_stats()["x509_ca"] > 0  # certifi's bundle


def test_unknown_ca_rejected_by_default(serve: TLSServer) -> None:
    sock = connect(serve)
    with pytest.raises(exceptions.TLSError, match="localhost") as info:
        tls.wrap_socket(sock, "localhost", tls.init_context())
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert sock.fileno() == -1  # closed on failure


def test_unknown_ca_rejected_by_module_default_context(serve: TLSServer) -> None:
    with pytest.raises(exceptions.TLSError) as info:
        tls.wrap_socket(connect(serve), "localhost")
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


# --- CA locations ----------------------------------------------------------


def test_trusted_with_verify_path(serve: TLSServer, ca_file: Path) -> None:
    assert talk(serve, tls.init_context(verify=ca_file), server_hostname="localhost") == "h2"
    assert serve.seen.error is None


def test_trusted_with_cert_path(serve: TLSServer, ca_file: Path) -> None:
    assert talk(serve, tls.init_context(cert_path=str(ca_file)), server_hostname="localhost")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to hash a CA dir")
def test_trusted_with_ca_directory(serve: TLSServer, ca_file: Path, tmp_path: Path) -> None:
    ca_dir = tmp_path / "cas"
    ca_dir.mkdir()
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca_file)],
        capture_output=True,
        check=True,
        text=True,
        timeout=WAIT,
    ).stdout.strip()
    shutil.copy(ca_file, ca_dir / f"{subject_hash}.0")
    assert talk(serve, tls.init_context(cert_path=ca_dir), server_hostname="localhost")


def test_empty_ca_directory_trusts_nothing(serve: TLSServer, tmp_path: Path) -> None:
    with pytest.raises(exceptions.TLSError):
        tls.wrap_socket(connect(serve), "localhost", tls.init_context(verify=tmp_path))


@pytest.mark.parametrize("argument", ["cert_path", "verify"])
def test_missing_ca_file(argument: str, tmp_path: Path) -> None:
    with pytest.raises(exceptions.MissingCertFile, match=argument):
        tls.init_context(**{argument: tmp_path / "nope.pem"})


def test_garbage_ca_file_is_tls_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(exceptions.TLSError) as info:
        tls.init_context(cert_path=bad)
    assert isinstance(info.value.__cause__, ssl.SSLError)


def test_ssl_cert_file_env_replaces_certifi(
    serve: TLSServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = tls.init_context()
    assert context.cert_store_stats()["x509_ca"] == 1
    # The module default context sees the variable too.
    assert talk(serve, None, server_hostname="localhost") == "h2"


def test_missing_ssl_cert_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "missing"))
    with pytest.raises(exceptions.MissingCertFile, match="SSL_CERT_DIR"):
        tls.init_context()


def test_ssl_cert_dir_env_replaces_certifi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert tls.init_context().cert_store_stats()["x509_ca"] == 0  # certifi not loaded


def test_missing_ssl_cert_file_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(exceptions.MissingCertFile, match="SSL_CERT_FILE"):
        tls.init_context()


def test_verify_false_accepts_anything_and_warns(
    serve: TLSServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hyper.tls"):
        context = tls.init_context(verify=False)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert any("verification is disabled" in r.getMessage() for r in caplog.records)
    assert talk(serve, context, server_hostname="example.com") == "h2"


# --- names -----------------------------------------------------------------


def test_wrong_hostname_rejected(serve: TLSServer, ca_file: Path) -> None:
    with pytest.raises(exceptions.TLSError, match=r"example\.com") as info:
        tls.wrap_socket(connect(serve), "example.com", tls.init_context(verify=ca_file))
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert serve.seen.sni == "example.com"


def test_sni_override_connects_to_ip_asks_for_name(serve: TLSServer, ca_file: Path) -> None:
    # talk() connects to 127.0.0.1 and asks for "localhost".
    assert talk(serve, tls.init_context(verify=ca_file), server_hostname="localhost")
    assert serve.seen.sni == "localhost"


def test_ip_literal_verified_against_ip_san(serve: TLSServer, ca_file: Path) -> None:
    assert talk(serve, tls.init_context(verify=ca_file), server_hostname="127.0.0.1")
    assert serve.seen.sni is None  # RFC 6066: no SNI for addresses


# --- ALPN and versions -----------------------------------------------------


def test_alpn_http11_only(serve: TLSServer, ca_file: Path) -> None:
    context = tls.init_context(verify=ca_file, alpn_protocols=(tls.HTTP11_PROTOCOL,))
    assert talk(serve, context, server_hostname="localhost") == "http/1.1"
    assert serve.seen.alpn == "http/1.1"


def test_force_proto_overrides_alpn(serve: TLSServer, ca_file: Path) -> None:
    context = tls.init_context(verify=ca_file)
    proto = talk(serve, context, server_hostname="localhost", force_proto="http/1.1")
    assert proto == "http/1.1"
    assert serve.seen.alpn == "h2"


def test_no_alpn_from_server_gives_none(server_cert: trustme.LeafCert, ca_file: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    with TLSServer(context) as server:
        assert talk(server, tls.init_context(verify=ca_file), server_hostname="localhost") is None


def test_tls12_server_accepted(server_context: ssl.SSLContext, ca_file: Path) -> None:
    server_context.maximum_version = ssl.TLSVersion.TLSv1_2
    with TLSServer(server_context) as server:
        assert talk(server, tls.init_context(verify=ca_file), server_hostname="localhost")
    assert server.seen.version == "TLSv1.2"


def test_minimum_version_is_enforced(
    server_context: ssl.SSLContext, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TLS 1.2 is also OpenSSL's default floor here, so raise hyper's to show it is applied.
    monkeypatch.setattr(tls, "MINIMUM_TLS_VERSION", ssl.TLSVersion.TLSv1_3)
    context = tls.init_context(verify=ca_file)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    server_context.maximum_version = ssl.TLSVersion.TLSv1_2
    with TLSServer(server_context) as server, pytest.raises(exceptions.TLSError):
        tls.wrap_socket(connect(server), "localhost", context)


# --- client certificates ---------------------------------------------------


@pytest.fixture
def client_files(ca: trustme.CA, tmp_path: Path) -> dict[str, Path]:
    client = ca.issue_cert("client.example.org")
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "combined", "encrypted")}
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["combined"]))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    files["encrypted"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    return files


@pytest.fixture
def mtls_server(server_context: ssl.SSLContext, ca: trustme.CA) -> Iterator[TLSServer]:
    server_context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(server_context)
    with TLSServer(server_context) as server:
        yield server


def client_cert_subject(seen: Seen) -> str:
    assert seen.error is None
    assert seen.peer_cert is not None
    return str(seen.peer_cert["subjectAltName"])


@pytest.mark.parametrize("form", ["tuple", "combined", "tuple-without-key"])
def test_client_cert_accepted(
    form: str, mtls_server: TLSServer, ca_file: Path, client_files: dict[str, Path]
) -> None:
    cert: tls.ClientCert = {
        "tuple": (client_files["cert"], client_files["key"]),
        "combined": client_files["combined"],
        "tuple-without-key": (client_files["combined"], None),
    }[form]
    context = tls.init_context(verify=ca_file, cert=cert)
    assert talk(mtls_server, context, server_hostname="localhost")
    mtls_server.thread.join(WAIT)
    assert "client.example.org" in client_cert_subject(mtls_server.seen)


@pytest.mark.parametrize(
    "password", ["s3cret", b"s3cret", lambda: "s3cret"], ids=["str", "bytes", "callable"]
)
def test_encrypted_client_key(
    password: str | bytes | Callable[[], str],
    mtls_server: TLSServer,
    ca_file: Path,
    client_files: dict[str, Path],
) -> None:
    cert = (client_files["cert"], client_files["encrypted"])
    context = tls.init_context(verify=ca_file, cert=cert, cert_password=password)
    assert talk(mtls_server, context, server_hostname="localhost")


def test_wrong_key_password_is_tls_error(client_files: dict[str, Path]) -> None:
    cert = (client_files["cert"], client_files["encrypted"])
    with pytest.raises(exceptions.TLSError) as info:
        tls.init_context(cert=cert, cert_password="wrong")
    assert isinstance(info.value.__cause__, ssl.SSLError)


def test_missing_client_cert_file(client_files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(exceptions.MissingCertFile):
        tls.init_context(cert=(client_files["cert"], tmp_path / "nokey.pem"))
    with pytest.raises(exceptions.MissingCertFile):
        tls.init_context(cert=tmp_path / "nocert.pem")


def test_client_cert_required_but_absent(mtls_server: TLSServer, ca_file: Path) -> None:
    # Under TLS 1.3 the client learns of the rejection on its first read.
    with pytest.raises(exceptions.ConnectionError):
        talk(mtls_server, tls.init_context(verify=ca_file), server_hostname="localhost")
    mtls_server.thread.join(WAIT)
    assert isinstance(mtls_server.seen.error, ssl.SSLError)


# --- key log ---------------------------------------------------------------


def test_sslkeylogfile_written(
    serve: TLSServer, ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keylog = tmp_path / "keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    context = tls.init_context(verify=ca_file)
    assert context.keylog_filename == str(keylog)
    talk(serve, context, server_hostname="localhost")
    assert "CLIENT_" in keylog.read_text()


def test_unwritable_sslkeylogfile_only_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "no-such-dir" / "keys.log"))
    with caplog.at_level(logging.WARNING, logger="hyper.tls"):
        context = tls.init_context()
    assert context.keylog_filename is None
    assert any("SSLKEYLOGFILE" in r.getMessage() for r in caplog.records)


# --- transport failures ----------------------------------------------------


def test_handshake_timeout_is_connect_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never speaks TLS
        sock = socket.create_connection(silent.getsockname(), timeout=0.2)
        with pytest.raises(exceptions.ConnectTimeout) as info:
            tls.wrap_socket(sock, "localhost", tls.init_context())
    assert isinstance(info.value, exceptions.ConnectionError)
    assert isinstance(info.value.__cause__, TimeoutError)
    assert sock.fileno() == -1


def test_non_tls_server_is_tls_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        sock = socket.create_connection(listener.getsockname(), timeout=WAIT)
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            with pytest.raises(exceptions.TLSError, match="localhost") as info:
                tls.wrap_socket(sock, "localhost", tls.init_context())
    assert isinstance(info.value.__cause__, ssl.SSLError)
    assert not isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


def test_peer_reset_during_handshake_is_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        sock = socket.create_connection(listener.getsockname(), timeout=WAIT)
        conn, _ = listener.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # RST
        with pytest.raises(exceptions.ConnectionError) as info:
            tls.wrap_socket(sock, "localhost", tls.init_context())
    assert not isinstance(info.value, exceptions.TimeoutError)
    assert isinstance(info.value.__cause__, OSError)


# --- argument checking -----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cert_path": 123}, "cert_path"),
        ({"verify": 1}, "verify"),
        ({"verify": None}, "verify"),
        ({"cert": 123}, "cert"),
        ({"cert": (b"cert.pem", "key.pem")}, "cert"),
        ({"cert": ("cert.pem", 5)}, "cert"),
        ({"cert_password": 123}, "cert_password"),
        ({"alpn_protocols": "h2"}, "alpn_protocols"),
        ({"alpn_protocols": [b"h2"]}, "alpn_protocols"),
    ],
)
def test_init_context_bad_types(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(TypeError, match=name):
        tls.init_context(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"cert": ("a.pem",)}, {"cert_path": "a.pem", "verify": "b.pem"}],
)
def test_init_context_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        tls.init_context(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("not a socket", "localhost"), "sock"),
        ((None, b"localhost"), "server_hostname"),
        ((None, "localhost", object()), "ssl_context"),
        ((None, "localhost", None, 2), "force_proto"),
    ],
)
def test_wrap_socket_bad_types(args: tuple[object, ...], name: str) -> None:
    with socket.socket() as sock:
        real_args = tuple(sock if a is None and i == 0 else a for i, a in enumerate(args))
        with pytest.raises(TypeError, match=name):
            tls.wrap_socket(*real_args)  # type: ignore[arg-type]


def test_server_context_refused(serve: TLSServer, server_context: ssl.SSLContext) -> None:
    sock = connect(serve)
    with pytest.raises(ValueError, match="ssl_context"):
        tls.wrap_socket(sock, "localhost", server_context)
    talk_over(serve, sock, tls.init_context(verify=False))  # still usable: not closed


def test_wrap_socket_empty_hostname() -> None:
    with socket.socket() as sock, pytest.raises(ValueError, match="server_hostname"):
        tls.wrap_socket(sock, "")


def test_wrap_socket_non_blocking_socket_refused(serve: TLSServer) -> None:
    sock = connect(serve)
    sock.setblocking(False)
    with pytest.raises(ValueError, match="sock"):
        tls.wrap_socket(sock, "localhost")
    sock.setblocking(True)
    talk_over(serve, sock, tls.init_context(verify=False))


def test_unconnected_socket_is_connection_error() -> None:
    sock = socket.socket()
    with pytest.raises(exceptions.ConnectionError) as info:
        tls.wrap_socket(sock, "localhost", tls.init_context())
    assert isinstance(info.value.__cause__, OSError)
    assert sock.fileno() == -1


def test_compatibility_names() -> None:
    assert tls.H2C_PROTOCOL == "h2c"
    assert tls.DEFAULT_ALPN_PROTOCOLS == ("h2", "http/1.1")
    assert tls.SUPPORTED_NPN_PROTOCOLS == tls.DEFAULT_ALPN_PROTOCOLS
    assert tls.NPN_PROTOCOL in tls.H2_NPN_PROTOCOLS
    assert os.path.isfile(tls.cert_loc)
