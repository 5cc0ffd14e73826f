"""The ``hyper`` command: one HTTP request from the shell, over HTTP/2 where the server speaks it.

``hyper [options] [METHOD] URL [REQUEST_ITEM ...]`` parses its arguments
with :mod:`argparse`, turns the request items (``Header:value``,
``name==value``, ``name=value``, ``@file``) into a request, sends it through
an :class:`~hyper.common.connection.HTTPConnection` (following redirects
with ``-L``), and writes the response: JSON pretty-printed, anything else
byte for byte. It is the only part of hyper that prints. Every failure ends
in a one-line message on stderr and one of the documented :class:`ExitCode`
values (with a traceback only under ``--debug``).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import logging
import os
import ssl
import sys
import traceback
import urllib.request
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from hyper import __version__
from hyper._cli_output import Progress, expected_size, head_bytes, is_json, write_body
from hyper._cli_request import (
    REDIRECT_STATUSES,
    PreparedRequest,
    RedirectError,
    UsageError,
    build_request,
    redirected,
)
from hyper.common import exceptions
from hyper.common.connection import HTTPConnection
from hyper.http11.response import HTTP11Response
from hyper.http20.response import HTTP20Response
from hyper.tls import DEFAULT_ALPN_PROTOCOLS, H2_PROTOCOL, HTTP11_PROTOCOL, init_context

__all__ = ["DEFAULT_MAX_REDIRECTS", "ExitCode", "main", "parse_argument"]

log = logging.getLogger(__name__)

#: How many redirects ``-L`` follows unless ``--max-redirects`` says otherwise.
DEFAULT_MAX_REDIRECTS = 10
_PROG = "hyper"
#: Log lines under --debug: milliseconds since start, logger, message.
_LOG_FORMAT = "%(relativeCreated)8.1f %(name)s %(message)s"
_USAGE = "%(prog)s [-h] [--version] [--debug] [options] [METHOD] URL [REQUEST_ITEM ...]"
_ITEMS_HELP = """request items:
  Header:value    a request header (':authority:x' sets a pseudo-header)
  name==value     a query string parameter
  name=value      a field of a JSON object sent as the body (method POST)
  @file, @-       the body, read from a file or from stdin (method POST)

METHOD is the first word when it is all upper-case letters; the URL's
scheme defaults to https. See 'exit status' in the documentation."""


class ExitCode(enum.IntEnum):
    """The exit status of the ``hyper`` command."""

    #: A response was received (whatever its status) and written.
    OK = 0
    #: Any other failure.
    ERROR = 1
    #: A bad command line: unknown option, bad URL or request item.
    USAGE = 2
    #: The connection failed: name resolution, refused, reset, proxy.
    CONNECTION = 3
    #: Connecting or waiting for the server took longer than ``--timeout``.
    TIMEOUT = 4
    #: The TLS handshake failed, e.g. the certificate did not verify.
    TLS = 5
    #: The server broke the protocol, reset the stream, or sent an undecodable body.
    PROTOCOL = 6
    #: ``-L`` met more than ``--max-redirects`` redirects, or a bad ``Location``.
    REDIRECTS = 7
    #: A local file could not be read or written (``@file``, ``-o``, certificates).
    FILE = 8
    #: Interrupted by Ctrl-C.
    INTERRUPTED = 130


# Checked in order: the first class that matches decides.
_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (UsageError, ExitCode.USAGE),
    (exceptions.LocalProtocolError, ExitCode.USAGE),
    (RedirectError, ExitCode.REDIRECTS),
    (exceptions.MissingCertFile, ExitCode.FILE),
    (exceptions.TimeoutError, ExitCode.TIMEOUT),
    (exceptions.TLSError, ExitCode.TLS),
    (exceptions.ConnectionError, ExitCode.CONNECTION),
    (exceptions.ProtocolError, ExitCode.PROTOCOL),
    (exceptions.HTTP20Error, ExitCode.PROTOCOL),
    (exceptions.ContentDecodingError, ExitCode.PROTOCOL),
    (OSError, ExitCode.FILE),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        usage=_USAGE,
        description="Send one HTTP request, over HTTP/2 where the server speaks it.",
        epilog=_ITEMS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="log hyper's work at DEBUG level")
    protocol = parser.add_mutually_exclusive_group()
    protocol.add_argument("--h1", action="store_true", help="use HTTP/1.1 only")
    protocol.add_argument("--h2", action="store_true", help="use HTTP/2 without negotiating")
    _add_tls_options(parser)
    _add_transfer_options(parser)
    parser.add_argument("words", nargs="+", metavar="[METHOD] URL [REQUEST_ITEM]")
    return parser


def _add_tls_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="verify the server's certificate (default: yes)",
    )
    parser.add_argument("--cacert", metavar="FILE", help="trust the CA certificates in FILE")
    parser.add_argument("--cert", metavar="FILE", help="client certificate (PEM, may hold the key)")
    parser.add_argument("--key", metavar="FILE", help="the client certificate's private key")


def _add_transfer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i", "--include", action="store_true", help="show the status line and headers"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE")
    parser.add_argument("--timeout", type=_positive, metavar="SECONDS", help="connect/read limit")
    parser.add_argument("-L", "--location", action="store_true", help="follow redirects")
    parser.add_argument(
        "--max-redirects",
        type=_count,
        default=DEFAULT_MAX_REDIRECTS,
        metavar="N",
        help=f"most redirects -L follows (default {DEFAULT_MAX_REDIRECTS})",
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="HTTP proxy, http://[user:password@]host:port ('' for none); "
        "default from https_proxy/http_proxy/no_proxy",
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    return int(text)


def parse_argument(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``sys.argv[1:]`` by default).

    :raises SystemExit: for ``--help``, ``--version`` or a usage error (status 2).
    """
    return _parser().parse_args(argv)


