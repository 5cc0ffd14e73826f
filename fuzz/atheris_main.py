"""Coverage-guided fuzzing of the pure targets with atheris (optional).

``python -m fuzz.atheris_main {http11,decoders} [libFuzzer flags]`` runs the
same checks as the hypothesis targets (:func:`fuzz.target_http11.check`,
:func:`fuzz.target_decoders.check`) under atheris, which mutates raw bytes
guided by the coverage of hyper's code. The bytes are mapped onto the
targets' examples with :class:`atheris.FuzzedDataProvider`. The run lasts
``$FUZZ_SECONDS`` (default 20) unless ``-max_total_time`` is given;
libFuzzer prints its progress (executions, coverage) and, on a finding,
the Python traceback and a crash file under the system temporary directory.
atheris is not a dependency: ``pip install atheris`` first (wheels exist
for Linux x86-64). The HTTP/2 target needs threads and sockets per example
and stays with hypothesis.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable

from fuzz import target_decoders, target_http11

__all__ = ["ENTRY_POINTS", "main"]

#: Header values the decoder entry point chooses from (by the first byte).
_HEADERS = ("gzip", "deflate", "br", "zstd", "gzip, br", "deflate, zstd", "br, gzip, zstd")


def _http11(data: bytes) -> None:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    fdp = atheris.FuzzedDataProvider(data)
    cuts = [fdp.ConsumeIntInRange(0, 1 << 17) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    chunk_line = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24))
    rest = fdp.ConsumeBytes(fdp.remaining_bytes())
    lines = tuple(rest[:60].split(b"\n"))
    cut_points = tuple(cut % (len(rest) + 1) for cut in cuts)
    target_http11.check(target_http11.Example(rest, cut_points, lines, chunk_line))


def _decoders(data: bytes) -> None:
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    fdp = atheris.FuzzedDataProvider(data)
    header = _HEADERS[fdp.ConsumeIntInRange(0, len(_HEADERS) - 1)]
    encode = fdp.ConsumeBool()
    feeds = (fdp.ConsumeIntInRange(1, 4096),)
    reads = (fdp.ConsumeIntInRange(1, 4096),)
    shapes = (fdp.ConsumeIntInRange(0, 3),) * 3
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    example = target_decoders.Example(
        header=header,
        shapes=shapes,
        payload=body,
        damage=(),
        random_body=None if encode else body,
        feeds=feeds,
        reads=reads,
        cap=None,
        bomb=False,
    )
    target_decoders.check(example)


#: The targets atheris can run, by name.
ENTRY_POINTS: dict[str, Callable[[bytes], None]] = {"http11": _http11, "decoders": _decoders}


def main(argv: list[str]) -> int:
    """Run one target under atheris until its time is up (or a finding).

    :returns: 2 on bad arguments or when atheris is missing; otherwise
        libFuzzer exits the process itself.
    """
    if len(argv) < 2 or argv[1] not in ENTRY_POINTS:
        print(f"usage: python -m fuzz.atheris_main {{{','.join(ENTRY_POINTS)}}} [flags]")
        return 2
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        print("atheris is not installed: pip install atheris")
        return 2
    flags = argv[2:]
    if not any(flag.startswith("-max_total_time=") for flag in flags):
        flags.append(f"-max_total_time={int(float(os.environ.get('FUZZ_SECONDS') or 20))}")
    if not any(flag.startswith("-artifact_prefix=") for flag in flags):
        flags.append(f"-artifact_prefix={tempfile.gettempdir()}/hyper-fuzz-")
    atheris.instrument_all()
    atheris.Setup([argv[0], *flags], ENTRY_POINTS[argv[1]])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
