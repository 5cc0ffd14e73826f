"""The benchmark jobs done with pycurl (libcurl through its Python binding), in its own virtualenv.

Sequential jobs reuse one easy handle, so libcurl keeps one connection.
Concurrent GETs use a multi handle with multiplexing on and ``PIPEWAIT``,
so every transfer waits for the one HTTP/2 connection rather than opening
its own; a finished handle is reused for the next request (a sliding
window of ``concurrency``). Bodies are counted in a write callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pycurl
from _common import Job, Unsupported, check, check_body, run

#: libcurl's HTTP version option for each job protocol.
HTTP_VERSION = {
    "h2": pycurl.CURL_HTTP_VERSION_2TLS,
    "h2c": pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
    "h1": pycurl.CURL_HTTP_VERSION_1_1,
}
#: What ``INFO_HTTP_VERSION`` reports for each job protocol.
EXPECTED_VERSION = {
    "h2": pycurl.CURL_HTTP_VERSION_2_0,
    "h2c": pycurl.CURL_HTTP_VERSION_2_0,
    "h1": pycurl.CURL_HTTP_VERSION_1_1,
}
#: Seconds a multi-handle select() waits at most before checking again.
SELECT_TIMEOUT = 1.0


class _Counter:
    """A write callback that counts body bytes."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, data: bytes) -> None:
        self.count += len(data)


def _handle(job: Job, sink: Callable[[bytes], None]) -> pycurl.Curl:
    handle = pycurl.Curl()
    handle.setopt(pycurl.URL, job.url)
    handle.setopt(pycurl.CAINFO, job.ca_path)
    handle.setopt(pycurl.HTTP_VERSION, HTTP_VERSION[job.protocol])
    handle.setopt(pycurl.WRITEFUNCTION, sink)
    handle.setopt(pycurl.TIMEOUT, 60)
    return handle


def _checked(handle: pycurl.Curl, job: Job, length: int, upload: bool = False) -> int:
    version = handle.getinfo(pycurl.INFO_HTTP_VERSION)
    expected = EXPECTED_VERSION[job.protocol]
    check(version == expected, f"spoke libcurl HTTP version {version}, not {expected}")
    check_body(handle.getinfo(pycurl.RESPONSE_CODE), length, job, upload=upload)
    return length


def get_seq(job: Job) -> tuple[int, int]:
    """``count`` GETs one after another on one easy handle (one connection)."""
    counter = _Counter()
    handle = _handle(job, counter)
    moved = 0
    for _ in range(job.count):
        counter.count = 0
        handle.perform()
        moved += _checked(handle, job, counter.count)
    handle.close()
    return job.count, moved


def _finish_one(multi: pycurl.CurlMulti, handle: pycurl.Curl, counter: _Counter, job: Job) -> int:
    multi.remove_handle(handle)
    moved = _checked(handle, job, counter.count)
    counter.count = 0
    return moved


def _drain(multi: pycurl.CurlMulti) -> tuple[list[pycurl.Curl], list[str]]:
    """Run the multi handle until it stops making progress; return finished and failed."""
    while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
        pass
    finished: list[pycurl.Curl] = []
    errors: list[str] = []
    while True:
        queued, ok, failed = multi.info_read()
        finished.extend(ok)
        errors.extend(f"curl error {code}: {message}" for _, code, message in failed)
        if not queued:
            return finished, errors


def _wait(multi: pycurl.CurlMulti) -> None:
    """Wait for socket activity, or until libcurl's next timer is due."""
    due_ms = multi.timeout()
    if due_ms == 0:
        return
    limit = SELECT_TIMEOUT if due_ms < 0 else min(due_ms / 1000, SELECT_TIMEOUT)
    multi.select(limit)


def get_concurrent(job: Job) -> tuple[int, int]:
    """``count`` GETs with ``concurrency`` in flight on one multiplexed connection."""
    if job.protocol == "h1":
        raise Unsupported("HTTP/1.1 has no multiplexing")
    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
    multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, 1)
    issued = moved = done = 0
    counters: dict[pycurl.Curl, _Counter] = {}
    for _ in range(min(job.concurrency, job.count)):
        counter = _Counter()
        handle = _handle(job, counter)
        counters[handle] = counter
        handle.setopt(pycurl.PIPEWAIT, 1)
        multi.add_handle(handle)
        issued += 1
    while done < job.count:
        finished, errors = _drain(multi)
        check(not errors, "; ".join(errors))
        for handle in finished:
            moved += _finish_one(multi, handle, counters[handle], job)
            done += 1
            if issued < job.count:
                multi.add_handle(handle)
                issued += 1
        if not finished:
            _wait(multi)
    multi.close()
    return job.count, moved


def download(job: Job) -> tuple[int, int]:
    """One large GET, counted in the write callback."""
    counter = _Counter()
    handle = _handle(job, counter)
    handle.perform()
    moved = _checked(handle, job, counter.count)
    handle.close()
    return 1, moved


def upload(job: Job) -> tuple[int, int]:
    """One large PUT, read from the file by libcurl."""
    if job.upload_path is None:
        raise Unsupported("no file to upload")
    handle = _handle(job, _Counter())
    with open(job.upload_path, "rb") as body:
        handle.setopt(pycurl.UPLOAD, 1)
        handle.setopt(pycurl.READDATA, body)
        handle.setopt(pycurl.INFILESIZE_LARGE, os.fstat(body.fileno()).st_size)
        handle.perform()
    _checked(handle, job, 0, upload=True)
    handle.close()
    return 1, job.size


if __name__ == "__main__":
    run(
        {
            "get_seq": get_seq,
            "get_concurrent": get_concurrent,
            "download": download,
            "upload": upload,
        },
        pycurl.version.split()[0] + " " + pycurl.version.split()[1],
    )
