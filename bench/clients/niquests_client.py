"""The benchmark jobs done with niquests, in its own virtualenv (it brings urllib3-future).

HTTP/2 over TLS is negotiated by ALPN with HTTP/3 switched off (the local
servers speak none); cleartext HTTP/2 is prior knowledge
(``disable_http1=True``); HTTP/1.1 jobs switch HTTP/2 off. Concurrent GETs
use a ``multiplexed=True`` session: ``concurrency`` lazy requests are
sent, then ``gather()`` collects them, batch after batch (niquests has no
call that waits for just the next response of many).
"""

from __future__ import annotations

from typing import Any

import niquests
from _common import CHUNK_SIZE, Job, Unsupported, check, check_body, run

#: ``response.raw.version`` for each job protocol.
EXPECTED_VERSION = {"h2": 20, "h2c": 20, "h1": 11}


def _session(job: Job, multiplexed: bool = False) -> niquests.Session:
    """A session for the job's protocol, trusting the test CA."""
    session = niquests.Session(
        multiplexed=multiplexed,
        disable_http1=job.protocol == "h2c",
        disable_http2=job.protocol == "h1",
        disable_http3=True,
        pool_maxsize=1,
    )
    # Without this, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE in the environment
    # would override session.verify (and proxy variables would apply).
    session.trust_env = False
    session.verify = job.ca_path
    return session


def _checked(response: Any, job: Job, length: int, upload: bool = False) -> int:
    version = response.raw.version
    expected = EXPECTED_VERSION[job.protocol]
    check(version == expected, f"spoke HTTP version {version}, not {expected}")
    check_body(response.status_code, length, job, upload=upload)
    return length


def get_seq(job: Job) -> tuple[int, int]:
    """``count`` GETs one after another on one connection."""
    with _session(job) as session:
        moved = 0
        for _ in range(job.count):
            response = session.get(job.url, timeout=60)
            moved += _checked(response, job, len(response.content))
    return job.count, moved


def get_concurrent(job: Job) -> tuple[int, int]:
    """``count`` GETs in batches of ``concurrency`` lazy requests on one connection."""
    if job.protocol == "h1":
        raise Unsupported("HTTP/1.1 has no multiplexing")
    moved = 0
    with _session(job, multiplexed=True) as session:
        done = 0
        while done < job.count:
            batch = min(job.concurrency, job.count - done)
            responses = [session.get(job.url, timeout=60) for _ in range(batch)]
            session.gather()
            moved += sum(_checked(r, job, len(r.content)) for r in responses)
            done += batch
    return job.count, moved


def download(job: Job) -> tuple[int, int]:
    """One large GET, streamed in :data:`CHUNK_SIZE` pieces."""
    with _session(job) as session:
        response = session.get(job.url, stream=True, timeout=60)
        moved = sum(len(chunk) for chunk in response.iter_content(CHUNK_SIZE))
        return 1, _checked(response, job, moved)


def upload(job: Job) -> tuple[int, int]:
    """One large PUT, streamed from the open file."""
    if job.upload_path is None:
        raise Unsupported("no file to upload")
    with _session(job) as session, open(job.upload_path, "rb") as body:
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
        f"niquests {niquests.__version__}",
    )
