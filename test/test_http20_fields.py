"""Received field blocks checked by hyper (RFC 9113 sections 8.1.1, 8.2, 8.3):
the rules one by one, then what a malformed block does to a live stream (a
stream error: that stream is reset with PROTOCOL_ERROR, the socket goes on)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2_helpers import IO_TIMEOUT, connect
from hyperframe.frame import DataFrame, HeadersFrame

from hyper.common import exceptions as exc
from hyper.http20 import _fields
from hyper.http20._fields import request_problem, response_problem, trailers_problem
from hyper.testing import H2Handle, Server

OK = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"x-empty", b"")]
PROMISE = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/p"), (b":authority", b"a")]


def test_well_formed_blocks_pass() -> None:
    assert response_problem(OK) is None
    assert response_problem([(b":status", b"103"), (b"link", b"</a>; rel=preload")]) is None
    assert trailers_problem([(b"x-sum", b"1 2"), (b"te", b"Trailers")]) is None
    assert trailers_problem([]) is None
    assert request_problem(PROMISE) is None
    assert request_problem(PROMISE[:3]) is None  # :authority is optional


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ([(b":status", b"200"), (b"X-Upper", b"1")], "invalid field name"),
        ([(b":status", b"200"), (b"", b"1")], "invalid field name"),
        ([(b":status", b"200"), (b"a b", b"1")], "invalid field name"),
        ([(b":status", b"200"), (b"a:b", b"1")], "invalid field name"),
        ([(b":status", b"200"), (b"\xe9", b"1")], "invalid field name"),
        ([(b":status", b"200"), (b"::status", b"1")], "invalid field name"),
        ([(b":status", b"200"), (b"x", b"a\r\nb")], "invalid value"),
        ([(b":status", b"200"), (b"x", b"a\x00")], "invalid value"),
        ([(b":status", b"200"), (b"x", b" lead")], "invalid value"),
        ([(b":status", b"200"), (b"x", b"trail\t")], "invalid value"),
        ([(b":status", b"200"), (b"transfer-encoding", b"chunked")], "connection-specific"),
        ([(b":status", b"200"), (b"upgrade", b"h2c")], "connection-specific"),
        ([(b":status", b"200"), (b"te", b"gzip")], "TE"),
        ([(b"x", b"1"), (b":status", b"200")], "after a regular field"),
        ([(b":status", b"200"), (b":path", b"/")], "not allowed"),
        ([(b":status", b"200"), (b":status", b"204")], "repeated"),
        ([(b"x", b"1")], "missing"),
        ([(b":status", b"20")], "invalid :status"),
        ([(b":status", b"2x0")], "invalid :status"),
    ],
)
def test_malformed_responses(fields: list[tuple[bytes, bytes]], why: str) -> None:
    problem = response_problem(fields)
    assert problem is not None
    assert why in problem


def test_malformed_trailers_and_promises() -> None:
    assert "not allowed" in (trailers_problem([(b":status", b"200")]) or "")
    assert "connection-specific" in (trailers_problem([(b"connection", b"x")]) or "")
    assert "missing" in (request_problem(PROMISE[1:]) or "")  # no :method
    assert "not allowed" in (request_problem([*PROMISE, (b":status", b"200")]) or "")
    assert "invalid field name" in (request_problem([*PROMISE, (b"X-A", b"1")]) or "")


# --- on a live connection ----------------------------------------------------------


Script = Callable[[H2Handle, int], None]


@pytest.fixture
def staged() -> Iterator[tuple[Server, dict[str, Script], list[tuple[H2Handle, int]]]]:
    """A server whose answers to the paths in ``scripts`` are raw frames
    (the script owns the stream; the server's own handling is skipped)."""
    scripts: dict[str, Script] = {}
    seen: list[tuple[H2Handle, int]] = []
    with Server(tls=False, protocols=("h2",)) as srv:
        srv.expect_errors = True

        @srv.on_h2_event
        def answer(handle: H2Handle, event: h2.events.Event) -> bool | None:
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers or ()).get(b":path", b"").decode()
                if path in scripts:
                    seen.append((handle, event.stream_id or 0))
                    scripts[path](handle, event.stream_id or 0)
                    return True
            return None

        yield srv, scripts, seen


def _headers(handle: H2Handle, sid: int, fields: list[tuple[str, str]], end: bool) -> None:
    flags = ["END_HEADERS", "END_STREAM"] if end else ["END_HEADERS"]
    handle.send_frame(HeadersFrame(sid, handle.encode_headers(fields), flags=flags))


def test_malformed_trailers_fail_that_response_only(staged: Any) -> None:
    server, scripts, _ = staged

    def bad_trailers(handle: H2Handle, sid: int) -> None:
        _headers(handle, sid, [(":status", "200")], end=False)
        handle.send_frame(DataFrame(sid, b"body"))
        _headers(handle, sid, [("x-sum", "1"), ("connection", "close")], end=True)

    scripts["/bad-trailers"] = bad_trailers
    with connect(server) as conn:
        response = conn.get_response(conn.request("GET", "/bad-trailers"))
        assert response.status == 200
        with pytest.raises(exc.InvalidResponseError, match="trailers"):
            response.read()
        assert conn.get_response(conn.request("GET", "/get")).status == 200  # same socket
    assert server.connection_count == 1


def test_a_malformed_informational_response_fails_its_stream(staged: Any) -> None:
    server, scripts, seen = staged
    scripts["/bad-103"] = lambda handle, sid: _headers(
        handle, sid, [(":status", "103"), ("Link", "</a>")], end=False
    )
    with connect(server) as conn:
        with pytest.raises(exc.InvalidResponseError, match="informational"):
            conn.get_response(conn.request("GET", "/bad-103"))
        handle, sid = seen[0]
        assert handle.wait_for_reset(sid, IO_TIMEOUT) == ErrorCodes.PROTOCOL_ERROR
        assert conn.get_response(conn.request("GET", "/get")).status == 200
    assert server.connection_count == 1


def test_a_malformed_promise_is_reset_and_the_page_still_arrives(staged: Any) -> None:
    server, scripts, _ = staged
    promised: list[tuple[H2Handle, int]] = []

    def bad_promise(handle: H2Handle, sid: int) -> None:
        fields = [(name.decode(), value.decode()) for name, value in PROMISE]
        promised.append((handle, handle.push_promise(sid, [*fields, ("connection", "close")])))
        _headers(handle, sid, [(":status", "200")], end=True)

    scripts["/bad-promise"] = bad_promise
    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", "/bad-promise")
        assert conn.get_response(sid).status == 200
        assert list(conn.get_pushes(sid)) == []
        handle, pushed = promised[0]
        assert handle.wait_for_reset(pushed, IO_TIMEOUT) == ErrorCodes.PROTOCOL_ERROR


def test_only_small_well_formed_blocks_are_remembered() -> None:
    _fields._well_formed.clear()
    assert response_problem(OK) is None
    assert ("response", *OK) in _fields._well_formed
    bad = [(b":status", b"200"), (b"X-Upper", b"1")]
    assert response_problem(bad) == response_problem(bad) is not None  # asked twice, refused twice
    big = [(b":status", b"200"), (b"x-big", b"v" * _fields.MEMO_MAX_BYTES)]
    assert response_problem(big) is None
    assert ("response", *big) not in _fields._well_formed
    for n in range(2 * _fields.MEMO_SIZE):
        assert trailers_problem([(b"x-n", str(n).encode())]) is None
    assert len(_fields._well_formed) <= _fields.MEMO_SIZE
