"""The C reference clients: the command lines for curl and h2load, and how their output is read.

Both run the same jobs as the Python clients and are checked the same way:
every response's status, body size and HTTP version (curl, through
``--write-out`` per transfer) or the success and 2xx counts and the data
bytes (h2load's summary). curl's time is the wall time of its process
(process start included, a few milliseconds); h2load's is the
``finished in`` time it reports. Each returns the dictionary a Python
client prints as JSON.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .process import Finished

#: curl's flags selecting each job protocol.
CURL_PROTOCOL = {"h2": "--http2", "h2c": "--http2-prior-knowledge", "h1": "--http1.1"}
#: What curl's ``%{http_version}`` prints for each job protocol.
CURL_VERSION = {"h2": "2", "h2c": "2", "h1": "1.1"}
#: One line per transfer: status, body bytes received, HTTP version.
CURL_WRITE_OUT = "%{http_code} %{size_download} %{http_version}\\n"
#: Status codes a successful upload may get (nginx's WebDAV: 201 new, 204 replaced).
UPLOAD_STATUSES = frozenset({"200", "201", "204"})

_H2LOAD_FINISHED = re.compile(r"finished in ([\d.]+)(us|ms|s),")
_H2LOAD_REQUESTS = re.compile(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded")
_H2LOAD_2XX = re.compile(r"status codes: (\d+) 2xx")
_H2LOAD_DATA = re.compile(r"traffic: .* \((\d+)\) data")
_H2LOAD_PROTOCOL = re.compile(r"Application protocol: (\S+)")
#: h2load's name for each job protocol.
H2LOAD_PROTOCOL = {"h2": "h2", "h2c": "h2c", "h1": "http/1.1"}
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def curl_argv(binary: str, job: dict[str, Any], workdir: Path) -> list[str]:
    """Build the curl command for ``job`` (a config file lists the URLs of GET jobs).

    :param binary: the curl executable.
    :param job: the job, as given to the Python clients.
    :param workdir: where to write the URL list.
    """
    argv = [binary, "-sS", "--no-progress-meter", "--cacert", job["ca_path"]]
    argv += [CURL_PROTOCOL[job["protocol"]], "--write-out", CURL_WRITE_OUT]
    if job["kind"] == "upload":
        return [*argv, "-T", job["upload_path"], "-o", "/dev/null", job["url"]]
    if job["kind"] == "download":
        return [*argv, "-o", "/dev/null", job["url"]]
    config = workdir / f"curl-{job['kind']}-{job['count']}.conf"
    entry = f'url = "{job["url"]}"\noutput = "/dev/null"\n'
    config.write_text(entry * job["count"])
    if job["kind"] == "get_concurrent":
        argv += ["--parallel", "--parallel-max", str(job["concurrency"])]
    return [*argv, "--config", str(config)]


def curl_result(job: dict[str, Any], finished: Finished) -> dict[str, Any]:
    """Check curl's per-transfer lines and turn its run into a result.

    :param job: the job it ran.
    :param finished: the process that ran it.
    """
    if finished.returncode != 0:
        return _failed(f"curl exited {finished.returncode}: {finished.stderr_tail.strip()}")
    lines = finished.stdout.split()
    transfers = [lines[i : i + 3] for i in range(0, len(lines), 3)]
    expected = job["count"] if job["kind"].startswith("get_") else 1
    if len(transfers) != expected:
        return _failed(f"curl reported {len(transfers)} transfers, expected {expected}")
    for code, size, version in transfers:
        if version != CURL_VERSION[job["protocol"]]:
            return _failed(f"curl spoke HTTP/{version}")
        if job["kind"] == "upload":
            if code not in UPLOAD_STATUSES:
                return _failed(f"curl upload answered {code}")
        elif code != "200" or int(size) != job["size"]:
            return _failed(f"curl got {code} with {size} bytes, expected 200 with {job['size']}")
    moved = job["size"] * expected
    return _ok(finished.wall_seconds, expected, moved)


def h2load_argv(binary: str, job: dict[str, Any]) -> list[str]:
    """Build the h2load command for ``job``: one client, one connection.

    :param binary: the h2load executable.
    :param job: the job, as given to the Python clients.
    """
    count = job["count"] if job["kind"].startswith("get_") else 1
    streams = job["concurrency"] if job["kind"] == "get_concurrent" else 1
    argv = [binary, "-n", str(count), "-c", "1", "-m", str(streams)]
    if job["protocol"] == "h1":
        argv.append("--h1")
    if job["kind"] == "upload":
        argv += ["-d", job["upload_path"], "-H", ":method: PUT"]
    return [*argv, job["url"]]


def _h2load_summary(text: str) -> dict[str, Any] | None:
    """Pick the figures out of h2load's summary, or None if any is missing."""
    timing = _H2LOAD_FINISHED.search(text)
    requests = _H2LOAD_REQUESTS.search(text)
    statuses = _H2LOAD_2XX.search(text)
    protocol = _H2LOAD_PROTOCOL.search(text)
    if timing is None or requests is None or statuses is None or protocol is None:
        return None
    data = _H2LOAD_DATA.search(text)
    return {
        "seconds": float(timing[1]) * _UNIT_SECONDS[timing[2]],
        "total": int(requests[1]),
        "succeeded": int(requests[2]),
        "2xx": int(statuses[1]),
        "protocol": protocol[1],
        "data": int(data[1]) if data else None,
    }


def h2load_result(job: dict[str, Any], finished: Finished) -> dict[str, Any]:
    """Read h2load's summary, check it, and turn its run into a result.

    :param job: the job it ran.
    :param finished: the process that ran it.
    """
    summary = _h2load_summary(finished.stdout)
    if finished.returncode != 0 or summary is None:
        tail = (finished.stdout + finished.stderr_tail)[-500:].strip()
        return _failed(f"h2load exited {finished.returncode}: {tail}")
    total = summary["total"]
    if summary["protocol"] != H2LOAD_PROTOCOL[job["protocol"]]:
        return _failed(f"h2load spoke {summary['protocol']}")
    if summary["succeeded"] != total or summary["2xx"] != total:
        return _failed(f"h2load: {summary['succeeded']} of {total} succeeded, {summary['2xx']} 2xx")
    if job["kind"] == "upload":
        return _ok(summary["seconds"], total, job["size"])
    expected = job["size"] * total
    if summary["data"] != expected:
        return _failed(f"h2load received {summary['data']} data bytes, expected {expected}")
    return _ok(summary["seconds"], total, expected)


def _ok(seconds: float, requests: int, moved: int) -> dict[str, Any]:
    return {"status": "ok", "seconds": seconds, "requests": requests, "bytes": moved}


def _failed(detail: str) -> dict[str, Any]:
    return {"status": "failed", "detail": detail}
