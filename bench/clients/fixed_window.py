"""A window manager for the benchmark that always keeps a 16 MiB receive window.

It is the yardstick hyper's default manager is measured against on a
high-latency link: with a window this large, a 50 ms round trip caps one
stream at 16 MiB per round trip (about 335 MB/s), more than the loopback
servers deliver, so the window is never what limits the transfer. The
default manager has to earn the same result by growing its window.
"""

from __future__ import annotations

from hyper.http20.window import BaseFlowControlManager

#: The window this manager keeps open.
FIXED_WINDOW_SIZE = 16 * 1024 * 1024
#: How far below the fixed window it lets the window fall before one WINDOW_UPDATE tops it up.
REFILL_STEP = 1024 * 1024


class FixedWindowManager(BaseFlowControlManager):
    """Keep the receive window at :data:`FIXED_WINDOW_SIZE`, topped up in :data:`REFILL_STEP` steps.

    The first frame consumed raises the advertised window (whatever the
    connection opened with) to the fixed size; after that, each time the
    window is :data:`REFILL_STEP` short, one update restores it.
    """

    def increase_window_size(self, frame_size: int) -> int:
        """Return what brings the window back to the fixed size, once it is a step short."""
        remaining = self.window_size - frame_size
        if FIXED_WINDOW_SIZE - remaining < REFILL_STEP and remaining > 0:
            return 0
        return max(FIXED_WINDOW_SIZE - remaining, 0)

    def blocked(self) -> int:
        """Return what brings the window back to the fixed size."""
        return max(FIXED_WINDOW_SIZE - self.window_size, 0)
