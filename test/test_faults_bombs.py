"""Decompression bombs through real connections, for every coding on both protocols.

test_decoders.py checks the decoders alone (bounded output per call, the
cap of ``decode_all``, bombs of 256 MiB in a child process). Here the bombs
come from the in-process server and are read the way users read them:
``response.read()`` whole must be refused with
:class:`~hyper.common.exceptions.ContentDecodingError` once the decoded body
passes the connection's ``max_decoded_size`` (and the connection must go on
serving requests), while ``response.read(amt)`` slices any size of body in
constant memory. The in-process tests use an 8 MiB bomb and a 1 MiB cap;
the memory tests run ``bomb_client_rss.py`` in child processes (two at a
time) on bombs of 1 GiB, each coding once, alternating the protocol, with a
64 MiB cap. Set ``HYPER_BOMB_GIB=10`` to read 10 GiB per coding on both
protocols, with the whole read under the default cap (1 GiB): that takes
minutes and over 1 GiB of memory per child.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bomb_rss import BUILDERS
from children import run_json_children

from hyper.common.decoders import DEFAULT_MAX_DECODED_SIZE, SUPPORTED_ENCODINGS
from hyper.common.exceptions import ContentDecodingError
from hyper.common.response import BaseResponse
from hyper.http11.connection import HTTP11Connection
from hyper.http20.connection import HTTP20Connection
from hyper.testing import Request, Response, Server

MIB = 1 << 20
GIB = 1 << 30
#: Every coding hyper decodes (zstd only where an implementation is installed).
CODINGS = [coding for coding in ("gzip", "deflate", "br", "zstd") if coding in SUPPORTED_ENCODINGS]
PROTOCOLS = ["h2", "http/1.1"]
SLICE = 64 * 1024
#: The in-process bomb and the cap it is read under.
SMALL_BOMB = 8 * MIB
SMALL_CAP = 1 * MIB
#: Decoded size of the child-process bombs, in GiB (``HYPER_BOMB_GIB``).
BOMB_GIB = int(os.environ.get("HYPER_BOMB_GIB", "1"))
ON_DEMAND = BOMB_GIB > 1
#: The cap of the whole read in the child: a small one by default, the
#: documented default cap in the on-demand run.
CHILD_CAP = DEFAULT_MAX_DECODED_SIZE if ON_DEMAND else 64 * MIB
#: How much more than its baseline a child may take while slicing a bomb.
SLICE_RSS_LIMIT_KIB = 32 * 1024
#: Slack over the cap for the whole read (the last slice, allocator overhead).
CAP_RSS_SLACK_KIB = 48 * 1024
CHILD_SCRIPT = Path(__file__).with_name("bomb_client_rss.py")
CHILD_JOBS = 2  # children at a time: the machines have two cores
CHILD_TIMEOUT = 60 + 120 * BOMB_GIB


@contextlib.contextmanager
def bomb_server(size: int) -> Iterator[Server]:
    """A cleartext server (HTTP/2 or HTTP/1.1) answering ``/bomb/CODING``
    with ``size`` zero bytes so encoded."""
    bombs: dict[str, tuple[str, bytes]] = {}
    for coding in CODINGS:
        header, build = BUILDERS[coding]
        bombs[coding] = (header, build(size // MIB))

    def bomb(request: Request, response: Response) -> None:
        header, body = bombs[request.subpath]
        response.send(body, headers=[("content-encoding", header)])

    with Server(tls=False) as server:
        server.add_route("/bomb/*", bomb)
        yield server


@pytest.fixture(scope="module")
def small_server() -> Iterator[Server]:
    with bomb_server(SMALL_BOMB) as server:
        yield server


Connection = HTTP11Connection | HTTP20Connection


def connect(server: Server, protocol: str, cap: int) -> Connection:
    if protocol == "h2":
        return HTTP20Connection(
            server.host, server.port, secure=False, timeout=10, max_decoded_size=cap
        )
    return HTTP11Connection(server.host, server.port, timeout=10, max_decoded_size=cap)


def fetch(conn: Connection, path: str) -> BaseResponse:
    if isinstance(conn, HTTP20Connection):
        return conn.get_response(conn.request("GET", path))
    conn.request("GET", path)
    return conn.get_response()


def raises_exactly(error: type[BaseException], call: Callable[[], object]) -> BaseException:
    """Call ``call``; it must raise ``error`` itself, not a subclass."""
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    return info.value


# --- in process: the cap and the slices --------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("coding", CODINGS)
def test_whole_read_past_the_cap_is_refused(
    small_server: Server, coding: str, protocol: str
) -> None:
    with connect(small_server, protocol, SMALL_CAP) as conn:
        response = fetch(conn, f"/bomb/{coding}")
        assert response.status == 200
        raises_exactly(ContentDecodingError, response.read)
        assert fetch(conn, "/get").read()  # the connection goes on
    with connect(small_server, protocol, SMALL_BOMB) as conn:  # the cap is inclusive
        assert fetch(conn, f"/bomb/{coding}").read() == bytes(SMALL_BOMB)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("coding", CODINGS)
def test_sliced_reads_pass_the_cap_in_bounded_pieces(
    small_server: Server, coding: str, protocol: str
) -> None:
    sizes = []
    with connect(small_server, protocol, SMALL_CAP) as conn:
        response = fetch(conn, f"/bomb/{coding}")
        while piece := response.read(SLICE):
            assert not piece.strip(b"\0")
            sizes.append(len(piece))
        assert response.closed
        assert fetch(conn, "/get").read()
    assert sum(sizes) == SMALL_BOMB
    assert max(sizes) == SLICE


# --- in child processes: memory ------------------------------------------------


def child_runs() -> list[tuple[str, str]]:
    """(coding, protocol) pairs: all of them on demand, else each coding once."""
    if ON_DEMAND:
        return [(coding, protocol) for coding in CODINGS for protocol in PROTOCOLS]
    return [(coding, PROTOCOLS[i % 2]) for i, coding in enumerate(CODINGS)]


def run_children(port: int) -> dict[tuple[str, str], dict[str, Any]]:
    """Run bomb_client_rss.py for every pair, :data:`CHILD_JOBS` at a time."""
    runs = child_runs()
    argvs = [[str(port), protocol, coding, str(CHILD_CAP)] for coding, protocol in runs]
    reports = run_json_children(CHILD_SCRIPT, argvs, CHILD_JOBS, CHILD_TIMEOUT)
    return dict(zip(runs, reports, strict=True))


@pytest.fixture(scope="module")
def child_reports() -> dict[tuple[str, str], dict[str, Any]]:
    with bomb_server(BOMB_GIB * GIB) as server:
        reports = run_children(server.port)
    if ON_DEMAND:
        sys.stderr.write(json.dumps([*reports.values()], indent=1) + "\n")
    return reports


#: An HTTP/1.1 whole read of a br body under the 1 GiB cap peaks about
#: 330 MiB over the cap (HTTP/2: about 40 MiB; decode_all: about 5 MiB).
BR_HTTP11_OVERSHOOT = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="bug: read() of a whole br body takes the cap plus ~30 % in memory over "
    "HTTP/1.1 (256 KiB decoding slices fragment the heap; decode_all's 1 MiB do not)",
)


def child_params() -> list[Any]:
    return [
        pytest.param(*run, marks=BR_HTTP11_OVERSHOOT)
        if ON_DEMAND and run == ("br", "http/1.1")
        else run
        for run in child_runs()
    ]


@pytest.mark.slow
@pytest.mark.timeout(CHILD_TIMEOUT * len(child_runs()))
@pytest.mark.parametrize(("coding", "protocol"), child_params())
def test_bomb_through_a_connection_in_constant_memory(
    child_reports: dict[tuple[str, str], dict[str, Any]], coding: str, protocol: str
) -> None:
    report = child_reports[coding, protocol]
    assert report["decoded"] == BOMB_GIB * GIB
    assert report["largest_read"] == SLICE
    assert report["peak_kib"] - report["baseline_kib"] < SLICE_RSS_LIMIT_KIB
    assert report["refused"] == "ContentDecodingError"
    assert report["after_ok"]
    cap_kib = CHILD_CAP // 1024
    assert report["cap_peak_kib"] - report["cap_baseline_kib"] < cap_kib + CAP_RSS_SLACK_KIB
