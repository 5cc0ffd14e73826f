"""Run one client process pinned to the client CPU, bounded in time, and collect its peak memory.

A client runs under ``taskset`` on the CPU set aside for clients (the
harness itself, the servers it started and the delay proxy stay on the
other one). Its stdout and stderr go to files. Peak memory is the
client's ``VmHWM`` (``/proc/<pid>/status``), not ``ru_maxrss``: on Linux
a forked child's ``ru_maxrss`` starts at its parent's resident size and
keeps it across exec, so every client would report at least the
harness's own size. Python clients read their own ``VmHWM`` as they
finish; for the C tools the harness samples it while they run (a lower
bound, exact once the peak is held for a few milliseconds). A client that
outlives its time limit is killed and reported as failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Environment variables removed from every client's environment: the
#: clients talk to 127.0.0.1 directly, never through a proxy.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
#: How much of a failed client's stderr is quoted.
STDERR_TAIL = 2000
#: Seconds between two looks at a running client (its exit, its memory).
POLL_INTERVAL = 0.002


@dataclass(frozen=True)
class Finished:
    """A client process that ended.

    :ivar returncode: its exit status (negative: killed by that signal).
    :ivar stdout: what it printed.
    :ivar stderr_tail: the end of its stderr.
    :ivar wall_seconds: from spawn to exit.
    :ivar maxrss_kib: its peak resident set size, in KiB.
    :ivar timed_out: whether it was killed for exceeding its limit.
    """

    returncode: int
    stdout: str
    stderr_tail: str
    wall_seconds: float
    maxrss_kib: int
    timed_out: bool


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the servers and the clients run on (empty sets: not pinned).

    :ivar server_cpus: the harness, the servers and the delay proxy.
    :ivar client_cpus: every client process.
    """

    server_cpus: frozenset[int]
    client_cpus: frozenset[int]

    @classmethod
    def choose(cls) -> Pinning:
        """Split the CPUs this process may use: the first for servers, the rest for clients.

        With one CPU, or without ``taskset``, nothing is pinned.
        """
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2 or shutil.which("taskset") is None:
            return cls(frozenset(), frozenset())
        return cls(frozenset(cpus[:1]), frozenset(cpus[1:]))

    def pin_harness(self) -> None:
        """Move this process (and so every server it starts later) to the server CPUs."""
        if self.server_cpus:
            os.sched_setaffinity(0, self.server_cpus)

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """Return ``argv`` prefixed to run on the client CPUs."""
        if not self.client_cpus:
            return list(argv)
        cpus = ",".join(str(cpu) for cpu in sorted(self.client_cpus))
        return ["taskset", "-c", cpus, *argv]

    def describe(self) -> str:
        """One line for the report."""
        if not self.client_cpus:
            return "not pinned (one CPU, or no taskset)"
        servers = ",".join(map(str, sorted(self.server_cpus)))
        clients = ",".join(map(str, sorted(self.client_cpus)))
        return f"servers and delay proxy on CPU {servers}, clients on CPU {clients}"


def client_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The harness's environment without proxy variables, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key.lower() not in PROXY_VARIABLES}
    env.update(extra)
    return env


def run_pinned(
    argv: Sequence[str], pinning: Pinning, timeout: float, env: Mapping[str, str]
) -> Finished:
    """Run ``argv`` on the client CPUs and wait for it, at most ``timeout`` seconds.

    :param argv: the command.
    :param pinning: where to run it.
    :param timeout: seconds before it is killed.
    :param env: its environment.
    :raises OSError: when it cannot be started.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        popen = subprocess.Popen(
            pinning.wrap(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env)
        )
        status, peak, timed_out = _watch(popen.pid, started + timeout)
        wall = time.perf_counter() - started
        popen.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Finished(
            returncode=popen.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr_tail=err.read().decode("utf-8", "replace")[-STDERR_TAIL:],
            wall_seconds=wall,
            maxrss_kib=peak,
            timed_out=timed_out,
        )


def _watch(pid: int, deadline: float) -> tuple[int, int, bool]:
    """Wait for ``pid``, sampling its VmHWM; kill it at ``deadline``.

    Returns its wait status, the highest VmHWM seen (KiB) and whether it was killed.
    """
    peak = 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, peak, False
        peak = max(peak, vm_hwm_kib(pid))
        if time.perf_counter() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return os.waitpid(pid, 0)[1], peak, True
        time.sleep(POLL_INTERVAL)


def vm_hwm_kib(pid: int) -> int:
    """The peak resident memory of process ``pid`` since its last exec, in KiB (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
