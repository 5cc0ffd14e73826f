"""The ``hyper`` command, run as a subprocess against the in-process test server.

Each test runs ``python -m hyper`` with a clean proxy environment and a
bounded wait, and checks what a shell user sees: stdout (byte for byte),
stderr (one line, no traceback), the exit status, and what the server
received. The pure helpers (item splitting, redirects, the progress bar)
are tested directly at the end.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hyper
from hyper._cli_output import Progress, pretty_json, write_body
from hyper._cli_request import (
    JSON_CONTENT_TYPE,
    PreparedRequest,
    RedirectError,
    UsageError,
    build_request,
    parse_url,
    redirected,
    split_item,
    split_words,
)
from hyper.cli import ExitCode, main
from hyper.testing import ConnectProxy, Request, Response, Server, payload

#: Bound on every run of the command.
RUN_TIMEOUT = 20.0
_ROOT = str(Path(hyper.__file__).resolve().parents[1])
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def environment(**extra: str) -> dict[str, str]:
    """The command's environment: no proxies unless given, hyper importable."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run(*args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m hyper ARGS``; bounded."""
    return subprocess.run(
        [sys.executable, "-m", "hyper", *args],
        input=stdin,
        capture_output=True,
        timeout=RUN_TIMEOUT,
        env=environment(**env),
        check=False,
    )


def run_ok(*args: str, stdin: bytes = b"", **env: str) -> bytes:
    """Run the command, insist on success and a quiet stderr; return stdout."""
    result = run(*args, stdin=stdin, **env)
    assert (result.returncode, result.stderr) == (0, b""), result.stderr
    return result.stdout


def assert_fails(result: subprocess.CompletedProcess[bytes], code: ExitCode) -> str:
    """Check a failure: the exit status, one line on stderr, no traceback."""
    error = result.stderr.decode()
    assert result.returncode == code, error
    assert error.startswith("hyper: error: ") or code == ExitCode.USAGE, error
    assert "Traceback" not in error
    assert error.count("\n") <= 2, error  # argparse adds its usage line
    return error


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Server]:
    with Server() as server:
        yield server


@pytest.fixture(scope="module")
def plain_server() -> Iterator[Server]:
    with Server(tls=False) as server:
        yield server


def tls(server: Server, *args: str) -> list[str]:
    """Arguments trusting the server's CA."""
    return ["--cacert", server.ca_path, *args]


def last_request(server: Server) -> Request:
    return server.requests[-1]


# --- requests: every item type -------------------------------------------------


def test_get_with_headers_and_query(tls_server: Server) -> None:
    out = run_ok(*tls(tls_server, f"{tls_server.url}/get", "X-Test:one two", "q==a b&c", "n==1"))
    body = json.loads(out)
    assert body["args"] == {"q": "a b&c", "n": "1"}
    assert body["headers"]["x-test"] == "one two"
    assert body["http_version"] == "HTTP/2"
    assert out.startswith(b'{\n  "args"')  # pretty-printed, two-space indent
    assert last_request(tls_server).method == "GET"


def test_json_fields_make_a_post(tls_server: Server) -> None:
    out = run_ok(*tls(tls_server, f"{tls_server.url}/post", "name=Hyper", "lang=Python é"))
    body = json.loads(out)
    assert json.loads(base64.b64decode(body["body_base64"])) == {
        "name": "Hyper",
        "lang": "Python é",
    }
    assert body["headers"]["content-type"] == JSON_CONTENT_TYPE
    assert last_request(tls_server).method == "POST"


def test_explicit_method_and_content_type(tls_server: Server) -> None:
    out = run_ok(
        *tls(tls_server, "PUT", f"{tls_server.url}/put", "a=1", "Content-Type:text/x-json")
    )
    body = json.loads(out)
    assert body["method"] == "PUT"
    assert body["headers"]["content-type"] == "text/x-json"


