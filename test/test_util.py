"""Host/port parsing, the Host/:authority value and HTTPVersion."""

from __future__ import annotations

import pytest

from hyper import HTTPVersion
from hyper.common.util import authority, parse_host, to_bytestring, to_host_port_tuple


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("example.com",), {}, ("example.com", 443, True)),
        (("example.com",), {"default_port": 80}, ("example.com", 80, False)),
        (("example.com:8443",), {}, ("example.com", 8443, False)),
        (("example.com:443",), {}, ("example.com", 443, True)),
        (("example.com",), {"port": 8080}, ("example.com", 8080, False)),
        (("example.com",), {"port": 8080, "secure": True}, ("example.com", 8080, True)),
        (("example.com",), {"secure": False}, ("example.com", 443, False)),
        (("example.com:8080",), {"port": 8080}, ("example.com", 8080, False)),
        ((b"example.com:80",), {}, ("example.com", 80, False)),
        (("[::1]:8443",), {}, ("::1", 8443, False)),
        (("[::1]",), {}, ("::1", 443, True)),
        (("::1",), {"port": 80}, ("::1", 80, False)),
        (("fe80::1:2",), {}, ("fe80::1:2", 443, True)),
        (("https://example.com",), {}, ("example.com", 443, True)),
        (("https://example.com:8443",), {}, ("example.com", 8443, True)),
        (("http://example.com",), {}, ("example.com", 80, False)),
        (("HTTP://example.com:443/",), {}, ("example.com", 443, False)),
        (("https://[::1]:8443",), {}, ("::1", 8443, True)),
        (("http://127.0.0.1",), {"secure": False}, ("127.0.0.1", 80, False)),
        (("  example.com ",), {}, ("example.com", 443, True)),
    ],
)
def test_parse_host(args: tuple, kwargs: dict, expected: tuple) -> None:
    assert parse_host(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("example.com:0",), {}),
        (("example.com:65536",), {}),
        (("example.com:http",), {}),
        (("example.com:",), {}),
        (("example.com:-1",), {}),
        (("example.com:٣",), {}),  # a non-ASCII digit
        ((":80",), {}),
        (("",), {}),
        (("[::1",), {}),
        (("[::1]x",), {}),
        (("ftp://example.com",), {}),
        (("https://example.com/path",), {}),
        (("https://example.com?q=1",), {}),
        (("https://example.com",), {"secure": False}),
        (("http://example.com",), {"secure": True}),
        (("example.com:8080",), {"port": 8081}),
        (("example.com",), {"port": 0}),
        (("example.com",), {"port": 70000}),
    ],
)
def test_parse_host_rejects_bad_input(args: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        parse_host(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((None,), {}),
        ((42,), {}),
        (("example.com",), {"port": "80"}),
        (("example.com",), {"port": True}),
        (("example.com",), {"secure": "yes"}),
    ],
)
def test_parse_host_rejects_bad_types(args: tuple, kwargs: dict) -> None:
    with pytest.raises(TypeError):
        parse_host(*args, **kwargs)


def test_old_helper_defaults_to_port_80() -> None:
    assert to_host_port_tuple("example.com") == ("example.com", 80)
    assert to_host_port_tuple("example.com:81") == ("example.com", 81)
    assert to_host_port_tuple("[::1]:82", default_port=443) == ("::1", 82)


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("example.com", 443, True, "example.com"),
        ("example.com", 80, False, "example.com"),
        ("example.com", 80, True, "example.com:80"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 8443, True, "example.com:8443"),
        ("::1", 443, True, "[::1]"),
        ("::1", 8443, True, "[::1]:8443"),
    ],
)
def test_authority(host: str, port: int, secure: bool, expected: str) -> None:
    assert authority(host, port, secure) == expected


def test_to_bytestring() -> None:
    assert to_bytestring("é") == "é".encode()
    assert to_bytestring(b"\xff") == b"\xff"
    with pytest.raises(TypeError):
        to_bytestring(1)  # type: ignore[arg-type]


def test_http_version_values() -> None:
    assert HTTPVersion.http11.value == "HTTP/1.1"
    assert HTTPVersion.http20.value == "HTTP/2"
    assert HTTPVersion("HTTP/2") is HTTPVersion.http20
