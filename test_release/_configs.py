"""Configurations and command lines for the real servers, and what a test gets back.

Each ``start_*`` function writes whatever the server needs into its own work
directory (config file, logs, pid and temp paths), launches it on fresh ports
through :func:`_servers.launch`, and returns a :class:`Server` describing it
together with the :class:`_servers.ServerProcess` to stop later. Every server
binds 127.0.0.1 only, serves the shared docroot and uses the test
certificate. Run as root, nginx and h2o keep their workers as the current
user: their default unprivileged users cannot read pytest's temp dirs.
"""

from __future__ import annotations

import grp
import http.client
import importlib.util
import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._content import Certs, Docroot
from ._servers import (
    LOCALHOST,
    PROBE_TIMEOUT,
    ServerProcess,
    launch,
    missing,
    require_binary,
    which,
)

#: First nginx with ``http2 on;`` (before it, ``listen ... http2``).
NGINX_HTTP2_DIRECTIVE = (1, 25, 1)
#: First nginx with the ``-e`` (error log) command-line option.
NGINX_ERROR_LOG_OPTION = (1, 19, 5)
#: The ASGI app hypercorn serves.
ASGI_APP = Path(__file__).with_name("asgi_app.py")
#: Seconds the version query of a binary may take.
VERSION_TIMEOUT = 10.0
#: nginx and h2o store ``PUT <UPLOAD_PATH><name>`` as ``Server.upload_dir / name``.
UPLOAD_PATH = "/upload/"
#: A page h2o serves (index.html) after pushing style.css and blob.bin to
#: clients that allow push: an mruby handler answering 399 with preload links
#: makes h2o push them, then hand the request on to the next handler.
H2O_PUSH_PAGE = "/push/index.html"
H2O_PUSH_HANDLER = (
    'Proc.new { |env| [399, {"link" => '
    '"</style.css>; rel=preload, </blob.bin>; rel=preload"}, []] }'
)
#: The mruby handler that stores h2o's uploads (h2o has no WebDAV).
H2O_UPLOAD_HANDLER = Path(__file__).with_name("h2o_upload.rb")


@dataclass(frozen=True)
class Server:
    """A running server, as the tests see it.

    ``plain_port`` is the cleartext port: HTTP/1.1 with h2c Upgrade and
    prior knowledge for h2o and hypercorn, HTTP/1.1 only for nginx (whose
    ``h2c_port`` takes prior knowledge), prior knowledge only for nghttpd.

    :ivar name: ``nghttpd``, ``h2o``, ``nginx`` or ``hypercorn``.
    :ivar pid: the server's process ID.
    :ivar ca_path: the CA certificate that verifies the TLS port.
    :ivar docroot: the directory served (hypercorn serves its app instead).
    :ivar log_path: the server's stdout and stderr.
    :ivar tls_port: the TLS port (ALPN h2, and http/1.1 except on nghttpd).
    :ivar plain_port: the cleartext port.
    :ivar h2c_port: nginx's cleartext HTTP/2 prior-knowledge port.
    :ivar access_log: one line per request, where the server writes one.
    :ivar error_log: the server's error log, where separate from ``log_path``.
    :ivar upload_dir: where ``PUT`` to :data:`UPLOAD_PATH` stores files (nginx, h2o).
    :ivar host: the address it listens on.
    """

    name: str
    pid: int
    ca_path: Path
    docroot: Path
    log_path: Path
    tls_port: int | None = None
    plain_port: int | None = None
    h2c_port: int | None = None
    access_log: Path | None = None
    error_log: Path | None = None
    upload_dir: Path | None = None
    host: str = LOCALHOST
    ports: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = (self.tls_port, self.plain_port, self.h2c_port)
        object.__setattr__(self, "ports", tuple(port for port in found if port is not None))

    @property
    def tls_url(self) -> str:
        """``https://127.0.0.1:<tls_port>``, without a trailing slash.

        :raises ValueError: when the server has no TLS port.
        """
        return self._base("https", self.tls_port)

    @property
    def plain_url(self) -> str:
        """``http://127.0.0.1:<plain_port>``, without a trailing slash.

        :raises ValueError: when the server has no cleartext port.
        """
        return self._base("http", self.plain_port)

    @property
    def h2c_url(self) -> str:
        """The URL for HTTP/2 prior knowledge: ``h2c_port`` if set, else ``plain_port``.

        :raises ValueError: when the server has neither.
        """
        return self._base("http", self.h2c_port or self.plain_port)

    def _base(self, scheme: str, port: int | None) -> str:
        if port is None:
            raise ValueError(f"{self.name} has no {scheme} port of that kind")
        return f"{scheme}://{self.host}:{port}"


Started = tuple[Server, ServerProcess]
#: What the ``nghttpd_factory`` fixture returns: ``factory(tls=..., push=..., verbose=...)``.
NghttpdFactory = Callable[..., Server]
_Probe = Callable[[list[int]], None]