def test_body_from_a_file(tls_server: Server, tmp_path: Path) -> None:
    data = payload(200_000, seed=7)
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    body = json.loads(run_ok(*tls(tls_server, f"{tls_server.url}/post", f"@{source}")))
    assert body["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert body["method"] == "POST"


def test_body_from_stdin(plain_server: Server) -> None:
    data = b"from stdin\x00\xff" * 100
    body = json.loads(run_ok("PUT", f"{plain_server.url}/put", "@-", stdin=data))
    assert base64.b64decode(body["body_base64"]) == data


def test_scheme_defaults_to_https(tls_server: Server) -> None:
    body = json.loads(run_ok(*tls(tls_server, f"{tls_server.authority}/get")))
    assert body["url"].startswith("https://")


def test_head_has_no_body(plain_server: Server) -> None:
    out = run_ok("-i", "HEAD", f"{plain_server.url}/get")
    assert out.startswith(b"HTTP/1.1 200 OK\n")
    assert out.endswith(b"\n\n")


# --- output ----------------------------------------------------------------------


def test_binary_body_is_byte_identical(tls_server: Server) -> None:
    out = run_ok(*tls(tls_server, f"{tls_server.url}/bytes/300000?seed=3"))
    assert out == payload(300_000, seed=3)


@pytest.mark.parametrize("coding", ["gzip", "brotli"])
def test_encoded_bodies_are_decoded(tls_server: Server, coding: str) -> None:
    body = json.loads(run_ok(*tls(tls_server, f"{tls_server.url}/{coding}")))
    assert body["path"] == f"/{coding}"


def test_include_shows_status_and_headers(tls_server: Server) -> None:
    out = run_ok(*tls(tls_server, "-i", f"{tls_server.url}/status/418"))
    head, _, rest = out.partition(b"\n\n")
    lines = head.split(b"\n")
    assert lines[0] == b"HTTP/2 418"
    assert all(b": " in line for line in lines[1:])
    assert rest == b""


def test_output_file_without_progress_when_piped(tls_server: Server, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    result = run(*tls(tls_server, "-o", str(target), f"{tls_server.url}/bytes/500000?seed=1"))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert target.read_bytes() == payload(500_000, seed=1)


def _read_all(fd: int, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the pty closed: the command ended
            return data
        if not chunk:
            return data
        data += chunk
    return data


def test_progress_bar_on_a_terminal(tls_server: Server, tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    primary, secondary = os.openpty()
    args = tls(tls_server, "-o", str(target), f"{tls_server.url}/bytes/2000000?seed=2")
    with subprocess.Popen(
        [sys.executable, "-m", "hyper", *args],
        stdout=subprocess.PIPE,
        stderr=secondary,
        env=environment(),
    ) as process:
        os.close(secondary)
        shown = _read_all(primary, time.monotonic() + RUN_TIMEOUT)
        assert process.wait(RUN_TIMEOUT) == 0
        assert process.stdout is not None
        assert process.stdout.read() == b""
    os.close(primary)
    assert b"100% [" + b"#" * 30 + b"]" in shown
    assert b"1.9 MiB / 1.9 MiB" in shown
    assert target.read_bytes() == payload(2_000_000, seed=2)


def test_a_closed_pipe_ends_quietly(tls_server: Server) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "hyper", *tls(tls_server, f"{tls_server.url}/bytes/8000000")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert len(process.stdout.read(10)) == 10
        process.stdout.close()  # like `hyper URL | head -c 10`
        assert process.wait(RUN_TIMEOUT) == 0
        assert process.stderr.read() == b""


# --- options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "version"), [("--h1", "HTTP/1.1"), ("--h2", "HTTP/2"), (None, "HTTP/2")]
)
def test_protocol_over_tls(tls_server: Server, option: str | None, version: str) -> None:
    args = tls(tls_server, f"{tls_server.url}/get")
    body = json.loads(run_ok(*([option] if option else []), *args))
    assert body["http_version"] == version


@pytest.mark.parametrize(
    ("option", "version", "offered"),
    [("--h1", "HTTP/1.1", None), ("--h2", "HTTP/2", None), (None, "HTTP/2", "h2c")],
)
def test_protocol_in_cleartext(
    plain_server: Server, option: str | None, version: str, offered: str | None
) -> None:
    before = len(plain_server.connections)
    args = [option] if option else []
    body = json.loads(run_ok(*args, f"{plain_server.url}/get"))
    assert body["http_version"] == version
    handles = plain_server.connections[before:]
    upgraded = [type(handle).__name__ for handle in handles] == ["H11Handle", "H2cHandle"]
    assert upgraded is (offered == "h2c")


def test_verification(tls_server: Server) -> None:
    url = f"{tls_server.url}/get"
    error = assert_fails(run(url), ExitCode.TLS)
    assert "certificate verify failed" in error
    assert json.loads(run_ok("--no-verify", url))["path"] == "/get"
    assert json.loads(run_ok("--verify", "--cacert", tls_server.ca_path, url))["path"] == "/get"


def test_client_certificate_options(tls_server: Server, tmp_path: Path) -> None:
    client = tls_server.ca.issue_cert("client.example.org")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    url = f"{tls_server.url}/get"
    assert json.loads(run_ok(*tls(tls_server, "--cert", str(cert), "--key", str(key), url)))
    assert_fails(run(*tls(tls_server, "--cert", str(tmp_path / "nope.pem"), url)), ExitCode.FILE)
    assert_fails(run(*tls(tls_server, "--key", str(key), url)), ExitCode.USAGE)
    assert_fails(run(*tls(tls_server, "--cert", str(key), url)), ExitCode.TLS)


def test_timeout(tls_server: Server) -> None:
    started = time.monotonic()
    error = assert_fails(
        run(*tls(tls_server, "--timeout", "0.3", f"{tls_server.url}/delay/5")), ExitCode.TIMEOUT
    )
    assert time.monotonic() - started < 4
    assert "0.3" in error


def test_redirects(tls_server: Server) -> None:
    url = f"{tls_server.url}/redirect/3"
    assert run_ok(*tls(tls_server, "-i", url)).startswith(b"HTTP/2 302\n")
    body = json.loads(run_ok(*tls(tls_server, "-L", url)))
    assert body["path"] == "/get"
    assert_fails(run(*tls(tls_server, "-L", "--max-redirects", "2", url)), ExitCode.REDIRECTS)


def test_redirect_to_another_origin(tls_server: Server, plain_server: Server) -> None:
    def away(request: Request, response: Response) -> None:
        response.send(b"", status=307, headers=[("location", f"{plain_server.url}/anything")])

    tls_server.add_route("/away", away)
    out = run_ok(*tls(tls_server, "-L", f"{tls_server.url}/away", "a=1", "Authorization:secret"))
    body = json.loads(out)
    assert (body["method"], body["url"]) == ("POST", f"{plain_server.url}/anything")
    assert json.loads(base64.b64decode(body["body_base64"])) == {"a": "1"}
    assert "authorization" not in body["headers"]


def test_proxy_option_and_environment(tls_server: Server) -> None:
    url = f"{tls_server.url}/get"
    with ConnectProxy() as proxy:
        address = f"http://{proxy.host}:{proxy.port}"
        assert json.loads(run_ok(*tls(tls_server, "--proxy", address, url)))["path"] == "/get"
        run_ok(*tls(tls_server, url), https_proxy=address)
        run_ok(*tls(tls_server, url), https_proxy=address, no_proxy="127.0.0.1")
        run_ok(*tls(tls_server, "--proxy", "", url), https_proxy=address)
    assert [request.method for request in proxy.requests] == ["CONNECT", "CONNECT"]
    assert proxy.requests[0].target == tls_server.authority


def test_debug_logs_and_traceback(plain_server: Server) -> None:
    result = run("--debug", f"{plain_server.url}/get")
    assert result.returncode == 0
    assert b"hyper.common.connection" in result.stderr
    assert b"hpack" in result.stderr  # HPACK state, from the hpack library's own logger
    failed = run("--debug", "http://127.0.0.1:1/")
    assert failed.returncode == ExitCode.CONNECTION
    assert b"Traceback" in failed.stderr


# --- failures and exit codes -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["ftp://example.com/"], ExitCode.USAGE),
        (["http://127.0.0.1:1/", "no-separator"], ExitCode.USAGE),
        (["http://127.0.0.1:1/", "a=1", "@-"], ExitCode.USAGE),
        (["--timeout", "-1", "http://127.0.0.1:1/"], ExitCode.USAGE),
        (["--bogus", "http://127.0.0.1:1/"], ExitCode.USAGE),
        (["http://127.0.0.1:1/"], ExitCode.CONNECTION),
        (["http://127.0.0.1:1/", "@/nonexistent/file"], ExitCode.FILE),
        (["http://127.0.0.1:1/", "Bad Header:x"], ExitCode.USAGE),
    ],
)
def test_exit_codes(args: list[str], code: ExitCode) -> None:
    assert_fails(run(*args), code)


def test_protocol_errors(plain_server: Server) -> None:
    def garbage(request: Request, response: Response) -> None:
        response.send_raw(b"HTTP/1.1 2xx Nope\r\n\r\n")

    plain_server.add_route("/garbage", garbage)
    assert_fails(run("--h1", f"{plain_server.url}/garbage"), ExitCode.PROTOCOL)


def test_an_http2_only_cleartext_server(hyper_server_factory: Any) -> None:
    server = hyper_server_factory(tls=False, protocols=("h2",), expect_errors=True)
    error = assert_fails(run("--timeout", "5", f"{server.url}/get"), ExitCode.PROTOCOL)
    assert "HTTP/2" in error
    assert json.loads(run_ok("--h2", f"{server.url}/get"))["http_version"] == "HTTP/2"


def test_version_and_help() -> None:
    assert run_ok("--version") == f"hyper {hyper.__version__}\n".encode()
    text = run_ok("--help").decode()
    for option in ("--h1", "--h2", "--no-verify", "--cacert", "--cert", "-L", "--proxy", "-o"):
        assert option in text
    assert "Header:value" in text


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--timeout", "x", "http://127.0.0.1:1/"]) == ExitCode.USAGE
    assert "--timeout" in capsys.readouterr().err
    assert main(["http://127.0.0.1:1/"]) == ExitCode.CONNECTION


# --- the pure helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("X-Note:a=b", ("X-Note", ":", "a=b")),
        ("q==a:b", ("q", "==", "a:b")),
        ("name=x==y", ("name", "=", "x==y")),
        ("Empty:", ("Empty", ":", "")),
        (":authority:example.com", (":authority", ":", "example.com")),
        ("@-", ("", "@", "-")),
        ("@some/file", ("", "@", "some/file")),
    ],
)
def test_split_item(item: str, expected: tuple[str, str, str]) -> None:
    assert split_item(item) == expected


