"""The benchmark jobs done through requests with hyper's HTTP/2 adapter mounted (the real urllib3).

It measures :class:`hyper.contrib.HTTP20Adapter` (if the adapter cannot
be imported every job reports ``missing``, which the table shows as
``n/a``). It runs with the project's own interpreter, where requests and
the real urllib3 are installed. Concurrent GETs use ``concurrency``
threads sharing one session, so the adapter's one pooled connection
carries that many streams at once (requests has no other way to have
requests in flight). HTTP/2 over TLS only: the harness gives it no h2c or
HTTP/1.1 jobs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import Any

import requests
from _common import CHUNK_SIZE, Job, Missing, check, check_body, run

#: The adapter class, or None while it is not written yet.
adapter_class: Any = None
_IMPORT_ERROR = ""
try:
    from hyper import contrib

    adapter_class = contrib.HTTP20Adapter
except (ImportError, AttributeError) as exc:  # the adapter is written later
    _IMPORT_ERROR = str(exc)


def _session(job: Job) -> requests.Session:
    """A session sending https:// through the adapter, trusting the test CA."""
    if adapter_class is None:
        raise Missing(f"HTTP20Adapter missing: {_IMPORT_ERROR}")
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    session.verify = job.ca_path
    session.mount("https://", adapter_class())
    return session


def _checked(response: Any, job: Job, length: int, upload: bool = False) -> int:
    # requests' own convention is raw.version == 20; hyper's is HTTPVersion.http20.
    version = getattr(response.raw, "version", None)
    spoken = getattr(version, "value", version)
    check(spoken in (20, "HTTP/2"), f"spoke HTTP version {version!r}, not HTTP/2")
    check_body(response.status_code, length, job, upload=upload)
    return length


def get_seq(job: Job) -> tuple[int, int]:
    """``count`` GETs one after another."""
    with _session(job) as session:
        moved = 0
        for _ in range(job.count):
            response = session.get(job.url, timeout=60)
            moved += _checked(response, job, len(response.content))
    return job.count, moved


def get_concurrent(job: Job) -> tuple[int, int]:
    """``count`` GETs from ``concurrency`` threads sharing the session."""
    with _session(job) as session, ThreadPoolExecutor(job.concurrency) as pool:

        def one(_: int) -> int:
            response = session.get(job.url, timeout=60)
            return _checked(response, job, len(response.content))

        return job.count, sum(pool.map(one, range(job.count)))


def download(job: Job) -> tuple[int, int]:
    """One large GET, streamed in :data:`CHUNK_SIZE` pieces."""
    with _session(job) as session:
        response = session.get(job.url, stream=True, timeout=60)
        moved = sum(len(chunk) for chunk in response.iter_content(CHUNK_SIZE))
        return 1, _checked(response, job, moved)


def upload(job: Job) -> tuple[int, int]:
    """One large PUT, streamed from the open file."""
    with _session(job) as session, open(str(job.upload_path), "rb") as body:
        response = session.put(job.url, data=body, timeout=60)
        _checked(response, job, 0, upload=True)
    return 1, job.size


if __name__ == "__main__":
    run(
        {
            "get_seq": get_seq,
            "get_concurrent": get_concurrent,
            "download": download,
            "upload": upload,
        },
        f"requests {metadata.version('requests')} + hyper adapter",
    )
