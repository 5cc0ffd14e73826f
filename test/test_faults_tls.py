"""TLS faults through the connection classes that test_tls.py does not stage.

test_tls.py covers an unknown CA, a wrong hostname and ALPN choices at the
``hyper.tls`` level (and test_http11_connection.py, test_http20_connection.py
and test_negotiation.py an unknown CA and an HTTP/1.1-only server for each
connection class). Here: certificates outside their validity period, and an
HTTP/1.1 client that meets a server speaking only HTTP/2. Each must fail with
the exact hyper exception, the :mod:`ssl` error kept as ``__cause__``, well
within the client's timeout, and the next attempt must try again rather than
reuse a broken socket.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from hyper.common import exceptions as exc
from hyper.common.connection import HTTPConnection
from hyper.http11.connection import HTTP11Connection
from hyper.http20.connection import HTTP20Connection
from hyper.testing import Server

#: The client's timeout, and the bound on every wait of the server thread.
WAIT = 5.0
#: OpenSSL's verification results (``SSLCertVerificationError.verify_code``).
X509_V_ERR_CERT_NOT_YET_VALID = 9
X509_V_ERR_CERT_HAS_EXPIRED = 10

AnyConnection = HTTP11Connection | HTTP20Connection | HTTPConnection
CONNECTIONS: list[type[AnyConnection]] = [HTTP11Connection, HTTP20Connection, HTTPConnection]


class HandshakeServer:
    """Accepts connections on 127.0.0.1 and tries a TLS handshake with ``cert``,
    offering ALPN ``h2`` and ``http/1.1``; records how each one failed."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.context)
        self.context.set_alpn_protocols(["h2", "http/1.1"])
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.port = int(self.listener.getsockname()[1])
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed by the test, or nobody came
            with sock:
                sock.settimeout(WAIT)
                try:
                    with self.context.wrap_socket(sock, server_side=True) as tls_sock:
                        tls_sock.recv(1)
                except (ssl.SSLError, OSError) as error:  # the client refused us
                    self.errors.append(error)

    def __enter__(self) -> HandshakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the pending accept()
        self.listener.close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def days(n: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=n)


@pytest.fixture(
    params=[
        (days(-30), days(-1), X509_V_ERR_CERT_HAS_EXPIRED),
        (days(1), days(30), X509_V_ERR_CERT_NOT_YET_VALID),
    ],
    ids=["expired", "not yet valid"],
)
def out_of_date(
    request: pytest.FixtureRequest, ca: trustme.CA
) -> Iterator[tuple[HandshakeServer, int]]:
    not_before, not_after, code = request.param
    cert = ca.issue_cert("127.0.0.1", not_before=not_before, not_after=not_after)
    with HandshakeServer(cert) as server:
        yield server, code


@pytest.mark.parametrize("kind", CONNECTIONS)
def test_certificate_outside_its_validity_is_refused(
    out_of_date: tuple[HandshakeServer, int], ca_file: str, kind: type[AnyConnection]
) -> None:
    server, code = out_of_date
    conn = kind("127.0.0.1", server.port, secure=True, verify=ca_file, timeout=WAIT)
    for _ in range(2):  # the second attempt makes a new handshake, and fails alike
        started = time.monotonic()
        with pytest.raises(exc.TLSError) as info:
            conn.request("GET", "/")
        assert type(info.value) is exc.TLSError
        assert time.monotonic() - started < WAIT / 2
        cause = info.value.__cause__
        assert isinstance(cause, ssl.SSLCertVerificationError)
        assert cause.verify_code == code
    conn.close()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "cleartext"])
def test_http11_client_meeting_an_http2_only_server(
    hyper_server_factory: Callable[..., Server], tls: bool
) -> None:
    server = hyper_server_factory(tls=tls, protocols=("h2",), expect_errors=True)
    context = server.ssl_context(("http/1.1",)) if tls else None  # no ALPN in common
    with HTTP11Connection(server.host, server.port, ssl_context=context, timeout=WAIT) as conn:
        conn.request("GET", "/get")
        started = time.monotonic()
        with pytest.raises(exc.InvalidResponseError, match="HTTP/2") as info:
            conn.get_response()
        assert type(info.value) is exc.InvalidResponseError
        assert time.monotonic() - started < WAIT / 2
    assert server.connections[0].alpn is None  # the handshake agreed on nothing
