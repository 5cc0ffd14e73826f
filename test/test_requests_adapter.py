"""The requests adapter against the in-process server: requests' API over HTTP/2.

Each test makes the requests a user would (``session.get``, ``post``,
``stream=True``, cookies, redirects, proxies) and checks what the server
saw: the protocol, the connection and stream each request came on, how
many TCP connections were opened. Pool limits and retries are in
``test_requests_adapter_pool.py``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from adapter_helpers import CLIENT_TIMEOUT, SessionFactory, adapter_of, make_session
from h2_helpers import run_threads, wait_until

from hyper.common import exceptions as hyper_exceptions
from hyper.contrib import HTTP20Adapter
from hyper.contrib.requests_adapter import RawResponse
from hyper.http20.window import FlowControlManager
from hyper.testing import ConnectProxy, Request, Response, Server, payload

__all__ = ["make_session"]  # the fixture, imported for pytest

#: Threads sharing one session in the concurrency tests.
THREADS = 8
#: Seconds for a close by the test server to reach the client.
CLOSE_SETTLE = 0.3


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- requests' API over HTTP/2 ---------------------------------------------------------


def test_get_speaks_http2_with_str_headers_and_a_reason(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    response = make_session(hyper_server).get(hyper_server.url + "/get", timeout=CLIENT_TIMEOUT)
    assert (response.status_code, response.reason) == (200, "OK")
    raw = response.raw
    assert isinstance(raw, RawResponse)
    assert (raw.version, raw.version_string) == (20, "HTTP/2")
    assert raw._original_response.version == 20
    assert response.headers["Content-Type"] == "application/json"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in response.headers.items())
    assert response.json()["protocol"] == "h2"
    assert hyper_server.requests[0].http_version == "HTTP/2"


def test_reason_is_the_standard_phrase_on_http2(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    response = make_session(hyper_server).get(hyper_server.url + "/status/404")
    assert (response.status_code, response.reason) == (404, "Not Found")


def test_post_json_form_and_bytes(hyper_server: Server, make_session: SessionFactory) -> None:
    session = make_session(hyper_server)
    url = hyper_server.url + "/post"
    assert json.loads(session.post(url, json={"a": [1, 2]}).json()["data"]) == {"a": [1, 2]}
    assert session.post(url, data={"x": "1", "y": "ü"}).json()["data"] == "x=1&y=%C3%BC"
    echoed = session.post(url, data=b"\x00\xff" * 1000).json()
    assert echoed["body_sha256"] == _sha(b"\x00\xff" * 1000)
    assert {r.protocol for r in hyper_server.requests} == {"h2"}


def test_streamed_uploads_from_a_file_and_a_generator(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    data = payload(300_000, seed=7)
    session = make_session(hyper_server)
    from_file = session.put(hyper_server.url + "/upload", data=io.BytesIO(data)).json()
    pieces = (data[i : i + 50_000] for i in range(0, len(data), 50_000))
    from_generator = session.put(hyper_server.url + "/upload", data=pieces).json()
    assert (
        from_file == from_generator == {"method": "PUT", "length": len(data), "sha256": _sha(data)}
    )


def test_stream_true_iter_content_iter_lines_and_raw(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    big = session.get(hyper_server.url + "/bytes/500000?seed=3", stream=True)
    digest = hashlib.sha256()
    for chunk in big.iter_content(8192):
        assert 0 < len(chunk) <= 8192
        digest.update(chunk)
    assert digest.hexdigest() == _sha(payload(500_000, seed=3))
    lines = session.get(hyper_server.url + "/stream/20", stream=True).iter_lines()
    assert [json.loads(line)["id"] for line in lines] == list(range(20))
    raw = session.get(hyper_server.url + "/bytes/1000", stream=True).raw
    assert raw.read(10) == payload(1000)[:10]  # exactly amt bytes
    assert b"".join(raw.stream(100)) == payload(1000)[10:]
    assert raw.closed
    assert raw.read() == b""


def test_raw_is_undecoded_by_default_and_content_decoded(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    raw = session.get(hyper_server.url + "/gzip", stream=True).raw
    assert json.loads(gzip.decompress(raw.read()))["path"] == "/gzip"
    assert session.get(hyper_server.url + "/gzip").json()["path"] == "/gzip"
    decoded = session.get(hyper_server.url + "/gzip", stream=True).raw
    assert json.loads(decoded.read(decode_content=True))["path"] == "/gzip"


def test_cookies_reach_the_session_jar_across_a_redirect(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    response = session.get(hyper_server.url + "/cookies/set?a=1&b=2")
    assert [r.status_code for r in response.history] == [302]
    assert response.json() == {"cookies": {"a": "1", "b": "2"}}
    assert session.cookies.get_dict() == {"a": "1", "b": "2"}
    set_cookie = response.history[0].raw._original_response.msg.get_all("set-cookie")
    assert sorted(set_cookie) == ["a=1; Path=/", "b=2; Path=/"]


def test_redirects_are_followed_by_requests_on_one_connection(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    response = make_session(hyper_server).get(hyper_server.url + "/redirect/3")
    assert [r.status_code for r in response.history] == [302, 302, 302]
    assert response.url == hyper_server.url + "/get"
    assert [r.path for r in hyper_server.requests] == [
        "/redirect/3",
        "/redirect/2",
        "/redirect/1",
        "/get",
    ]
    assert hyper_server.connection_count == 1


def test_head_and_no_content_need_no_body_read(
    hyper_server_http11: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server_http11)
    head = session.head(hyper_server_http11.url + "/get", stream=True)
    assert head.raw.closed  # nothing to read: the connection is free already
    assert session.get(hyper_server_http11.url + "/status/204").status_code == 204
    assert session.get(hyper_server_http11.url + "/get").status_code == 200
    assert hyper_server_http11.connection_count == 1


# --- TLS ---------------------------------------------------------------------------


def test_verify_with_the_ca_path_and_failing_without(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session()
    url = hyper_server.url + "/get"
    with pytest.raises(requests.exceptions.SSLError) as caught:
        session.get(url, timeout=CLIENT_TIMEOUT)  # certifi does not know the test CA
    assert isinstance(caught.value.__cause__, hyper_exceptions.TLSError)
    assert session.get(url, verify=hyper_server.ca_path).json()["protocol"] == "h2"
    assert session.get(url, verify=False).status_code == 200
    with pytest.raises(OSError):
        session.get(url, verify="/nonexistent/ca.pem")


def test_client_certificate_is_loaded_and_checked(
    hyper_server: Server, make_session: SessionFactory, tmp_path: object
) -> None:
    cert = hyper_server.ca.issue_cert("client@example.com")
    path = f"{tmp_path}/client.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(path)
    session = make_session(hyper_server)
    assert session.get(hyper_server.url + "/get", cert=path).status_code == 200
    with pytest.raises(OSError):
        session.get(hyper_server.url + "/get", cert=(path, "/nonexistent/key.pem"))
    with pytest.raises(requests.exceptions.SSLError):
        session.get(hyper_server.url + "/get", cert=hyper_server.ca_path)  # no key in it


# --- one connection per origin -----------------------------------------------------


def test_25_requests_share_one_connection(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    for _ in range(25):
        assert session.get(hyper_server.url + "/get").status_code == 200
    seen = hyper_server.requests
    assert len(seen) == 25
    assert {r.connection.id for r in seen} == {1}
    assert [r.stream_id for r in seen] == list(range(1, 51, 2))
    assert hyper_server.connection_count == 1


def _meet(server: Server, count: int) -> threading.Barrier:
    """A route ``/meet`` answering only once ``count`` requests are in it at once."""
    barrier = threading.Barrier(count, timeout=CLIENT_TIMEOUT)

    def meet(request: Request, response: Response) -> None:
        barrier.wait()
        response.send_json({"connection": request.connection.id, "stream": request.stream_id})

    server.add_route("/meet", meet)
    return barrier


def test_8_threads_multiplex_on_one_connection(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    _meet(hyper_server, THREADS)  # only concurrent streams get past it
    session = make_session(hyper_server)
    start = threading.Barrier(THREADS, timeout=CLIENT_TIMEOUT)  # all hit a fresh origin at once
    answers: list[dict[str, int]] = []

    def work(_: int) -> None:
        start.wait()
        response = session.get(hyper_server.url + "/meet", timeout=CLIENT_TIMEOUT)
        assert response.raw.version == 20
        answers.append(response.json())

    run_threads(THREADS, work)
    assert {a["connection"] for a in answers} == {1}
    assert len({a["stream"] for a in answers}) == THREADS
    assert hyper_server.connection_count == 1


def test_connection_after_goaway_is_replaced(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 1
    handle = hyper_server.connections[0]
    handle.goaway()
    handle.close()
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 2
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 2


@pytest.mark.parametrize("fixture", ["hyper_server", "hyper_server_http11"])
def test_dead_connection_is_replaced(
    fixture: str, request: pytest.FixtureRequest, make_session: SessionFactory
) -> None:
    server: Server = request.getfixturevalue(fixture)
    session = make_session(server)
    assert session.get(server.url + "/get").json()["connection_id"] == 1
    server.connections[0].close()
    # The test server's socket is released (and the FIN sent) once its
    # connection thread's poll returns, at most 50 ms later; a request sent
    # before the FIN arrives may have reached the server, so it would fail.
    time.sleep(CLOSE_SETTLE)
    assert session.get(server.url + "/get").json()["connection_id"] == 2


# --- HTTP/1.1 and cleartext ----------------------------------------------------------


def test_http11_fallback_reuses_one_connection_sequentially(
    hyper_server_http11: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server_http11)
    for _ in range(5):
        response = session.get(hyper_server_http11.url + "/get")
        assert (response.raw.version, response.reason) == (11, "OK")
    assert {r.http_version for r in hyper_server_http11.requests} == {"HTTP/1.1"}
    assert hyper_server_http11.connection_count == 1


def test_http11_threads_get_a_connection_each(
    hyper_server_http11: Server, make_session: SessionFactory
) -> None:
    _meet(hyper_server_http11, 4)  # four requests at once need four connections
    session = make_session(hyper_server_http11, pool_maxsize=2)
    run_threads(4, lambda _: session.get(hyper_server_http11.url + "/meet").raise_for_status())
    assert hyper_server_http11.connection_count == 4
    wait_until(lambda: sum(c.closed for c in hyper_server_http11.connections) == 2)
    for _ in range(3):  # the two kept are reused
        session.get(hyper_server_http11.url + "/get").raise_for_status()
    assert hyper_server_http11.connection_count == 4


def test_cleartext_upgrades_to_http2_through_h2c(
    hyper_server_h2c: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server_h2c)
    url = hyper_server_h2c.url
    assert session.post(url + "/post", data=b"x").raw.version == 11  # a body: no offer
    upgraded = session.get(url + "/get")
    assert (upgraded.raw.version, upgraded.json()["protocol"]) == (20, "h2")
    for _ in range(3):
        assert session.get(url + "/get").json()["connection_id"] == 1
    assert hyper_server_h2c.connection_count == 1


def test_threads_reaching_a_cleartext_origin_at_once_share_the_upgrade(
    hyper_server_h2c: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server_h2c)
    start = threading.Barrier(4, timeout=CLIENT_TIMEOUT)
    seen: list[tuple[int, int]] = []

    def work(_: int) -> None:
        start.wait()
        response = session.get(hyper_server_h2c.url + "/get", timeout=CLIENT_TIMEOUT)
        seen.append((response.raw.version, response.json()["connection_id"]))

    run_threads(4, work)
    assert seen == [(20, 1)] * 4  # one upgraded; the others waited for it
    assert hyper_server_h2c.connection_count == 1


# --- proxies, errors -------------------------------------------------------------------


def test_through_a_connect_proxy_with_credentials(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    with ConnectProxy(auth=("user", "pa ss")) as proxy:
        good = {"https": f"http://user:pa%20ss@{proxy.host}:{proxy.port}"}
        response = session.get(hyper_server.url + "/get", proxies=good)
        assert response.json()["protocol"] == "h2"
        assert [(r.method, r.target) for r in proxy.requests] == [
            ("CONNECT", hyper_server.authority)
        ]
        with pytest.raises(requests.exceptions.ProxyError):
            session.get(hyper_server.url + "/get", proxies={"https": f"{proxy.host}:{proxy.port}"})
        with pytest.raises(requests.exceptions.InvalidProxyURL):
            session.get(hyper_server.url + "/get", proxies={"https": "socks5://127.0.0.1:1"})


def test_refused_connection_is_a_connection_error(make_session: SessionFactory) -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        make_session().get("https://127.0.0.1:1/", timeout=CLIENT_TIMEOUT)
    assert isinstance(caught.value.__cause__, hyper_exceptions.ConnectionError)


def test_body_broken_off_is_a_chunked_encoding_error(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    def broken(request: Request, response: Response) -> None:
        response.start(200, [("content-length", "1000")])
        response.write(b"x" * 100)
        response.abort()

    hyper_server.add_route("/broken", broken)
    session = make_session(hyper_server)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.get(hyper_server.url + "/broken")
    assert session.get(hyper_server.url + "/get").status_code == 200  # the connection goes on


def test_read_timeout(hyper_server: Server, make_session: SessionFactory) -> None:
    with pytest.raises(requests.exceptions.ReadTimeout) as caught:
        make_session(hyper_server).get(hyper_server.url + "/delay/2", timeout=0.2)
    assert isinstance(caught.value.__cause__, hyper_exceptions.ReadTimeout)
    # The timed-out HTTP/2 stream was given up, not left holding a slot.
    handle = hyper_server.connections[-1]
    assert handle.wait_for_reset(1, CLIENT_TIMEOUT) == 8  # CANCEL


# --- the adapter itself -------------------------------------------------------------


def test_close_closes_connections_and_the_adapter_goes_on(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    session = make_session(hyper_server)
    session.get(hyper_server.url + "/get").raise_for_status()
    session.close()
    wait_until(lambda: hyper_server.connections[0].closed)
    assert session.get(hyper_server.url + "/get").json()["connection_id"] == 2


def test_window_manager_reaches_http2_connections(
    hyper_server: Server, make_session: SessionFactory
) -> None:
    made: list[FlowControlManager] = []

    class Recording(FlowControlManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    session = make_session(hyper_server, window_manager=Recording)
    session.get(hyper_server.url + "/bytes/100000").raise_for_status()
    assert made  # one for the connection, one per stream
    with pytest.raises(TypeError):
        HTTP20Adapter(window_manager=object)  # type: ignore[arg-type]
    assert adapter_of(session).window_manager is Recording


def test_importing_hyper_does_not_import_requests() -> None:
    code = "import sys, hyper, hyper.contrib; print('requests' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        timeout=CLIENT_TIMEOUT,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == b"False"
