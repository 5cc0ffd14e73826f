"""Writing a response for the ``hyper`` command: status and headers, the body, a progress bar.

The body is written as it arrives, in pieces, to a binary stream, so a
binary download is byte-identical and never held whole; only a JSON body
(up to :data:`PRETTY_MAX_SIZE`) is collected first, to be pretty-printed.
The progress bar is drawn on a text stream (stderr, when it is a terminal)
at most every :data:`PROGRESS_INTERVAL` seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO, TextIO

from hyper.http11.response import HTTP11Response
from hyper.http20.response import HTTP20Response

__all__ = [
    "CHUNK_SIZE",
    "PRETTY_MAX_SIZE",
    "PROGRESS_INTERVAL",
    "Progress",
    "expected_size",
    "head_bytes",
    "is_json",
    "pretty_json",
    "write_body",
]

#: Bytes read from the response per write.
CHUNK_SIZE = 64 * 1024
#: The largest JSON body pretty-printed; a larger one is written as it came.
PRETTY_MAX_SIZE = 8 * 1024 * 1024
#: The least time between two redraws of the progress bar, in seconds.
PROGRESS_INTERVAL = 0.1
#: Width of the progress bar, in characters.
BAR_WIDTH = 30

_JSON_TYPE = re.compile(rb"application/(?:[\w.+-]+\+)?json", re.IGNORECASE)
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_KIB = 1024.0

Response = HTTP11Response | HTTP20Response


def head_bytes(response: Response) -> bytes:
    """The status line and headers, as ``curl -i`` shows them, then a blank line."""
    status = f"{response.version.value} {response.status}"
    if response.reason:
        status += f" {response.reason}"
    lines = [status.encode("latin-1")]
    lines.extend(name + b": " + value for name, value in response.headers.iter_raw())
    return b"\n".join(lines) + b"\n\n"


def is_json(response: Response) -> bool:
    """Whether the response says its body is JSON (``application/json``, ``...+json``)."""
    values = response.headers.get("content-type") or []
    return any(_JSON_TYPE.match(value.strip()) for value in values)


def expected_size(response: Response) -> int | None:
    """The body size to expect, when the server said it and no coding changes it."""
    if response.headers.get("content-encoding"):
        return None
    values = response.headers.get("content-length") or []
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else None


def pretty_json(body: bytes) -> bytes | None:
    """``body`` indented, as UTF-8 and ending in a newline; ``None`` if it is not JSON."""
    try:
        document = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        return None
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _pieces(response: Response) -> Iterator[bytes]:
    while piece := response.read(CHUNK_SIZE):
        yield piece


def write_body(
    response: Response, out: BinaryIO, pretty: bool, progress: Progress | None = None
) -> int:
    """Write the (decoded) body to ``out``, pretty-printing JSON if ``pretty``.

    :returns: the number of body bytes received.
    """
    pieces = _pieces(response)
    received = 0
    collected = bytearray()
    for piece in pieces:
        received += len(piece)
        if progress is not None:
            progress.update(received)
        if pretty and len(collected) + len(piece) <= PRETTY_MAX_SIZE:
            collected += piece
            continue
        if collected:
            out.write(collected)
            collected.clear()
        pretty = False
        out.write(piece)
    if collected:
        out.write(pretty_json(bytes(collected)) or collected)
    if progress is not None:
        progress.finish(received)
    return received


def _size(count: float) -> str:
    for unit in _UNITS:
        if count < _KIB or unit == _UNITS[-1]:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= _KIB
    raise AssertionError("unreachable")  # pragma: no cover


class Progress:
    """A one-line progress bar, redrawn in place with ``\\r``.

    :param stream: where to draw it (a terminal).
    :param total: the expected size, or ``None`` (then bytes and rate only).
    :param clock: the time source, for tests.
    """

    def __init__(
        self, stream: TextIO, total: int | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._total = total
        self._clock = clock
        self._start = clock()
        self._last_draw = -PROGRESS_INTERVAL

    def render(self, done: int) -> str:
        """The line for ``done`` bytes received so far."""
        elapsed = max(self._clock() - self._start, 1e-6)
        rate = f"{_size(done / elapsed)}/s"
        if not self._total:
            return f"{_size(done)} {rate}"
        fraction = min(done / self._total, 1.0)
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"{fraction:4.0%} [{bar}] {_size(done)} / {_size(self._total)} {rate}"

    def update(self, done: int) -> None:
        """Redraw for ``done`` bytes, unless the last redraw was very recent."""
        now = self._clock()
        if now - self._last_draw >= PROGRESS_INTERVAL:
            self._last_draw = now
            self._draw(done)

    def finish(self, done: int) -> None:
        """Draw the final state and end the line."""
        self._draw(done)
        self._stream.write("\n")
        self._stream.flush()

    def _draw(self, done: int) -> None:
        self._stream.write("\r" + self.render(done) + "\x1b[K")
        self._stream.flush()
