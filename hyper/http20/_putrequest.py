"""The http.client-style request API of the HTTP/2 connection.

``putrequest`` starts a request, ``putheader`` adds headers, ``endheaders``
sends the head (and a first piece of body), ``send`` streams more body and
waits until it is on the wire. The old hyper offered these calls next to
``request()``; :class:`PutRequestMixin` keeps them apart from the main
connection class, on top of the same streams and queue.
"""

from __future__ import annotations

from hyper.common import exceptions
from hyper.common.body import (
    BodyType,
    check_method,
    normalize_headers,
    prepare_body,
    request_target,
)
from hyper.common.timeout import Timeout
from hyper.http20._driver import Clock, Driver, fresh_error
from hyper.http20._headers import build_request_headers
from hyper.http20._settings import BODY_CHUNK_SIZE
from hyper.http20.stream import Stream

__all__ = ["PutRequestMixin"]

#: Headers being assembled: the pseudo-headers and the other pairs.
_Building = tuple[dict[bytes, bytes], list[tuple[bytes, bytes]]]


class PutRequestMixin:
    """``putrequest``/``putheader``/``endheaders``/``send`` for
    :class:`~hyper.http20.connection.HTTP20Connection`, which provides the
    state and helpers declared here. Thread-safe as the connection is.
    """

    timeout: Timeout
    _io: Driver
    _streams: dict[int, Stream]
    _building: dict[int, _Building]
    _recent: Stream | None

    def _pseudo(self, method: bytes, path: bytes) -> dict[bytes, bytes]:
        raise NotImplementedError

    def _new_stream(self) -> Stream:
        raise NotImplementedError

    def _submit(self, stream: Stream) -> None:
        raise NotImplementedError

    def putrequest(
        self,
        method: str | bytes,
        selector: str | bytes,
        *,
        skip_host: bool = False,
        skip_accept_encoding: bool = False,
    ) -> int:
        """Start a request; add headers with :meth:`putheader`, then :meth:`endheaders`.

        ``skip_host`` has no effect (HTTP/2 always sends ``:authority``);
        ``skip_accept_encoding`` asks for an uncoded body (``accept-encoding:
        identity``) instead of offering every coding hyper decodes.

        :returns: the stream ID (also the default of the other ``put*`` calls).
        :raises hyper.common.exceptions.LocalProtocolError: for a bad method or URL.
        :raises hyper.common.exceptions.ConnectionError: if connecting fails.
        """
        pseudo = self._pseudo(check_method(method), request_target(selector))
        pairs = [(b"accept-encoding", b"identity")] if skip_accept_encoding else []
        with self._io.lock:
            stream = self._new_stream()
            self._building[stream.logical_id] = (pseudo, pairs)
            self._recent = stream
        return stream.logical_id

    def putheader(
        self,
        header: str | bytes,
        argument: str | bytes,
        stream_id: int | None = None,
        replace: bool = False,
    ) -> None:
        """Add a header to a request started with :meth:`putrequest`.

        A name starting with ``:`` sets a pseudo-header. ``replace`` removes
        earlier values of the same header first.

        :raises ValueError: if the stream's headers were already sent.
        :raises hyper.common.exceptions.LocalProtocolError: for a bad header.
        """
        (name, value), *_ = normalize_headers([(header, argument)], allow_pseudo=True)
        with self._io.lock:
            _, pairs = self._building_for(stream_id)
            if replace:
                pairs[:] = [pair for pair in pairs if pair[0].lower() != name.lower()]
            pairs.append((name, value))

    def endheaders(
        self,
        message_body: BodyType = None,
        final: bool = False,
        stream_id: int | None = None,
    ) -> None:
        """Send the request headers, then ``message_body`` if given.

        :param final: end the request with this call; otherwise more body
            follows through :meth:`send`.
        :raises ValueError: if the stream's headers were already sent.
        :raises hyper.common.exceptions.ConnectionError: if sending fails.
        """
        prepared = prepare_body(message_body) if message_body is not None else None
        length = (prepared.length if prepared is not None else 0) if final else None
        with self._io.lock:
            stream = self._stream_for_put(stream_id)
            pseudo, pairs = self._building_for(stream_id)
            stream.request_headers = build_request_headers(pseudo, pairs, length)
            del self._building[stream.logical_id]
            if final and (prepared is None or prepared.replayable):
                stream.replay = prepared or prepare_body(None)
            if prepared is not None and prepared.data is None:
                stream.add_body(prepared.chunks(BODY_CHUNK_SIZE), b"", final)
            else:
                stream.add_body(None, prepared.data if prepared and prepared.data else b"", final)
            self._submit(stream)

    def send(
        self,
        data: bytes | bytearray | memoryview,
        final: bool = False,
        stream_id: int | None = None,
    ) -> None:
        """Send more request body after :meth:`endheaders`; waits until it is sent.

        :param final: end the request after ``data``.
        :raises ValueError: if the request was already ended.
        :raises hyper.common.exceptions.ReadTimeout: if the server's window
            stayed closed for the read timeout.
        :raises hyper.common.exceptions.ConnectionError: if sending fails.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
        with self._io.lock:
            stream = self._stream_for_put(stream_id)
            if stream.error is not None:
                raise fresh_error(stream.error)
            if stream.local_closed or stream.finishing or not stream.submitted:
                raise exceptions.LocalProtocolError(
                    f"stream {stream.logical_id} takes no more data"
                )
            stream.add_body(None, bytes(data), final)
            stream.replay = None  # the body is the caller's calls: not replayable
            stream.session.add_sender(stream)
            self._io.progress_nowait(stream.session)
            clock = Clock(self.timeout.read, None)
            self._io.wait(stream.session, lambda: not stream.has_outgoing, clock)
            if stream.error is not None:
                raise fresh_error(stream.error)

    def _stream_for_put(self, stream_id: int | None) -> Stream:
        stream = self._recent if stream_id is None else self._streams.get(stream_id)
        if stream is None:
            raise exceptions.LocalProtocolError(f"no request in progress on stream {stream_id}")
        return stream

    def _building_for(
        self, stream_id: int | None
    ) -> tuple[dict[bytes, bytes], list[tuple[bytes, bytes]]]:
        stream = self._stream_for_put(stream_id)
        building = self._building.get(stream.logical_id)
        if building is None:
            raise exceptions.LocalProtocolError(
                f"the headers of stream {stream.logical_id} were already sent"
            )
        return building
