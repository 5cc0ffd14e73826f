"""The soak test's server side: one route on :class:`hyper.testing.Server` that injects faults.

The client encodes in each request's path what it wants: ``/soak/ID/SIZE/FAULT/PARAM``.
The route answers with :func:`expected_body` (``SIZE`` bytes that depend on
``ID``, so a body delivered to the wrong stream is caught) after acting out
the fault: a delay, a body written slowly in pieces, RST_STREAM before the
head or halfway through the body, REFUSED_STREAM, or GOAWAY(NO_ERROR)
naming the highest stream received so far as the last one processed (the
connection stays open, so those streams finish). Refusals and GOAWAYs happen
once per request ID, so a client that sends the request again gets an
answer. The route keeps counts of what it did.
"""

from __future__ import annotations

import collections
import threading

from h2.errors import ErrorCodes

from hyper.testing import Request, Response, Server

__all__ = ["FAULTS", "SoakRoute", "expected_body", "path_for"]

#: The faults and their weights (per mille of requests).
FAULTS: dict[str, int] = {
    "none": 700,
    "delay": 90,
    "slow": 40,
    "reset": 60,
    "reset_mid": 40,
    "refuse": 60,
    "goaway": 10,
}
#: Longest delay of a ``delay`` fault, and pause between the pieces of a
#: ``slow`` body, in milliseconds.
MAX_DELAY_MS = 50
SLOW_PIECES = 4


def expected_body(ident: int, size: int) -> bytes:
    """The body of request ``ident``: ``size`` bytes, different for every ID."""
    unit = ident.to_bytes(8, "big")
    return (unit * (size // 8 + 1))[:size]


def path_for(ident: int, size: int, fault: str, param: int) -> str:
    """The request path that asks the route for this response."""
    return f"/soak/{ident}/{size}/{fault}/{param}"


class SoakRoute:
    """The fault-injecting handler; install with :meth:`install`. Thread-safe."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.acted = collections.Counter[str]()
        self._once: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def install(self) -> None:
        """Serve ``/soak/*`` with this route."""
        self.server.add_route("/soak/*", self)

    def _first_time(self, fault: str, ident: int) -> bool:
        with self._lock:
            first = (fault, ident) not in self._once
            self._once.add((fault, ident))
            self.acted[fault if first else f"{fault} (again: served)"] += 1
            return first

    def __call__(self, request: Request, response: Response) -> None:
        ident_text, size_text, fault, param_text = request.subpath.split("/")
        ident, size, param = int(ident_text), int(size_text), int(param_text)
        body = expected_body(ident, size)
        if fault in ("refuse", "goaway") and self._first_time(fault, ident):
            if fault == "refuse":
                response.abort(ErrorCodes.REFUSED_STREAM)
                return
            response.h2.goaway()  # last stream: the highest received, as a real server says
        elif fault not in ("refuse", "goaway"):
            with self._lock:
                self.acted[fault] += 1
        if fault == "reset":
            response.abort(ErrorCodes.INTERNAL_ERROR if param % 2 else ErrorCodes.CANCEL)
        elif fault == "reset_mid":
            response.start(200, [("content-length", str(size + 1))])
            response.write(body[: size // 2])
            response.abort(ErrorCodes.INTERNAL_ERROR)
        elif fault == "slow":
            self._slow(response, body, param)
        else:
            if fault == "delay":
                self.server.sleep(param / 1000)
            response.send(body)

    def _slow(self, response: Response, body: bytes, param: int) -> None:
        response.start(200, [("content-length", str(len(body)))])
        step = max(1, -(-len(body) // SLOW_PIECES))
        for at in range(0, len(body), step):
            response.write(body[at : at + step])
            self.server.sleep(param / 1000 / SLOW_PIECES)
        response.finish()
