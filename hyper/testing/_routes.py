"""The default routes: an httpbin-like set of handlers, the same on both protocols.

Every handler here is an ordinary ``handler(request, response)`` function, so
tests can replace any of them with :meth:`Server.add_route`. Path parameters
(``/bytes/N``) come from ``/prefix/*`` routes through :attr:`Request.subpath`.
One route is not httpbin's: ``/push?paths=/a,/b&when=before|after|mid``
promises each path over HTTP/2 (serving it, on its own thread, with the route
a GET of it would reach) before the response head, after the body or halfway
through it, and answers ``{"paths": [...], "pushed": bool, "when": ...}``
(``pushed`` is false on HTTP/1.1 or when the client disabled push).
Sizes, counts and delays are bounded by the constants below; a bad or
out-of-range parameter gets a 400. Large bodies (``/bytes/N``, ``/upload``)
stream in blocks and are never held whole.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib
import json
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import brotli

from hyper.testing._h2_response import H2Response
from hyper.testing._messages import Request, Response

__all__ = ["DEFAULT_ROUTES", "Handler", "payload", "payload_chunks"]


#: A route handler: writes its answer through the response, returns nothing.
Handler = Callable[[Request, Response], None]

#: Block size of the ``/bytes`` payload generator (and of its writes).
PAYLOAD_BLOCK = 64 * 1024
#: Largest ``/bytes/N``.
MAX_BYTES = 1 << 30
#: Largest ``/stream/N``.
MAX_STREAM_LINES = 1000
#: Largest ``/redirect/N``.
MAX_REDIRECTS = 50
#: Longest ``/delay/S``, in seconds.
MAX_DELAY = 10.0
#: Most paths one ``/push`` request promises.
MAX_PUSHES = 16
#: Where ``/push?when=`` puts the promises: the share of the body sent before them.
_PUSH_POINTS = {"before": 0.0, "mid": 0.5, "after": 1.0}

DEFAULT_ROUTES: dict[str, Handler] = {}


def _route(*paths: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for path in paths:
            DEFAULT_ROUTES[path] = handler
        return handler

    return register


class _BadParameter(Exception):
    """A path or query parameter is malformed or out of range (answered 400)."""


def payload_chunks(size: int, seed: int = 0) -> Iterator[bytes]:
    """Yield the *size* pseudo-random bytes that ``/bytes/N?seed=S`` serves.

    The bytes depend only on *size* and *seed* (SHAKE-128 over the seed and
    the block number), so a test can compute the expected body or its hash
    without keeping it.

    :raises TypeError: *size* or *seed* is not an ``int``.
    :raises ValueError: *size* or *seed* is negative.
    """
    for name, value in (("size", size), ("seed", seed)):
        if not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{name} must not be negative, not {value}")
    for index, offset in enumerate(range(0, size, PAYLOAD_BLOCK)):
        label = f"hyper.testing:{seed}:{index}".encode()
        yield hashlib.shake_128(label).digest(min(PAYLOAD_BLOCK, size - offset))


def payload(size: int, seed: int = 0) -> bytes:
    """Return the whole ``/bytes/N?seed=S`` body; see :func:`payload_chunks`.

    :raises TypeError: *size* or *seed* is not an ``int``.
    :raises ValueError: *size* or *seed* is negative.
    """
    return b"".join(payload_chunks(size, seed))


def echo(request: Request, body: bytes | None = None) -> dict[str, Any]:
    """Describe *request* as a JSON-ready dict (the body too, if given)."""
    query = {k: v[0] if len(v) == 1 else v for k, v in request.query.items()}
    names = dict.fromkeys(name for name, _ in request.headers)
    result: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "url": f"{request.scheme}://{request.authority}{request.target}",
        "args": query,
        "headers": {name: request.header(name) for name in names},
        "http_version": request.http_version,
        "protocol": request.protocol,
        "connection_id": request.connection.id,
        "stream_id": request.stream_id,
    }
    if body is not None:
        try:
            result["data"] = body.decode()
        except UnicodeDecodeError:
            result["data"] = None
        result["body_base64"] = base64.b64encode(body).decode()
        result["body_length"] = len(body)
        result["body_sha256"] = hashlib.sha256(body).hexdigest()
    return result


def _int_param(text: str, limit: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _BadParameter(f"{what} must be an integer, not {text!r}") from None
    if not 0 <= value <= limit:
        raise _BadParameter(f"{what} must be 0-{limit}, not {value}")
    return value


def _guarded(handler: Handler) -> Handler:
    """Answer 400 when *handler* finds a bad parameter."""

    @functools.wraps(handler)
    def run(request: Request, response: Response) -> None:
        try:
            handler(request, response)
        except _BadParameter as exc:
            response.send(f"{exc}\n".encode(), status=400, content_type="text/plain")

    return run


def _allow(request: Request, response: Response, *methods: str) -> bool:
    """Send 405 unless the request's method is one of *methods*."""
    if request.method in methods:
        return True
    response.send(b"", status=405, headers=[("allow", ", ".join(methods))])
    return False


