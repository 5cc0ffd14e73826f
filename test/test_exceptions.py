"""The exception hierarchy: one root, builtin mix-ins, old names, attributes."""

from __future__ import annotations

import builtins

import pytest

import hyper
from hyper.common import exceptions as exc
from hyper.http20 import exceptions as h2exc

ALL_CLASSES = [getattr(exc, name) for name in exc.__all__ if isinstance(getattr(exc, name), type)]


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_exception_derives_from_hyper_error(cls: type) -> None:
    assert issubclass(cls, exc.HyperError)


def test_root_is_exported_at_top_level() -> None:
    assert hyper.HyperError is exc.HyperError


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (exc.ConnectionError, builtins.ConnectionError),
        (exc.ConnectionResetError, builtins.ConnectionResetError),
        (exc.ProxyError, builtins.ConnectionError),
        (exc.TLSError, builtins.ConnectionError),
        (exc.TimeoutError, builtins.TimeoutError),
        (exc.ConnectTimeout, builtins.TimeoutError),
        (exc.ConnectTimeout, builtins.ConnectionError),
        (exc.ReadTimeout, builtins.TimeoutError),
        (exc.LocalProtocolError, builtins.ValueError),
        (exc.MissingCertFile, builtins.FileNotFoundError),
        (exc.ConnectionTerminatedError, builtins.ConnectionError),
    ],
)
def test_builtin_mixins_let_stdlib_style_code_catch_them(cls: type, builtin: type) -> None:
    with pytest.raises(builtin):
        raise cls("boom")


@pytest.mark.parametrize(
    "cls",
    [exc.ProtocolError, exc.ContentDecodingError, exc.StreamResetError, exc.HTTP20Error],
)
def test_protocol_errors_are_not_os_errors(cls: type) -> None:
    # A peer that breaks the protocol is not a socket failure: retry logic
    # keyed on OSError must not treat it as one.
    assert not issubclass(cls, OSError)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (exc.InvalidResponseError, exc.ProtocolError),
        (exc.ChunkedDecodeError, exc.ProtocolError),
        (exc.LineTooLongError, exc.ProtocolError),
        (exc.HPACKDecodingError, exc.ProtocolError),
        (exc.StreamResetError, exc.HTTP20Error),
        (exc.ConnectTimeout, exc.TimeoutError),
        (exc.ReadTimeout, exc.TimeoutError),
    ],
)
def test_hierarchy(child: type, parent: type) -> None:
    assert issubclass(child, parent)


def test_read_timeout_is_not_a_connection_error() -> None:
    # A read timeout may follow a request the server processed; it must not
    # be mistaken for a connect failure (which is always safe to retry).
    assert not issubclass(exc.ReadTimeout, exc.ConnectionError)


def test_stream_reset_carries_stream_and_code() -> None:
    err = exc.StreamResetError("reset", stream_id=3, error_code=8, remote=False)
    assert (err.stream_id, err.error_code, err.remote) == (3, 8, False)
    assert str(err) == "reset"


def test_proxy_error_carries_status() -> None:
    err = exc.ProxyError("tunnel refused", status=407)
    assert err.status == 407
    assert err.response is None
    assert str(err) == "tunnel refused"


def test_goaway_error_carries_details() -> None:
    err = exc.ConnectionTerminatedError(
        "goaway", error_code=2, last_stream_id=5, additional_data=b"bye"
    )
    assert (err.error_code, err.last_stream_id, err.additional_data) == (2, 5, b"bye")


def test_cause_is_kept_when_translating() -> None:
    original = builtins.ConnectionResetError(104, "reset by peer")

    def translate() -> None:
        try:
            raise original
        except OSError as e:
            raise exc.ConnectionError("lost the connection") from e

    with pytest.raises(exc.ConnectionError) as info:
        translate()
    assert info.value.__cause__ is original


def test_old_names_are_aliases() -> None:
    assert exc.SocketError is exc.ConnectionError
    assert h2exc.ConnectionError is exc.ConnectionTerminatedError
    assert h2exc.ProtocolError is exc.ProtocolError
    assert h2exc.StreamResetError is exc.StreamResetError
    assert h2exc.HTTP20Error is exc.HTTP20Error
    assert issubclass(h2exc.ConnectionError, exc.ConnectionError)
