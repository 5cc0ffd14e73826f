"""The servers the benchmark runs against, reusing the release tests' helpers.

:class:`Lab` builds everything in one temporary directory, on tmpfs
(``/dev/shm``) where there is room, so neither serving nor storing a body
touches a disk: a trustme CA and server certificate, the document root with
the files each workload needs, then h2o (every GET and download: TLS with
ALPN h2 and http/1.1, and a cleartext port taking HTTP/2 by prior
knowledge) and nginx (the uploads: WebDAV ``PUT`` stores the body, read to
the end, in the tmpfs directory). The 50 ms round-trip workload goes
through :class:`hyper.testing.DelayProxy` in front of h2o's TLS port.
Configurations, certificates and process handling come from
``test_release`` (``_configs``, ``_content``, ``_servers``).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from hyper.testing import DelayProxy
from test_release._configs import UPLOAD_PATH, Server, start_h2o, start_nginx
from test_release._content import Certs, Docroot
from test_release._servers import APT_INSTALL_LINE, ServerProcess, ServerStartError, which

from .workloads import RTT_ONE_WAY_DELAY, SMALL_BODY, Workload

#: Where the lab lives when it has room: memory, not disk.
TMPFS = Path("/dev/shm")
#: Room the lab wants on tmpfs before using it (the largest run needs about 700 MiB).
TMPFS_MIN_FREE = 2 * 1024**3
#: Seconds a ``--version`` query may take.
VERSION_TIMEOUT = 10.0
#: The servers the workloads use.
SERVER_BINARIES = ("h2o", "nginx")


class LabError(RuntimeError):
    """A server binary is missing or a server did not start."""


class Lab:
    """Certificates, files, servers and the delay proxy for one benchmark run.

    Use as a context manager; everything is stopped and deleted on exit.

    :param workloads: the workloads to prepare files for.
    :param quick: use the quick sizes.
    """

    def __init__(self, workloads: tuple[Workload, ...], quick: bool) -> None:
        self.workloads = workloads
        self.quick = quick
        self.base = Path("/nonexistent")
        self.certs: Certs | None = None
        self.docroot: Docroot | None = None
        self.servers: dict[str, Server] = {}
        self._processes: list[ServerProcess] = []
        self._proxy: DelayProxy | None = None

    def __enter__(self) -> Lab:
        """Write the certificates and files and start the servers and the proxy.

        :raises LabError: when a server binary is missing.
        """
        missing = [name for name in SERVER_BINARIES if which(name) is None]
        if missing:
            raise LabError(f"missing server binaries {missing}; install: {APT_INSTALL_LINE}")
        room = TMPFS.is_dir() and shutil.disk_usage(TMPFS).free >= TMPFS_MIN_FREE
        self.base = Path(tempfile.mkdtemp(prefix="hyper-bench-", dir=TMPFS if room else None))
        try:
            self._start()
        except ServerStartError as exc:
            self.close()
            raise LabError(str(exc)) from exc
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop everything and delete the directory."""
        self.close()

    def _start(self) -> None:
        (self.base / "certs").mkdir()
        self.certs = Certs.create(self.base / "certs")
        self.docroot = Docroot(self.base / "www")
        self.docroot.random_file(SMALL_BODY)
        for workload in self.workloads:
            if workload.kind in ("download", "upload"):
                self.docroot.random_file(workload.amount(self.quick))
        for name, start in (("h2o", start_h2o), ("nginx", start_nginx)):
            (self.base / name).mkdir()
            server, process = start(self.base / name, self.certs, self.docroot)
            self.servers[name] = server
            self._processes.append(process)
        h2o = self.servers["h2o"]
        if h2o.tls_port is None:
            raise LabError("h2o started without a TLS port")
        self._proxy = DelayProxy((h2o.host, h2o.tls_port), delay=RTT_ONE_WAY_DELAY).start()

    def close(self) -> None:
        """Stop the proxy and the servers and delete the directory (idempotent)."""
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        while self._processes:
            self._processes.pop().stop()
        if self.base.name.startswith("hyper-bench-"):
            shutil.rmtree(self.base, ignore_errors=True)

    @property
    def ca_path(self) -> str:
        """The CA certificate every client trusts."""
        if self.certs is None:
            raise LabError("the lab is not started")
        return str(self.certs.ca_path)

    def url(self, workload: Workload, client_slug: str) -> str:
        """The URL a client requests for ``workload`` (uploads get a name per client)."""
        if self.docroot is None:
            raise LabError("the lab is not started")
        server = self.servers[workload.server]
        if workload.kind == "upload":
            return f"{server.tls_url}{UPLOAD_PATH}{client_slug}.bin"
        size = SMALL_BODY if workload.kind.startswith("get_") else workload.amount(self.quick)
        path = self.docroot.random_file(size).url_path
        if workload.delayed and self._proxy is not None:
            return f"https://{self._proxy.host}:{self._proxy.port}{path}"
        if workload.protocol == "h2c":
            return server.plain_url + path
        return server.tls_url + path

    def upload_file(self, workload: Workload) -> str:
        """The file whose content an upload workload sends."""
        if self.docroot is None:
            raise LabError("the lab is not started")
        return str(self.docroot.random_file(workload.amount(self.quick)).path)


@functools.cache
def binary_version(name: str) -> str:
    """The first line a binary prints for its version, or ``missing``.

    :param name: ``h2o``, ``nginx``, ``curl`` or ``h2load``.
    """
    path = which(name)
    if path is None:
        return "missing"
    flag = "-v" if name == "nginx" else "--version"
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        result = subprocess.run(
            [path, flag], capture_output=True, text=True, timeout=VERSION_TIMEOUT, check=False
        )
        lines = (result.stdout + result.stderr).strip().splitlines()
        return _short_version(lines[0]) if lines else "unknown"
    return "unknown"


def _short_version(line: str) -> str:
    """Keep a version line's program and TLS/HTTP/2 library parts (curl's is very long)."""
    words = line.replace("version: ", "").replace(" version", "").split()
    if len(words) > 1 and words[1].startswith(words[0] + "/"):  # "nginx nginx/1.22.1"
        words = words[1:]
    keep = [w for w in words[:2]] + [
        w for w in words[2:] if w.split("/")[0] in ("libcurl", "OpenSSL", "nghttp2")
    ]
    return " ".join(keep)
