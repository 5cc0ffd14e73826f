"""Turning the ``hyper`` command's words into a request, and a redirect into the next one.

Pure: strings in, a :class:`PreparedRequest` out; the only I/O is reading a
body from stdin (``@-``) when asked. The request items are those of the old
hyper CLI (and of HTTPie): ``Name:value`` is a header (a leading ``:`` names
a pseudo-header, ``:authority:x``), ``name==value`` a query parameter,
``name=value`` a JSON body field, and ``@path`` / ``@-`` a raw body read from
a file or from stdin. When an item could be read several ways, the separator
that comes first wins (``X-Note:a=b`` is a header).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO
from urllib.parse import SplitResult, urlencode, urljoin, urlsplit, urlunsplit

__all__ = [
    "JSON_CONTENT_TYPE",
    "REDIRECT_STATUSES",
    "PreparedRequest",
    "RedirectError",
    "UsageError",
    "build_request",
    "redirected",
]

#: The Content-Type of a body built from ``name=value`` items.
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
#: The statuses ``-L`` follows.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: The scheme of a URL given without one.
DEFAULT_SCHEME = "https"

# Separators of request items, longest first so ``==`` wins over ``=`` at one place.
_SEPARATORS = ("==", "=", ":")
_METHOD = re.compile(r"[A-Z]+")
_STDIN = "-"
# Headers that only make sense for one origin: dropped when a redirect leaves it.
_ORIGIN_BOUND = frozenset({"authorization", "cookie", "host", ":authority"})


class UsageError(Exception):
    """The command line cannot be turned into a request; the message says why."""


class RedirectError(Exception):
    """A redirect cannot be followed: too many of them, or a bad ``Location``."""


@dataclass(frozen=True)
class PreparedRequest:
    """One request as the command line describes it.

    :ivar method: the request method.
    :ivar url: the URL, with the query items added.
    :ivar headers: the header items, in order.
    :ivar body: the body: bytes (JSON fields, stdin), a file path, or ``None``.
    """

    method: str
    url: SplitResult
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Path | None = None

    @property
    def origin(self) -> tuple[str, str, int]:
        """``(scheme, host, port)``: requests with the same origin share a connection."""
        default = 443 if self.url.scheme == "https" else 80
        return self.url.scheme, self.url.hostname or "", self.url.port or default

    @property
    def target(self) -> str:
        """The request target: path and query."""
        path = self.url.path or "/"
        return f"{path}?{self.url.query}" if self.url.query else path


def split_words(words: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """Split the positional words into ``(METHOD, URL, items)``.

    The first word is the method when it is all upper-case letters and a URL follows.

    :raises UsageError: if there is no URL.
    """
    if len(words) >= 2 and _METHOD.fullmatch(words[0]):
        return words[0], words[1], list(words[2:])
    if not words:
        raise UsageError("a URL is required")
    return None, words[0], list(words[1:])


def parse_url(text: str) -> SplitResult:
    """Parse a URL, adding ``https://`` when it names no scheme.

    :raises UsageError: for a scheme other than http(s), or no host.
    """
    if "://" not in text:
        text = f"{DEFAULT_SCHEME}://{text}"
    try:
        url = urlsplit(text)
        url.port  # noqa: B018  # raises ValueError for a bad port
    except ValueError as exc:
        raise UsageError(f"invalid URL {text!r}: {exc}") from exc
    if url.scheme not in ("http", "https"):
        raise UsageError(f"unsupported scheme {url.scheme!r} in {text!r}: use http or https")
    if not url.hostname:
        raise UsageError(f"no host in URL {text!r}")
    return url


def split_item(item: str) -> tuple[str, str, str]:
    """Split a request item into ``(name, separator, value)``.

    A leading ``:`` belongs to the name (a pseudo-header). An item starting
    with ``@`` is a body source: ``("", "@", path)``.

    :raises UsageError: for an item with no separator or no name.
    """
    if item.startswith("@"):
        return "", "@", item[1:]
    skip = 1 if item.startswith(":") else 0
    found = [(item.find(sep, skip), sep) for sep in _SEPARATORS if item.find(sep, skip) >= 0]
    if not found:
        raise UsageError(
            f"invalid request item {item!r}: expected Header:value, name==value, "
            "name=value or @file"
        )
    position = min(pos for pos, _ in found)
    separator = next(sep for pos, sep in found if pos == position)  # longest at that place
    name = item[:position]
    if not name:
        raise UsageError(f"invalid request item {item!r}: no name before {separator!r}")
    return name, separator, item[position + len(separator) :]


@dataclass
class _Items:
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    source: str | None = None


def _sort_items(items: Sequence[str]) -> _Items:
    sorted_items = _Items()
    for item in items:
        name, separator, value = split_item(item)
        if separator == ":":
            sorted_items.headers.append((name, value))
        elif separator == "==":
            sorted_items.query.append((name, value))
        elif separator == "=":
            sorted_items.data[name] = value
        elif sorted_items.source is not None:
            raise UsageError("only one @file or @- body may be given")
        else:
            sorted_items.source = value
    if sorted_items.source is not None and sorted_items.data:
        raise UsageError("a body from @file or @- cannot be combined with name=value fields")
    return sorted_items


def _body(items: _Items, stdin: BinaryIO | None) -> bytes | Path | None:
    if items.data:
        return json.dumps(items.data, ensure_ascii=False).encode("utf-8")
    if items.source is None:
        return None
    if items.source == _STDIN:
        return (stdin or sys.stdin.buffer).read()
    if not items.source:
        raise UsageError("@ must be followed by a file name, or - for stdin")
    return Path(items.source)


def build_request(words: Sequence[str], stdin: BinaryIO | None = None) -> PreparedRequest:
    """Build the request described by the positional words.

    The method defaults to POST when there is a body, else GET. JSON fields
    get ``Content-Type: application/json; charset=utf-8`` unless a
    ``Content-Type`` item is given.

    :raises UsageError: for a bad URL or item.
    """
    method, url_text, item_words = split_words(words)
    url = parse_url(url_text)
    items = _sort_items(item_words)
    body = _body(items, stdin)
    headers = list(items.headers)
    named = {name.lower() for name, _ in headers}
    if items.data and "content-type" not in named:
        headers.append(("Content-Type", JSON_CONTENT_TYPE))
    if items.query:
        extra = urlencode(items.query)
        url = url._replace(query=f"{url.query}&{extra}" if url.query else extra)
    return PreparedRequest(method or ("POST" if body is not None else "GET"), url, headers, body)


def redirected(request: PreparedRequest, status: int, location: str) -> PreparedRequest:
    """The request that follows a redirect, as browsers and requests do it.

    303 (and 301/302 after a POST) becomes a GET without a body; 307 and 308
    repeat the request. Headers that describe the dropped body go with it,
    and ``Authorization`` is not sent to another origin.

    :raises RedirectError: if ``location`` is not an http(s) URL.
    """
    try:
        target = parse_url(urljoin(urlunsplit(request.url), location))
    except UsageError as exc:
        raise RedirectError(f"cannot follow the redirect: {exc}") from exc
    method, body, headers = request.method, request.body, request.headers
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
        headers = [(k, v) for k, v in headers if not k.lower().startswith("content-")]
    moved = replace(request, url=target)
    if moved.origin != request.origin:
        headers = [(k, v) for k, v in headers if k.lower() not in _ORIGIN_BOUND]
    return replace(moved, method=method, body=body, headers=headers)
