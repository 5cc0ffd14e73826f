"""Run a real server binary for the release tests: find it, start it, await it, stop it.

A server is started in its own session (process group) with its output in a
log file, on ports picked at run time, and is ready once every port accepts a
TCP connection (and an optional probe succeeds) within :data:`READY_TIMEOUT`.
If it exits before that (most often because another process took a port
between picking and binding), it is started again on fresh ports, up to
:data:`START_ATTEMPTS` times. Stopping sends SIGTERM to the server's PID,
waits :data:`STOP_TIMEOUT`, then kills the whole process group it leads.

A missing binary skips the test, with a reason naming the Debian package, or
fails it when ``CI`` is set (:func:`require_binary`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

#: Seconds a server may take from exec to accepting connections.
READY_TIMEOUT = 15.0
#: Seconds a server may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0
#: Seconds one readiness connection attempt may take.
PROBE_TIMEOUT = 1.0
#: Seconds between readiness attempts.
POLL_INTERVAL = 0.05
#: How often a server that exits during startup is retried on fresh ports.
START_ATTEMPTS = 3
#: How much of a server's log is quoted when it fails.
LOG_TAIL_BYTES = 3000
#: The address every server binds.
LOCALHOST = "127.0.0.1"

#: The Debian package providing each binary the release tests run.
APT_PACKAGES = {
    "nghttpd": "nghttp2-server",
    "nghttp": "nghttp2-client",
    "h2load": "nghttp2-client",
    "nginx": "nginx-light",
    "h2o": "h2o",
    "curl": "curl",
}
#: The one command that installs all of them.
APT_INSTALL_LINE = "apt-get install nghttp2-server nghttp2-client nginx-light h2o curl"
#: Every skip for a missing server starts with this, so the summary hook finds them.
MISSING_PREFIX = "release server missing:"


class ServerStartError(RuntimeError):
    """A server exited, or did not become ready, during startup."""


def in_ci() -> bool:
    """Return whether the ``CI`` environment variable asks for strict mode."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(name: str, remedy: str) -> NoReturn:
    """Skip the current test for a missing server or client (fail it under CI).

    :param name: the missing binary or module.
    :param remedy: how to install it.
    :raises pytest.fail.Exception: under CI.
    :raises pytest.skip.Exception: otherwise.
    """
    reason = f"{MISSING_PREFIX} {name} not found ({remedy})"
    if in_ci():
        pytest.fail(f"{reason}; CI=true requires every release server")
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Return the path of an executable, or skip (fail under CI) when it is absent.

    :param name: a key of :data:`APT_PACKAGES`.
    :raises pytest.skip.Exception: when the binary is missing outside CI.
    """
    path = which(name)
    if path is None:
        missing(name, f"apt package {APT_PACKAGES[name]}")
    return path


def which(name: str) -> str | None:
    """Return the path of executable ``name`` on PATH or in the sbin dirs, else None.

    :param name: the executable's file name.
    """
    # /usr/sbin is not on every user's PATH, but nghttpd and nginx live there.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    for directory in search.split(os.pathsep):
        candidate = Path(directory or ".") / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that were free on 127.0.0.1 a moment ago.

    :param count: how many ports.
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOCALHOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class ServerProcess:
    """A started server process and where its output goes.

    :ivar name: a label for messages.
    :ivar popen: the process.
    :ivar log_path: the file receiving its stdout and stderr.
    """

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's process ID (also its process group ID)."""
        return self.popen.pid

    def log_tail(self) -> str:
        """Return the end of the server's log, for failure messages."""
        try:
            data = self.log_path.read_bytes()
        except OSError as exc:
            return f"<log unreadable: {exc}>"
        return data[-LOG_TAIL_BYTES:].decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the server: SIGTERM, bounded wait, then SIGKILL to its group."""
        if self.popen.poll() is None:
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=STOP_TIMEOUT)
        # The group outlives a killed leader (nginx workers, h2o helpers): end it too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)

    def wait_ready(self, ports: Sequence[int], probe: Callable[[], None] | None) -> None:
        """Block until every port accepts a connection and ``probe`` succeeds.

        :param ports: the ports the server listens on.
        :param probe: an extra check that raises :class:`OSError` until ready.
        :raises ServerStartError: when the server exits or the timeout passes.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            code = self.popen.poll()
            if code is not None:
                raise ServerStartError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            try:
                for port in ports:
                    socket.create_connection((LOCALHOST, port), timeout=PROBE_TIMEOUT).close()
                if probe is not None:
                    probe()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"{self.name} not ready after {READY_TIMEOUT} s:\n{self.log_tail()}"
                    ) from None
                time.sleep(POLL_INTERVAL)


def _spawn(name: str, argv: Sequence[str], log_path: Path, cwd: Path) -> ServerProcess:
    with log_path.open("ab") as log:
        log.write(f"==== {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServerProcess(name, popen, log_path)


def launch(
    name: str,
    port_count: int,
    build: Callable[[list[int]], list[str]],
    log_path: Path,
    probe: Callable[[list[int]], None] | None = None,
) -> tuple[ServerProcess, list[int]]:
    """Start a server on fresh ports and wait until it is ready.

    :param name: a label for messages.
    :param port_count: how many ports the server needs.
    :param build: given the ports, writes any config file and returns the argv.
    :param log_path: the file for the server's stdout and stderr (appended).
    :param probe: an extra readiness check, given the ports; raises OSError until ready.
    :returns: the running process and the ports it listens on.
    :raises ServerStartError: when every attempt fails.
    """
    attempt = 1
    while True:
        ports = free_ports(port_count)
        server = _spawn(name, build(ports), log_path, log_path.parent)
        bound_probe = None if probe is None else functools.partial(probe, ports)
        try:
            server.wait_ready(ports, bound_probe)
        except ServerStartError:
            exited = server.popen.poll() is not None
            server.stop()
            if not exited or attempt >= START_ATTEMPTS:
                raise
            attempt += 1
            continue
        return server, ports
