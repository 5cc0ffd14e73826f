"""Describe the machine a benchmark ran on, from the machine itself (nothing typed by hand).

The description goes at the top of the results file the docs include:
date, CPU model and count, memory, kernel, the Python and OpenSSL the
harness runs, the client libraries' and servers' versions, hyper's
commit, how clients and servers were pinned to CPUs, and how busy the
machine was before the run.
"""

from __future__ import annotations

import datetime
import os
import platform
import ssl
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .runner import REPO_ROOT, Cell
from .servers import binary_version

#: Seconds a git query may take.
GIT_TIMEOUT = 10.0


def _cpuinfo_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip()


def _client_versions(cells: Mapping[tuple[str, str], Cell]) -> str:
    versions = sorted({cell.version for cell in cells.values() if cell.version})
    return "; ".join(versions) or "none ran"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as text (other work skews the figures)."""
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "unknown"


def describe(
    cells: Mapping[tuple[str, str], Cell], pinning: str, mode: str, load_at_start: str
) -> dict[str, str]:
    """Return the machine description as ordered (label, text) pairs.

    :param cells: the run's cells (for the client versions they reported).
    :param pinning: how clients and servers were pinned.
    :param mode: the run's mode and run count.
    :param load_at_start: :func:`load_average` before the run.
    """
    return {
        "Date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": f"{_cpuinfo_model()} ({os.cpu_count()} logical CPUs, nproc)",
        "Memory": _memory(),
        "Kernel": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OpenSSL (Python's ssl)": ssl.OPENSSL_VERSION,
        "Clients": _client_versions(cells),
        "Servers": f"{binary_version('h2o')}; {binary_version('nginx')}",
        "C references": f"{binary_version('curl')}; {binary_version('h2load')}",
        "hyper commit": _commit(),
        "CPU pinning": pinning,
        "Load average before the run": load_at_start,
        "Mode": mode,
    }
