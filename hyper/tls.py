"""TLS set-up for hyper's connections: building an :class:`ssl.SSLContext` and
wrapping a connected socket in it.

:func:`init_context` builds a client context that verifies certificates by
default (certifi's CA bundle, or the ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
environment variables when set), requires TLS 1.2 or newer, disables TLS
compression and offers HTTP/2 and HTTP/1.1 by ALPN. Hostname checking is left
to OpenSSL (``check_hostname``). :func:`wrap_socket` performs the handshake with
an explicit SNI name and returns the negotiated protocol; every :mod:`ssl` or
socket error it meets is translated into hyper's exceptions with the original
as ``__cause__``. This module does no HTTP: it only opens the secure channel.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import TypeAlias, TypeGuard

import certifi

from hyper.common import exceptions

__all__ = [
    "DEFAULT_ALPN_PROTOCOLS",
    "H2C_PROTOCOL",
    "H2_NPN_PROTOCOLS",
    "H2_PROTOCOL",
    "HTTP11_PROTOCOL",
    "MINIMUM_TLS_VERSION",
    "NPN_PROTOCOL",
    "SUPPORTED_NPN_PROTOCOLS",
    "cert_loc",
    "init_context",
    "wrap_socket",
]

log = logging.getLogger(__name__)

#: The ALPN identifier of HTTP/2 over TLS.
H2_PROTOCOL = "h2"
#: The ALPN identifier of HTTP/1.1.
HTTP11_PROTOCOL = "http/1.1"
#: The identifier of cleartext HTTP/2 (used in ``Upgrade: h2c``; never sent by ALPN).
H2C_PROTOCOL = "h2c"
#: What :func:`init_context` offers by ALPN unless told otherwise, most preferred first.
DEFAULT_ALPN_PROTOCOLS: tuple[str, ...] = (H2_PROTOCOL, HTTP11_PROTOCOL)
#: The oldest TLS version hyper will negotiate (RFC 9113 section 9.2 requires 1.2 for HTTP/2).
MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2

#: Old name of :data:`H2_PROTOCOL`, kept for compatibility.
NPN_PROTOCOL = H2_PROTOCOL
#: Old name: the protocol identifiers that mean HTTP/2. NPN itself is no longer used.
H2_NPN_PROTOCOLS: tuple[str, ...] = (H2_PROTOCOL,)
#: Old name of :data:`DEFAULT_ALPN_PROTOCOLS`, kept for compatibility.
SUPPORTED_NPN_PROTOCOLS = DEFAULT_ALPN_PROTOCOLS
#: Path of the default CA bundle (certifi's); the old hyper shipped its own.
cert_loc: str = certifi.where()

#: Environment variables naming CA locations that replace certifi's bundle.
CA_FILE_ENV = "SSL_CERT_FILE"
CA_DIR_ENV = "SSL_CERT_DIR"
#: Environment variable naming a file to append TLS session secrets to (for Wireshark).
KEYLOG_ENV = "SSLKEYLOGFILE"

#: A filesystem path argument.
StrPath: TypeAlias = "str | os.PathLike[str]"
#: A private key password, or a callable returning one.
PasswordType: TypeAlias = "str | bytes | bytearray | Callable[[], str | bytes | bytearray]"
#: A client certificate: a combined PEM file, or ``(cert_file, key_file)``.
ClientCert: TypeAlias = "StrPath | tuple[StrPath, StrPath | None]"


def init_context(
    cert_path: StrPath | None = None,
    cert: ClientCert | None = None,
    cert_password: PasswordType | None = None,
    verify: bool | StrPath = True,
    *,
    alpn_protocols: Sequence[str] = DEFAULT_ALPN_PROTOCOLS,
) -> ssl.SSLContext:
    """Create a new client :class:`ssl.SSLContext` set up for HTTP/2 and HTTP/1.1.

    The context requires TLS 1.2 or newer, disables TLS compression, offers
    ``alpn_protocols`` by ALPN, and verifies the server's certificate and
    hostname unless ``verify`` is ``False``. The CA certificates come from,
    in order of precedence: ``cert_path`` (or a path given as ``verify``); the
    ``SSL_CERT_FILE`` and/or ``SSL_CERT_DIR`` environment variables when either
    is set; certifi's bundle. When ``SSLKEYLOGFILE`` is set, session secrets are
    appended to that file. The context may be customised further and passed to
    a connection; it may be shared between connections and threads.

    :param cert_path: a CA bundle file (PEM), or a directory of CA certificates
        prepared with ``openssl rehash``, to trust instead of the default.
    :param cert: a client certificate: the path of a PEM file holding the
        certificate (and any chain) and its private key, or a
        ``(cert_file, key_file)`` tuple.
    :param cert_password: the password of an encrypted private key, or a
        callable returning it; ignored when the key is not encrypted.
    :param verify: ``True`` to verify the server (the default); ``False`` to
        accept any certificate for any name (logged as a warning: this offers
        no protection against an active attacker); or the path of a CA bundle
        or directory, exactly like ``cert_path``.
    :param alpn_protocols: the ALPN identifiers to offer, most preferred first;
        pass ``("http/1.1",)`` for an HTTP/1.1-only connection.
    :returns: a new, independent :class:`ssl.SSLContext`.
    :raises TypeError: if an argument has the wrong type.
    :raises ValueError: if CA locations are given both as ``cert_path`` and as
        ``verify``, or ``cert`` is a tuple of the wrong length.
    :raises hyper.common.exceptions.MissingCertFile: if a named CA or client
        certificate file or directory does not exist.
    :raises hyper.common.exceptions.TLSError: if a CA or client certificate
        file exists but cannot be loaded (bad PEM, wrong key or password).
    """
    cafile, cafile_source = _check_ca_arguments(cert_path, verify)
    certfile, keyfile = _check_client_cert(cert)
    _check_password(cert_password)
    protocols = _check_alpn_protocols(alpn_protocols)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = MINIMUM_TLS_VERSION
    context.options |= ssl.OP_NO_COMPRESSION
    if protocols:
        context.set_alpn_protocols(protocols)

    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        log.warning(
            "TLS certificate verification is disabled: connections accept any "
            "certificate for any host name"
        )
    if cafile is not None:
        _load_ca_location(context, cafile, cafile_source)
    elif verify is not False:
        _load_default_cas(context)
    if certfile is not None:
        _load_client_cert(context, certfile, keyfile, cert_password)
    _set_keylog(context)
    return context


def wrap_socket(
    sock: socket.socket,
    server_hostname: str,
    ssl_context: ssl.SSLContext | None = None,
    force_proto: str | None = None,
) -> tuple[ssl.SSLSocket, str | None]:
    """Do the TLS handshake on a connected socket.

    ``server_hostname`` is both the SNI name sent and the name the certificate
    is checked against; it need not be the host that was connected to (to
    reach a server by address while asking for a name, say). For an IP address
    literal, pass the address itself: no SNI is sent and the certificate's IP
    address entries are checked. The handshake obeys the socket's timeout.

    :param sock: a connected TCP socket, in blocking mode (with or without a
        timeout). It now belongs to the returned socket; if the handshake
        fails, it is closed.
    :param server_hostname: the name to send by SNI and to verify.
    :param ssl_context: the context to use; by default a shared one built by
        :func:`init_context` with no arguments (rebuilt if the environment
        variables it reads change).
    :param force_proto: a protocol identifier to report instead of the one
        negotiated by ALPN.
    :returns: the TLS socket, and ``force_proto`` or else the protocol the
        server selected by ALPN (``None`` when the server chose none).
    :raises TypeError: if an argument has the wrong type.
    :raises ValueError: if ``server_hostname`` is empty, ``sock`` is
        non-blocking or ``ssl_context`` is a server-side context.
    :raises hyper.common.exceptions.TLSError: if the handshake failed, including
        a certificate that did not verify (an :class:`ssl.SSLCertVerificationError`
        is then the ``__cause__``).
    :raises hyper.common.exceptions.ConnectTimeout: if the handshake timed out.
    :raises hyper.common.exceptions.ConnectionError: if ``sock`` is not
        connected or the connection failed during the handshake.
    """
    _check_wrap_arguments(sock, server_hostname, ssl_context, force_proto)
    context = ssl_context if ssl_context is not None else _default_context()
    tls_sock = _handshake(sock, server_hostname, context)
    negotiated = tls_sock.selected_alpn_protocol()
    log.debug(
        "TLS connection to %s: %s, ALPN %r, forced protocol %r",
        server_hostname,
        tls_sock.version(),
        negotiated,
        force_proto,
    )
    return tls_sock, force_proto if force_proto is not None else negotiated


def _handshake(sock: socket.socket, host: str, context: ssl.SSLContext) -> ssl.SSLSocket:
    """Wrap ``sock`` and do the handshake; close everything on failure."""
    try:
        # The ssl module silently skips the handshake on an unconnected socket,
        # and leaks its file descriptor if the peer reset it before wrapping:
        # refuse both here, while ``sock`` still owns the descriptor.
        sock.getpeername()
        tls_sock = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    except BaseException as exc:
        sock.close()
        if isinstance(exc, OSError):
            raise _translate_handshake_error(exc, host) from exc
        raise  # pragma: no cover  # KeyboardInterrupt and the like
    try:
        tls_sock.do_handshake()
    except BaseException as exc:
        tls_sock.close()
        if isinstance(exc, OSError):
            raise _translate_handshake_error(exc, host) from exc
        raise  # pragma: no cover  # KeyboardInterrupt and the like
    return tls_sock


def _translate_handshake_error(exc: OSError, host: str) -> exceptions.HyperError:
    """Map an error raised by the handshake to the hyper exception to raise."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exceptions.TLSError(
            f"certificate verify failed for host {host!r}: {exc.verify_message}"
        )
    if isinstance(exc, ssl.SSLError):
        return exceptions.TLSError(f"TLS handshake with {host!r} failed: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        return exceptions.ConnectTimeout(f"TLS handshake with {host!r} timed out")
    return exceptions.ConnectionError(f"connection to {host!r} failed during TLS handshake: {exc}")


def _environment_key() -> tuple[str | None, ...]:
    """The environment variables the default context depends on."""
    return tuple(os.environ.get(name) or None for name in (CA_FILE_ENV, CA_DIR_ENV, KEYLOG_ENV))


def _default_context() -> ssl.SSLContext:
    """The context used when none is given, built once per environment."""
    return _cached_default_context(_environment_key())


@functools.lru_cache(maxsize=1)
def _cached_default_context(environment: tuple[str | None, ...]) -> ssl.SSLContext:
    """Build the default context; ``environment`` is only the cache key."""
    return init_context()


def _is_path(value: object) -> TypeGuard[StrPath]:
    """Whether ``value`` is a str or :class:`os.PathLike` path."""
    return isinstance(value, (str, os.PathLike))


def _check_ca_arguments(cert_path: object, verify: object) -> tuple[str | None, str]:
    """Validate ``cert_path`` and ``verify``; return the CA location named, if
    any, and the argument that named it."""
    if cert_path is not None and not _is_path(cert_path):
        raise TypeError(f"cert_path must be a str or os.PathLike path, not {type(cert_path)!r}")
    if not isinstance(verify, bool) and not _is_path(verify):
        raise TypeError(f"verify must be a bool or a CA bundle path, not {type(verify)!r}")
    if cert_path is not None and _is_path(verify):
        raise ValueError("give the CA location as cert_path or as verify, not both")
    if _is_path(cert_path):
        return os.fspath(cert_path), "cert_path"
    if _is_path(verify):
        return os.fspath(verify), "verify"
    return None, ""


def _check_client_cert(cert: object) -> tuple[str | None, str | None]:
    """Validate ``cert``; return ``(certfile, keyfile)``."""
    if cert is None:
        return None, None
    if _is_path(cert):
        return os.fspath(cert), None
    if not isinstance(cert, tuple):
        raise TypeError(f"cert must be a path or a (cert_file, key_file) tuple, not {type(cert)!r}")
    if len(cert) != 2:
        raise ValueError(f"cert must be a (cert_file, key_file) tuple, not {len(cert)} items")
    certfile, keyfile = cert
    if not _is_path(certfile):
        raise TypeError(f"cert's certificate must be a path, not {type(certfile)!r}")
    if keyfile is None:
        return os.fspath(certfile), None
    if not _is_path(keyfile):
        raise TypeError(f"cert's key file must be a path or None, not {type(keyfile)!r}")
    return os.fspath(certfile), os.fspath(keyfile)


def _check_password(password: object) -> None:
    """Validate ``cert_password``."""
    if password is None or callable(password):
        return
    if not isinstance(password, (str, bytes, bytearray)):
        raise TypeError(f"cert_password must be str, bytes or a callable, not {type(password)!r}")


def _check_alpn_protocols(protocols: object) -> list[str]:
    """Validate ``alpn_protocols``; return them as a list."""
    if isinstance(protocols, (str, bytes)) or not isinstance(protocols, Sequence):
        raise TypeError(f"alpn_protocols must be a sequence of str, not {type(protocols)!r}")
    if not all(isinstance(p, str) for p in protocols):
        raise TypeError("alpn_protocols must contain only str")
    return list(protocols)


def _check_wrap_arguments(
    sock: object, server_hostname: object, ssl_context: object, force_proto: object
) -> None:
    """Validate the arguments of :func:`wrap_socket`."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"sock must be a socket.socket, not {type(sock)!r}")
    if not isinstance(server_hostname, str):
        raise TypeError(f"server_hostname must be a str, not {type(server_hostname)!r}")
    if not server_hostname:
        raise ValueError("server_hostname must not be empty")
    if sock.gettimeout() == 0:
        raise ValueError("sock must be blocking (a timeout is fine), not non-blocking")
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context)!r}")
    if ssl_context is not None and ssl_context.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise ValueError("ssl_context is a server context (PROTOCOL_TLS_SERVER)")
    if force_proto is not None and not isinstance(force_proto, str):
        raise TypeError(f"force_proto must be a str or None, not {type(force_proto)!r}")


def _load_ca_location(context: ssl.SSLContext, location: str, source: str) -> None:
    """Trust the CA file or directory at ``location``, named by ``source``."""
    if not os.path.exists(location):
        raise exceptions.MissingCertFile(f"no CA certificates found at {location!r} ({source})")
    try:
        if os.path.isdir(location):
            context.load_verify_locations(capath=location)
        else:
            context.load_verify_locations(cafile=location)
    except (ssl.SSLError, OSError) as exc:
        raise exceptions.TLSError(
            f"could not load CA certificates from {location!r} ({source}): {exc}"
        ) from exc


def _load_default_cas(context: ssl.SSLContext) -> None:
    """Trust the environment's CA locations if set, else certifi's bundle."""
    env_file = os.environ.get(CA_FILE_ENV) or None
    env_dir = os.environ.get(CA_DIR_ENV) or None
    if env_file is None and env_dir is None:
        _load_ca_location(context, certifi.where(), "certifi")
        return
    if env_file is not None:
        _load_ca_location(context, env_file, CA_FILE_ENV)
    if env_dir is not None:
        _load_ca_location(context, env_dir, CA_DIR_ENV)


def _load_client_cert(
    context: ssl.SSLContext,
    certfile: str,
    keyfile: str | None,
    password: PasswordType | None,
) -> None:
    """Load the client certificate chain and key into ``context``."""
    for path in (certfile, keyfile):
        if path is not None and not os.path.isfile(path):
            raise exceptions.MissingCertFile(f"no client certificate file at {path!r}")
    try:
        context.load_cert_chain(certfile, keyfile, password)
    except (ssl.SSLError, OSError) as exc:
        raise exceptions.TLSError(
            f"could not load the client certificate {certfile!r}"
            f"{'' if keyfile is None else f' with key {keyfile!r}'}: {exc}"
        ) from exc


def _set_keylog(context: ssl.SSLContext) -> None:
    """Log TLS secrets to ``$SSLKEYLOGFILE`` when it is set."""
    path = os.environ.get(KEYLOG_ENV)
    if not path:
        return
    try:
        context.keylog_filename = path
    except OSError as exc:
        # A debugging aid must not stop connections: say why and go on without it.
        log.warning("cannot write TLS key log to %r (%s): %s", path, KEYLOG_ENV, exc)
