"""The tuned numbers of the HTTP/2 client, each with the reason for its value.

Everything the HTTP/2 connection advertises to a server or uses to bound its
own work lives here, so the docs can list them and a benchmark can change
them in one place. The window and frame sizes were chosen by measurement
(256 MiB downloads from nghttpd and h2o on 127.0.0.1; see the HTTP/2 notes
in the docs): the defaults of the protocol (64 KiB windows, 16 KiB frames)
cost a round trip per 64 KiB and a Python-level event per 16 KiB, and both
show on any link faster than a few megabytes per second.
"""

from __future__ import annotations

__all__ = [
    "BODY_CHUNK_SIZE",
    "CONNECTION_WINDOW_SIZE",
    "FLUSH_SIZE",
    "GOODBYE_TIMEOUT",
    "IDLE_CHECK_AFTER",
    "KEEPALIVE_CHECKS_PER_INTERVAL",
    "LOCKED_READ_TIMEOUT",
    "MAX_FRAME_SIZE",
    "MAX_HEADER_LIST_SIZE",
    "MAX_PUSHED_STREAMS",
    "MAX_REFUSALS",
    "PRE_SETTINGS_STREAM_LIMIT",
    "PROBE_RTT_MULTIPLE",
    "PROBE_TIMEOUT",
    "READ_BUFFER_SIZE",
    "SEND_QUANTUM",
    "STREAM_WINDOW_SIZE",
]

#: SETTINGS_INITIAL_WINDOW_SIZE we advertise: how much of one response the
#: server may send before the application reads it. It bounds the memory an
#: unread stream can hold, and caps one stream's throughput at one window per
#: round trip until the window manager grows it. 32 MiB (as curl) because the
#: window can grow only from the second round trip of a response, and in the
#: first the server may send no more than this: at 50 ms a 4 MiB start left it
#: idle for most of that round trip (a 32 MiB download at 136 MB/s; 176 with
#: 16 MiB; 200 with 32 MiB, ``make bench``'s lab). Chrome opens 6 MiB.
STREAM_WINDOW_SIZE = 32 * 1024 * 1024

#: The connection's receive window, opened with a WINDOW_UPDATE on stream 0
#: right after the preface. Larger than a stream window so that several
#: streams can run at full speed at once; credited back as data arrives, so
#: an unread stream never takes it from the others. Twice a stream window.
CONNECTION_WINDOW_SIZE = 64 * 1024 * 1024

#: SETTINGS_MAX_FRAME_SIZE we advertise: the largest DATA frame a server may
#: send. Each frame costs one h2 event in Python, so larger frames mean less
#: overhead per byte; servers that ignore it (most send 16 KiB) lose nothing.
MAX_FRAME_SIZE = 1024 * 1024

#: SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce (h2 refuses a
#: header block that decodes to more): the bound on one response's headers.
MAX_HEADER_LIST_SIZE = 64 * 1024

#: Size of each socket's read buffer: one read takes at most this much.
READ_BUFFER_SIZE = 256 * 1024

#: Before the server's first SETTINGS frame has arrived its stream limit is
#: unknown (the protocol says "unlimited", but some servers treat an excess
#: as a connection error), so at most this many streams are opened: the first
#: request leaves at once, and a second one made before SETTINGS arrived waits
#: for them (about one round trip, once per connection).
PRE_SETTINGS_STREAM_LIMIT = 1

#: Most request-body bytes one stream sends per round before the next stream
#: gets its turn, so concurrent uploads share the connection fairly.
SEND_QUANTUM = 256 * 1024

#: Queued frames are written once this many body bytes are waiting, so one
#: round of sending never holds more than about this much in memory.
FLUSH_SIZE = 256 * 1024

#: Request bodies read from files are read in pieces this large. Pieces and
#: flushes are kept small so their memory is reused: a piece of 128 KiB or
#: more is mapped from the kernel afresh by glibc until its thresholds adapt,
#: and a megabyte freed at once at the top of the heap is handed back and
#: mapped again at the next flush, a page fault per 4 KiB uploaded. With 256
#: KiB pieces and 1 MiB flushes a fresh process faulted in its whole upload
#: (20,000 faults for 64 MiB, 600 MB/s); with these, 4,500 faults in all
#: (the interpreter's own) and 780 MB/s. HTTP/1.1 keeps
#: :data:`hyper.common.body.FILE_CHUNK_SIZE`.
BODY_CHUNK_SIZE = 64 * 1024

#: The longest a goodbye (our GOAWAY before closing a socket) may take to
#: send, in seconds; it is best effort, and closing must not hang on a peer
#: that stopped reading.
GOODBYE_TIMEOUT = 1.0

#: How long one read may block while holding the I/O lock, in seconds. The
#: socket was just reported readable, so data is normally there at once; over
#: TLS it may hold only part of a record or a session ticket, and then the
#: read gives up after this long and the thread waits again outside the lock.
LOCKED_READ_TIMEOUT = 0.02

#: Seconds without a byte from the server after which a socket with no open
#: stream is confirmed with a PING before it takes a new request. Servers
#: close idle connections after some seconds (h2o after 10, nginx after 75
#: by default), NAT boxes after minutes; a few seconds of silence make a
#: round trip per request that follows a pause, a small price next to a
#: request lost on a dead socket. (``HTTP20Connection.idle_check_after``.)
IDLE_CHECK_AFTER = 5.0

#: The longest wait for the ACK of that PING, in seconds, on a link whose
#: round trip is short; a slower link gets PROBE_RTT_MULTIPLE round trips.
#: Never longer than the read timeout. An unanswered socket is closed and the
#: request goes on a new one.
PROBE_TIMEOUT = 2.0
PROBE_RTT_MULTIPLE = 4

#: The keepalive timer looks at the sockets this many times per interval, so
#: a PING follows 1 to 1.5 intervals of silence and an unanswered one is
#: noticed within 1.5 intervals of being sent.
KEEPALIVE_CHECKS_PER_INTERVAL = 2

#: How many times one request may be refused unprocessed and sent again
#: transparently (RFC 9113 section 8.7: RST_STREAM(REFUSED_STREAM), or a
#: GOAWAY whose last stream ID is below every stream of ours on that socket)
#: before :class:`~hyper.common.exceptions.RequestNotProcessedError` is raised.
#: Only refusals from a server making no progress count: a GOAWAY that
#: accepted some of our streams, or a REFUSED_STREAM after the server answered
#: another request since this one was sent, does not.
MAX_REFUSALS = 5

#: How many pushed streams one socket holds at once (promised, not yet read
#: to their end or cancelled); a promise beyond that is refused with
#: RST_STREAM(REFUSED_STREAM). Each can buffer up to a stream window
#: (:data:`STREAM_WINDOW_SIZE`), so this bounds what unclaimed pushes cost.
MAX_PUSHED_STREAMS = 16
