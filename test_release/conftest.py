"""Fixtures that run real HTTP servers on 127.0.0.1 for the release tests.

Session-scoped, so each server starts once per test process (each
pytest-xdist worker starts its own, on ports picked at run time):
``nghttpd_server`` (h2 over TLS), ``nghttpd_h2c_server`` (h2c prior
knowledge), ``nghttpd_factory`` (push rules, frame logging), ``h2o_server``,
``nginx_server`` and ``hypercorn_server``, each a :class:`_configs.Server`;
``release_certs`` (the CA and server certificate) and ``docroot`` (the files
served, with their hashes). ``curl_binary`` and ``nghttp_binary`` locate the
reference clients. Every test in this directory is marked ``release``.

A missing binary skips the tests that need it, and the session ends with a
summary naming what to install; with ``CI=true`` it fails them instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from ._configs import (
    NghttpdFactory,
    Server,
    Started,
    start_h2o,
    start_hypercorn,
    start_nghttpd,
    start_nginx,
)
from ._content import Certs, Docroot
from ._nginx_variants import NginxVariants, start_nginx_variants
from ._servers import APT_INSTALL_LINE, MISSING_PREFIX, ServerProcess, require_binary

_HERE = Path(__file__).parent
_MISSING_PATTERN = re.compile(re.escape(MISSING_PREFIX) + r" (\S+) not found \(([^)]*)\)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected from this directory ``release``."""
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.release)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """Say loudly, after every other summary, which servers were missing and how to install them."""
    yield
    counts: dict[str, int] = {}
    remedies: dict[str, str] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        found = _MISSING_PATTERN.search(text)
        if found:
            counts[found[1]] = counts.get(found[1], 0) + 1
            remedies[found[1]] = found[2]
    if counts:
        _report_missing(terminalreporter, counts, remedies)


def _report_missing(
    terminalreporter: pytest.TerminalReporter, counts: dict[str, int], remedies: dict[str, str]
) -> None:
    terminalreporter.section("release servers missing", sep="!", red=True, bold=True)
    for name, count in sorted(counts.items()):
        terminalreporter.write_line(f"{name} ({remedies[name]}): {count} tests skipped", red=True)
    terminalreporter.write_line(f"install them with: {APT_INSTALL_LINE}", red=True, bold=True)


def _serve(started: Started) -> Iterator[Server]:
    server, process = started
    try:
        yield server
    finally:
        process.stop()


@pytest.fixture(scope="session")
def release_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A fresh CA and a server certificate for ``localhost`` and ``127.0.0.1``."""
    return Certs.create(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def docroot(tmp_path_factory: pytest.TempPathFactory) -> Docroot:
    """The directory all servers serve; large files via ``docroot.random_file(size)``."""
    return Docroot(tmp_path_factory.mktemp("www") / "docroot")


@pytest.fixture(scope="session")
def nghttpd_factory(
    tmp_path_factory: pytest.TempPathFactory, release_certs: Certs, docroot: Docroot
) -> Iterator[NghttpdFactory]:
    """Start (or reuse) an nghttpd: ``factory(tls=True, push=None, verbose=False)``.

    ``push`` maps a request path to the paths pushed with it, e.g.
    ``{"/": ["/style.css"]}`` (nghttpd's ``-p/=/style.css``). Servers with
    the same arguments are shared for the session.
    """
    running: dict[tuple[object, ...], tuple[Server, ServerProcess]] = {}

    def factory(
        *, tls: bool = True, push: Mapping[str, Sequence[str]] | None = None, verbose: bool = False
    ) -> Server:
        rules = tuple(sorted((path, tuple(paths)) for path, paths in (push or {}).items()))
        key = (tls, rules, verbose)
        if key not in running:
            workdir = tmp_path_factory.mktemp("nghttpd")
            running[key] = start_nghttpd(
                workdir, release_certs, docroot, tls=tls, push=dict(rules), verbose=verbose
            )
        return running[key][0]

    try:
        yield factory
    finally:
        for _, process in running.values():
            process.stop()


@pytest.fixture(scope="session")
def nghttpd_server(nghttpd_factory: NghttpdFactory) -> Server:
    """nghttpd with TLS and ALPN h2 (nghttpd speaks no HTTP/1.1)."""
    return nghttpd_factory(tls=True)


@pytest.fixture(scope="session")
def nghttpd_h2c_server(nghttpd_factory: NghttpdFactory) -> Server:
    """nghttpd on cleartext: h2c prior knowledge only (it does not implement Upgrade)."""
    return nghttpd_factory(tls=False)


@pytest.fixture(scope="session")
def h2o_server(
    tmp_path_factory: pytest.TempPathFactory, release_certs: Certs, docroot: Docroot
) -> Iterator[Server]:
    """h2o: TLS (h2 + http/1.1), cleartext HTTP/1.1 with h2c Upgrade and prior knowledge."""
    yield from _serve(start_h2o(tmp_path_factory.mktemp("h2o"), release_certs, docroot))


@pytest.fixture(scope="session")
def nginx_server(
    tmp_path_factory: pytest.TempPathFactory, release_certs: Certs, docroot: Docroot
) -> Iterator[Server]:
    """nginx: TLS (h2 + http/1.1), cleartext HTTP/1.1, h2c on ``h2c_port``; gzip on."""
    yield from _serve(start_nginx(tmp_path_factory.mktemp("nginx"), release_certs, docroot))


@pytest.fixture(scope="session")
def hypercorn_server(
    tmp_path_factory: pytest.TempPathFactory, release_certs: Certs, docroot: Docroot
) -> Iterator[Server]:
    """hypercorn serving ``asgi_app.py``: TLS (h2 + http/1.1), cleartext with h2c."""
    workdir = tmp_path_factory.mktemp("hypercorn")
    yield from _serve(start_hypercorn(workdir, release_certs, docroot))


@pytest.fixture(scope="session")
def curl_binary() -> str:
    """The path of curl (skips, or fails under CI, when absent)."""
    return require_binary("curl")


@pytest.fixture(scope="session")
def nghttp_binary() -> str:
    """The path of nghttp, nghttp2's client (skips, or fails under CI, when absent)."""
    return require_binary("nghttp")


@pytest.fixture(scope="session")
def nginx_variants(
    tmp_path_factory: pytest.TempPathFactory, release_certs: Certs, docroot: Docroot
) -> Iterator[NginxVariants]:
    """nginx in several configurations at once (see ``_nginx_variants``)."""
    variants, process = start_nginx_variants(
        tmp_path_factory.mktemp("nginx-variants"), release_certs, docroot
    )
    try:
        yield variants
    finally:
        process.stop()
