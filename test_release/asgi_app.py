"""A small ASGI application that the release tests serve with hypercorn.

It answers a handful of routes whose responses a test can predict exactly:
``/`` (a short greeting), ``/echo`` (the request body back, streamed as it
arrives), ``/bytes/N`` (N deterministic bytes, streamed in pieces),
``/headers`` (the request headers as JSON), ``/status/N`` (an empty response
with that status) and ``/trailers`` (a body followed by HTTP/2 trailers).
Everything else is a 404. The module imports only the standard library, so
hypercorn can load it by file path in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Size of each body piece ``/bytes/N`` sends.
PIECE_SIZE = 64 * 1024
#: Largest N ``/bytes/N`` accepts (1 GiB), so a typo cannot fill the disk or RAM.
MAX_BYTES = 1 << 30
#: The 256-byte pattern ``/bytes/N`` repeats; :func:`pattern_bytes` rebuilds it.
PATTERN = bytes(range(256))


def pattern_bytes(size: int) -> bytes:
    """Return the body ``/bytes/<size>`` serves, for comparison in tests.

    :param size: number of bytes.
    :returns: ``PATTERN`` repeated and cut to ``size`` bytes.
    """
    repeats = size // len(PATTERN) + 1
    return (PATTERN * repeats)[:size]


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _body(send: Send, data: bytes, more: bool = False) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def _echo(receive: Receive, send: Send) -> None:
    """Stream the request body back as it arrives."""
    await _start(send, 200, [(b"content-type", b"application/octet-stream")])
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = bool(message.get("more_body", False))
        await _body(send, message.get("body", b""), more)


async def _bytes(send: Send, size: int) -> None:
    """Send ``size`` pattern bytes with a content-length, in pieces."""
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(size).encode()),
    ]
    await _start(send, 200, headers)
    piece = pattern_bytes(PIECE_SIZE)  # PIECE_SIZE is a multiple of len(PATTERN)
    sent = 0
    while size - sent > PIECE_SIZE:
        await _body(send, piece, more=True)
        sent += PIECE_SIZE
    await _body(send, piece[: size - sent])


async def _headers(scope: Scope, send: Send) -> None:
    """Answer with the request's headers (and method and HTTP version) as JSON."""
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]
    ]
    payload = {"method": scope["method"], "http_version": scope["http_version"], "headers": headers}
    await _start(send, 200, [(b"content-type", b"application/json")])
    await _body(send, json.dumps(payload).encode())


async def _trailers(scope: Scope, send: Send) -> None:
    """Send a body then an ``x-checksum`` trailer, where the server supports them.

    Hypercorn sends trailers only over HTTP/2 and only when the request
    carried ``te: trailers``.
    """
    can_trail = "http.response.trailers" in scope.get("extensions", {})
    headers = [(b"content-type", b"text/plain"), (b"trailer", b"x-checksum")]
    await send(
        {"type": "http.response.start", "status": 200, "headers": headers, "trailers": can_trail}
    )
    await _body(send, b"body before trailers\n")
    if can_trail:
        trailers = [(b"x-checksum", b"abc")]
        await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})


def _number(text: str, low: int, high: int) -> int | None:
    """Parse a path segment as an integer in [low, high], or return None."""
    if not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


async def _drain(receive: Receive) -> None:
    """Read and discard the request body."""
    more = True
    while more:
        message = await receive()
        more = message["type"] == "http.request" and bool(message.get("more_body", False))


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown, so hypercorn logs no lifespan error."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point (hypercorn loads ``asgi_app.py:app``).

    :param scope: the ASGI connection scope.
    :param receive: the ASGI receive callable.
    :param send: the ASGI send callable.
    """
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return  # websockets are not served
    path: str = scope["path"]
    head, _, tail = path.lstrip("/").partition("/")
    if head == "echo":
        await _echo(receive, send)
        return
    await _drain(receive)
    if head == "bytes" and (size := _number(tail, 0, MAX_BYTES)) is not None:
        await _bytes(send, size)
    elif head == "status" and (status := _number(tail, 200, 599)) is not None:
        await _start(send, status, [])
        await _body(send, b"")
    elif head == "headers":
        await _headers(scope, send)
    elif head == "trailers":
        await _trailers(scope, send)
    elif path == "/":
        await _start(send, 200, [(b"content-type", b"text/plain")])
        await _body(send, b"hello from hypercorn\n")
    else:
        await _start(send, 404, [(b"content-type", b"text/plain")])
        await _body(send, b"not found\n")
