"""hyper in one minute: many requests multiplexed over one HTTP/2 connection.

Starts hyper's in-process test server (:mod:`hyper.testing`: TLS, ALPN
``h2``, a private CA trusted only by this script), then fetches the same set
of resources twice over a single :class:`hyper.HTTP20Connection`: first from
one thread, which issues every request before reading any response, then
from a pool of threads sharing the connection. Every body is checked against
what the server sends (``/bytes/N?seed=S`` is reproducible), and the script
prints what it fetched, how fast, and how many connections the server saw.
Nothing leaves 127.0.0.1. Run it with ``make demo`` (or
``python examples/demo.py --help``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hyper import HTTP20Connection
from hyper.testing import Server, payload

#: Body sizes the ``/bytes`` requests cycle through, in bytes.
SIZES = (1_000, 16_384, 100_000, 1_000_000)
#: Every this-many-th request is a ``/get`` (a JSON echo) instead.
ECHO_EVERY = 10


@dataclass(frozen=True)
class Job:
    """One resource to fetch, and how to check it."""

    path: str
    size: int | None  # the body size for /bytes, None for /get
    seed: int

    @property
    def label(self) -> str:
        """The path without the query, for the summary."""
        return self.path.split("?", 1)[0]

    def check(self, status: int, body: bytes) -> None:
        """Fail loudly if the response is not what the server must send."""
        if status != 200:
            raise SystemExit(f"{self.path}: status {status}")
        if self.size is None:
            if json.loads(body)["path"] != self.label:
                raise SystemExit(f"{self.path}: wrong echo")
        elif body != payload(self.size, self.seed):
            raise SystemExit(f"{self.path}: body differs from what was sent")


def make_jobs(count: int) -> list[Job]:
    """``count`` requests: mostly ``/bytes/N`` of various sizes, some ``/get``."""
    jobs = []
    for index in range(count):
        if index % ECHO_EVERY == ECHO_EVERY - 1:
            jobs.append(Job(f"/get?n={index}", None, index))
        else:
            size = SIZES[index % len(SIZES)]
            jobs.append(Job(f"/bytes/{size}?seed={index}", size, index))
    return jobs


def fetch(conn: HTTP20Connection, job: Job) -> int:
    """One request and its response, checked; the body's length."""
    response = conn.get_response(conn.request("GET", job.path))
    body = response.read()
    job.check(response.status, body)
    return len(body)


def one_thread(conn: HTTP20Connection, jobs: list[Job]) -> int:
    """Issue every request (``request()`` never waits), then read every response."""
    stream_ids = [conn.request("GET", job.path) for job in jobs]
    moved = 0
    for stream_id, job in zip(stream_ids, jobs, strict=True):
        response = conn.get_response(stream_id)
        body = response.read()
        job.check(response.status, body)
        moved += len(body)
    return moved


def thread_pool(conn: HTTP20Connection, jobs: list[Job], threads: int) -> int:
    """The same requests from ``threads`` threads sharing the one connection."""
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda job: fetch(conn, job), jobs))


def report(title: str, jobs: list[Job], moved: int, seconds: float) -> None:
    """Print what was fetched and how fast."""
    print(f"\n{title}")
    counts = Counter((job.size or 0, job.label) for job in jobs)
    for (size, label), count in sorted(counts.items()):
        what = f"{size:,} bytes each" if size else "JSON echo of the request"
        print(f"  {count:>4} x {label:<16} {what}")
    rate, throughput = len(jobs) / seconds, moved / seconds / 1e6
    print(
        f"  {len(jobs)} responses, {moved / 1e6:.1f} MB in {seconds:.2f} s: "
        f"{rate:,.0f} requests/s, {throughput:.1f} MB/s, every body checked"
    )


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per round")
    parser.add_argument("--threads", type=int, default=16, help="threads in the second round")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.threads < 1:
        parser.error("--requests and --threads must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the exit status."""
    args = arguments(argv)
    jobs = make_jobs(args.requests)
    with Server(protocols=("h2",)) as server:
        print(f"hyper demo: in-process HTTP/2 server at {server.url} (TLS, ALPN h2)")
        context = server.ssl_context(("h2",))
        with HTTP20Connection(server.host, server.port, ssl_context=context, timeout=30) as conn:
            started = time.perf_counter()
            moved = one_thread(conn, jobs)
            report(
                "1 thread: every request issued first, then every response read",
                jobs,
                moved,
                time.perf_counter() - started,
            )
            started = time.perf_counter()
            moved = thread_pool(conn, jobs, args.threads)
            report(
                f"{args.threads} threads sharing the same connection",
                jobs,
                moved,
                time.perf_counter() - started,
            )
        opened = server.connection_count
        streams = len(server.requests)
    print(f"\nconnections opened: {opened} ({streams} requests, each on its own stream)")
    print("(the server runs in this process and shares its interpreter: the rates")
    print(" measure hyper and the test server together)")
    return 0 if opened == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