@_route("/")
def index(request: Request, response: Response) -> None:
    """A short text page naming the routes."""
    lines = ["hyper.testing server; routes:", *sorted(request.server.routes)]
    response.send(("\n".join(lines) + "\n").encode(), content_type="text/plain")


@_route("/get")
def get(request: Request, response: Response) -> None:
    """Echo a GET (or HEAD) request as JSON; 405 for other methods."""
    if _allow(request, response, "GET", "HEAD"):
        response.send_json(echo(request))


@_route("/post", "/put", "/patch", "/delete")
def method_echo(request: Request, response: Response) -> None:
    """Echo a request of the method the path names, with its body."""
    if _allow(request, response, request.path[1:].upper()):
        anything(request, response)


@_route("/anything", "/anything/*")
def anything(request: Request, response: Response) -> None:
    """Echo any request with its body; ``?discard=1`` counts it instead."""
    if request.arg("discard") == "1":
        upload(request, response)
    else:
        response.send_json(echo(request, request.body))


@_route("/upload")
def upload(request: Request, response: Response) -> None:
    """Consume the body as it arrives; answer its length and SHA-256."""
    digest, length = hashlib.sha256(), 0
    for chunk in request.iter_body():
        digest.update(chunk)
        length += len(chunk)
    response.send_json({"method": request.method, "length": length, "sha256": digest.hexdigest()})


@_route("/bytes/*")
@_guarded
def bytes_(request: Request, response: Response) -> None:
    """Stream N pseudo-random bytes (``?seed=S``; ``?chunked=1``: no length)."""
    size = _int_param(request.subpath, MAX_BYTES, "N")
    seed = _int_param(request.arg("seed", "0") or "0", 2**64, "seed")
    headers = [("content-type", "application/octet-stream")]
    if request.arg("chunked") != "1":
        headers.append(("content-length", str(size)))
    response.start(200, headers)
    for chunk in payload_chunks(size, seed):
        response.write(chunk)


@_route("/stream/*")
@_guarded
def stream(request: Request, response: Response) -> None:
    """Send N JSON lines, each as its own chunk or DATA write."""
    count = _int_param(request.subpath, MAX_STREAM_LINES, "N")
    response.start(200, [("content-type", "application/x-ndjson")])
    for index in range(count):
        line = {"id": index, "path": request.path, "protocol": request.protocol}
        response.write(json.dumps(line).encode() + b"\n")


@_route("/status/*")
@_guarded
def status(request: Request, response: Response) -> None:
    """Answer with status N (200-599); redirects point at ``/get``."""
    code = _int_param(request.subpath, 599, "status")
    if code < 200:
        raise _BadParameter(f"status must be 200-599, not {code}")
    headers = [("location", "/get")] if code in (301, 302, 303, 307, 308) else []
    response.send(b"", status=code, headers=headers)


@_route("/redirect/*")
@_guarded
def redirect(request: Request, response: Response) -> None:
    """Redirect N times (302) down to ``/get``; ``?absolute=1`` for full URLs."""
    count = _int_param(request.subpath, MAX_REDIRECTS, "N")
    if count == 0:
        raise _BadParameter("N must be at least 1")
    target = f"/redirect/{count - 1}" if count > 1 else "/get"
    if request.arg("absolute") == "1":
        target = f"{request.scheme}://{request.authority}{target}"
    response.send(b"", status=302, headers=[("location", target)])


@functools.cache
def _zstd_module() -> ModuleType | None:
    """The zstd implementation (3.14's ``compression.zstd``, else zstandard)."""
    for name in ("compression.zstd", "zstandard"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
}


