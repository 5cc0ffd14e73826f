"""HTTP/2 flow control: tiny peer windows, the window-manager plug-in point,
padding, and an unread stream that must not hold up the others."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import h2.events
import pytest
from h2.settings import SettingCodes
from h2_helpers import IO_TIMEOUT, connect
from hyperframe.frame import DataFrame

from hyper.http20._settings import CONNECTION_WINDOW_SIZE, STREAM_WINDOW_SIZE
from hyper.http20.window import BaseFlowControlManager
from hyper.testing import H2Handle, Request, Response, Server, payload, payload_chunks

#: The connection window every HTTP/2 connection starts with (RFC 9113).
DEFAULT_WINDOW = 65535


class Recording(BaseFlowControlManager):
    """Gives back what was consumed once half the window is used; records every call."""

    instances: ClassVar[list[Recording]] = []

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        super().__init__(initial_window_size, document_size)
        self.calls: list[tuple[int, int]] = []
        self.blocked_calls = 0
        Recording.instances.append(self)

    def increase_window_size(self, frame_size: int) -> int:
        used = self.initial_window_size - (self.window_size - frame_size)
        increment = used if used >= self.initial_window_size // 2 else 0
        self.calls.append((frame_size, increment))
        return increment

    def blocked(self) -> int:
        self.blocked_calls += 1
        return 0

    @property
    def increments(self) -> list[int]:
        return [increment for _, increment in self.calls if increment]


@pytest.fixture
def recording() -> Iterator[type[Recording]]:
    Recording.instances.clear()
    yield Recording
    Recording.instances.clear()


def test_one_byte_peer_window_still_uploads() -> None:
    settings = {SettingCodes.INITIAL_WINDOW_SIZE: 1}
    with Server(tls=False, protocols=("h2",), h2_settings=settings) as srv:
        frames: list[int] = []

        @srv.on_h2_event
        def watch(handle: H2Handle, event: h2.events.Event) -> None:
            if isinstance(event, h2.events.DataReceived):
                frames.append(len(event.data or b""))

        data = payload(2000, 4)
        with connect(srv) as conn:
            conn.ping(b"settings")  # the server's SETTINGS are in force from here
            sid = conn.request("POST", "/upload", body=data)
            result = json.loads(conn.get_response(sid).read())
    assert result["length"] == 2000
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert max(frames) == 1
    assert sum(frames) == 2000


def test_one_byte_frames_from_the_server_reassemble() -> None:
    with Server(tls=False, protocols=("h2",), h2_data_frame_size=1) as srv, connect(srv) as conn:
        conn.request("GET", "/bytes/5000?seed=9")
        assert conn.get_response().read() == payload(5000, 9)


def test_custom_window_manager_decides_every_window_update(recording: type[Recording]) -> None:
    size = 2 * STREAM_WINDOW_SIZE
    with Server(tls=False, protocols=("h2",)) as srv:
        updates: dict[int, list[int]] = {}

        @srv.on_h2_event
        def watch(handle: H2Handle, event: h2.events.Event) -> None:
            if isinstance(event, h2.events.WindowUpdated):
                updates.setdefault(event.stream_id or 0, []).append(event.delta or 0)

        with connect(srv, window_manager=recording) as conn:
            assert conn.window_manager is recording
            sid = conn.request("GET", f"/bytes/{size}")
            response = conn.get_response(sid)
            digest = hashlib.sha256()
            while piece := response.read(65536):
                digest.update(piece)
            conn.ping(b"syncsync")  # every WINDOW_UPDATE we sent has reached the hook
    expected = hashlib.sha256(b"".join(payload_chunks(size))).hexdigest()
    assert digest.hexdigest() == expected
    connection, stream = recording.instances
    assert connection.initial_window_size == CONNECTION_WINDOW_SIZE
    assert (stream.initial_window_size, stream.document_size) == (STREAM_WINDOW_SIZE, size)
    assert sum(frame for frame, _ in connection.calls) == size
    assert sum(frame for frame, _ in stream.calls) == size
    # Connection: our opening increment, then exactly what the manager asked for.
    assert updates[0] == [CONNECTION_WINDOW_SIZE - DEFAULT_WINDOW, *connection.increments]
    # Stream: what the manager asked for while the stream was still open.
    sent = updates[sid]
    assert sent
    assert sent == stream.increments[: len(sent)]
    assert sum(sent) >= size - STREAM_WINDOW_SIZE
    assert connection.blocked_calls == stream.blocked_calls == 0


def test_padding_counts_against_both_windows(recording: type[Recording]) -> None:
    with Server(tls=False, protocols=("h2",)) as srv:

        @srv.route("/padded")
        def padded(request: Request, response: Response) -> None:
            response.start(200)
            for index in range(3):
                frame = DataFrame(request.stream_id or 0, bytes([65 + index]) * 100, pad_length=50)
                frame.flags.add("PADDED")
                response.h2.send_frame(frame)

        with connect(srv, window_manager=recording) as conn:
            conn.request("GET", "/padded")
            assert conn.get_response().read() == b"A" * 100 + b"B" * 100 + b"C" * 100
    connection, stream = recording.instances
    flow_controlled = 3 * (100 + 50 + 1)  # data, padding, the pad-length byte
    assert sum(frame for frame, _ in connection.calls) == flow_controlled
    assert sum(frame for frame, _ in stream.calls) == flow_controlled


def test_an_unread_stream_does_not_block_the_others() -> None:
    unread_size = STREAM_WINDOW_SIZE + 1_000_000
    other_size = CONNECTION_WINDOW_SIZE + 2_000_000
    with Server(tls=False, protocols=("h2",)) as srv, connect(srv) as conn:
        unread = conn.get_response(conn.request("GET", f"/bytes/{unread_size}?seed=1"))
        head = unread.read(10)
        other = conn.get_response(conn.request("GET", f"/bytes/{other_size}?seed=2"))
        digest = hashlib.sha256()
        for piece in other:
            digest.update(piece)
        expected = hashlib.sha256(b"".join(payload_chunks(other_size, 2))).hexdigest()
        assert digest.hexdigest() == expected
        stream = conn._streams[unread.stream_id]
        assert not stream.remote_ended  # it is waiting for us to read
        assert 0 < stream.buffered <= STREAM_WINDOW_SIZE
        assert head + unread.read() == payload(unread_size, 1)


def test_data_for_a_reset_stream_does_not_use_up_the_connection_window() -> None:
    junk = 7 * 1024 * 1024  # less than h2's own late refill, more than our refill margin
    big = CONNECTION_WINDOW_SIZE + 4_000_000
    with Server(tls=False, protocols=("h2",)) as srv:
        reset_seen = threading.Event()

        @srv.route("/junk")
        def junk_route(request: Request, response: Response) -> None:
            response.start(200)
            response.write(b"x")
            assert reset_seen.wait(IO_TIMEOUT)

        @srv.on_h2_event
        def flood(handle: H2Handle, event: h2.events.Event) -> None:
            # DATA that was in flight when the client's RST_STREAM arrived: raw
            # frames, counted against the server's window as if h2 sent them.
            if isinstance(event, h2.events.StreamReset) and event.stream_id == 1:
                for _ in range(junk // (1024 * 1024)):
                    handle.send_frame(DataFrame(1, b"j" * 1024 * 1024))
                handle.h2.outbound_flow_control_window -= junk
                reset_seen.set()

        with connect(srv, timeout=5.0) as conn:
            first = conn.get_response(conn.request("GET", "/junk"))
            assert first.read(1) == b"x"
            first.close()  # RST_STREAM(CANCEL); the junk follows
            response = conn.get_response(conn.request("GET", f"/bytes/{big}?seed=3"))
            digest = hashlib.sha256()
            for piece in response:
                digest.update(piece)
    assert digest.hexdigest() == hashlib.sha256(b"".join(payload_chunks(big, 3))).hexdigest()
