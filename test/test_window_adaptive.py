"""The adaptive default window manager and the round-trip estimate, as arithmetic.

A simulated server sends at a fixed rate whenever the window allows; a
WINDOW_UPDATE turns into data one round trip after the manager returns it.
The manager reads a fixed round-trip estimate and a simulated clock, so
every outcome is exact and no test sleeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyper.http20._rtt import RTT_REFRESH_INTERVAL, RTT_SAMPLES, PingKind, RttEstimator
from hyper.http20._settings import CONNECTION_WINDOW_SIZE, STREAM_WINDOW_SIZE
from hyper.http20.window import MAX_WINDOW_SIZE, BaseFlowControlManager, FlowControlManager

MIB = 1024 * 1024
#: The round trip of the slow-link tests, in seconds.
RTT = 0.05
#: Frame size the simulated server sends.
FRAME = 16 * 1024


@dataclass
class Link:
    """A fixed round-trip estimate and a clock the simulation moves."""

    rtt: float | None
    time: float = 0.0

    def now(self) -> float:
        return self.time


@dataclass
class Outcome:
    """What a simulation saw: the largest window the server was given, and
    every frame's arrival time and size."""

    peak: int
    frames: list[tuple[float, int]] = field(default_factory=list)

    def rate_after(self, start: float) -> float:
        """Bytes per second delivered from ``start`` to the last frame."""
        late = [(t, size) for t, size in self.frames if t > start]
        return sum(size for _, size in late) / (late[-1][0] - start)


def attached(
    manager_class: type[BaseFlowControlManager],
    rtt: float | None,
    initial: int = STREAM_WINDOW_SIZE,
    *,
    connection_level: bool = False,
    document_size: int | None = None,
) -> tuple[BaseFlowControlManager, Link]:
    link = Link(rtt)
    manager = manager_class(initial, document_size)
    manager._attach(link, connection_level=connection_level)
    return manager, link


def simulate(
    manager: BaseFlowControlManager, link: Link, rate: float, duration: float, frame: int = FRAME
) -> Outcome:
    """Drain frames at ``rate`` bytes/s for ``duration`` s, as the window allows.

    The server's credit is the window it was given; an increment returned at
    time t can carry data from t + rtt (it travels half a round trip to the
    server, the data half a round trip back).
    """
    credit = manager.window_size
    pending: deque[tuple[float, int]] = deque()
    outcome = Outcome(manager.window_size)
    delay = link.rtt or 0.0
    while link.time < duration:
        while pending and pending[0][0] <= link.time:
            credit += pending.popleft()[1]
        if credit <= 0:
            assert pending, "the window closed for good"
            link.time = pending[0][0]
            continue
        size = min(frame, credit)
        link.time += size / rate
        credit -= size
        increment = manager._handle_frame(size)
        assert increment >= 0
        outcome.peak = max(outcome.peak, manager.window_size)
        outcome.frames.append((link.time, size))
        if increment:
            pending.append((link.time + delay, increment))
    return outcome


# --- growth on a slow link ----------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "rate"),
    [
        (64 * 1024, 20e6),  # BDP 1 MB: sixteen times the initial window
        (STREAM_WINDOW_SIZE, 8e8),  # BDP 40 MB: the default window is too small
        (1 * MIB, 100e6),  # BDP 5 MB
    ],
)
def test_grows_to_the_bandwidth_delay_product(initial: int, rate: float) -> None:
    manager, link = attached(FlowControlManager, RTT, initial)
    outcome = simulate(manager, link, rate, duration=2.0)
    assert isinstance(manager, FlowControlManager)
    bdp = rate * RTT
    assert manager.target_window_size >= min(bdp, manager.window_cap)
    assert manager.target_window_size > initial
    # The window no longer limits the transfer: it runs at the link's rate.
    assert outcome.rate_after(1.0) > 0.95 * rate


def test_without_growth_the_same_link_is_window_limited() -> None:
    """The yardstick of the test above: a refill-only manager is slow there."""

    class RefillOnly(FlowControlManager):
        GROWTH_FACTOR = 1

    manager, link = attached(RefillOnly, RTT, 64 * 1024)
    outcome = simulate(manager, link, 20e6, duration=2.0)
    assert outcome.rate_after(1.0) < 0.2 * 20e6


