"""Decode a decompression bomb in slices and report the memory it took.

test_decoders.py runs this as ``python bomb_rss.py CODING SIZE CAP``, alone in
its process so the numbers are its own. It builds a body of SIZE zero bytes
encoded with CODING (a ``Content-Encoding`` value, or ``deflate-raw`` for raw
deflate sent as ``deflate``), decodes it with hyper's ContentDecoder fed in
64 KiB pieces and read in 64 KiB slices, then asks ``decode_all`` for it
under CAP. It prints one JSON object: bytes decoded, the largest read, whether
``decode_all`` refused, the resident memory before each phase and at its peak
(KiB), ``ru_maxrss`` and timings.

Peaks come from Linux's ``VmHWM``, reset through ``/proc/self/clear_refs``
before each phase, so building the bomb does not hide what decoding takes. A
child's ``ru_maxrss`` starts at its parent's peak (the exec'ing process's
high-water mark is inherited), so it is reported but only used where
``/proc`` is missing.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
import zlib
from collections.abc import Callable, Iterator

import brotli

from hyper.common.decoders import ContentDecoder, decode_all
from hyper.common.exceptions import ContentDecodingError

MIB = 1 << 20
SLICE = 64 * 1024
ZEROS = bytes(MIB)


def raw_deflate(mib: int) -> bytes:
    """Raw deflate of *mib* MiB of zeros, built from one compressed MiB.

    A full flush after each MiB resets the compressor, so every MiB after it
    compresses to the same bytes: compressing one and repeating it is exact.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * mib + compressor.flush()


def gzip_bomb(mib: int) -> bytes:
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(ZEROS, crc)
    trailer = crc.to_bytes(4, "little") + (mib * MIB & 0xFFFFFFFF).to_bytes(4, "little")
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw_deflate(mib) + trailer


def zlib_bomb(mib: int) -> bytes:
    # Adler-32 of n zero bytes: the low sum stays 1, the high sum is n.
    adler = (mib * MIB % 65521) << 16 | 1
    return b"\x78\xda" + raw_deflate(mib) + adler.to_bytes(4, "big")


def brotli_bomb(mib: int) -> bytes:
    compressor = brotli.Compressor(quality=1)
    return b"".join(compressor.process(ZEROS) for _ in range(mib)) + compressor.finish()


def zstd_bomb(mib: int) -> bytes:
    try:
        import zstandard
    except ImportError:  # Python 3.14+: the standard library's
        from compression import zstd

        compressor = zstd.ZstdCompressor(level=1)
    else:
        compressor = zstandard.ZstdCompressor(level=1).compressobj()
    return b"".join(compressor.compress(ZEROS) for _ in range(mib)) + compressor.flush()


BUILDERS: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "gzip": ("gzip", gzip_bomb),
    "deflate": ("deflate", zlib_bomb),
    "deflate-raw": ("deflate", raw_deflate),
    "br": ("br", brotli_bomb),
    "zstd": ("zstd", zstd_bomb),
    "gzip, br": ("gzip, br", lambda mib: brotli.compress(gzip_bomb(mib), quality=5)),
}


def rss_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field in KiB, or ``ru_maxrss`` without /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak() -> int:
    """Make the current resident size the new peak; return it in KiB."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
    return rss_kib("VmRSS")


def pieces(body: bytes) -> Iterator[bytes]:
    return (body[start : start + SLICE] for start in range(0, len(body), SLICE))


def stream(header: str, body: bytes) -> tuple[int, int, bool]:
    """Decode *body* in slices: bytes decoded, largest read, whether eof."""
    decoder = ContentDecoder(header)
    decoded = largest = 0
    for piece in pieces(body):
        decoder.feed(piece)
        while out := decoder.read(SLICE):
            decoded += len(out)
            largest = max(largest, len(out))
    decoder.finish()
    while out := decoder.read(SLICE):
        decoded += len(out)
        largest = max(largest, len(out))
    return decoded, largest, decoder.eof


def main(coding: str, size: int, cap: int) -> dict[str, object]:
    header, build = BUILDERS[coding]
    started = time.perf_counter()
    body = build(size // MIB)
    built = time.perf_counter()
    baseline = reset_peak()
    decoded, largest, eof = stream(header, body)
    peak = rss_kib("VmHWM")
    streamed = time.perf_counter()
    cap_baseline = reset_peak()
    try:
        decode_all(ContentDecoder(header), pieces(body), max_size=cap)
    except ContentDecodingError:
        refused = True
    else:
        refused = False
    return {
        "coding": coding,
        "encoded": len(body),
        "decoded": decoded,
        "largest_read": largest,
        "eof": eof,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "refused": refused,
        "cap_baseline_kib": cap_baseline,
        "cap_peak_kib": rss_kib("VmHWM"),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "build_seconds": round(built - started, 3),
        "stream_seconds": round(streamed - built, 3),
        "cap_seconds": round(time.perf_counter() - streamed, 3),
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))) + "\n")
