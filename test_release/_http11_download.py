"""Download one file with ``HTTP11Connection`` in 64 KiB pieces and report on it.

The release tests run this script in a fresh interpreter, so that the
process's peak resident set size (``ru_maxrss``) measures one streamed
download and nothing else the test session holds. It reads the body with
``read(PIECE_SIZE)`` or ``readinto`` of a fixed buffer, hashes it as it
goes, and writes one JSON object to stdout: the status, the byte count and
SHA-256 of the body, the seconds the body took, and the peak RSS in KiB
before the request and after the download (``VmHWM``; ``ru_maxrss`` too,
for comparison).

Usage: ``python _http11_download.py PORT PATH MODE [CA_PATH]``, where MODE
is ``read`` or ``readinto`` and a CA path selects TLS verified by it.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time

from hyper.http11.connection import HTTP11Connection

#: Bytes asked for per read: what a streaming application would use.
PIECE_SIZE = 64 * 1024
#: Seconds the connection may wait for the server at any one step.
TIMEOUT = 30.0
#: The reading styles this script knows.
MODES = ("read", "readinto")


def _peak_rss_kib() -> int:
    """This program's peak resident set size so far, in KiB.

    ``ru_maxrss`` is not used where ``/proc`` exists: on Linux a child
    started by ``fork``/``vfork`` and ``exec`` inherits its parent's peak
    there (a pytest process of 70 MB makes every child look 70 MB), while
    ``VmHWM`` belongs to the new program image alone.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def download(port: int, path: str, mode: str, ca_path: str | None) -> dict[str, object]:
    """Fetch ``path`` from 127.0.0.1 and return the report.

    :param port: the server's port.
    :param path: the URL path.
    :param mode: ``read`` or ``readinto``.
    :param ca_path: the CA to verify TLS with, or ``None`` for cleartext.
    :raises ValueError: for an unknown ``mode``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    secure = ca_path is not None
    verify: bool | str = ca_path if ca_path is not None else True
    rss_before = _peak_rss_kib()
    digest = hashlib.sha256()
    size = 0
    with HTTP11Connection("127.0.0.1", port, secure=secure, verify=verify, timeout=TIMEOUT) as conn:
        conn.request("GET", path)
        response = conn.get_response()
        started = time.perf_counter()
        buffer = bytearray(PIECE_SIZE)
        view = memoryview(buffer)
        while True:
            if mode == "read":
                piece = response.read(PIECE_SIZE)
                count = len(piece)
                digest.update(piece)
            else:
                count = response.readinto(buffer)
                digest.update(view[:count])
            if not count:
                break
            size += count
        seconds = time.perf_counter() - started
    return {
        "status": response.status,
        "size": size,
        "sha256": digest.hexdigest(),
        "seconds": seconds,
        "rss_before_kib": rss_before,
        "rss_peak_kib": _peak_rss_kib(),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main(argv: list[str]) -> int:
    """Parse the arguments, download, and write the JSON report to stdout."""
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__ or "")
        return 2
    ca_path = argv[3] if len(argv) == 4 else None
    report = download(int(argv[0]), argv[1], argv[2], ca_path)
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