@pytest.mark.parametrize("item", ["plain", "=value", ":novalue", "==x"])
def test_split_item_refuses(item: str) -> None:
    with pytest.raises(UsageError):
        split_item(item)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["example.com"], (None, "example.com", [])),
        (["DELETE", "example.com", "a:b"], ("DELETE", "example.com", ["a:b"])),
        (["example.com", "a:b"], (None, "example.com", ["a:b"])),
        (["GET"], (None, "GET", [])),
    ],
)
def test_split_words(words: list[str], expected: Any) -> None:
    assert split_words(words) == expected


def test_parse_url() -> None:
    assert parse_url("example.com:8443/x").geturl() == "https://example.com:8443/x"
    assert parse_url("http://[::1]:80/").hostname == "::1"
    for bad in ("https://", "https://host:port/", "file:///etc/passwd"):
        with pytest.raises(UsageError):
            parse_url(bad)


def test_build_request() -> None:
    request = build_request(["example.com/p?x=1", "y==2", "k=v", "Content-Type:a/b"])
    assert (request.method, request.target) == ("POST", "/p?x=1&y=2")
    assert request.headers == [("Content-Type", "a/b")]
    assert request.body == b'{"k": "v"}'
    stdin = io.BytesIO(b"raw")
    assert build_request(["example.com", "@-"], stdin).body == b"raw"
    with pytest.raises(UsageError):
        build_request(["example.com", "@a", "@b"])