@_route("/gzip", "/deflate", "/brotli", "/zstd")
def encoded(request: Request, response: Response) -> None:
    """Send the JSON echo compressed with the coding the path names."""
    coding = {"/brotli": "br"}.get(request.path, request.path[1:])
    encoder = _ENCODERS.get(coding)
    if encoder is None:
        module = _zstd_module()
        if module is None:
            response.send(b"zstd is not installed\n", status=501, content_type="text/plain")
            return
        encoder = module.compress
    body = encoder(json.dumps(echo(request), indent=2).encode())
    headers = [("content-encoding", coding), ("vary", "accept-encoding")]
    response.send(body, headers=headers, content_type="application/json")


@_route("/trailers")
def trailers(request: Request, response: Response) -> None:
    """Send a body, then trailers: the query's pairs, or a default pair."""
    body = b"this body is followed by trailers\n"
    fields = [(k, v) for k, values in request.query.items() for v in values]
    fields = fields or [("x-trailer", "end"), ("x-body-sha256", hashlib.sha256(body).hexdigest())]
    announce = ", ".join(dict.fromkeys(name for name, _ in fields))
    response.start(200, [("content-type", "text/plain"), ("trailer", announce)])
    response.write(body)
    response.finish(trailers=fields)


@_route("/delay/*")
@_guarded
def delay(request: Request, response: Response) -> None:
    """Wait S seconds (a float, at most :data:`MAX_DELAY`), then echo."""
    try:
        seconds = float(request.subpath)
    except ValueError:
        raise _BadParameter(f"S must be a number, not {request.subpath!r}") from None
    if not 0 <= seconds <= MAX_DELAY:
        raise _BadParameter(f"S must be 0-{MAX_DELAY}, not {seconds}")
    request.server.sleep(seconds)
    response.send_json(echo(request))


@_route("/cookies")
def cookies(request: Request, response: Response) -> None:
    """Echo the request's cookies as ``{"cookies": {name: value}}``."""
    jar = {}
    for pair in (request.header("cookie") or "").split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep:
            jar[name] = value
    response.send_json({"cookies": jar})


@_route("/cookies/set")
def set_cookies(request: Request, response: Response) -> None:
    """Set a cookie per query pair, then redirect (302) to ``/cookies``."""
    headers = [("location", "/cookies")]
    for name, values in request.query.items():
        headers += [("set-cookie", f"{name}={value}; Path=/") for value in values]
    response.send(b"", status=302, headers=headers)


@_route("/push")
@_guarded
def push(request: Request, response: Response) -> None:
    """Promise ``?paths=/a,/b`` (HTTP/2), then answer; ``?when=`` before|after|mid."""
    if not _allow(request, response, "GET", "HEAD"):
        return
    paths = [path for path in (request.arg("paths") or "").split(",") if path]
    if not 0 < len(paths) <= MAX_PUSHES or not all(path.startswith("/") for path in paths):
        raise _BadParameter(f"paths must be 1-{MAX_PUSHES} comma-separated paths from /")
    when = request.arg("when", "before") or "before"
    if when not in _PUSH_POINTS:
        raise _BadParameter(f"when must be one of {', '.join(_PUSH_POINTS)}, not {when!r}")
    pushing = (
        isinstance(response, H2Response)
        and response.parent_stream_id is None
        and response.h2.client_push_enabled
    )
    body = json.dumps({"paths": paths, "pushed": pushing, "when": when}).encode() + b"\n"
    cut = int(len(body) * _PUSH_POINTS[when])
    if pushing and when == "before":
        _promise(response, paths)
    response.start(200, [("content-type", "application/json"), ("content-length", str(len(body)))])
    response.write(body[:cut])
    if pushing and when != "before":
        _promise(response, paths)
    response.write(body[cut:])


def _promise(response: Response, paths: list[str]) -> None:
    """Promise each path, and serve each promised stream on a thread of its own."""
    for path in paths:
        pushed = response.push(path)
        name = f"hyper-testing-push-{response.connection.id}-{pushed.request.stream_id}"
        response.request.server._start_thread(name, functools.partial(_serve_pushed, pushed))


def _serve_pushed(response: Response) -> None:
    """Answer a promised request through its route, as the server runs handlers.

    Unlike a received request, it is not listed in :attr:`Server.requests`.
    """
    response.request.server._serve(response.request, response)