def _run_as_current_user() -> tuple[str, str] | None:
    """Return (user, group) to run workers as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def start_nghttpd(
    workdir: Path,
    certs: Certs,
    docroot: Docroot,
    *,
    tls: bool = True,
    push: Mapping[str, Sequence[str]] | None = None,
    verbose: bool = False,
) -> Started:
    """Start nghttpd: h2 over TLS, or h2c prior knowledge with ``tls=False``.

    POST and PUT bodies are echoed back (``--echo-upload``).

    :param workdir: an empty directory for the log.
    :param certs: the certificate to serve.
    :param docroot: the files to serve.
    :param tls: TLS with ALPN h2, or cleartext prior knowledge.
    :param push: push rules, request path to the paths pushed with it.
    :param verbose: log every frame (``-v``) to ``log_path``, line-buffered.
    """
    binary = require_binary("nghttpd")
    # nghttpd's -v output is block-buffered when it goes to a file.
    prefix = [stdbuf, "-oL"] if verbose and (stdbuf := which("stdbuf")) else []
    options = ["--address", LOCALHOST, "--htdocs", str(docroot.path), "--echo-upload"]
    options += ["--verbose"] if verbose else []
    for path, pushed in (push or {}).items():
        options.append(f"--push={path}={','.join(pushed)}")

    def build(ports: list[int]) -> list[str]:
        if tls:
            return [
                *prefix,
                binary,
                *options,
                str(ports[0]),
                str(certs.key_path),
                str(certs.cert_path),
            ]
        return [*prefix, binary, *options, "--no-tls", str(ports[0])]

    log_path = workdir / "nghttpd.log"
    process, ports = launch("nghttpd", 1, build, log_path)
    server = Server(
        "nghttpd",
        process.pid,
        certs.ca_path,
        docroot.path,
        log_path,
        tls_port=ports[0] if tls else None,
        plain_port=None if tls else ports[0],
    )
    return server, process


def _nginx_version(binary: str) -> tuple[int, ...]:
    result = subprocess.run(
        [binary, "-v"], capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False
    )
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    return tuple(int(part) for part in found.groups()) if found else (0, 0, 0)


def _nginx_conf(
    workdir: Path, certs: Certs, docroot: Docroot, ports: list[int], version: tuple[int, ...]
) -> str:
    """Render nginx.conf: TLS (h2 + http/1.1), cleartext HTTP/1.1, and h2c."""
    modern = version >= NGINX_HTTP2_DIRECTIVE
    tls_listen = f"listen {LOCALHOST}:{ports[0]} ssl{'' if modern else ' http2'};"
    h2c_listen = f"listen {LOCALHOST}:{ports[2]}{'' if modern else ' http2'};"
    http2_on = "http2 on;" if modern else ""
    upload = f"location {UPLOAD_PATH} {{ alias {workdir / 'uploads'}/; dav_methods PUT; }}"
    identity = _run_as_current_user()
    user = f"user {identity[0]} {identity[1]};" if identity else ""
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
worker_processes 1;
daemon off;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    types {{ text/html html; text/css css; text/plain txt; application/json json; }}
    default_type application/octet-stream;
    sendfile on;
{temp}
    log_format conn '$remote_addr conn=$connection reqs=$connection_requests '
                    '"$request" $status $body_bytes_sent $server_protocol host=$http_host';
    access_log {workdir / "access.log"} conn;
    keepalive_requests 10000;
    client_max_body_size 0;
    gzip on;
    gzip_min_length 256;
    gzip_types text/plain text/css application/json application/javascript;
    root {docroot.path};
    server {{
        {tls_listen}
        {http2_on}
        ssl_certificate {certs.cert_path};
        ssl_certificate_key {certs.key_path};
        {upload}
    }}
    server {{ listen {LOCALHOST}:{ports[1]}; {upload} }}
    server {{ {h2c_listen} {http2_on} {upload} }}
}}
"""


