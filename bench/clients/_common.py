"""Shared plumbing of the benchmark clients: the job each is given, timing, and the JSON it prints.

Every client script runs in its own virtualenv (the peers' dependencies
clash: niquests replaces ``urllib3``), so this module uses the standard
library only and is imported by path: the script's own directory is on
``sys.path``. The harness passes one :class:`Job` as JSON in ``argv[1]``;
the client builds its connection, does the work, closes, and prints one
JSON object on stdout: the seconds the whole job took (connection setup
and TLS handshake included, interpreter start and imports excluded), the
requests completed and the body bytes moved, or why it could not run.
Each job checks what it measures: the status code, every body's length,
and the HTTP version actually negotiated, so a silent fallback to
HTTP/1.1 is an error, not a fast number.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: Bytes asked for per read when streaming a body, and per chunk of an upload.
CHUNK_SIZE = 64 * 1024
#: Status codes a successful upload may get (nginx's WebDAV answers 201 or 204).
UPLOAD_STATUSES = frozenset({200, 201, 204})

#: The kinds of job a client may be given.
KINDS = ("get_seq", "get_concurrent", "download", "upload")
#: Wire protocols: h2 over TLS (ALPN), h2 in cleartext by prior knowledge, HTTP/1.1 over TLS.
PROTOCOLS = ("h2", "h2c", "h1")


class Unsupported(Exception):
    """The client cannot do this job at all (not a failure)."""


class Missing(Exception):
    """The client's hyper piece is not written yet (not a failure)."""


class BenchFailure(Exception):
    """The job ran but its result was wrong."""


@dataclass(frozen=True)
class Job:
    """One measured unit of work, as the harness describes it.

    :ivar kind: one of :data:`KINDS`.
    :ivar protocol: one of :data:`PROTOCOLS`.
    :ivar url: the full URL to request.
    :ivar ca_path: the CA certificate that verifies the server.
    :ivar count: how many requests (``get_*``), else 1.
    :ivar concurrency: how many requests in flight at once (``get_concurrent``).
    :ivar size: the body length expected (GETs, download) or sent (upload).
    :ivar upload_path: the file whose content is uploaded.
    :ivar options: client-specific switches (hyper: ``window``).
    """

    kind: str
    protocol: str
    url: str
    ca_path: str
    count: int = 1
    concurrency: int = 1
    size: int = 0
    upload_path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """The URL's host."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The URL's port."""
        port = urlsplit(self.url).port
        if port is None:
            raise BenchFailure(f"the job URL has no port: {self.url}")
        return port

    @property
    def path(self) -> str:
        """The URL's path."""
        return urlsplit(self.url).path or "/"

    @property
    def secure(self) -> bool:
        """Whether the URL is https."""
        return self.url.startswith("https:")


def check(condition: bool, message: str) -> None:
    """Raise :class:`BenchFailure` with ``message`` unless ``condition`` holds.

    :raises BenchFailure: when it does not.
    """
    if not condition:
        raise BenchFailure(message)


def check_body(status: int, length: int, job: Job, *, upload: bool = False) -> None:
    """Check one response: its status, and for a GET that the whole body arrived.

    :raises BenchFailure: when either is wrong.
    """
    if upload:
        check(status in UPLOAD_STATUSES, f"upload answered {status}")
        return
    check(status == 200, f"GET answered {status}")
    check(length == job.size, f"body of {length} bytes, expected {job.size}")


def file_chunks(path: str) -> Iterator[bytes]:
    """Yield the file at ``path`` in :data:`CHUNK_SIZE` pieces (a streamed upload body)."""
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


#: A client's table: job kind -> function doing it, returning (requests, bytes).
Handlers = Mapping[str, Callable[[Job], tuple[int, int]]]


def run(handlers: Handlers, version: str) -> None:
    """Run the job in ``argv[1]`` with the matching handler and print the result as JSON.

    :param handlers: the client's functions, by job kind.
    :param version: the client library's name and version, for the report.
    """
    job = Job(**json.loads(sys.argv[1]))
    result: dict[str, Any] = {"client_version": version, "python": platform.python_version()}
    handler = handlers.get(job.kind)
    try:
        if handler is None:
            raise Unsupported(f"no {job.kind} job in this client")
        started = time.perf_counter()
        requests, moved = handler(job)
        result.update(
            status="ok", seconds=time.perf_counter() - started, requests=requests, bytes=moved
        )
    except Unsupported as exc:
        result.update(status="unsupported", detail=str(exc))
    except Missing as exc:
        result.update(status="missing", detail=str(exc))
    except Exception as exc:  # any failure of a peer library is a result to report
        result.update(status="failed", detail=f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
    result["maxrss_kib"] = peak_rss_kib()
    sys.stdout.write(json.dumps(result) + "\n")


def peak_rss_kib() -> int:
    """This process's peak resident memory since exec, in KiB (``VmHWM``; 0 if unknown).

    ``ru_maxrss`` would include the harness's size, inherited through fork.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
