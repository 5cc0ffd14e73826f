"""Run every client on every workload, several times, and keep what each run measured.

Runs are interleaved (each round runs every cell once) so that a slow
drift of the machine spreads over all clients instead of landing on one.
A :class:`Cell` (one workload, one client) stops early when it cannot
succeed: unsupported, not written yet (``missing``), failed; or when one
run took longer than :data:`SLOW_RUN_SECONDS`, so a pathological client
does not stretch the whole benchmark (the table shows how many runs made
each median).
"""

from __future__ import annotations

import json
import logging
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from test_release._servers import in_ci, which

from . import references
from .process import Pinning, client_environment, run_pinned
from .servers import Lab, binary_version
from .workloads import CLIENTS_DIR, CONCURRENCY, MB_PER_S, SMALL_BODY, Client, Workload

log = logging.getLogger(__name__)

#: Seconds one client run may take before it is killed (and the cell fails).
CLIENT_TIMEOUT = 300.0
#: The same in a quick run, which must end within a few minutes.
QUICK_CLIENT_TIMEOUT = 60.0
#: A run slower than this is not repeated: its cell keeps the runs it has.
SLOW_RUN_SECONDS = 20.0
#: The repository root, put on ``PYTHONPATH`` for hyper's clients.
REPO_ROOT = CLIENTS_DIR.parent.parent


@dataclass
class Cell:
    """What one client achieved on one workload.

    :ivar status: ``ok``, ``unsupported``, ``missing`` (hyper piece or tool
        not there) or ``failed``.
    :ivar values: one figure per successful run, in the workload's unit.
    :ivar rss_kib: the peak resident memory of each run, in KiB.
    :ivar detail: why it is not ``ok``, or a remark.
    :ivar version: the client's version string.
    :ivar capped: whether runs stopped early because one was slow.
    """

    status: str = "ok"
    values: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    detail: str = ""
    version: str = ""
    capped: bool = False

    @property
    def open(self) -> bool:
        """Whether more runs should be made."""
        return self.status == "ok" and not self.capped

    @property
    def median(self) -> float | None:
        """The median of the runs, or None without any."""
        return statistics.median(self.values) if self.values and self.status == "ok" else None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "status": self.status,
            "values": self.values,
            "median": self.median,
            "rss_kib": self.rss_kib,
            "detail": self.detail,
            "version": self.version,
            "capped": self.capped,
        }


def slug(name: str) -> str:
    """A file-name-safe form of a client's name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def make_job(lab: Lab, workload: Workload, client: Client) -> dict[str, Any]:
    """The job description every client gets for ``workload``."""
    amount = workload.amount(lab.quick)
    getting = workload.kind.startswith("get_")
    return {
        "kind": workload.kind,
        "protocol": workload.protocol,
        "url": lab.url(workload, slug(client.name)),
        "ca_path": lab.ca_path,
        "count": amount if getting else 1,
        "concurrency": CONCURRENCY if workload.kind == "get_concurrent" else 1,
        "size": SMALL_BODY if getting else amount,
        "upload_path": lab.upload_file(workload) if workload.kind == "upload" else None,
        "options": client.options,
    }


def _python_run(
    client: Client, job: dict[str, Any], pinning: Pinning, timeout: float
) -> dict[str, Any]:
    python = client.python()
    if not python.exists():
        return {
            "status": "failed",
            "detail": f"no virtualenv at {python.parent.parent}: run make bench",
        }
    extra = {"PYTHONPATH": str(REPO_ROOT)} if client.venv is None else {}
    argv = [str(python), str(CLIENTS_DIR / str(client.script)), json.dumps(job)]
    finished = run_pinned(argv, pinning, timeout, client_environment(extra))
    try:
        result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        why = "timed out" if finished.timed_out else f"exited {finished.returncode}"
        result = {"status": "failed", "detail": f"{why}: {finished.stderr_tail.strip()}"}
    result["maxrss_kib"] = result.get("maxrss_kib") or finished.maxrss_kib
    if result.get("status") == "failed":
        log.error("%s failed; its stderr ends:\n%s", client.name, finished.stderr_tail)
    return result


def _c_run(
    client: Client, job: dict[str, Any], pinning: Pinning, workdir: Path, timeout: float
) -> dict[str, Any]:
    binary = which(client.name)
    if binary is None:
        status = "failed" if in_ci() else "missing"
        return {"status": status, "detail": f"{client.name} not installed (nghttp2-client, curl)"}
    if client.name == "curl":
        argv = references.curl_argv(binary, job, workdir)
    else:
        argv = references.h2load_argv(binary, job)
    finished = run_pinned(argv, pinning, timeout, client_environment({}))
    if client.name == "curl":
        result = references.curl_result(job, finished)
    else:
        result = references.h2load_result(job, finished)
    result["maxrss_kib"] = finished.maxrss_kib
    result["client_version"] = binary_version(client.name)
    return result


def run_once(lab: Lab, workload: Workload, client: Client, pinning: Pinning) -> dict[str, Any]:
    """Run one client on one workload once; return its result dictionary."""
    job = make_job(lab, workload, client)
    timeout = QUICK_CLIENT_TIMEOUT if lab.quick else CLIENT_TIMEOUT
    if client.group == "c":
        return _c_run(client, job, pinning, lab.base, timeout)
    return _python_run(client, job, pinning, timeout)


def record(cell: Cell, workload: Workload, result: dict[str, Any]) -> None:
    """Fold one run's result into its cell."""
    if "client_version" in result and result["status"] != "missing":
        python = result.get("python")
        cell.version = result["client_version"] + (f" (Python {python})" if python else "")
    if result["status"] != "ok":
        cell.status = result["status"]
        cell.detail = result.get("detail", "")
        if cell.status == "unsupported":  # the harness listed it as supported: a failure
            cell.status, cell.detail = "failed", f"client says unsupported: {cell.detail}"
        return
    seconds = max(float(result["seconds"]), 1e-9)
    if workload.unit == MB_PER_S:
        cell.values.append(result["bytes"] / seconds / 1e6)
    else:
        cell.values.append(result["requests"] / seconds)
    cell.rss_kib.append(int(result["maxrss_kib"]))
    cell.capped = seconds > SLOW_RUN_SECONDS


def run_all(
    lab: Lab,
    workloads: tuple[Workload, ...],
    clients: tuple[Client, ...],
    runs: int,
    pinning: Pinning,
) -> dict[tuple[str, str], Cell]:
    """Run every supported cell ``runs`` times, interleaved; return the cells.

    :param lab: the started servers.
    :param workloads: the rows.
    :param clients: the clients.
    :param runs: how many runs per cell (fewer for slow cells).
    :param pinning: where clients run.
    """
    cells: dict[tuple[str, str], Cell] = {}
    for workload in workloads:
        for client in clients:
            cell = Cell()
            if workload.name not in client.workloads:
                cell.status, cell.detail = "unsupported", client.note
            cells[workload.name, client.name] = cell
    for round_number in range(1, runs + 1):
        for workload in workloads:
            for client in clients:
                cell = cells[workload.name, client.name]
                if cell.open:
                    record(cell, workload, run_once(lab, workload, client, pinning))
                    log.info(
                        "run %d: %s / %s: %s", round_number, workload.name, client.name, cell.status
                    )
    return cells