def _http11_probe(port_index: int) -> _Probe:
    """Build a readiness probe: ``GET /`` over HTTP/1.1 on ``ports[port_index]``."""

    def probe(ports: list[int]) -> None:
        conn = http.client.HTTPConnection(LOCALHOST, ports[port_index], timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
        except http.client.HTTPException as exc:
            raise OSError(f"probe failed: {exc!r}") from exc
        finally:
            conn.close()

    return probe


def start_nginx(workdir: Path, certs: Certs, docroot: Docroot) -> Started:
    """Start nginx: TLS (h2 + http/1.1), cleartext HTTP/1.1 and an h2c port, gzip on.

    The access log line carries ``conn=$connection reqs=$connection_requests``
    so a test can see keep-alive reuse, and ends with ``host=<Host header>``.
    ``PUT /upload/<name>`` stores the body in ``upload_dir`` (WebDAV module).

    :param workdir: an empty directory for config, logs, pid and temp files.
    :param certs: the certificate to serve.
    :param docroot: the files to serve.
    """
    binary = require_binary("nginx")
    version = _nginx_version(binary)
    conf = workdir / "nginx.conf"
    error_log = workdir / "error.log"
    (workdir / "uploads").mkdir()
    error_option = ["-e", str(error_log)] if version >= NGINX_ERROR_LOG_OPTION else []

    def build(ports: list[int]) -> list[str]:
        conf.write_text(_nginx_conf(workdir, certs, docroot, ports, version))
        return [binary, "-p", str(workdir), "-c", str(conf), *error_option]

    log_path = workdir / "nginx.log"
    process, ports = launch("nginx", 3, build, log_path, _http11_probe(1))
    server = Server(
        "nginx",
        process.pid,
        certs.ca_path,
        docroot.path,
        log_path,
        tls_port=ports[0],
        plain_port=ports[1],
        h2c_port=ports[2],
        access_log=workdir / "access.log",
        error_log=error_log,
        upload_dir=workdir / "uploads",
    )
    return server, process


def _h2o_conf(workdir: Path, certs: Certs, docroot: Docroot, ports: list[int]) -> str:
    """Render h2o.conf (YAML; paths quoted as JSON strings, which YAML accepts)."""
    identity = _run_as_current_user()
    user = f"user: {json.dumps(identity[0])}" if identity else ""
    log_format = '%h conn=%{connection-id}x stream=%{http2.stream-id}x "%r" %s %b %H host=%V'
    upload_dir = json.dumps(str(workdir / "uploads"))
    handler = f"UPLOAD_DIR = {upload_dir}\n{H2O_UPLOAD_HANDLER.read_text()}"
    return f"""{user}
pid-file: {json.dumps(str(workdir / "h2o.pid"))}
error-log: {json.dumps(str(workdir / "error.log"))}
access-log:
  path: {json.dumps(str(workdir / "access.log"))}
  format: {json.dumps(log_format)}
listen:
  host: {LOCALHOST}
  port: {ports[0]}
  ssl:
    certificate-file: {json.dumps(str(certs.cert_path))}
    key-file: {json.dumps(str(certs.key_path))}
    ocsp-update-interval: 0
listen:
  host: {LOCALHOST}
  port: {ports[1]}
hosts:
  default:
    paths:
      {UPLOAD_PATH.rstrip("/")}:
        mruby.handler: {json.dumps(handler)}
      {H2O_PUSH_PAGE}:
        mruby.handler: {json.dumps(H2O_PUSH_HANDLER)}
        file.file: {json.dumps(str(docroot.path / "index.html"))}
      /:
        file.dir: {json.dumps(str(docroot.path))}
"""


def start_h2o(workdir: Path, certs: Certs, docroot: Docroot) -> Started:
    """Start h2o: TLS (h2 + http/1.1) and a cleartext port (HTTP/1.1, Upgrade, prior knowledge).

    The access log line carries ``conn=<connection id>`` and ends with
    ``host=<Host header>``; ``PUT /upload/<name>`` stores the body in
    ``upload_dir`` (an mruby handler, :data:`H2O_UPLOAD_HANDLER`).

    :param workdir: an empty directory for config, logs and pid file.
    :param certs: the certificate to serve.
    :param docroot: the files to serve.
    """
    binary = require_binary("h2o")
    conf = workdir / "h2o.conf"
    (workdir / "uploads").mkdir()

    def build(ports: list[int]) -> list[str]:
        conf.write_text(_h2o_conf(workdir, certs, docroot, ports))
        return [binary, "-c", str(conf)]

    log_path = workdir / "h2o.log"
    process, ports = launch("h2o", 2, build, log_path, _http11_probe(1))
    server = Server(
        "h2o",
        process.pid,
        certs.ca_path,
        docroot.path,
        log_path,
        tls_port=ports[0],
        plain_port=ports[1],
        access_log=workdir / "access.log",
        error_log=workdir / "error.log",
        upload_dir=workdir / "uploads",
    )
    return server, process


def start_hypercorn(workdir: Path, certs: Certs, docroot: Docroot) -> Started:
    """Start hypercorn serving ``asgi_app.py``: TLS (h2 + http/1.1) and a cleartext port.

    Runs in one process (``-w 0``) with the current interpreter.

    :param workdir: an empty directory for the logs.
    :param certs: the certificate to serve.
    :param docroot: recorded on the result only; hypercorn serves the app.
    """
    if importlib.util.find_spec("hypercorn") is None:
        missing("hypercorn", "pip install hypercorn, or the project's [test] extra")
    access_log = workdir / "access.log"

    def build(ports: list[int]) -> list[str]:
        return [
            *(sys.executable, "-m", "hypercorn", "-w", "0"),
            *("--certfile", str(certs.cert_path), "--keyfile", str(certs.key_path)),
            *("--bind", f"{LOCALHOST}:{ports[0]}", "--insecure-bind", f"{LOCALHOST}:{ports[1]}"),
            *("--access-logfile", str(access_log), "--error-logfile", "-"),
            f"{ASGI_APP}:app",
        ]

    log_path = workdir / "hypercorn.log"
    process, ports = launch("hypercorn", 2, build, log_path, _http11_probe(1))
    server = Server(
        "hypercorn",
        process.pid,
        certs.ca_path,
        docroot.path,
        log_path,
        tls_port=ports[0],
        plain_port=ports[1],
        access_log=access_log,
    )
    return server, process
