"""Request bodies, outgoing headers, methods and targets (pure)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyper.common.body import (
    check_method,
    content_length,
    normalize_headers,
    prepare_body,
    request_target,
)
from hyper.common.exceptions import LocalProtocolError
from hyper.common.headers import HTTPHeaderMap
from hyper.common.transport import DEFAULT_PROXY_PORT, ProxyConfig


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (None, []),
        ({"A": "1", b"B": b"2"}, [(b"A", b"1"), (b"B", b"2")]),
        ([("A", "1"), ("A", "2")], [(b"A", b"1"), (b"A", b"2")]),
        (HTTPHeaderMap([("Vary", "a, b")]), [(b"Vary", b"a, b")]),  # raw, not split
        ({"A": "  padded\t"}, [(b"A", b"padded")]),
        ({"X": "é"}, [(b"X", "é".encode())]),
    ],
)
def test_normalize_headers(headers: object, expected: list) -> None:
    assert normalize_headers(headers) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [{"A": "x\r\nB: y"}, {"A": "x\nB"}, {"A": "\x00"}, {"A B": "x"}, {"": "x"}, {"A:": "x"}],
)
def test_normalize_headers_refuses_injection(headers: dict) -> None:
    with pytest.raises(LocalProtocolError):
        normalize_headers(headers)


@pytest.mark.parametrize("headers", ["A: b", b"A: b", 42, [("A", 1)]])
def test_normalize_headers_type_errors(headers: object) -> None:
    with pytest.raises(TypeError):
        normalize_headers(headers)  # type: ignore[arg-type]


def test_pseudo_headers_only_when_allowed() -> None:
    assert normalize_headers({":path": "/x"}, allow_pseudo=True) == [(b":path", b"/x")]
    with pytest.raises(LocalProtocolError):
        normalize_headers({":path": "/x"})


def test_bytes_and_str_bodies() -> None:
    for given, data in [
        (b"abc", b"abc"),
        ("é", "é".encode()),
        (bytearray(b"x"), b"x"),
        (None, b""),
    ]:
        body = prepare_body(given)
        assert (body.data, body.length, body.replayable) == (data, len(data), True)
        assert b"".join(body.chunks()) == data
        assert b"".join(body.chunks()) == data  # replayable


def test_file_body_has_its_size_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    with path.open("rb") as file:
        file.read(3)  # a body starts where the file is
        body = prepare_body(file)
        assert (body.length, body.replayable, body.data) == (7, True, None)
        assert b"".join(body.chunks(4)) == b"3456789"
        assert b"".join(body.chunks(4)) == b"3456789"


def test_bytesio_and_text_file_bodies() -> None:
    assert prepare_body(io.BytesIO(b"abcd")).length == 4
    text = prepare_body(io.StringIO("é"))
    assert text.length is None
    assert b"".join(text.chunks()) == "é".encode()


def test_generator_body_is_streamed_once() -> None:
    def gen() -> Iterator[bytes | str]:
        yield b"a"
        yield "b"
        yield b""

    body = prepare_body(gen())
    assert (body.length, body.replayable) == (None, False)
    assert list(body.chunks()) == [b"a", b"b"]
    with pytest.raises(ValueError):
        list(body.chunks())


def test_iterable_of_bad_items() -> None:
    with pytest.raises(TypeError):
        list(prepare_body([1, 2]).chunks())  # type: ignore[list-item]


@pytest.mark.parametrize("body", [42, 1.5, {"a": 1}, object()])
def test_bad_bodies(body: object) -> None:
    with pytest.raises(TypeError):
        prepare_body(body)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", b"/"),
        ("/a?b=c&d", b"/a?b=c&d"),
        ("*", b"*"),
        ("http://h:1/p", b"http://h:1/p"),
        ("/café", b"/caf%C3%A9"),
        ("/%C3%A9", b"/%C3%A9"),  # already encoded: left alone
        (b"/\xff", b"/%FF"),
    ],
)
def test_request_target(url: str | bytes, expected: bytes) -> None:
    assert request_target(url) == expected


@pytest.mark.parametrize("url", ["", "/a b", "/a\r\nX: 1", "/\x00", "/\t", "/\x7f"])
def test_request_target_refuses_splitting(url: str) -> None:
    with pytest.raises(LocalProtocolError):
        request_target(url)


@pytest.mark.parametrize("method", ["GET", b"POST", "M-SEARCH", "PROPFIND"])
def test_methods(method: str | bytes) -> None:
    assert check_method(method) == (method if isinstance(method, bytes) else method.encode())


@pytest.mark.parametrize("method", ["", "GET /", "GE\r\nT", "GÉT", "A(B)"])
def test_bad_methods(method: str) -> None:
    with pytest.raises(LocalProtocolError):
        check_method(method)


def test_proxy_config() -> None:
    assert ProxyConfig.from_args(None) is None
    plain = ProxyConfig.from_args("proxy")
    assert plain == ProxyConfig("proxy", DEFAULT_PROXY_PORT)
    with_port = ProxyConfig.from_args("http://proxy:3128", proxy_headers={"X-A": "1"})
    assert with_port == ProxyConfig("proxy", 3128, ((b"X-A", b"1"),))
    auth = ProxyConfig.from_args("http://us%40er:p%3Ass@[::1]:3128")
    assert auth is not None
    assert (auth.host, auth.port) == ("::1", 3128)
    assert auth.headers == ((b"Proxy-Authorization", b"Basic dXNAZXI6cDpzcw=="),)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("https://proxy",), ValueError),
        (("proxy:0",), ValueError),
        ((None, 3128), ValueError),
        ((42,), TypeError),
    ],
)
def test_bad_proxy_config(args: tuple, error: type) -> None:
    with pytest.raises(error):
        ProxyConfig.from_args(*args)


@pytest.mark.parametrize(
    ("method", "length", "expected"),
    [
        (b"GET", None, None),
        (b"GET", 0, None),
        (b"GET", 5, b"5"),
        (b"POST", 0, b"0"),
        (b"PUT", 0, b"0"),
        (b"PATCH", 0, b"0"),
        (b"POST", None, None),
        (b"DELETE", 0, None),
    ],
)
def test_content_length_rule(method: bytes, length: int | None, expected: bytes | None) -> None:
    assert content_length(method, length) == expected