def test_stream_growth_stops_at_its_cap() -> None:
    manager, link = attached(FlowControlManager, RTT)
    outcome = simulate(manager, link, 2e9, duration=1.0)  # BDP 100 MB
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == FlowControlManager.STREAM_WINDOW_CAP
    assert outcome.peak == FlowControlManager.STREAM_WINDOW_CAP


def test_connection_grows_for_the_sum_up_to_its_own_cap() -> None:
    manager, link = attached(FlowControlManager, RTT, CONNECTION_WINDOW_SIZE, connection_level=True)
    assert manager.connection_level
    outcome = simulate(manager, link, 2e9, duration=1.0)
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == FlowControlManager.CONNECTION_WINDOW_CAP
    assert outcome.peak == FlowControlManager.CONNECTION_WINDOW_CAP
    assert FlowControlManager.CONNECTION_WINDOW_CAP > FlowControlManager.STREAM_WINDOW_CAP


def test_growth_stops_at_the_document_size() -> None:
    document = STREAM_WINDOW_SIZE + 6 * MIB
    manager, link = attached(FlowControlManager, RTT, document_size=document)
    simulate(manager, link, 1e9, duration=0.5)
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == document


def test_a_reader_slower_than_the_window_allows_does_not_grow() -> None:
    # 5 MB/s drains 250 kB per round trip: far below the 4 MiB window.
    manager, link = attached(FlowControlManager, RTT)
    outcome = simulate(manager, link, 5e6, duration=2.0)
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == STREAM_WINDOW_SIZE
    assert outcome.peak == STREAM_WINDOW_SIZE


def test_no_estimate_no_growth() -> None:
    manager, link = attached(FlowControlManager, None, 64 * 1024)
    outcome = simulate(manager, link, 1e9, duration=0.2)
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == 64 * 1024
    assert outcome.peak == 64 * 1024


# --- no growth on a local link --------------------------------------------------------


def assert_stays_at_initial_size(manager_class: type[BaseFlowControlManager], frame: int) -> None:
    """At a 100 microsecond round trip and 1 GB/s the window never exceeds what was advertised."""
    for rtt in (0.0, 0.0001):
        manager, link = attached(manager_class, rtt)
        outcome = simulate(manager, link, 1e9, duration=0.3, frame=frame)
        assert outcome.peak <= manager.initial_window_size
        assert manager.window_size <= manager.initial_window_size


@pytest.mark.parametrize("frame", [FRAME, 1 * MIB, STREAM_WINDOW_SIZE])
def test_a_local_link_keeps_the_initial_window(frame: int) -> None:
    assert_stays_at_initial_size(FlowControlManager, frame)
    manager, link = attached(FlowControlManager, 0.0001)
    simulate(manager, link, 1e9, duration=0.3, frame=frame)
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == STREAM_WINDOW_SIZE


def test_the_local_link_check_catches_a_greedy_manager() -> None:
    class Greedy(FlowControlManager):
        """Grants a huge increment every time, whatever the link."""

        def increase_window_size(self, frame_size: int) -> int:
            return 64 * MIB

    with pytest.raises(AssertionError):
        assert_stays_at_initial_size(Greedy, FRAME)


# --- refills ---------------------------------------------------------------------------


