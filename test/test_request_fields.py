"""What goes in a request besides its body, on both protocols: header
validation (RFC 9113 section 8.2 both ways), the RFC 9218 ``priority``
header, request trailers, and response trailers on every way of reading."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from h2_helpers import connect
from hyperframe.frame import HeadersFrame

from hyper import HTTP11Connection, HTTPConnection, Priority
from hyper.common import exceptions as exc
from hyper.common.priority import priority_field
from hyper.http20.connection import HTTP20Connection
from hyper.testing import H2Handle, Request, Response, Server

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(tls=False, protocols=("h2", "http/1.1"), h2c_upgrade=False) as srv:

        @srv.route("/trailer-echo")
        def trailer_echo(request: Request, response: Response) -> None:
            body = request.body
            response.send_json({"body": body.decode(), "trailers": request.trailers})

        yield srv


def open_h2(server: Server) -> HTTP20Connection:
    return connect(server, timeout=TIMEOUT)


def open_h1(server: Server) -> HTTP11Connection:
    return HTTP11Connection(server.host, server.port, secure=False, timeout=TIMEOUT)


CONNECTIONS: dict[str, Callable[[Server], Any]] = {"h2": open_h2, "http/1.1": open_h1}


@pytest.fixture(params=sorted(CONNECTIONS))
def conn(request: pytest.FixtureRequest, server: Server) -> Iterator[Any]:
    with CONNECTIONS[request.param](server) as connection:
        yield connection


def roundtrip(conn: Any, method: str, url: str, **kwargs: Any) -> Any:
    sid = conn.request(method, url, **kwargs)
    response = conn.get_response(sid) if sid is not None else conn.get_response()
    assert response.status == 200, response.read()
    return json.loads(response.read())


# --- header validation --------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"x-bad": "a\r\nb"},
        {"x-bad": "a\nb"},
        {"x-bad": "a\x00b"},
        {"bad name": "1"},
        {"bad:name": "1"},
        {"": "1"},
        {"x-\x7f": "1"},
        {"na\u00efve": "1"},
    ],
)
def test_bad_headers_are_refused_before_anything_is_sent(
    conn: Any, server: Server, headers: dict[str, str]
) -> None:
    before = len(server.requests)
    with pytest.raises(exc.LocalProtocolError):
        conn.request("GET", "/get", headers=headers)
    assert len(server.requests) == before
    assert roundtrip(conn, "GET", "/get")["path"] == "/get"  # the connection is fine


def test_h2_header_names_go_lowercase_and_hop_by_hop_ones_are_stripped(server: Server) -> None:
    with open_h2(server) as conn:
        sid = conn.request(
            "GET",
            "/get",
            headers=[("X-Mixed-Case", "v"), ("CONNECTION", "close"), ("Te", "trailers, gzip")],
        )
        conn.get_response(sid).read()
    names = [name for name, _ in server.requests[-1].headers]
    assert "x-mixed-case" in names
    assert all(name == name.lower() for name in names)
    assert "connection" not in names
    assert "te" not in names


@pytest.mark.parametrize(
    "fields",
    [
        [(b":status", b"200"), (b"X-Upper", b"1")],
        [(b":status", b"200"), (b"connection", b"close")],
        [(b":status", b"200"), (b"x-ok", b"1"), (b":path", b"/late-pseudo")],
        [(b"x-first", b"1"), (b":status", b"200")],
        [(b":status", b"2x0")],
    ],
    ids=["uppercase", "connection-specific", "late-pseudo", "pseudo-after", "bad-status"],
)
def test_malformed_response_heads_are_protocol_errors(
    fields: list[tuple[bytes, bytes]],
) -> None:
    sent: list[int] = []
    handles: list[H2Handle] = []
    with Server(tls=False, protocols=("h2",)) as srv:

        @srv.on_h2_event
        def answer(handle: H2Handle, event: h2.events.Event) -> bool | None:
            if isinstance(event, h2.events.RequestReceived) and handle.id == 1 and not sent:
                sent.append(event.stream_id or 0)
                handles.append(handle)
                block = handle.h2.encoder.encode(fields)
                flags = ["END_HEADERS"]  # the stream stays open: the client must reset it
                handle.send_frame(HeadersFrame(sent[0], block, flags=flags))
                return True
            return None

        with open_h2(srv) as conn:
            with pytest.raises(exc.InvalidResponseError):
                conn.get_response(conn.request("GET", "/get")).read()
            # A malformed response is a stream error (RFC 9113 section 8.1.1):
            # the stream is reset, the socket goes on.
            assert json.loads(conn.get_response(conn.request("GET", "/get")).read())
            assert handles[0].wait_for_reset(sent[0]) == ErrorCodes.PROTOCOL_ERROR
        assert srv.connection_count == 1


# --- priority (RFC 9218) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (Priority(urgency=0, incremental=True), "u=0, i"),
        (Priority(urgency=6), "u=6"),
        (Priority(incremental=True), "i"),
        (1, "u=1"),
    ],
)
def test_priority_goes_on_the_wire(conn: Any, priority: Any, expected: str) -> None:
    echo = roundtrip(conn, "GET", "/get", headers={"priority": "u=7"}, priority=priority)
    assert echo["headers"]["priority"] == expected  # replaces the one in headers


def test_default_priority_sends_nothing(conn: Any) -> None:
    echo = roundtrip(conn, "GET", "/get", priority=Priority())
    assert "priority" not in echo["headers"]


@pytest.mark.parametrize(
    ("value", "error"),
    [(8, ValueError), (-1, ValueError), (True, TypeError), ("u=1", TypeError), (1.5, TypeError)],
)
def test_bad_priorities(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        priority_field(value)
    with pytest.raises(error):
        HTTP20Connection("example.com").request("GET", "/", priority=value)


def test_priority_checks_its_fields() -> None:
    with pytest.raises(ValueError):
        Priority(urgency=9)
    with pytest.raises(TypeError):
        Priority(incremental=1)  # type: ignore[arg-type]


# --- request trailers ---------------------------------------------------------------


BODIES: dict[str, Callable[[], Any]] = {
    "bytes": lambda: b"payload",
    "str": lambda: "payload",
    "iter": lambda: iter([b"pay", b"load"]),
    "empty": lambda: b"",
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_request_trailers(conn: Any, kind: str) -> None:
    trailers = {"X-Checksum": "abc", "x-n": "1"}
    echo = roundtrip(conn, "POST", "/trailer-echo", body=BODIES[kind](), trailers=trailers)
    assert echo["body"] == ("" if kind == "empty" else "payload")
    assert sorted(map(tuple, echo["trailers"])) == [("x-checksum", "abc"), ("x-n", "1")]


def test_request_trailers_over_http11_are_announced_and_chunked(server: Server) -> None:
    with open_h1(server) as conn:
        roundtrip(conn, "POST", "/trailer-echo", body=b"abc", trailers=[("X-Sum", "1")])
    request = server.requests[-1]
    assert request.header("trailer") == "x-sum"
    assert request.header("transfer-encoding") == "chunked"
    assert request.header("content-length") is None


def test_http11_trailers_refuse_a_content_length(server: Server) -> None:
    with open_h1(server) as conn, pytest.raises(exc.LocalProtocolError):
        conn.request(
            "POST", "/post", body=b"x", headers={"content-length": "1"}, trailers={"a": "b"}
        )


def test_bad_trailers_are_refused(conn: Any) -> None:
    with pytest.raises(exc.LocalProtocolError):
        conn.request("POST", "/post", body=b"x", trailers={"x-bad": "a\r\nb"})
    with pytest.raises(exc.LocalProtocolError):
        conn.request("POST", "/post", body=b"x", trailers={":path": "/"})


def test_trailers_through_http_connection(server: Server) -> None:
    with HTTPConnection(server.host, server.port, secure=False, timeout=TIMEOUT) as conn:
        echo = roundtrip(conn, "PUT", "/trailer-echo", body=b"z", trailers={"x-t": "1"})
    assert echo["trailers"] == [["x-t", "1"]]


# --- response trailers, every way of reading ------------------------------------------


def read_whole(response: Any) -> bytes:
    return bytes(response.read())


def read_slices(response: Any) -> bytes:
    parts = []
    while piece := response.read(7):
        parts.append(piece)
    return b"".join(parts)


def read_chunked(response: Any) -> bytes:
    return b"".join(response.read_chunked())


def read_into(response: Any) -> bytes:
    buffer = bytearray(5)
    parts = []
    while count := response.readinto(buffer):
        parts.append(bytes(buffer[:count]))
    return b"".join(parts)


def read_iter(response: Any) -> bytes:
    return b"".join(response)


READERS = [read_whole, read_slices, read_chunked, read_into, read_iter]


@pytest.mark.parametrize("reader", READERS, ids=lambda f: f.__name__)
def test_response_trailers_after_any_read(conn: Any, reader: Callable[[Any], bytes]) -> None:
    sid = conn.request("GET", "/trailers?x-a=1&x-b=2")
    response = conn.get_response(sid) if sid is not None else conn.get_response()
    assert reader(response) == b"this body is followed by trailers\n"
    assert response.trailers["x-a"] == [b"1"]
    assert response.trailers["x-b"] == [b"2"]


def test_response_trailers_asked_for_first_keep_the_body(conn: Any) -> None:
    sid = conn.request("GET", "/trailers")
    response = conn.get_response(sid) if sid is not None else conn.get_response()
    assert response.trailers["x-trailer"] == [b"end"]
    assert response.read() == b"this body is followed by trailers\n"


def test_response_trailers_with_an_empty_body() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:

        @srv.route("/only-trailers")
        def only(request: Request, response: Response) -> None:
            response.start(200)
            response.finish(trailers=[("x-status", "ok")])

        with open_h2(srv) as conn:
            response = conn.get_response(conn.request("GET", "/only-trailers"))
            assert response.read() == b""
            assert response.trailers["x-status"] == [b"ok"]
