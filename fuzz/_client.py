"""How a fuzzed client reads a response: every public reading style, checked.

:class:`ReadPlan` picks one way of consuming a body (whole, in slices, raw,
iterated, into a buffer, or closed unread); :func:`read_response` does it and
asserts what the API promises whatever the server sent: no slice longer
than asked for, ``b""`` only at the end, a bounded number of reads, headers
and trailers readable. :class:`~hyper.common.exceptions.HyperError` may
escape (the caller expects it); anything else is the caller's finding.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from hyper.common.response import BaseResponse

__all__ = ["MAX_READS", "ReadPlan", "read_plan", "read_response"]

#: Reads of one body after which the reading loop counts as endless.
MAX_READS = 100_000
#: The most decoded bytes a fuzzed body may take (the whole-body cap is lower).
MAX_BODY = 64 * 1024 * 1024

_MODES = ("all", "all", "slices", "raw", "iterate", "readinto", "close")


@dataclass(frozen=True)
class ReadPlan:
    """One way to read a body: ``mode`` and the slice size ``amt``."""

    mode: str
    amt: int


read_plan = st.builds(
    ReadPlan, st.sampled_from(_MODES), st.sampled_from((1, 7, 1000, 16384, 1 << 20))
)


def read_response(response: BaseResponse, plan: ReadPlan) -> bytes:
    """Read ``response`` as ``plan`` says and check the reading contract.

    :returns: the bytes read (decoded unless the mode is ``raw``).
    :raises hyper.common.exceptions.HyperError: as the response raises.
    :raises AssertionError: the response broke its contract.
    """
    assert isinstance(response.status, int)
    list(response.headers.items())
    if plan.mode == "close":
        response.close()
        assert response.closed
        return b""
    if plan.mode in ("all", "raw"):
        decode = plan.mode == "all"
        body = response.read(decode_content=decode)
        assert response.read(plan.amt, decode) == b"", "read() after the end returned data"
    elif plan.mode == "iterate":
        pieces = list(response)
        assert all(pieces), "iteration yielded an empty piece"
        body = b"".join(pieces)
    else:
        body = _slices(response, plan)
    assert response.closed, "the body ended but the response is not closed"
    list(response.trailers.items())
    return body


def _slices(response: BaseResponse, plan: ReadPlan) -> bytes:
    parts: list[bytes] = []
    buffer = bytearray(plan.amt)
    size = 0
    for _ in range(MAX_READS):
        if plan.mode == "readinto":
            count = response.readinto(buffer)
            assert 0 <= count <= plan.amt, f"readinto() wrote {count} of {plan.amt}"
            piece = bytes(buffer[:count])
        else:
            piece = response.read(plan.amt)
            assert len(piece) <= plan.amt, f"read({plan.amt}) returned {len(piece)} bytes"
        if not piece:
            return b"".join(parts)
        size += len(piece)
        assert size <= MAX_BODY, "the body decoded to more than any fuzzed body holds"
        parts.append(piece)
    raise AssertionError(f"{MAX_READS} reads of {plan.amt} bytes and the body has not ended")
