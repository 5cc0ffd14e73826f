"""The flow-control window managers (pure arithmetic)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyper.http20.window import MAX_WINDOW_SIZE, BaseFlowControlManager, FlowControlManager


def test_base_manager_is_abstract() -> None:
    manager = BaseFlowControlManager(65535)
    with pytest.raises(NotImplementedError):
        manager.increase_window_size(10)
    with pytest.raises(NotImplementedError):
        manager.blocked()


def test_base_manager_fields() -> None:
    manager = BaseFlowControlManager(1000, document_size=50)
    assert (manager.initial_window_size, manager.window_size, manager.document_size) == (
        1000,
        1000,
        50,
    )
    assert BaseFlowControlManager(10).document_size is None


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((-1,), ValueError),
        ((MAX_WINDOW_SIZE + 1,), ValueError),
        (("65535",), TypeError),
        ((1.5,), TypeError),
        ((True,), TypeError),
        ((10, -5), ValueError),
        ((10, "5"), TypeError),
    ],
)
def test_bad_sizes_are_rejected(args: tuple, error: type) -> None:
    with pytest.raises(error):
        BaseFlowControlManager(*args)


class Fixed(BaseFlowControlManager):
    """A user-defined manager: always gives back what was consumed."""

    def increase_window_size(self, frame_size: int) -> int:
        return frame_size

    def blocked(self) -> int:
        return 7


def test_user_manager_plugs_in() -> None:
    manager = Fixed(100)
    assert manager._handle_frame(30) == 30
    assert manager.window_size == 100
    assert manager._blocked() == 7
    assert manager.window_size == 107


def test_default_manager_batches_updates() -> None:
    manager = FlowControlManager(65535)
    # Plenty of window left: no update yet.
    assert manager._handle_frame(20000) == 0
    assert manager._handle_frame(20000) == 0
    assert manager.window_size == 65535 - 40000
    # Exactly a quarter left is still enough.
    edge = FlowControlManager(65536)
    assert edge._handle_frame(65536 - 16384) == 0
    # This one takes the window below a quarter: refill to the initial size.
    assert manager._handle_frame(20000) == 60000
    assert manager.window_size == 65535


def test_default_manager_small_window_floor() -> None:
    manager = FlowControlManager(2000)
    # 2000 // 4 = 500 < the 1,000-byte floor, so 1,100 bytes consumed refills.
    assert manager._handle_frame(900) == 0
    assert manager._handle_frame(200) == 1100
    assert manager.window_size == 2000


def test_default_manager_blocked_restores_window() -> None:
    manager = FlowControlManager(1000)
    manager.window_size = 0
    assert manager._blocked() == 1000
    assert manager.window_size == 1000


@given(st.lists(st.integers(min_value=0, max_value=16384), max_size=200))
def test_default_manager_never_overflows_or_starves(frames: list[int]) -> None:
    manager = FlowControlManager(65535)
    for size in frames:
        size = min(size, manager.window_size)  # a server never exceeds the window
        manager._handle_frame(size)
        assert 0 <= manager.window_size <= 65535
        # After every frame at least a quarter of the window remains open,
        # so the server can always make progress.
        assert manager.window_size >= 65535 // 4
