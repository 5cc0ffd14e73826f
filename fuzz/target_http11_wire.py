"""Fuzz target: HTTP/1.1 responses through the real client over a real socket.

Not in the default set (``python -b -m fuzz http11-wire``): the parser
target covers the head parser in memory at a hundred times the speed; this
one covers what sits around it in :class:`~hyper.http11.connection.HTTP11Connection`
and its response: body framing by ``Content-Length``, chunked coding (chunk
extensions, trailers, malformed sizes), close-delimited bodies,
informational responses, keep-alive reuse, and servers that stop halfway.
A :class:`~fuzz._wire.ScriptedServer` answers each request head with the
next drawn reply (built from parts, then maybe corrupted, or raw bytes from
the parser target's strategies), then closes, resets or holds the
connection. The client reads each response in a drawn style; an intact
reply must come back byte for byte. Optionally one more request on the same
connection object, to a well-behaved server, must then succeed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
from dataclasses import dataclass

from hypothesis import strategies as st

from fuzz._client import ReadPlan, read_plan, read_response
from fuzz._engine import Target
from fuzz._util import Repeated
from fuzz._wire import (
    CLIENT_TIMEOUT,
    HOLD,
    REUSE_TIMEOUT,
    Drain,
    ScriptedServer,
    end_connection,
)
from fuzz.target_http11 import example as parser_example
from fuzz.target_http11 import mutated
from hyper.common.exceptions import HyperError
from hyper.http11.connection import HTTP11Connection

__all__ = ["TARGET", "Example", "Reply", "run_example"]

#: Seconds after which an example counts as a hang.
TIME_LIMIT = 20.0
#: How long the server waits for the next request head.
WAIT_REQUEST = 0.5
HEALTHY = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nhealthy\n"


@dataclass(frozen=True)
class Reply:
    """One response: status, extra headers, framing, body; or raw bytes."""

    status: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    framing: str
    body: bytes
    chunk_size: int
    extension: bytes
    trailers: tuple[tuple[bytes, bytes], ...]
    informational: bool
    damage: bytes | None = None  # the reply's bytes after corruption, when corrupted


@dataclass(frozen=True)
class Example:
    """Requests (method and reading style) and the replies that answer them."""

    requests: tuple[tuple[str, ReadPlan], ...]
    replies: tuple[Reply, ...]
    chunk: int | None
    ending: str
    reuse: bool


def render(reply: Reply, head_only: bool = False) -> bytes:
    """The wire bytes of an intact reply (without a body for HEAD, 204, 304)."""
    lines = [b"HTTP/1.1 100 Continue\r\n\r\n"] if reply.informational else []
    lines.append(b"HTTP/1.1 " + reply.status + b" OK\r\n")
    lines += [name + b": " + value + b"\r\n" for name, value in reply.headers]
    body = bytes(reply.body)
    if head_only or reply.status in (b"204", b"304"):
        framing = b"Content-Length: %d\r\n" % len(body) if reply.framing == "length" else b""
        return b"".join(lines) + framing + b"\r\n"
    if reply.framing == "length":
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    elif reply.framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked\r\n\r\n")
        size = max(1, reply.chunk_size)
        for at in range(0, len(body), size):
            piece = body[at : at + size]
            lines.append(b"%x%s\r\n" % (len(piece), reply.extension) + piece + b"\r\n")
        lines.append(b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in reply.trailers))
        lines.append(b"\r\n")
    else:  # close-delimited (or no body for 204/304)
        lines.append(b"Connection: close\r\n\r\n" + body)
    return b"".join(lines)


_field = st.tuples(
    st.sampled_from((b"X-A", b"Content-Type", b"Server", b"ETag")),
    st.sampled_from((b"1", b"text/plain", b"fuzz", b"")),
)
_body = st.one_of(
    st.binary(max_size=300),
    st.builds(Repeated, st.binary(min_size=1, max_size=3), st.integers(0, 30000)),
)


@st.composite
def reply(draw: st.DrawFn) -> Reply:
    """A reply built from parts; sometimes corrupted afterwards."""
    built = Reply(
        status=draw(st.sampled_from((b"200",) * 6 + (b"204", b"304", b"404", b"500"))),
        headers=tuple(draw(st.lists(_field, max_size=3))),
        framing=draw(st.sampled_from(("length", "length", "chunked", "chunked", "close"))),
        body=draw(_body),
        chunk_size=draw(st.sampled_from((1, 7, 100, 4096, 1 << 20))),
        extension=draw(st.sampled_from((b"", b"", b";a=b", b";x"))),
        trailers=tuple(draw(st.lists(_field, max_size=2))),
        informational=draw(st.integers(0, 9)) == 0,
    )
    kind = draw(st.integers(0, 9))
    if kind == 0:  # corrupted: flip, insert, delete or cut
        return dataclasses.replace(built, damage=draw(mutated(st.just(render(built)))))
    if kind == 1:  # whatever the parser target makes
        return dataclasses.replace(built, damage=draw(parser_example()).data)
    return built


_request = st.tuples(st.sampled_from(("GET", "GET", "GET", "HEAD")), read_plan)


@st.composite
def example(draw: st.DrawFn) -> Example:
    """Draw the requests and the replies that answer them."""
    requests = tuple(draw(st.lists(_request, min_size=1, max_size=3)))
    count = len(requests) + draw(st.sampled_from((0, 0, 0, -1)))
    return Example(
        requests=requests,
        replies=tuple(draw(st.lists(reply(), min_size=count, max_size=count))),
        chunk=draw(st.one_of(st.none(), st.none(), st.sampled_from((1, 10, 500)))),
        ending=draw(st.sampled_from(("close",) * 8 + ("reset", "hold"))),
        reuse=draw(st.integers(0, 2)) == 0,
    )


def _read_head(sock: socket.socket, buffered: bytes) -> tuple[bytes, bytes] | None:
    """Read one request head (no request has a body): its request line and
    the bytes after it, or ``None`` if none came in time."""
    deadline = time.monotonic() + WAIT_REQUEST
    while b"\r\n\r\n" not in buffered:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        if not data:
            return None
        buffered += data
    head, rest = buffered.split(b"\r\n\r\n", 1)
    return head.split(b"\r\n", 1)[0], rest


class _Server:
    """Answers each request with the reply its path names, then, on
    connections from ``healthy_from`` on, with a well-behaved one."""

    def __init__(self, ex: Example) -> None:
        self.example = ex
        self.healthy_from: int | None = None

    def _reply_for(self, line: bytes) -> Reply | None:
        """The reply to a request line ``METHOD /fuzz/INDEX HTTP/1.1``."""
        index = int(line.split(b" ")[1].rsplit(b"/", 1)[1])
        replies = self.example.replies
        return replies[index] if index < len(replies) else None

    def serve(self, index: int, sock: socket.socket) -> None:
        healthy = self.healthy_from is not None and index >= self.healthy_from
        buffered = b""
        while (request := _read_head(sock, buffered)) is not None:
            line, buffered = request
            if healthy:
                sock.sendall(HEALTHY)
                continue
            chosen = self._reply_for(line)
            if chosen is None:
                break
            self._write(sock, chosen.damage or render(chosen, line.startswith(b"HEAD ")))
            if chosen.framing == "close" or chosen.damage is not None:
                break  # the body ends with the connection (or its framing is unknown)
        if not healthy:
            end_connection(sock, Drain(sock), self.example.ending, HOLD)

    def _write(self, sock: socket.socket, data: bytes) -> None:
        chunk = self.example.chunk
        if chunk is None:
            sock.sendall(data)
            return
        for at in range(0, len(data), chunk):
            sock.sendall(data[at : at + chunk])


def _expected(reply: Reply | None, method: str, plan: ReadPlan) -> bytes | None:
    """The body the client must read, when the reply is intact and readable whole."""
    if reply is None or reply.damage is not None or plan.mode not in ("all", "slices"):
        return None
    if reply.framing == "close" or reply.status in (b"204", b"304"):
        return None
    return b"" if method == "HEAD" else bytes(reply.body)


def _client(wire: ScriptedServer, ex: Example, server: _Server) -> None:
    with HTTP11Connection("127.0.0.1", wire.port, secure=False, timeout=CLIENT_TIMEOUT) as conn:
        for index, (method, plan) in enumerate(ex.requests):
            reply = ex.replies[index] if index < len(ex.replies) else None
            with contextlib.suppress(HyperError):
                conn.request(method, f"/fuzz/{index}")
                body = read_response(conn.get_response(), plan)
                wanted = _expected(reply, method, plan)
                assert wanted is None or body == wanted, (len(body), len(wanted))
    if ex.reuse:
        server.healthy_from = wire.connections
        conn.timeout = REUSE_TIMEOUT
        with conn:
            conn.request("GET", "/healthy")
            response = conn.get_response()
            assert (response.status, response.read()) == (200, b"healthy\n")


def run_example(ex: Example) -> None:
    """Run one example: the check of this target.

    :raises AssertionError: an invariant broke (see the module docstring).
    """
    server = _Server(ex)
    with ScriptedServer(server.serve) as wire:
        _client(wire, ex, server)


TARGET = Target("http11-wire", example(), run_example, time_limit=TIME_LIMIT, batch_size=25)