# --- sending -----------------------------------------------------------------


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext:
    """The TLS context for https URLs, from the TLS options."""
    alpn = (HTTP11_PROTOCOL,) if args.h1 else (H2_PROTOCOL,) if args.h2 else DEFAULT_ALPN_PROTOCOLS
    cert = None if args.cert is None else (args.cert, args.key)
    verify = (args.cacert or True) if args.verify else False
    return init_context(cert=cert, verify=verify, alpn_protocols=alpn)


def _proxy_for(request: PreparedRequest, explicit: str | None) -> str | None:
    """The proxy for a request: ``--proxy``, else the environment's."""
    if explicit is not None:
        return explicit or None
    proxies = urllib.request.getproxies_environment()
    scheme, host, port = request.origin
    if urllib.request.proxy_bypass(f"{host}:{port}"):  # no_proxy
        return None
    return proxies.get(scheme)


class _Connections:
    """One :class:`HTTPConnection` per origin, closed together at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._context: ssl.SSLContext | None = None
        self._open: dict[tuple[str, str, int], HTTPConnection] = {}

    def get(self, request: PreparedRequest) -> HTTPConnection:
        conn = self._open.get(request.origin)
        if conn is None:
            conn = self._open[request.origin] = self._connect(request)
        return conn

    def _connect(self, request: PreparedRequest) -> HTTPConnection:
        args = self._args
        scheme, host, port = request.origin
        if scheme == "https" and self._context is None:
            self._context = _ssl_context(args)
        return HTTPConnection(
            host,
            port,
            secure=scheme == "https",
            ssl_context=self._context if scheme == "https" else None,
            proxy_host=_proxy_for(request, args.proxy),
            force_proto=HTTP11_PROTOCOL if args.h1 else H2_PROTOCOL if args.h2 else None,
            timeout=args.timeout,
        )

    def close(self) -> None:
        for conn in self._open.values():
            conn.close()


Response = HTTP11Response | HTTP20Response


def _send(conn: HTTPConnection, request: PreparedRequest) -> Response:
    """Send one request and wait for its response head."""
    with contextlib.ExitStack() as stack:
        body: bytes | BinaryIO | None = None
        if isinstance(request.body, bytes):
            body = request.body
        elif request.body is not None:
            body = stack.enter_context(request.body.open("rb"))
        log.debug("%s %s", request.method, request.target)
        stream_id = conn.request(request.method, request.target, body, request.headers)
        return conn.get_response(stream_id)


def _exchange(args: argparse.Namespace, request: PreparedRequest, out: BinaryIO) -> None:
    """Send the request, follow redirects if asked, write the final response."""
    connections = _Connections(args)
    try:
        for _ in range(args.max_redirects + 1):
            response = _send(connections.get(request), request)
            location = response.headers.get("location")
            if not (args.location and response.status in REDIRECT_STATUSES and location):
                _write(args, response, out)
                return
            response.close()
            request = redirected(request, response.status, location[0].decode("latin-1"))
        raise RedirectError(f"more than {args.max_redirects} redirects")
    finally:
        connections.close()


def _write(args: argparse.Namespace, response: Response, out: BinaryIO) -> None:
    if args.include:
        out.write(head_bytes(response))
        out.flush()
    if args.output is None:
        write_body(response, out, pretty=is_json(response))
        out.flush()
        return
    with open(args.output, "wb") as target:
        progress = Progress(sys.stderr, expected_size(response)) if sys.stderr.isatty() else None
        write_body(response, target, pretty=False, progress=progress)


# --- the command ----------------------------------------------------------------


def _exit_code(exc: BaseException) -> ExitCode:
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return ExitCode.ERROR


def _fail(exc: BaseException, debug: bool) -> ExitCode:
    """Report a failure on one line (with the traceback under --debug)."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    text = str(exc) or type(exc).__name__
    sys.stderr.write(f"{_PROG}: error: {text}\n")
    return _exit_code(exc)


@contextlib.contextmanager
def _quiet_broken_pipe() -> Iterator[None]:
    """A reader that went away (``hyper URL | head``) ends the output quietly."""
    try:
        yield
    except BrokenPipeError:
        # Point stdout at /dev/null, so the interpreter's final flush fails quietly too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hyper`` command with ``argv`` (``sys.argv[1:]`` by default).

    :returns: the exit status, an :class:`ExitCode` value.
    """
    try:
        args = parse_argument(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format=_LOG_FORMAT)
    try:
        if args.key is not None and args.cert is None:
            raise UsageError("--key needs --cert")
        request = build_request(args.words)
        with _quiet_broken_pipe():
            _exchange(args, request, sys.stdout.buffer)
    except KeyboardInterrupt:
        sys.stderr.write(f"{_PROG}: interrupted\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        return _fail(exc, args.debug)
    return ExitCode.OK