def test_a_large_window_is_topped_up_in_steps() -> None:
    manager = FlowControlManager(16 * MIB)
    assert manager._handle_frame(MIB // 2) == 0
    assert manager._handle_frame(MIB // 2 - 1) == 0
    assert manager._handle_frame(1) == MIB  # a whole step used
    assert manager.window_size == 16 * MIB


def test_growth_gives_the_difference_back_at_once() -> None:
    manager, link = attached(FlowControlManager, RTT, 1 * MIB)
    assert manager._handle_frame(FRAME) == 0  # starts the sample
    link.time += 0.001
    # A third of the window drained within the round trip: grow at once.
    third = -(-MIB // 3)
    increment = manager._handle_frame(third)
    assert isinstance(manager, FlowControlManager)
    assert manager.target_window_size == 4 * MIB
    assert increment == 4 * MIB - (MIB - FRAME - third)
    assert manager.window_size == 4 * MIB
    assert manager.blocked() == 0


@given(
    st.lists(
        st.tuples(st.integers(0, 2 * MIB), st.floats(0, 0.2, allow_nan=False)),
        max_size=150,
    ),
    st.sampled_from([None, 0.0, 0.0001, 0.05, 0.5]),
)
def test_window_stays_within_its_target_and_cap(
    steps: list[tuple[int, float]], rtt: float | None
) -> None:
    manager, link = attached(FlowControlManager, rtt, 64 * 1024)
    assert isinstance(manager, FlowControlManager)
    for size, pause in steps:
        size = min(size, manager.window_size)  # a server never exceeds the window
        link.time += pause
        assert manager._handle_frame(size) >= 0
        assert 0 <= manager.window_size <= manager.target_window_size
        assert manager.initial_window_size <= manager.target_window_size <= manager.window_cap
        # At least a quarter of the target is always open: the server can go on.
        assert manager.window_size >= manager.target_window_size // 4


# --- the RTT property and old-style managers --------------------------------------------


def test_rtt_is_read_only_and_follows_the_source() -> None:
    manager, link = attached(FlowControlManager, None)
    assert manager.rtt is None
    link.rtt = 0.025
    assert manager.rtt == 0.025
    with pytest.raises(AttributeError):
        manager.rtt = 1.0  # type: ignore[misc]
    assert FlowControlManager(10).rtt is None
    assert not FlowControlManager(10).connection_level


def test_a_manager_written_against_the_old_api_still_works() -> None:
    class Old(BaseFlowControlManager):
        """The old hyper's example: no super().__init__ call at all."""

        def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
            self.initial_window_size = initial_window_size
            self.window_size = initial_window_size
            self.document_size = document_size

        def increase_window_size(self, frame_size: int) -> int:
            return frame_size

        def blocked(self) -> int:
            return 0

    manager, _link = attached(Old, RTT, 1000)
    assert manager.rtt == RTT
    assert manager._handle_frame(100) == 100
    assert manager.window_size == 1000
    assert Old(5).rtt is None


# --- the round-trip estimator -----------------------------------------------------------


def test_estimator_takes_the_smallest_recent_round_trip() -> None:
    clock = Link(None)
    estimator = RttEstimator(clock.now)
    assert estimator.rtt is None
    for trip in (0.09, 0.05, 0.07):
        payload = estimator.new_ping(PingKind.PROBE)
        assert len(payload) == 8
        assert estimator.in_flight(payload)
        clock.time += trip
        assert estimator.acknowledged(payload)
        assert not estimator.in_flight(payload)
    assert estimator.rtt == pytest.approx(0.05)
    for _ in range(RTT_SAMPLES):  # the 0.05 sample ages out
        payload = estimator.new_ping(PingKind.KEEPALIVE)
        clock.time += 0.08
        estimator.acknowledged(payload)
    assert estimator.rtt == pytest.approx(0.08)
    assert not estimator.acknowledged(b"12345678")  # not ours: the user's PING


def test_estimator_paces_round_trip_pings() -> None:
    clock = Link(None)
    estimator = RttEstimator(clock.now)
    assert estimator.rtt_ping_due()
    payload = estimator.new_ping(PingKind.RTT)
    assert not estimator.rtt_ping_due()  # one in flight
    clock.time += 0.01
    estimator.acknowledged(payload)
    assert not estimator.rtt_ping_due()  # too soon
    clock.time += RTT_REFRESH_INTERVAL
    assert estimator.rtt_ping_due()
    lost = estimator.new_ping(PingKind.RTT)
    estimator.forget(lost)
    assert estimator.sent_at(lost) is None
    assert estimator.samples == (pytest.approx(0.01),)


def test_windows_never_pass_the_protocol_maximum() -> None:
    class Huge(FlowControlManager):
        STREAM_WINDOW_CAP = 2 * MAX_WINDOW_SIZE

    manager, _ = attached(Huge, RTT)
    assert isinstance(manager, FlowControlManager)
    assert manager.window_cap == MAX_WINDOW_SIZE
