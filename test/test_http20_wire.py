"""hyper's changes to how h2 meets the wire, each checked against h2's own.

Receiving, the frame buffer (:mod:`hyper.http20._framebuf`): the same frames
as h2's buffer gives, whatever the reads' boundaries, from a read buffer
that is overwritten after each read as the socket's is. Sending, the DATA
path (:mod:`hyper.http20._outbound`): the same bytes on the wire as h2's
own connection sends, with request bodies queued by reference."""

from __future__ import annotations

import itertools
import random

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
import pytest
from h2.frame_buffer import FrameBuffer
from hpack import Decoder, Encoder, NeverIndexedHeaderTuple
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from hyper.http20._framebuf import DirectFrameBuffer, QuietDataFrame, install_frame_buffer
from hyper.http20._hpack import CachingDecoder, CachingEncoder
from hyper.http20._outbound import H2Connection


def _wire() -> bytes:
    """Frames of every kind a client receives, some padded, a header block
    split over CONTINUATIONs, DATA bigger than a read."""
    padded = DataFrame(3, b"p" * 300, flags=["PADDED"])
    padded.pad_length = 17
    block_start = HeadersFrame(5, b"h" * 40)
    promise = PushPromiseFrame(5, promised_stream_id=2, data=b"q" * 20, flags=["END_HEADERS"])
    frames: list[Frame] = [
        SettingsFrame(0, {SettingsFrame.MAX_CONCURRENT_STREAMS: 100}),
        SettingsFrame(0, flags=["ACK"]),
        WindowUpdateFrame(0, 65535),
        HeadersFrame(1, b"\x88", flags=["END_HEADERS"]),
        DataFrame(1, bytes(range(256)) * 64),  # 16 KiB
        padded,
        block_start,
        ContinuationFrame(5, b"c" * 30),
        ContinuationFrame(5, b"d" * 10, flags=["END_HEADERS"]),
        promise,
        PingFrame(0, b"12345678"),
        RstStreamFrame(7, 8),
        DataFrame(1, b"", flags=["END_STREAM"]),
        GoAwayFrame(0, 5, 0, b"bye"),
    ]
    return b"".join(frame.serialize() for frame in frames)


def _text(frame: Frame) -> str:
    kind = "DataFrame" if isinstance(frame, DataFrame) else type(frame).__name__
    return f"{kind} {frame.stream_id} {sorted(frame.flags)} {frame.serialize()!r}"


def _parse(buffer: FrameBuffer, wire: bytes, cuts: list[int]) -> list[str]:
    """Feed ``wire`` in the pieces ``cuts`` make, through one reused read
    buffer scribbled over after each piece; the frames out, as text."""
    buffer.max_frame_size = 1 << 20
    scratch = bytearray(len(wire) + 1)
    out: list[str] = []
    edges = [0, *sorted(cuts), len(wire)]
    for start, end in itertools.pairwise(edges):
        size = end - start
        scratch[:size] = wire[start:end]
        buffer.add_data(memoryview(scratch)[:size])
        out.extend(_text(frame) for frame in buffer)
        scratch[:size] = b"\xee" * size  # the socket's next read lands here
    return out


def test_every_single_cut_gives_the_frames_h2_gives() -> None:
    wire = _wire()
    expected = _parse(FrameBuffer(), wire, [])
    assert len(expected) == 12  # the two CONTINUATIONs joined into their HEADERS
    for cut in range(len(wire) + 1):
        assert _parse(DirectFrameBuffer(), wire, [cut]) == expected, cut


def test_random_and_byte_by_byte_reads_give_the_frames_h2_gives() -> None:
    wire = _wire()
    expected = _parse(FrameBuffer(), wire, [])
    rng = random.Random(1)
    for _ in range(200):
        cuts = rng.sample(range(len(wire)), rng.randint(1, 40))
        assert _parse(DirectFrameBuffer(), wire, cuts) == expected
    assert _parse(DirectFrameBuffer(), wire[:2000], list(range(1, 2000))) == _parse(
        FrameBuffer(), wire[:2000], []
    )


def test_an_oversized_frame_is_refused_from_its_header() -> None:
    buffer = DirectFrameBuffer()
    buffer.max_frame_size = 16384
    header = DataFrame(1, b"x" * 16385).serialize()[:9]
    buffer.add_data(header)  # nothing of the payload yet: h2's buffer would wait for it
    with pytest.raises(h2.exceptions.FrameTooLargeError):
        next(buffer)


