"""What the real servers serve and how clients trust them.

:class:`Certs` writes a trustme CA and a server certificate for ``localhost``
and ``127.0.0.1`` to a directory, as the PEM files server configurations
expect. :class:`Docroot` builds the shared document root: deterministic small
files written up front (``index.html``, ``style.css``, a 1 MiB ``blob.bin``,
a compressible ``text.txt``) and large random files written only when a test
asks for one. Each file's size and SHA-256 are recorded, so a test compares
what a client downloaded with what is on disk without reading the file again.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import trustme

#: Names the server certificate is valid for.
SERVER_NAMES = ("localhost", "127.0.0.1")
#: Size of ``blob.bin``, the default binary download.
BLOB_SIZE = 1024 * 1024
#: Number of lines in ``text.txt``; about 150 KiB, well above any gzip threshold.
TEXT_LINES = 2000
#: Bytes generated and hashed per step when a large file is written.
WRITE_CHUNK = 4 * 1024 * 1024
#: Seed for the random content, so file hashes are the same on every run.
SEED = 20240601

INDEX_HTML = b"""<!DOCTYPE html>
<html>
<head><title>hyper release tests</title><link rel="stylesheet" href="/style.css"></head>
<body><p>hello from the release test docroot</p></body>
</html>
"""
STYLE_CSS = b"body { font-family: sans-serif; color: #222; }\np { margin: 1em; }\n"


@dataclass(frozen=True)
class Certs:
    """PEM files for a server certificate signed by a fresh test CA.

    :ivar ca: the trustme CA (``ca.configure_trust(ctx)`` trusts it).
    :ivar ca_path: the CA certificate, for ``--cacert`` and ``ssl`` contexts.
    :ivar cert_path: the server certificate followed by its chain.
    :ivar key_path: the server's private key.
    """

    ca: trustme.CA
    ca_path: Path
    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path) -> Certs:
        """Generate a CA and a server certificate and write them to ``directory``.

        :param directory: an existing, writable directory.
        :returns: the written files.
        """
        ca = trustme.CA()
        server = ca.issue_cert(*SERVER_NAMES)
        certs = cls(ca, directory / "ca.pem", directory / "server.pem", directory / "server.key")
        ca.cert_pem.write_to_path(str(certs.ca_path))
        server.private_key_pem.write_to_path(str(certs.key_path))
        certs.cert_path.write_bytes(b"".join(pem.bytes() for pem in server.cert_chain_pems))
        return certs


@dataclass(frozen=True)
class DocFile:
    """One file in the document root.

    :ivar name: the file name, which is also its URL path without the ``/``.
    :ivar path: where it is on disk.
    :ivar size: its length in bytes.
    :ivar sha256: the hex SHA-256 of its content.
    """

    name: str
    path: Path
    size: int
    sha256: str

    @property
    def url_path(self) -> str:
        """The path to request, e.g. ``/blob.bin``."""
        return "/" + self.name


def _text_body() -> bytes:
    """Build the compressible text: numbered, repetitive lines."""
    line = "line {:05d}: the quick brown fox jumps over the lazy dog, again and again.\n"
    return "".join(line.format(number) for number in range(TEXT_LINES)).encode("ascii")


class Docroot:
    """The directory every server serves, with a hash for each file.

    Safe to use from several threads: large files are written under a lock.

    :ivar path: the directory.
    """

    def __init__(self, path: Path) -> None:
        """Create the directory and write the small files into it.

        :param path: a directory to create (its parent must exist).
        """
        self.path = path
        self._files: dict[str, DocFile] = {}
        self._lock = threading.Lock()
        path.mkdir()
        self._write("index.html", INDEX_HTML)
        self._write("style.css", STYLE_CSS)
        self._write("blob.bin", random.Random(SEED).randbytes(BLOB_SIZE))
        self._write("text.txt", _text_body())

    def __getitem__(self, name: str) -> DocFile:
        """Return the file called ``name``.

        :raises KeyError: when there is no such file.
        """
        with self._lock:
            return self._files[name]

    def names(self) -> list[str]:
        """Return the names of the files written so far, sorted."""
        with self._lock:
            return sorted(self._files)

    def random_file(self, size: int) -> DocFile:
        """Return ``random-<size>.bin``, writing it on the first request.

        The content is deterministic (seeded), written in chunks so memory
        stays small however large the file.

        :param size: the file's length in bytes.
        :raises ValueError: when ``size`` is negative.
        """
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        name = f"random-{size}.bin"
        with self._lock:
            if name not in self._files:
                self._files[name] = self._write_random(name, size)
            return self._files[name]

    def _write(self, name: str, content: bytes) -> None:
        path = self.path / name
        path.write_bytes(content)
        self._files[name] = DocFile(name, path, len(content), hashlib.sha256(content).hexdigest())

    def _write_random(self, name: str, size: int) -> DocFile:
        path = self.path / name
        digest = hashlib.sha256()
        generator = random.Random(SEED + size)
        # Written under a temporary name, so a server never serves half a file.
        partial = path.with_suffix(".partial")
        with partial.open("wb") as stream:
            remaining = size
            while remaining:
                chunk = generator.randbytes(min(WRITE_CHUNK, remaining))
                digest.update(chunk)
                stream.write(chunk)
                remaining -= len(chunk)
        partial.rename(path)
        return DocFile(name, path, size, digest.hexdigest())
