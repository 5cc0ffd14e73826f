"""Fuzzing and soak testing for hyper: ``make fuzz`` and ``make soak``.

Three fuzz targets, each a hypothesis strategy and a check of what must hold
for every input (see each module's docstring):

* ``http11`` (:mod:`fuzz.target_http11`): the pure HTTP/1.1 head parser and
  its helpers, on built, mutated and random bytes, whole and cut;
* ``decoders`` (:mod:`fuzz.target_decoders`): the content decoders on valid,
  corrupted and random gzip/deflate/br/zstd bodies and stacks, fed and read
  in random pieces, plus decompression bombs under tracemalloc;
* ``http20`` (:mod:`fuzz.target_http20`): the HTTP/2 receive path of the
  real :class:`~hyper.http20.connection.HTTP20Connection`, over a real
  socket to a scripted server thread sending random frame sequences.

A fourth target, ``http11-wire`` (:mod:`fuzz.target_http11_wire`), runs
only when named: HTTP/1.1 responses through the real client over a socket
(body framing, chunked coding and trailers, keep-alive reuse).

``python -b -m fuzz [TARGET ...] [--seconds N]`` (what ``make fuzz`` runs,
with ``FUZZ_SECONDS``) runs each for its budget in short seeded hypothesis
batches (:mod:`fuzz._engine`) and prints, per target, the examples tried,
the time, the memory (resident set and allocated blocks, from a warm
baseline to the end) and the findings. A finding is any exception other
than :class:`~hyper.common.exceptions.HyperError` escaping hyper, a broken
invariant, an error hyper logged, a thread left running, a hang (an example
past its time limit), or memory growth beyond the engine's bounds. Each is
shrunk by hypothesis and printed once, with its minimal example and the
command that replays it. Nothing is written to disk (no example database).
The exit status is 1 if anything was found.

``python -m fuzz.soak`` (``make soak``) is the soak test: one HTTP/2
connection, many threads, many requests against the in-process test server
injecting faults; see :mod:`fuzz.soak`. ``python -m fuzz.atheris_main`` runs
the two pure targets under atheris (coverage-guided, libFuzzer) when it is
installed.
"""

from __future__ import annotations

from fuzz._engine import Target
from fuzz.target_decoders import TARGET as DECODERS
from fuzz.target_http11 import TARGET as HTTP11
from fuzz.target_http11_wire import TARGET as HTTP11_WIRE
from fuzz.target_http20 import TARGET as HTTP20

__all__ = ["DEFAULT_TARGETS", "TARGETS"]

#: Every fuzz target by name.
TARGETS: dict[str, Target] = {
    target.name: target for target in (HTTP11, DECODERS, HTTP20, HTTP11_WIRE)
}
#: The targets ``make fuzz`` runs, in order.
DEFAULT_TARGETS = ("http11", "decoders", "http20")