@pytest.mark.parametrize(
    ("status", "method", "expected_method", "keeps_body"),
    [
        (301, "POST", "GET", False),
        (302, "POST", "GET", False),
        (303, "PUT", "GET", False),
        (303, "HEAD", "HEAD", True),
        (307, "POST", "POST", True),
        (308, "PUT", "PUT", True),
        (302, "DELETE", "DELETE", True),
    ],
)
def test_redirected(status: int, method: str, expected_method: str, keeps_body: bool) -> None:
    headers = [("Content-Type", "a/b"), ("Authorization", "x")]
    request = PreparedRequest(method, parse_url("https://a.test/p"), headers, b"body")
    after = redirected(request, status, "/q")
    assert (after.method, after.target, after.origin) == (expected_method, "/q", request.origin)
    assert (after.body == b"body") is keeps_body
    assert ("Authorization", "x") in after.headers
    away = redirected(request, status, "http://b.test/")
    assert ("Authorization", "x") not in away.headers
    with pytest.raises(RedirectError):
        redirected(request, status, "ftp://c.test/")


def test_pretty_json() -> None:
    assert pretty_json(b'{"a":[1,"\xc3\xa9"]}') == '{\n  "a": [\n    1,\n    "é"\n  ]\n}\n'.encode()
    assert pretty_json(b"{nope") is None
    assert pretty_json(b"\xff\xfe\x00") is None


class _FakeResponse:
    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    def read(self, amt: int) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def test_write_body_streams_large_or_invalid_json_as_is() -> None:
    out = io.BytesIO()
    write_body(_FakeResponse([b'{"a":', b" 1}"]), out, pretty=True)  # type: ignore[arg-type]
    assert out.getvalue() == b'{\n  "a": 1\n}\n'
    out = io.BytesIO()
    write_body(_FakeResponse([b"not", b" json"]), out, pretty=True)  # type: ignore[arg-type]
    assert out.getvalue() == b"not json"


def test_progress_rendering() -> None:
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(stream, 4 * 1024 * 1024, clock=lambda: now[0])
    now[0] = 102.0
    assert progress.render(1024 * 1024) == (
        " 25% [#######.......................] 1.0 MiB / 4.0 MiB 512.0 KiB/s"
    )
    progress.update(1)
    progress.update(2)  # too soon after the last redraw: skipped
    progress.finish(4 * 1024 * 1024)
    assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().endswith("\n")
    unknown = Progress(io.StringIO(), None, clock=lambda: now[0])
    now[0] += 10.0
    assert unknown.render(100) == "100 B 10 B/s"
