"""The Timeout value object and per-response deadlines."""

from __future__ import annotations

import math
import time

import pytest

from hyper.common.exceptions import ReadTimeout
from hyper.common.timeout import Timeout


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Timeout()),
        (5, Timeout(connect=5.0, read=5.0)),
        (0.5, Timeout(connect=0.5, read=0.5)),
        ((1, 2), Timeout(connect=1.0, read=2.0)),
        ((None, 2), Timeout(read=2.0)),
        ((1, None), Timeout(connect=1.0)),
        (Timeout(total=3), Timeout(total=3.0)),
    ],
)
def test_coerce(value: object, expected: Timeout) -> None:
    assert Timeout.coerce(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("5", TypeError),
        (True, TypeError),
        ([1, 2], TypeError),
        ((1, 2, 3), ValueError),
        (0, ValueError),
        (-1, ValueError),
        ((1, -2), ValueError),
        (math.nan, ValueError),
        (("1", 2), TypeError),
    ],
)
def test_coerce_rejects(value: object, error: type) -> None:
    with pytest.raises(error):
        Timeout.coerce(value)  # type: ignore[arg-type]


def test_timeout_fields_are_checked_directly() -> None:
    with pytest.raises(ValueError):
        Timeout(total=0)
    with pytest.raises(TypeError):
        Timeout(read="1")  # type: ignore[arg-type]


def test_deadline_without_total_is_just_read() -> None:
    deadline = Timeout(read=2).deadline()
    assert deadline.next_wait() == 2.0
    assert not deadline.total_bounded
    assert Timeout().deadline().next_wait() is None


def test_deadline_caps_read_by_what_is_left_of_total() -> None:
    deadline = Timeout(read=10, total=0.2).deadline()
    assert deadline.total_bounded
    first = deadline.next_wait()
    assert first is not None
    assert 0 < first <= 0.2
    time.sleep(0.25)
    with pytest.raises(ReadTimeout):
        deadline.next_wait()


def test_deadline_keeps_short_read() -> None:
    deadline = Timeout(read=0.05, total=100).deadline()
    assert deadline.next_wait() == 0.05
