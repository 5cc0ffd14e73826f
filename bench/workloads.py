"""What is measured and by whom: the workloads, their sizes, and the clients that run them.

A :class:`Workload` names a kind of job (sequential GETs, concurrent GETs,
one download, one upload), the wire protocol, the server it runs against
and its size in the full and the quick run. A :class:`Client` is one
program that does jobs: a Python script run by a given interpreter, or a C
tool the harness drives itself. Each client says which workloads it does;
a workload outside that set is shown as unsupported, never as a failure.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

#: The directory of this package.
BENCH_DIR = Path(__file__).resolve().parent
#: Where the client scripts are.
CLIENTS_DIR = BENCH_DIR / "clients"
#: Where ``make`` puts the peers' virtualenvs.
VENVS_DIR = BENCH_DIR / ".venvs"

MIB = 1024 * 1024
#: The size of each small GET's body.
SMALL_BODY = 100
#: Streams kept in flight by the concurrent-GET workload.
CONCURRENCY = 100
#: One-way delay the RTT workload adds in each direction (a 50 ms round trip).
RTT_ONE_WAY_DELAY = 0.025

#: Units of the two kinds of result.
REQ_PER_S = "req/s"
MB_PER_S = "MB/s"


@dataclass(frozen=True)
class Workload:
    """One row group of the table.

    :ivar name: a short identifier (also the JSON key).
    :ivar title: what the table shows, a template: ``{n}`` is the request
        count, ``{size}`` the body size in MiB.
    :ivar kind: the client job kind (``get_seq``, ``get_concurrent``, ``download``, ``upload``).
    :ivar protocol: ``h2`` (TLS, ALPN), ``h2c`` (prior knowledge) or ``h1`` (TLS).
    :ivar server: ``h2o`` or ``nginx`` (nginx takes the uploads: WebDAV PUT).
    :ivar full: the request count (GETs) or body size in bytes (downloads, uploads).
    :ivar quick: the same for ``--quick``.
    :ivar delayed: whether the connection goes through the 50 ms RTT proxy.
    """

    name: str
    title: str
    kind: str
    protocol: str
    server: str
    full: int
    quick: int
    delayed: bool = False

    @property
    def unit(self) -> str:
        """``req/s`` for GET workloads, ``MB/s`` (10**6 bytes per second) for the others."""
        return REQ_PER_S if self.kind.startswith("get_") else MB_PER_S

    def amount(self, quick: bool) -> int:
        """The request count or byte size for this run."""
        return self.quick if quick else self.full

    def title_for(self, quick: bool) -> str:
        """The title with this run's count or size filled in."""
        amount = self.amount(quick)
        return self.title.format(n=f"{amount:,}", size=f"{amount / MIB:g} MiB")


WORKLOADS = (
    Workload(
        "seq", "{n} sequential GETs of 100 B, one connection", "get_seq", "h2", "h2o", 1000, 200
    ),
    Workload(
        "multiplex",
        f"{{n}} GETs of 100 B, {CONCURRENCY} streams in flight, one connection",
        "get_concurrent",
        "h2",
        "h2o",
        1000,
        300,
    ),
    Workload("download", "{size} download, TLS", "download", "h2", "h2o", 256 * MIB, 16 * MIB),
    Workload("download_h2c", "{size} download, h2c", "download", "h2c", "h2o", 256 * MIB, 16 * MIB),
    Workload("upload", "{size} upload (PUT)", "upload", "h2", "nginx", 64 * MIB, 8 * MIB),
    Workload(
        "download_rtt",
        "{size} download at 50 ms RTT",
        "download",
        "h2",
        "h2o",
        32 * MIB,
        4 * MIB,
        delayed=True,
    ),
    Workload("h1_seq", "HTTP/1.1: {n} sequential GETs of 100 B", "get_seq", "h1", "h2o", 1000, 200),
    Workload(
        "h1_download", "HTTP/1.1: {size} download", "download", "h1", "h2o", 256 * MIB, 16 * MIB
    ),
    Workload(
        "h1_upload", "HTTP/1.1: {size} upload (PUT)", "upload", "h1", "nginx", 64 * MIB, 8 * MIB
    ),
)
ALL = frozenset(workload.name for workload in WORKLOADS)
HTTP2_OVER_TLS = frozenset(w.name for w in WORKLOADS if w.protocol == "h2")


@dataclass(frozen=True)
class Client:
    """One program that does benchmark jobs.

    :ivar name: the table's label.
    :ivar group: ``hyper``, ``python`` (a peer) or ``c`` (a reference tool).
    :ivar script: the client script in :data:`CLIENTS_DIR`, for Python clients.
    :ivar venv: the peer's virtualenv under :data:`VENVS_DIR`; None runs the
        harness's own interpreter (where hyper is installed).
    :ivar workloads: the workloads it does; the others are unsupported.
    :ivar options: passed to the script with each job (hyper's ``window``).
    :ivar note: why some workloads are unsupported, for the report.
    :ivar listed_only_where_supported: leave its unsupported rows out of the table.
    """

    name: str
    group: str
    script: str | None = None
    venv: str | None = None
    workloads: frozenset[str] = ALL
    options: dict[str, str] = field(default_factory=dict)
    note: str = ""
    listed_only_where_supported: bool = False

    def python(self) -> Path:
        """The interpreter that runs this client's script."""
        if self.venv is None:
            return Path(sys.executable)
        return VENVS_DIR / self.venv / "bin" / "python"


CLIENTS = (
    Client("hyper", "hyper", "hyper_client.py"),
    Client(
        "hyper (fixed 16 MiB window)",
        "hyper",
        "hyper_client.py",
        workloads=frozenset({"download_rtt"}),
        options={"window": "fixed16"},
        note="the default window manager's yardstick on the RTT workload only",
        listed_only_where_supported=True,
    ),
    Client(
        "hyper + requests adapter",
        "hyper",
        "hyper_requests_client.py",
        workloads=HTTP2_OVER_TLS,
        note="the adapter carries HTTP/2 over TLS only",
    ),
    Client("httpx", "python", "httpx_client.py", venv="httpx"),
    Client("niquests", "python", "niquests_client.py", venv="niquests"),
    Client("pycurl", "python", "pycurl_client.py", venv="pycurl"),
    Client("curl", "c"),
    Client("h2load", "c"),
)
#: The Python peers, whose best result each row is compared with.
PYTHON_PEERS = tuple(client.name for client in CLIENTS if client.group == "python")
#: The C reference tools, whose best result each row is compared with.
C_REFERENCES = tuple(client.name for client in CLIENTS if client.group == "c")
