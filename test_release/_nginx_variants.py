"""An nginx whose TLS ports show what the shared one cannot: HTTP/1.1 only, and client certificates.

The session's ``nginx_server`` offers ``h2`` and ``http/1.1`` on its TLS
port. The negotiation and CLI release tests also need a TLS port whose ALPN
answer is ``http/1.1`` (nginx without ``http2``), and one that demands a
client certificate signed by the test CA and reports its subject at
``/whoami``. :func:`start_nginx_variants` starts one nginx with both, on
the shared docroot and certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._configs import NGINX_ERROR_LOG_OPTION, Server, _nginx_version, _run_as_current_user
from ._content import Certs, Docroot
from ._servers import LOCALHOST, ServerProcess, launch, require_binary

__all__ = ["NginxVariants", "start_nginx_variants"]


@dataclass(frozen=True)
class NginxVariants:
    """The running nginx and its two TLS ports.

    :ivar server: the server (``tls_port`` is the HTTP/1.1-only port).
    :ivar mtls_port: the port that requires a client certificate.
    """

    server: Server
    mtls_port: int

    @property
    def http11_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the HTTP/1.1-only TLS port."""
        return self.server.tls_url

    @property
    def mtls_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the client-certificate port."""
        return f"https://{LOCALHOST}:{self.mtls_port}"


def _conf(workdir: Path, certs: Certs, docroot: Docroot, ports: list[int]) -> str:
    identity = _run_as_current_user()
    user = f"user {identity[0]} {identity[1]};" if identity else ""
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    tls = f"ssl_certificate {certs.cert_path}; ssl_certificate_key {certs.key_path};"
    return f"""{user}
worker_processes 1;
daemon off;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    types {{ text/html html; text/plain txt; }}
    default_type application/octet-stream;
{temp}
    access_log {workdir / "access.log"};
    root {docroot.path};
    server {{ listen {LOCALHOST}:{ports[0]} ssl; {tls} }}
    server {{
        listen {LOCALHOST}:{ports[1]} ssl; {tls}
        ssl_verify_client on;
        ssl_client_certificate {certs.ca_path};
        location = /whoami {{ default_type text/plain; return 200 "$ssl_client_s_dn\\n"; }}
    }}
}}
"""


def start_nginx_variants(
    workdir: Path, certs: Certs, docroot: Docroot
) -> tuple[NginxVariants, ServerProcess]:
    """Start nginx with an HTTP/1.1-only TLS port and a client-certificate TLS port.

    :param workdir: an empty directory for config, logs, pid and temp files.
    :param certs: the certificate to serve (its CA also checks client certificates).
    :param docroot: the files to serve.
    """
    binary = require_binary("nginx")
    conf = workdir / "nginx.conf"
    error_log = workdir / "error.log"
    error_option = (
        ["-e", str(error_log)] if _nginx_version(binary) >= NGINX_ERROR_LOG_OPTION else []
    )

    def build(ports: list[int]) -> list[str]:
        conf.write_text(_conf(workdir, certs, docroot, ports))
        return [binary, "-p", str(workdir), "-c", str(conf), *error_option]

    process, ports = launch("nginx-variants", 2, build, workdir / "nginx.log")
    server = Server(
        "nginx",
        process.pid,
        certs.ca_path,
        docroot.path,
        workdir / "nginx.log",
        tls_port=ports[0],
        access_log=workdir / "access.log",
        error_log=error_log,
    )
    return NginxVariants(server, ports[1]), process
