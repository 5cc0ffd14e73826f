"""Small helpers shared by the fuzz targets and the soak test."""

from __future__ import annotations

import os

__all__ = ["Repeated", "rss_mib"]


class Repeated(bytes):
    """Bytes made of ``unit`` repeated ``times`` times, shown that way (a
    falsifying example stays readable). Pass ``bytes(value)`` to code that
    insists on exact ``bytes``."""

    unit: bytes
    times: int

    def __new__(cls, unit: bytes, times: int) -> Repeated:
        self = super().__new__(cls, unit * times)
        self.unit, self.times = unit, times
        return self

    def __repr__(self) -> str:
        return f"{self.unit!r} * {self.times}"


def rss_mib() -> float:
    """The resident set size of this process now, in MiB (Linux ``/proc``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except OSError:  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