@pytest.mark.parametrize(
    ("frames", "error"),
    [
        # a CONTINUATION must follow its block's start on the same stream
        ([HeadersFrame(1, b"a"), DataFrame(1, b"b")], h2.exceptions.ProtocolError),
        ([HeadersFrame(1, b"a"), ContinuationFrame(3, b"b")], h2.exceptions.ProtocolError),
        # a PING's payload is eight bytes
        ([PingFrame(0, b"12345678")], h2.exceptions.FrameDataMissingError),
    ],
)
def test_malformed_sequences_raise_as_h2s_buffer_does(
    frames: list[Frame], error: type[Exception]
) -> None:
    wire = b"".join(frame.serialize() for frame in frames)
    if isinstance(frames[0], PingFrame):
        wire = wire[:2] + b"\x07" + wire[3:-1]  # length 7, payload 7
    for buffer in (FrameBuffer(), DirectFrameBuffer()):
        buffer.max_frame_size = 16384
        buffer.add_data(wire)
        with pytest.raises(error):
            list(buffer)


def test_installed_in_a_connection_data_frames_are_cheap_to_format() -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    assert install_frame_buffer(conn)  # h2's internals still as expected
    assert type(conn.incoming_buffer) is DirectFrameBuffer
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(
        sid,
        [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/")],
        end_stream=True,
    )
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(conn.data_to_send())
    server.send_headers(sid, [(":status", "200")])
    server.send_data(sid, b"x" * 1000, end_stream=True)
    formatted: list[str] = []
    conn.config.logger.trace = lambda fmt, *args: formatted.append(fmt % args)  # type: ignore[method-assign]
    wire = bytearray(server.data_to_send())
    events = conn.receive_data(memoryview(wire))
    wire[:] = b"\0" * len(wire)  # the received DATA is a copy, not a view of the read
    data = [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert [e.data for e in data] == [b"x" * 1000]
    assert isinstance(data[0].data, bytes)
    assert any(f"{QuietDataFrame.__name__}(stream_id={sid})" in text for text in formatted)
    assert any("QuietHeadersFrame" in text for text in formatted)  # every kind is quiet
    assert not any("7878" in text for text in formatted)  # no hex of the payload


def test_not_installed_when_h2_is_not_as_expected() -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.incoming_buffer = DirectFrameBuffer()  # not h2's own class any more
    assert not install_frame_buffer(conn)


# --- sending: DATA frames by reference ------------------------------------------------


def _client(cls: type[h2.connection.H2Connection]) -> h2.connection.H2Connection:
    conn = cls(config=h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
    return conn


def _script(conn: h2.connection.H2Connection, body: bytes) -> list[bytes]:
    """One upload's worth of calls, DATA mixed with frames h2 serialises
    itself; the bytes of each flush, as the session takes them."""
    flushes: list[bytes] = []

    def flush() -> None:
        if isinstance(conn, H2Connection):
            flushes.append(b"".join(bytes(part) for part in conn.take_parts()))
        else:
            flushes.append(conn.data_to_send())

    head = [(b":method", b"PUT"), (b":scheme", b"https"), (b":authority", b"a"), (b":path", b"/")]
    conn.send_headers(1, head)
    conn.send_data(1, memoryview(body)[:1000])
    conn.ping(b"12345678")
    conn.send_data(1, memoryview(body)[1000:5000])
    conn.send_data(1, b"", end_stream=False)
    flush()
    conn.send_headers(3, head)
    conn.send_data(3, body[:100], pad_length=7)  # padded: h2 serialises it
    conn.increment_flow_control_window(1000)
    conn.send_data(3, memoryview(body)[5000:9000])
    conn.send_data(1, memoryview(body)[9000:], end_stream=True)
    conn.send_headers(3, [(b"x-trailer", b"1")], end_stream=True)
    flush()
    flush()  # nothing queued
    return flushes


def test_the_wire_bytes_are_h2s() -> None:
    body = bytes(random.Random(2).randbytes(12_000))
    ours = _client(H2Connection)
    theirs = _client(h2.connection.H2Connection)
    assert _script(ours, body) == _script(theirs, body)


def test_body_parts_are_queued_by_reference_until_taken() -> None:
    conn = _client(H2Connection)
    conn.data_to_send()
    conn.send_headers(
        1, [(b":method", b"PUT"), (b":scheme", b"http"), (b":authority", b"a"), (b":path", b"/")]
    )
    body = b"z" * 2000
    conn.send_data(1, body, end_stream=True)
    parts = conn.take_parts()
    assert parts[-1] is body  # the payload itself, not a copy
    assert bytes(parts[-2]) == DataFrame(1, body, flags=["END_STREAM"]).serialize()[:9]
    assert conn.take_parts() == []


def test_data_to_send_still_answers_in_pieces() -> None:
    conn = _client(H2Connection)
    whole = _client(h2.connection.H2Connection).data_to_send()
    first = conn.data_to_send(10)
    assert first == whole[:10]
    assert first + conn.data_to_send() == whole


# --- the HPACK coders' caches ---------------------------------------------


def _lists(rng: random.Random) -> list[list[tuple[bytes, bytes]]]:
    """Header lists a client might send: mostly repeats, some new values
    (insertions, evictions from a small table), secrets, an oversized field."""
    base = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a"), (b":path", b"/")]
    out = []
    for _ in range(400):
        fields = list(base)
        fields.append((b"x-id", str(rng.randint(0, 5)).encode()))
        if rng.random() < 0.2:
            fields.append(NeverIndexedHeaderTuple(b"authorization", b"secret"))
        if rng.random() < 0.05:
            fields.append((b"x-big", b"v" * 5000))  # larger than the table: clears it
        out.append(fields)
    return out


def test_the_caching_encoder_gives_hpacks_bytes() -> None:
    rng = random.Random(3)
    ours, plain, decoder = CachingEncoder(), Encoder(), Decoder()
    hits = 0
    for step, fields in enumerate(_lists(rng)):
        if step in (100, 250):  # the server changes SETTINGS_HEADER_TABLE_SIZE
            ours.header_table_size = plain.header_table_size = 200 if step == 100 else 4096
        before = len(ours._cache)
        block = ours.encode(fields)
        assert block == plain.encode(fields), step
        assert decoder.decode(block, raw=True) == [(n, v) for n, v in fields]
        hits += len(ours._cache) == before and block in [b for _, b in ours._cache.values()]
    assert hits > 100  # the cache is used, not bypassed


def test_a_repeated_request_reuses_its_block_until_the_table_changes() -> None:
    encoder = CachingEncoder()
    fields = [(b":method", b"GET"), (b":path", b"/a"), (b"x-k", b"v")]
    first = encoder.encode(fields)  # inserts :path and x-k: not cached
    second = encoder.encode(fields)  # all indexed now: cached
    assert first != second
    assert encoder.encode(fields) is second
    encoder.encode([(b"x-new", b"1")])  # an insertion: the indices have moved
    third = encoder.encode(fields)
    assert third != second


def test_the_caching_decoder_gives_hpacks_fields() -> None:
    rng = random.Random(4)
    server = Encoder()  # the server's encoder, feeding both decoders the same blocks
    ours, plain = CachingDecoder(), Decoder()
    hits = 0
    for step, fields in enumerate(_lists(rng)):
        if step == 150:  # the server shrinks its table: an update in the next block
            server.header_table_size = 300
        if step == 300:  # we lower what we allow: a cached block must be checked again
            ours.max_allowed_table_size = plain.max_allowed_table_size = 300
        block = server.encode(fields)
        before = len(ours._cache)
        decoded, expected = ours.decode(block, raw=True), plain.decode(block, raw=True)
        assert decoded == expected, step
        assert list(map(type, decoded)) == list(map(type, expected)), step  # never-indexed kept
        hits += len(ours._cache) == before and (block, True) in ours._cache
        decoded.append((b"x-mutated", b"1"))  # the caller's list is its own
    assert hits > 100


def test_a_decoding_error_is_raised_every_time() -> None:
    decoder = CachingDecoder()
    bad = b"\xff\xff\xff\xff\xff"  # an index far past the tables
    for _ in range(2):
        with pytest.raises(hpack.HPACKDecodingError):
            decoder.decode(bad, raw=True)
