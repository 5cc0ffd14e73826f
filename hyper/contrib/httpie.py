"""The HTTPie transport plugin: ``http https://...`` over HTTP/2.

HTTPie finds :class:`HTTP2TransportPlugin` through the
``httpie.plugins.transport.v1`` entry point that ``pip install
hyper[httpie]`` registers, and mounts the adapter it returns on
``https://`` in place of HTTPie's own, so every HTTPS request HTTPie sends
goes through :class:`~hyper.contrib.requests_adapter.HTTP20Adapter`: HTTP/2
where the server offers it by ALPN, HTTP/1.1 otherwise. ``--verify``,
``--cert``, ``--cert-key`` and ``--cert-key-pass``, ``--timeout`` and
``--proxy`` reach the adapter; ``--ssl`` and ``--ciphers`` do not (HTTPie
gives them only to its own adapter). HTTPie prints ``HTTP/2.0`` from the
response's version 20, and the standard reason phrase for the status.
Cleartext ``http://`` stays with HTTPie's own adapter.
"""

from __future__ import annotations

try:
    from httpie.plugins import TransportPlugin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the HTTPie plugin needs HTTPie: pip install hyper[httpie]") from exc

from hyper.contrib.requests_adapter import HTTP20Adapter

__all__ = ["HTTP2TransportPlugin"]


class HTTP2TransportPlugin(TransportPlugin):  # type: ignore[misc]  # HTTPie is untyped
    """Send HTTPie's ``https://`` requests with hyper, over HTTP/2 where offered."""

    name = "hyper HTTP/2 transport"
    description = "HTTP/2 (and HTTP/1.1) for https:// URLs, through hyper's requests adapter"
    #: The URL prefix HTTPie mounts the adapter on.
    prefix = "https://"

    def get_adapter(self) -> HTTP20Adapter:
        """A new adapter for one HTTPie run.

        :returns: an :class:`~hyper.contrib.requests_adapter.HTTP20Adapter`
            with default settings.
        """
        return HTTP20Adapter()
