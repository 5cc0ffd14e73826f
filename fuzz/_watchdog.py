"""The hang watchdog: a thread that raises :class:`Hang` in a thread that overstays.

:meth:`Watchdog.armed` bounds a block of code: if it is still running when
its time is up, the watchdog raises :class:`Hang` into the thread that armed
it (``PyThreadState_SetAsyncExc``), which takes effect at that thread's next
bytecode, so within one bounded wait of hyper's (every one of them has a
timeout). The exception carries the stack where the thread was stuck.
Signals are not used, so pytest-timeout's alarm keeps working in the tests.
For a thread stuck in a call that never returns to Python, :func:`backstop`
arms :mod:`faulthandler` to dump every stack and exit.
"""

from __future__ import annotations

import ctypes
import faulthandler
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

__all__ = ["Hang", "Watchdog", "backstop"]

#: How long the watchdog waits, after raising Hang, before giving up on the thread.
_GRACE = 2.0


class Hang(Exception):
    """An example ran past its time limit."""


def _raise_in(thread_id: int, exc_type: type[BaseException] | None) -> None:
    target = ctypes.c_ulong(thread_id)
    payload = ctypes.py_object(exc_type) if exc_type is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(target, payload)


def stack_of(thread_id: int) -> str:
    """The current stack of a thread, formatted (empty if it has ended)."""
    frame = sys._current_frames().get(thread_id)
    return "".join(traceback.format_stack(frame)) if frame is not None else ""


class Watchdog:
    """Bounds blocks of code run by any thread; a context manager that
    starts and stops its thread. Thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._alarms: dict[int, float] = {}  # thread id -> deadline
        self._fired: set[int] = set()
        self._stop = False
        self._thread = threading.Thread(target=self._watch, name="fuzz-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(_GRACE)

    @contextmanager
    def armed(self, seconds: float) -> Iterator[None]:
        """Raise :class:`Hang` in this thread if the block outlasts ``seconds``."""
        me = threading.get_ident()
        with self._cond:
            self._alarms[me] = time.monotonic() + seconds
            self._fired.discard(me)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._alarms.pop(me, None)
                if me in self._fired:
                    _raise_in(me, None)  # cancel a Hang not delivered yet
                    self._fired.discard(me)

    def _watch(self) -> None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                due = [tid for tid, end in self._alarms.items() if end <= now]
                for tid in due:
                    del self._alarms[tid]
                    self._fired.add(tid)
                    _raise_in(tid, Hang)
                wait = min(self._alarms.values(), default=now + 1.0) - now
                self._cond.wait(max(wait, 0.001))


def backstop(seconds: float | None) -> None:
    """Dump every thread's stack and exit the process after ``seconds``
    (``None`` cancels): the last resort for a call stuck outside Python."""
    faulthandler.cancel_dump_traceback_later()
    if seconds is not None:
        faulthandler.dump_traceback_later(seconds, exit=True)
