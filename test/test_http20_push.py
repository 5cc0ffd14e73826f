"""Server push against the in-process server: promises before, after and in
the middle of the parent response, ``get_pushes()`` without blocking and with
``capture_all``, ``cancel()`` seen by the server, the bound on held pushes,
and every promise RFC 9113 section 8.4 says a client must refuse."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2_helpers import IO_TIMEOUT, connect

from hyper import HTTP20Push, HTTPConnection
from hyper.common import exceptions as exc
from hyper.http20._settings import MAX_PUSHED_STREAMS
from hyper.testing import Request, Response, Server, payload

CSS = b"body { color: red }\n"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(tls=True, protocols=("h2",)) as srv:
        yield srv


def push_css(response: Any, path: str = "/style.css") -> None:
    pushed = response.push(path, [("accept", "text/css")])
    pushed.send(CSS, content_type="text/css")


def route(server: Server, path: str) -> Any:
    return server.route(path)


@pytest.mark.parametrize("when", ["before", "after", "mid-body"])
def test_a_push_promised_at_any_point_is_delivered(server: Server, when: str) -> None:
    @server.route(f"/page-{when}")
    def page(request: Request, response: Response) -> None:
        if when == "before":
            push_css(response)
        response.start(200, [("content-type", "text/html")])
        if when == "after":
            push_css(response)
        response.write(b"<html>")
        if when == "mid-body":
            push_css(response)
        response.write(b"</html>")
        response.finish()

    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", f"/page-{when}")
        response = conn.get_response(sid)
        assert response.read() == b"<html></html>"
        pushes = list(conn.get_pushes(sid))
        assert len(pushes) == 1
        push = pushes[0]
        assert isinstance(push, HTTP20Push)
        assert (push.method, push.scheme, push.path) == (b"GET", b"https", b"/style.css")
        assert push.authority == server.authority.encode()
        assert push.request_headers["accept"] == [b"text/css"]
        assert push.parent_stream_id == sid
        assert push.promised_stream_id % 2 == 0
        pushed = push.get_response()
        assert pushed.status == 200
        assert pushed.headers["content-type"] == [b"text/css"]
        assert pushed.read() == CSS
        assert list(conn.get_pushes(sid)) == []  # handed out once


def test_get_pushes_defaults_to_the_latest_request_and_never_blocks(server: Server) -> None:
    later = threading.Event()

    @server.route("/slow-pusher")
    def slow(request: Request, response: Response) -> None:
        response.start(200)
        push_css(response, "/first.css")
        assert later.wait(IO_TIMEOUT)
        push_css(response, "/second.css")
        response.finish()

    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", "/slow-pusher")
        response = conn.get_response(sid)
        deadline = time.monotonic() + IO_TIMEOUT
        first: list[HTTP20Push] = []
        while not first and time.monotonic() < deadline:
            started = time.monotonic()
            first = list(conn.get_pushes())  # the most recent request: sid
            assert time.monotonic() - started < 1.0  # returns at once
            if not first:
                conn.ping(b"progress")  # let the promise arrive
        assert [p.path for p in first] == [b"/first.css"]
        later.set()
        assert response.read() == b""
        assert [p.path for p in conn.get_pushes(sid)] == [b"/second.css"]


def test_capture_all_waits_until_the_parent_ends(server: Server) -> None:
    @server.route("/three")
    def three(request: Request, response: Response) -> None:
        response.start(200)
        for index in range(3):
            server.sleep(0.05)
            pushed = response.push(f"/asset/{index}")
            pushed.send(payload(1000 + index))
        response.finish()

    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", "/three")
        paths = []
        for push in conn.get_pushes(sid, capture_all=True):
            paths.append(push.path)
            index = int(push.path.rsplit(b"/", 1)[1])
            assert push.get_response().read() == payload(1000 + index)
        assert paths == [b"/asset/0", b"/asset/1", b"/asset/2"]
        assert conn.get_response(sid).read() == b""


def test_cancel_sends_rst_stream_cancel(server: Server) -> None:
    promised: list[int] = []
    handles: list[Any] = []
    release = threading.Event()

    @server.route("/unwanted")
    def unwanted(request: Request, response: Response) -> None:
        pushed = response.push("/big.bin")
        promised.append(pushed.request.stream_id)
        handles.append(response.h2)
        response.send(b"page")
        assert release.wait(IO_TIMEOUT)
        pushed.send(payload(100_000))  # dropped quietly once cancelled

    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", "/unwanted")
        assert conn.get_response(sid).read() == b"page"
        (push,) = conn.get_pushes(sid)
        push.cancel()
        assert handles[0].wait_for_reset(promised[0], IO_TIMEOUT) == ErrorCodes.CANCEL
        release.set()
        with pytest.raises(exc.LocalProtocolError):
            push.get_response()
        assert conn.get_response(conn.request("GET", "/get")).status == 200


def test_pushes_beyond_the_bound_are_refused(server: Server) -> None:
    count = MAX_PUSHED_STREAMS + 4
    ids: list[int] = []
    handles: list[Any] = []

    @server.route("/flood")
    def flood(request: Request, response: Response) -> None:
        handles.append(response.h2)
        promised = [response.push(f"/p/{index}") for index in range(count)]
        ids.extend(pushed.request.stream_id for pushed in promised)
        # The client refuses the extra promises while they are still open.
        response.h2.wait_for_reset(ids[-1])
        response.send(b"done")
        for index, pushed in enumerate(promised):  # the refused ones are dropped
            pushed.send(b"%d" % index)

    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", "/flood")
        assert conn.get_response(sid).read() == b"done"
        pushes = list(conn.get_pushes(sid))
        assert [p.path for p in pushes] == [b"/p/%d" % i for i in range(MAX_PUSHED_STREAMS)]
        for index, push in enumerate(pushes):
            assert push.get_response().read() == b"%d" % index
        extra = ids[MAX_PUSHED_STREAMS:count]  # the second request's ids follow
        refused = [handles[0].wait_for_reset(promised, IO_TIMEOUT) for promised in extra]
        assert refused == [ErrorCodes.REFUSED_STREAM] * 4
        assert not any(sid_ in ids[:MAX_PUSHED_STREAMS] for sid_, _ in handles[0].resets)
        # Read pushes free their slots: new ones are accepted again.
        sid = conn.request("GET", "/flood")
        assert conn.get_response(sid).read() == b"done"
        assert len(list(conn.get_pushes(sid))) == MAX_PUSHED_STREAMS


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"method": "POST"}, "not a safe method"),
        ({"authority": "elsewhere.example"}, "another origin"),
        ({"scheme": "http"}, "another scheme"),
    ],
)
def test_promises_a_client_must_refuse_are_reset(
    server: Server, kwargs: dict[str, str], why: str
) -> None:
    seen: list[tuple[Any, int]] = []

    @server.route("/bad-push")
    def bad(request: Request, response: Response) -> None:
        pushed = response.push("/x", **kwargs)
        seen.append((response.h2, pushed.request.stream_id))
        response.send(b"page")

    with connect(server, enable_push=True) as conn:
        sid = conn.request("GET", "/bad-push")
        assert conn.get_response(sid).read() == b"page", why
        assert list(conn.get_pushes(sid)) == []
        handle, promised = seen[0]
        assert handle.wait_for_reset(promised, IO_TIMEOUT) == ErrorCodes.PROTOCOL_ERROR


def test_push_on_a_parent_the_server_ended_is_a_connection_error() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:
        ended = threading.Event()

        @srv.route("/ended")
        def ended_parent(request: Request, response: Response) -> None:
            response.send(b"done")
            assert ended.wait(IO_TIMEOUT)
            response.h2.push_promise(
                request.stream_id or 0,
                [
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", request.authority),
                    (":path", "/late"),
                ],
            )

        with connect(srv, enable_push=True) as conn:
            sid = conn.request("GET", "/ended")
            assert conn.get_response(sid).read() == b"done"
            slow = conn.request("GET", "/delay/1")
            ended.set()
            with pytest.raises(exc.ProtocolError):
                conn.get_response(slow)
            assert conn.get_response(conn.request("GET", "/get")).status == 200
        assert srv.connection_count == 2


def test_a_server_that_pushes_when_push_is_off_breaks_the_protocol() -> None:
    with Server(tls=False, protocols=("h2",)) as srv:
        states: list[bool] = []

        @srv.route("/pushy")
        def pushy(request: Request, response: Response) -> None:
            states.append(response.h2.client_push_enabled)
            response.start(200)
            response.h2.push_promise(
                request.stream_id or 0,
                [
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", request.authority),
                    (":path", "/no"),
                ],
            )
            response.write(b"x")
            response.finish()

        # enable_push=False: SETTINGS_ENABLE_PUSH=0
        with connect(srv) as conn, pytest.raises(exc.ProtocolError):
            conn.get_response(conn.request("GET", "/pushy")).read()
        assert states == [False]


def test_get_pushes_misuse(server: Server) -> None:
    with connect(server, enable_push=True) as conn:
        with pytest.raises(exc.LocalProtocolError):
            list(conn.get_pushes())  # no request yet
        sid = conn.request("GET", "/get")
        conn.get_response(sid).read()
        with pytest.raises(exc.LocalProtocolError):
            list(conn.get_pushes(sid + 100))
        assert list(conn.get_pushes(sid)) == []


def test_http_connection_delegates_get_pushes(server: Server) -> None:
    @server.route("/via-alpn")
    def via(request: Request, response: Response) -> None:
        push_css(response)
        response.send(b"ok")

    conn = HTTPConnection(
        server.host,
        server.port,
        ssl_context=server.ssl_context(),
        enable_push=True,
        timeout=IO_TIMEOUT,
    )
    with conn:
        sid = conn.request("GET", "/via-alpn")
        assert conn.get_response(sid).read() == b"ok"
        (push,) = conn.get_pushes(sid)
        assert push.get_response().read() == CSS
