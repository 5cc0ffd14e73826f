"""The benchmark jobs done with httpx (``httpx[http2]``), in its own virtualenv.

Sequential GETs, downloads and uploads use the synchronous ``httpx.Client``;
concurrent GETs use ``httpx.AsyncClient`` with ``concurrency`` tasks
sharing one connection (httpx's way to keep many streams in flight). The
pool is limited to one connection so every request shares it. Cleartext
HTTP/2 is prior knowledge (``http1=False``).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpx
from _common import CHUNK_SIZE, Job, Unsupported, check, check_body, file_chunks, run

#: What httpx reports as ``response.http_version`` for each job protocol.
EXPECTED_VERSION = {"h2": "HTTP/2", "h2c": "HTTP/2", "h1": "HTTP/1.1"}


def _options(job: Job) -> dict[str, Any]:
    """Client arguments for the job's protocol: one connection, the test CA."""
    return {
        "http1": job.protocol == "h1",
        "http2": job.protocol != "h1",
        "verify": ssl.create_default_context(cafile=job.ca_path),
        "limits": httpx.Limits(max_connections=1),
        "timeout": 60.0,
        "trust_env": False,
    }


def _checked(response: httpx.Response, job: Job, length: int, upload: bool = False) -> int:
    expected = EXPECTED_VERSION[job.protocol]
    check(response.http_version == expected, f"spoke {response.http_version}, not {expected}")
    check_body(response.status_code, length, job, upload=upload)
    return length


def get_seq(job: Job) -> tuple[int, int]:
    """``count`` GETs one after another on one connection."""
    with httpx.Client(**_options(job)) as client:
        moved = 0
        for _ in range(job.count):
            response = client.get(job.url)
            moved += _checked(response, job, len(response.content))
    return job.count, moved


async def _get_concurrent(job: Job) -> int:
    async with httpx.AsyncClient(**_options(job)) as client:
        limit = asyncio.Semaphore(job.concurrency)

        async def one() -> int:
            async with limit:
                response = await client.get(job.url)
            return _checked(response, job, len(response.content))

        return sum(await asyncio.gather(*(one() for _ in range(job.count))))


def get_concurrent(job: Job) -> tuple[int, int]:
    """``count`` GETs, ``concurrency`` of them in flight on one connection (asyncio)."""
    if job.protocol == "h1":
        raise Unsupported("HTTP/1.1 has no multiplexing")
    return job.count, asyncio.run(_get_concurrent(job))


def download(job: Job) -> tuple[int, int]:
    """One large GET, streamed in :data:`CHUNK_SIZE` pieces."""
    with httpx.Client(**_options(job)) as client, client.stream("GET", job.url) as response:
        moved = sum(len(chunk) for chunk in response.iter_bytes(CHUNK_SIZE))
        return 1, _checked(response, job, moved)


def upload(job: Job) -> tuple[int, int]:
    """One large PUT, streamed from the file in :data:`CHUNK_SIZE` pieces."""
    if job.upload_path is None:
        raise Unsupported("no file to upload")
    headers = {"content-length": str(job.size)}
    with httpx.Client(**_options(job)) as client:
        response = client.put(job.url, content=file_chunks(job.upload_path), headers=headers)
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
        f"httpx {httpx.__version__}",
    )
