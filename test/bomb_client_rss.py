"""Read a decompression bomb through a real connection and report the memory it took.

test_faults_bombs.py runs this as ``python bomb_client_rss.py PORT PROTOCOL
CODING CAP`` against its in-process server on 127.0.0.1, alone in its process
so the numbers are the client's own. PROTOCOL is ``h2`` (HTTP20Connection,
prior knowledge) or ``http/1.1`` (HTTP11Connection). It reads ``/bomb/CODING``
in 64 KiB slices, then reads it again whole on a connection whose
``max_decoded_size`` is CAP, then makes one more request on that connection.
It prints one JSON object: bytes decoded, the largest slice, whether the
whole read was refused (and with which exception class), whether the request
after it worked, and the resident memory (KiB) before each phase and at its
peak, measured as in ``bomb_rss.py``.
"""

from __future__ import annotations

import json
import sys
import time

from bomb_rss import reset_peak, rss_kib

from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE
from hyper.common.exceptions import HyperError
from hyper.common.response import BaseResponse
from hyper.http11.connection import HTTP11Connection
from hyper.http20.connection import HTTP20Connection

SLICE = 64 * 1024
#: Bound on every wait for the server, in seconds.
TIMEOUT = 60.0


def connect(
    port: int, protocol: str, cap: int = DEFAULT_MAX_DECODED_SIZE
) -> HTTP11Connection | HTTP20Connection:
    """A connection of the kind PROTOCOL names, with the decoded-size cap."""
    if protocol == "h2":
        return HTTP20Connection(
            "127.0.0.1", port, secure=False, timeout=TIMEOUT, max_decoded_size=cap
        )
    return HTTP11Connection("127.0.0.1", port, timeout=TIMEOUT, max_decoded_size=cap)


def fetch(conn: HTTP11Connection | HTTP20Connection, path: str) -> BaseResponse:
    """The response to GET *path* (its head only)."""
    if isinstance(conn, HTTP20Connection):
        return conn.get_response(conn.request("GET", path))
    conn.request("GET", path)
    return conn.get_response()


def slices(port: int, protocol: str, path: str) -> tuple[int, int]:
    """Read *path* in slices: bytes decoded, largest slice."""
    decoded = largest = 0
    with connect(port, protocol) as conn:
        response = fetch(conn, path)
        while piece := response.read(SLICE):
            decoded += len(piece)
            largest = max(largest, len(piece))
    return decoded, largest


def whole(port: int, protocol: str, path: str, cap: int) -> tuple[str | None, bool]:
    """Read *path* whole under *cap*: the error class raised (or ``None``),
    and whether the next request on the same connection object worked."""
    with connect(port, protocol, cap) as conn:
        refused = None
        try:
            fetch(conn, path).read()
        except HyperError as exc:
            refused = type(exc).__name__
        after = fetch(conn, "/get")
        return refused, after.status == 200 and bool(after.read())


def main(port: int, protocol: str, coding: str, cap: int) -> dict[str, object]:
    path = f"/bomb/{coding}"
    started = time.perf_counter()
    baseline = reset_peak()
    decoded, largest = slices(port, protocol, path)
    peak = rss_kib("VmHWM")
    sliced = time.perf_counter()
    cap_baseline = reset_peak()
    refused, after_ok = whole(port, protocol, path, cap)
    return {
        "coding": coding,
        "protocol": protocol,
        "decoded": decoded,
        "largest_read": largest,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "refused": refused,
        "after_ok": after_ok,
        "cap_baseline_kib": cap_baseline,
        "cap_peak_kib": rss_kib("VmHWM"),
        "slice_seconds": round(sliced - started, 3),
        "whole_seconds": round(time.perf_counter() - sliced, 3),
    }


if __name__ == "__main__":
    port, protocol, coding, cap = sys.argv[1:5]
    sys.stdout.write(json.dumps(main(int(port), protocol, coding, int(cap))) + "\n")
