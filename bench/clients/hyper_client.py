"""The benchmark jobs done with hyper's own connection classes.

HTTP/2 uses :class:`hyper.http20.connection.HTTP20Connection` (TLS with
ALPN, or cleartext by prior knowledge); HTTP/1.1 uses
:class:`hyper.HTTP11Connection`. Concurrent GETs keep ``concurrency``
requests in flight from one thread: ``request()`` returns at once, so
after each response is read the next request is issued (a sliding
window, as h2load's ``-m``). ``options["window"] == "fixed16"`` passes
:class:`fixed_window.FixedWindowManager` as ``window_manager=``. Runs
with the project's own interpreter, where hyper is installed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from _common import CHUNK_SIZE, Job, Missing, Unsupported, check, check_body, run

import hyper
from hyper import HTTP11Connection, HTTPVersion

#: The HTTP/2 connection class, or None while it is not written yet.
h2_connection_class: Any = None
_H2_IMPORT_ERROR = ""
try:
    from hyper.http20.connection import HTTP20Connection

    h2_connection_class = HTTP20Connection
except ImportError as exc:  # the HTTP/2 connection is written in parallel
    _H2_IMPORT_ERROR = str(exc)


def _connect(job: Job) -> Any:
    """Open the connection the job's protocol asks for."""
    if job.protocol == "h1":
        return HTTP11Connection(job.host, job.port, secure=True, verify=job.ca_path)
    if h2_connection_class is None:
        raise Missing(f"HTTP20Connection missing: {_H2_IMPORT_ERROR}")
    kwargs: dict[str, Any] = {}
    if job.options.get("window") == "fixed16":
        from fixed_window import FixedWindowManager

        kwargs["window_manager"] = FixedWindowManager
    elif job.options.get("window") not in (None, "default"):
        raise Unsupported(f"unknown window option {job.options['window']!r}")
    return h2_connection_class(
        job.host, job.port, secure=job.protocol == "h2", verify=job.ca_path, **kwargs
    )


def _response(conn: Any, stream_id: int | None) -> Any:
    """Fetch a response, from its stream on HTTP/2 or the one pending on HTTP/1.1."""
    response = conn.get_response() if stream_id is None else conn.get_response(stream_id)
    expected = HTTPVersion.http11 if stream_id is None else HTTPVersion.http20
    check(response.version == expected, f"spoke {response.version}, expected {expected}")
    return response


def _send(conn: Any, job: Job, method: str = "GET", body: Any = None) -> int | None:
    """Send one request; return its stream id on HTTP/2, None on HTTP/1.1."""
    stream_id = conn.request(method, job.path, body=body)
    return None if job.protocol == "h1" else stream_id


def get_seq(job: Job) -> tuple[int, int]:
    """``count`` GETs one after another on one connection."""
    moved = 0
    with _connect(job) as conn:
        for _ in range(job.count):
            response = _response(conn, _send(conn, job))
            body = response.read()
            check_body(response.status, len(body), job)
            moved += len(body)
    return job.count, moved


def get_concurrent(job: Job) -> tuple[int, int]:
    """``count`` GETs with ``concurrency`` in flight on one connection, from one thread."""
    if job.protocol == "h1":
        raise Unsupported("HTTP/1.1 has no multiplexing")
    moved = 0
    with _connect(job) as conn:
        in_flight = deque(_send(conn, job) for _ in range(min(job.concurrency, job.count)))
        issued = len(in_flight)
        while in_flight:
            response = _response(conn, in_flight.popleft())
            body = response.read()
            check_body(response.status, len(body), job)
            moved += len(body)
            if issued < job.count:
                in_flight.append(_send(conn, job))
                issued += 1
    return job.count, moved


def download(job: Job) -> tuple[int, int]:
    """One large GET, read in :data:`CHUNK_SIZE` pieces."""
    moved = 0
    with _connect(job) as conn:
        response = _response(conn, _send(conn, job))
        while chunk := response.read(CHUNK_SIZE):
            moved += len(chunk)
        check_body(response.status, moved, job)
    return 1, moved


def upload(job: Job) -> tuple[int, int]:
    """One large PUT of a file (streamed from disk, its size as Content-Length)."""
    if job.upload_path is None:
        raise Unsupported("no file to upload")
    with _connect(job) as conn, open(job.upload_path, "rb") as body:
        response = _response(conn, _send(conn, job, "PUT", body))
        response.read()
        check_body(response.status, 0, job, upload=True)
    return 1, job.size


if __name__ == "__main__":
    run(
        {
            "get_seq": get_seq,
            "get_concurrent": get_concurrent,
            "download": download,
            "upload": upload,
        },
        f"hyper {hyper.__version__}",
    )
